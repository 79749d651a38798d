"""The embedded store's access requests: officers asking a camera's owner for live access.

Not consent: the change marker stays. An approval opens nothing by itself; the grant it leads to is written
through `put_grant` (`hub.store.sqlite_consent`).
"""

from __future__ import annotations

import sqlite3

import aiosqlite

from hub.store import checks
from hub.store.base import AccessRequest, Conflict, NotFound, RequestState
from hub.store.sqlite_plumbing import SqliteParts, exists, first

_REQUEST_COLUMNS = (
    "id, camera_id, account_id, agency_id, case_number, reason, duration_seconds, urgent, created_at, expires_at,"
    " state, answered_at"
)


class SqliteRequests(SqliteParts):
    """The access requests of `SqliteStore`."""

    async def add_access_request(
        self,
        camera_id: str,
        account_id: int,
        case_number: str,
        reason: str,
        duration_seconds: float,
        urgent: bool,
        now: float,
        expires_at: float,
    ) -> AccessRequest:
        """A new pending request for the agency the officer belongs to now (read in the same transaction); NotFound
        for an unknown camera or account, ValueError for a duration that is not positive or a time not finite."""
        checks.check_positive("duration_seconds", duration_seconds)
        checks.check_finite("now", now)
        checks.check_finite("expires_at", expires_at)

        async def body(db: aiosqlite.Connection) -> AccessRequest:
            if not await exists(db, "SELECT 1 FROM cameras WHERE id = ?", (camera_id,)):
                raise NotFound(f"camera {camera_id!r} not found")
            rows = list(await db.execute_fetchall("SELECT agency_id FROM accounts WHERE id = ?", (account_id,)))
            if not rows:
                raise NotFound(f"account {account_id} not found")
            rows = list(
                await db.execute_fetchall(
                    "INSERT INTO access_requests (camera_id, account_id, agency_id, case_number, reason,"
                    " duration_seconds, urgent, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
                    f" RETURNING {_REQUEST_COLUMNS}",
                    (
                        camera_id,
                        account_id,
                        rows[0]["agency_id"],
                        case_number,
                        reason,
                        duration_seconds,
                        int(bool(urgent)),
                        now,
                        expires_at,
                    ),
                )
            )
            return access_request_row(first(rows))

        return await self._write(body)

    async def get_access_request(self, request_id: int) -> AccessRequest:
        """The request, whatever its state; NotFound if unknown."""
        rows = await self._read(f"SELECT {_REQUEST_COLUMNS} FROM access_requests WHERE id = ?", (request_id,))
        if not rows:
            raise NotFound(f"access request {request_id} not found")
        return access_request_row(rows[0])

    async def list_access_requests(
        self, camera_id: str | None = None, account_id: int | None = None
    ) -> list[AccessRequest]:
        """Requests, newest (the last made: highest id) first, of one camera and/or one officer if given."""
        where, params = _request_filter(camera_id, account_id)
        rows = await self._read(f"SELECT {_REQUEST_COLUMNS} FROM access_requests{where} ORDER BY id DESC", params)
        return [access_request_row(row) for row in rows]

    async def answer_access_request(self, request_id: int, state: RequestState, now: float) -> AccessRequest:
        """Approve or decline a pending request at `now`: one conditional UPDATE (still pending, `now` before
        expires_at), so of two hubs answering at once exactly one succeeds. Conflict if it was answered or has
        expired (a pending request past expires_at is left for `expire_access_requests`), NotFound if unknown,
        ValueError for any other state."""
        state = checks.check_answer_state(state)
        checks.check_finite("now", now)

        async def body(db: aiosqlite.Connection) -> AccessRequest:
            rows = list(
                await db.execute_fetchall(
                    "UPDATE access_requests SET state = ?, answered_at = ?"
                    " WHERE id = ? AND state = 'pending' AND ? < expires_at"
                    f" RETURNING {_REQUEST_COLUMNS}",
                    (state.value, now, request_id, now),
                )
            )
            if rows:
                return access_request_row(rows[0])
            rows = list(await db.execute_fetchall("SELECT state FROM access_requests WHERE id = ?", (request_id,)))
            if not rows:
                raise NotFound(f"access request {request_id} not found")
            raise _unanswerable(request_id, RequestState(rows[0]["state"]))

        return await self._write(body)

    async def expire_access_requests(self, now: float) -> list[AccessRequest]:
        """Mark every pending request with expires_at <= now expired, answered at its expires_at: one conditional
        UPDATE, so each is expired (and returned) once, whichever hub asks first. The ones this call expired,
        by id."""
        checks.check_finite("now", now)

        async def body(db: aiosqlite.Connection) -> list[AccessRequest]:
            rows = await db.execute_fetchall(
                "UPDATE access_requests SET state = 'expired', answered_at = expires_at"
                f" WHERE state = 'pending' AND expires_at <= ? RETURNING {_REQUEST_COLUMNS}",
                (now,),
            )
            return sorted((access_request_row(row) for row in rows), key=lambda r: r.id)

        return await self._write(body)


def _request_filter(camera_id: str | None, account_id: int | None) -> tuple[str, list[object]]:
    """A WHERE clause (or "") and its parameters for listing access requests."""
    clauses: list[str] = []
    params: list[object] = []
    if camera_id is not None:
        clauses.append("camera_id = ?")
        params.append(camera_id)
    if account_id is not None:
        clauses.append("account_id = ?")
        params.append(account_id)
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), params


def _unanswerable(request_id: int, state: RequestState) -> Conflict:
    """Why a request cannot be answered: it already was, or it has expired (pending, but past expires_at)."""
    if state in (RequestState.APPROVED, RequestState.DECLINED):
        return Conflict(f"access request {request_id} was already {state.value}")
    return Conflict(f"access request {request_id} has expired")


def access_request_row(row: sqlite3.Row) -> AccessRequest:
    return AccessRequest(
        id=row["id"],
        camera_id=row["camera_id"],
        account_id=row["account_id"],
        agency_id=row["agency_id"],
        case_number=row["case_number"],
        reason=row["reason"],
        duration_seconds=row["duration_seconds"],
        urgent=bool(row["urgent"]),
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        state=RequestState(row["state"]),
        answered_at=row["answered_at"],
    )

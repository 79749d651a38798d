"""The embedded store's notification seam (`hub.store.push_base.PushStore`): `push_subscriptions`, one row per
endpoint, `account_emails`, one row per account that gave an address, and `push_answer_tokens`, one row per
notification's answer token (its hash). None of it moves the change marker."""

from __future__ import annotations

import sqlite3

import aiosqlite

from hub.store import checks
from hub.store.base import NotFound
from hub.store.push_base import (
    ANSWER_TOKEN_KEEP_SECONDS,
    MAX_PUSH_PER_ACCOUNT,
    AnswerCheck,
    AnswerToken,
    PushSubscription,
)
from hub.store.sqlite_plumbing import SqliteParts, check_account, exists

_COLUMNS = "account_id, endpoint, p256dh, auth, created_at"


class SqlitePush(SqliteParts):
    """Push subscriptions and e-mail addresses of `SqliteStore`."""

    async def add_push_subscription(
        self, account_id: int, endpoint: str, p256dh: str, auth: str, now: float
    ) -> PushSubscription:
        """Keep a browser's subscription for the account (see `PushStore`)."""
        _check_subscription(endpoint, p256dh, auth)
        checks.check_finite("now", now)

        async def body(db: aiosqlite.Connection) -> None:
            await check_account(db, account_id)
            await db.execute("DELETE FROM push_subscriptions WHERE endpoint = ?", (endpoint,))
            # Room for the new one: the account's oldest go first.
            await db.execute(
                "DELETE FROM push_subscriptions WHERE endpoint IN (SELECT endpoint FROM push_subscriptions"
                " WHERE account_id = ? ORDER BY created_at DESC, rowid DESC LIMIT -1 OFFSET ?)",
                (account_id, MAX_PUSH_PER_ACCOUNT - 1),
            )
            await db.execute(
                f"INSERT INTO push_subscriptions ({_COLUMNS}) VALUES (?, ?, ?, ?, ?)",
                (account_id, endpoint, p256dh, auth, now),
            )

        await self._write(body)
        return PushSubscription(account_id, endpoint, p256dh, auth, now)

    async def list_push_subscriptions(self, account_id: int) -> list[PushSubscription]:
        """The account's subscriptions, oldest first."""
        rows = await self._read(
            f"SELECT {_COLUMNS} FROM push_subscriptions WHERE account_id = ? ORDER BY created_at, rowid",
            (account_id,),
        )
        return [_subscription(row) for row in rows]

    async def delete_push_subscription(self, endpoint: str, account_id: int | None = None) -> bool:
        """Forget the subscription with this endpoint (only if it is `account_id`'s, when given)."""

        async def body(db: aiosqlite.Connection) -> bool:
            sql = "DELETE FROM push_subscriptions WHERE endpoint = ?"
            params: tuple[object, ...] = (endpoint,)
            if account_id is not None:
                sql, params = sql + " AND account_id = ?", (endpoint, account_id)
            async with db.execute(sql, params) as cursor:
                return cursor.rowcount > 0

        return await self._write(body)

    async def set_account_email(self, account_id: int, email: str | None) -> None:
        """Set or (None) clear the account's e-mail address for notifications."""

        async def body(db: aiosqlite.Connection) -> None:
            await check_account(db, account_id)
            if email is None:
                await db.execute("DELETE FROM account_emails WHERE account_id = ?", (account_id,))
            else:
                await db.execute(
                    "INSERT OR REPLACE INTO account_emails (account_id, email) VALUES (?, ?)", (account_id, email)
                )

        await self._write(body)

    async def get_account_email(self, account_id: int) -> str | None:
        """The account's e-mail address for notifications, if it set one."""
        rows = await self._read("SELECT email FROM account_emails WHERE account_id = ?", (account_id,))
        return str(rows[0]["email"]) if rows else None

    async def add_answer_token(
        self, token_hash: str, request_id: int, account_id: int, endpoint: str, expires_at: float, now: float
    ) -> None:
        """Keep an answer token's hash (see `PushStore`)."""
        if not token_hash or not endpoint:
            raise ValueError("an answer token needs its hash and the endpoint it was sent to")
        checks.check_finite("expires_at", expires_at)
        checks.check_finite("now", now)

        async def body(db: aiosqlite.Connection) -> None:
            await check_account(db, account_id)
            if not await exists(db, "SELECT 1 FROM access_requests WHERE id = ?", (request_id,)):
                raise NotFound(f"access request {request_id} not found")
            await db.execute("DELETE FROM push_answer_tokens WHERE expires_at < ?", (now - ANSWER_TOKEN_KEEP_SECONDS,))
            await db.execute(
                "INSERT INTO push_answer_tokens (token_hash, request_id, account_id, endpoint, expires_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (token_hash, request_id, account_id, endpoint, expires_at),
            )

        await self._write(body)

    async def spend_answer_token(
        self, token_hash: str, request_id: int, now: float
    ) -> tuple[AnswerCheck, AnswerToken | None]:
        """Spend the token and every other of its request, in one write transaction (see `PushStore`)."""
        checks.check_finite("now", now)

        async def body(db: aiosqlite.Connection) -> tuple[AnswerCheck, AnswerToken | None]:
            rows = list(
                await db.execute_fetchall(
                    "SELECT request_id, account_id, endpoint, expires_at, spent_at FROM push_answer_tokens"
                    " WHERE token_hash = ?",
                    (token_hash,),
                )
            )
            if not rows:
                return AnswerCheck.UNKNOWN, None
            token = _answer_token(rows[0])
            subscribed = await exists(
                db,
                "SELECT 1 FROM push_subscriptions WHERE endpoint = ? AND account_id = ?",
                (token.endpoint, token.account_id),
            )
            check = _check_answer(token, request_id, now, subscribed)
            if check is AnswerCheck.OK:
                await db.execute(
                    "UPDATE push_answer_tokens SET spent_at = ? WHERE request_id = ? AND spent_at IS NULL",
                    (now, request_id),
                )
            return check, token

        return await self._write(body)

    async def spend_answer_tokens(self, request_id: int, now: float) -> int:
        """Spend every unspent token of the request."""
        checks.check_finite("now", now)

        async def body(db: aiosqlite.Connection) -> int:
            async with db.execute(
                "UPDATE push_answer_tokens SET spent_at = ? WHERE request_id = ? AND spent_at IS NULL",
                (now, request_id),
            ) as cursor:
                return cursor.rowcount

        return await self._write(body)


def _check_answer(token: AnswerToken, request_id: int, now: float, subscribed: bool) -> AnswerCheck:
    """Why a found token may not answer `request_id` now (in `PushStore.spend_answer_token`'s order), or OK."""
    if token.request_id != request_id:
        return AnswerCheck.OTHER_REQUEST
    if token.spent_at is not None:
        return AnswerCheck.USED
    if now >= token.expires_at:
        return AnswerCheck.EXPIRED
    if not subscribed:
        return AnswerCheck.UNSUBSCRIBED
    return AnswerCheck.OK


def _answer_token(row: sqlite3.Row) -> AnswerToken:
    spent = row["spent_at"]
    return AnswerToken(
        int(row["request_id"]),
        int(row["account_id"]),
        str(row["endpoint"]),
        float(row["expires_at"]),
        None if spent is None else float(spent),
    )


def _check_subscription(endpoint: str, p256dh: str, auth: str) -> None:
    if not endpoint or not p256dh or not auth:
        raise ValueError("a push subscription needs an endpoint and both keys")


def _subscription(row: sqlite3.Row) -> PushSubscription:
    return PushSubscription(
        int(row["account_id"]), str(row["endpoint"]), str(row["p256dh"]), str(row["auth"]), float(row["created_at"])
    )

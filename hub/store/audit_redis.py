"""The audit log's shared store: the same Redis as the main store, under keys of its own.

Keys (every name starts with the deployment's prefix, e.g. "pl:"):

- `{prefix}audit:log`: LIST, the log itself; index N is position N. Each entry is base64(signature), one space,
  then the record's body (canonical JSON, ASCII, which may itself contain spaces; base64 never does).
- `{prefix}audit:camera:{camera_id}`: LIST of the positions (decimal) of the records about one camera, in log
  order, pushed by the same script as the records. They are the positions at write time: someone editing
  `audit:log` behind the store's back does not move them (a verifier then finds other records there).
- `{prefix}audit:checkpoints`: HASH, size (decimal) -> signed checkpoint note; HSETNX, so the first kept wins.
- `{prefix}audit:checkpoint:max`: STRING, the largest size in `audit:checkpoints`, set by the same script.
- `{prefix}audit:claim:{key}`: STRING "1", SET NX with a 7-day expiry (`CLAIM_SECONDS`): the first hub to set
  it handles the event; by the time it expires every hub has long since noticed the event.
- `{prefix}audit:key`: STRING, the log's verifier key, SET NX on first use and never changed.
- `{prefix}audit:sources`: HASH, seq (decimal) -> JSON {"address", "salt" (base64)}: the client address of each
  record that had one (admins only; records hold only a salted commitment), set by the append script.
- `{prefix}audit:tally`: STRING, the transparency report's latest snapshot (JSON; hub/audit/tally.py).

Reads go by list index (LRANGE, LINDEX) and the size is LLEN, so an entry removed behind the store's back
shifts the rest down and shortens the log, where a verifier sees it. An append is one Lua script that checks
the size and pushes, so concurrent hubs agree on one order. Every call has a timeout and is never retried
(a retried append could land twice); any Redis error raises `StoreUnavailable`, whose message names the
error but never the server's address or password.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

import redis.asyncio as aredis
from redis.exceptions import RedisError, ResponseError

from hub.audit.record import Record
from hub.store.audit_base import Source
from hub.store.base import NotFound
from hub.store.redis_client import connect, guarded
from hub.store.redis_sentinel import RedisTarget

if TYPE_CHECKING:
    from hub.store.audit_base import AuditStore


CLAIM_SECONDS = 7 * 24 * 3600
"""How long a claim key lives."""


@dataclass(frozen=True, slots=True)
class AuditKeys:
    """The audit keys under one prefix (see the module docstring for what each holds)."""

    prefix: str

    @property
    def log(self) -> str:
        return f"{self.prefix}audit:log"

    def camera(self, camera_id: str) -> str:
        return f"{self.prefix}audit:camera:{camera_id}"

    @property
    def checkpoints(self) -> str:
        return f"{self.prefix}audit:checkpoints"

    @property
    def checkpoint_max(self) -> str:
        return f"{self.prefix}audit:checkpoint:max"

    def claim(self, key: str) -> str:
        return f"{self.prefix}audit:claim:{key}"

    @property
    def verifier_key(self) -> str:
        return f"{self.prefix}audit:key"

    @property
    def sources(self) -> str:
        return f"{self.prefix}audit:sources"

    @property
    def tally(self) -> str:
        return f"{self.prefix}audit:tally"


# The `#!lua` line (Redis 7) declares a script that writes: Redis then refuses it before it runs, writing
# nothing, when it cannot take writes (too few replicas, out of memory, a read-only replica, a failed disk
# save), rather than failing at its first write. Once started, a script runs to its end.

# KEYS: the log, the sources hash, then one position list per camera. ARGV: first_seq, n, n entries, then for
# each record the index in KEYS (from 1, after the log and the sources) of its camera's list, or 0, then for each
# record its source (JSON) or an empty string. Answers the log's size if it was not first_seq (nothing
# written), else -1.
APPEND = """#!lua
local size = redis.call('LLEN', KEYS[1])
if size ~= tonumber(ARGV[1]) then
  return size
end
local n = tonumber(ARGV[2])
-- RPUSH in slices: unpack() of many thousand values overflows Lua's stack.
for i = 3, n + 2, 1000 do
  redis.call('RPUSH', KEYS[1], unpack(ARGV, i, math.min(i + 999, n + 2)))
end
for i = 1, n do
  local camera = tonumber(ARGV[n + 2 + i])
  if camera > 0 then
    redis.call('RPUSH', KEYS[camera + 2], size + i - 1)
  end
  local source = ARGV[2 * n + 2 + i]
  if source ~= nil and source ~= '' then
    redis.call('HSET', KEYS[2], size + i - 1, source)
  end
end
return -1
"""

# KEYS: one camera's position list (increasing). ARGV: after, limit. Answers up to `limit` positions greater
# than `after`, found by binary search (LINDEX), so a page costs O(log n) whatever the camera's history.
CAMERA_PAGE = """
local n = redis.call('LLEN', KEYS[1])
local after = tonumber(ARGV[1])
local lo, hi = 0, n
while lo < hi do
  local mid = math.floor((lo + hi) / 2)
  if tonumber(redis.call('LINDEX', KEYS[1], mid)) > after then
    hi = mid
  else
    lo = mid + 1
  end
end
local limit = tonumber(ARGV[2])
if limit < 0 then
  return redis.call('LRANGE', KEYS[1], lo, -1)
end
if limit == 0 then
  return {}
end
return redis.call('LRANGE', KEYS[1], lo, lo + limit - 1)
"""

# KEYS: checkpoints, checkpoint max. ARGV: size, note.
ADD_CHECKPOINT = """#!lua
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 1 then
  local largest = tonumber(redis.call('GET', KEYS[2]) or '-1')
  if tonumber(ARGV[1]) > largest then
    redis.call('SET', KEYS[2], ARGV[1])
  end
end
return 0
"""


_guarded = guarded(
    (RedisError,), lambda name, exc: f"the audit store refused or did not answer ({name}): {_describe(exc)}"
)
"""Every Redis error (a refusal too: NOREPLICAS, OOM, READONLY) becomes `StoreUnavailable`: fail closed."""


def _describe(exc: Exception) -> str:
    """The error's class, and the server's own words for a refusal (NOREPLICAS, OOM, READONLY, MISCONF, ...).

    A connection error's text names the server's address, so only its class is given."""
    if isinstance(exc, ResponseError):
        return f"{type(exc).__name__}: {exc}"
    return type(exc).__name__


def _entry(record: Record) -> bytes:
    return base64.b64encode(record.signature) + b" " + record.body


def _record(entry: bytes) -> Record:
    """The record in a log entry. An entry mangled behind the store's back still reads (its signature empty if
    unreadable), so a verifier can report it rather than the read failing."""
    encoded, separator, body = entry.partition(b" ")
    if not separator:
        return Record(entry, b"")
    try:
        return Record(body, base64.b64decode(encoded, validate=True))
    except binascii.Error:
        return Record(body, b"")


def _source_entry(source: Source | None) -> bytes:
    if source is None:
        return b""
    return json.dumps({"address": source.address, "salt": base64.b64encode(source.salt).decode()}).encode()


def _check_position(name: str, value: int) -> None:
    # Redis reads a negative index from the end of the list: refuse it rather than answer for another position.
    if value < 0:
        raise ValueError(f"{name} must not be negative")


class RedisAuditStore:
    """`hub.store.audit_base.AuditStore` on Redis. Open with `await RedisAuditStore.open(url, ...)`."""

    def __init__(self, client: aredis.Redis, keys: AuditKeys) -> None:
        # The client answers bytes (decode_responses=False): bodies are kept byte for byte.
        self._r = client
        self._keys = keys
        self._append = client.register_script(APPEND)
        self._add_checkpoint = client.register_script(ADD_CHECKPOINT)
        self._camera_page = client.register_script(CAMERA_PAGE)
        self._closed = False

    @classmethod
    async def open(
        cls, url: str | RedisTarget, *, prefix: str, connect_timeout: float, socket_timeout: float
    ) -> RedisAuditStore:
        """Connect to `url` (redis:// or rediss://; may carry a password), or to the primary the sentinels of a
        `RedisTarget` name, and PING it.

        A wrong URL or a Redis that does not answer fails here (`StoreUnavailable`), at start-up.
        """
        client = await connect(
            url, decode_responses=False, connect_timeout=connect_timeout, socket_timeout=socket_timeout
        )
        store = cls(client, AuditKeys(prefix))
        return store

    async def close(self) -> None:
        """Close every connection. Closing twice is harmless."""
        if not self._closed:
            self._closed = True
            await self._r.aclose()

    @_guarded
    async def ping(self) -> None:
        """Ask Redis to answer; StoreUnavailable if it does not in time."""
        await self._r.ping()

    # -- the log --------------------------------------------------------------------------------------

    @_guarded
    async def size(self) -> int:
        """How many records the log holds."""
        return int(await self._r.llen(self._keys.log))

    @_guarded
    async def append(
        self, first_seq: int, records: Sequence[tuple[Record, str | None]], sources: Sequence[Source | None] = ()
    ) -> int | None:
        """Append records at first_seq, first_seq + 1, ... if the log holds exactly `first_seq` records (and
        `sources[i]`, when not None, for record first_seq + i, in the same script).

        Returns None once written, or the current size (writing nothing) when it is not `first_seq`. A timeout
        raises StoreUnavailable although the script may have run: the caller learns which from the log.
        """
        _check_position("first_seq", first_seq)
        lists: dict[str, int] = {}  # camera -> its list's index in KEYS (the log is KEYS[1])
        refs = [0 if camera is None else lists.setdefault(camera, len(lists) + 1) for _, camera in records]
        keys = [self._keys.log, self._keys.sources, *(self._keys.camera(camera) for camera in lists)]
        kept = [_source_entry(sources[i]) if i < len(sources) else b"" for i in range(len(records))]
        args: list[bytes | int] = [first_seq, len(records), *(_entry(record) for record, _ in records), *refs, *kept]
        answer = int(await self._append(keys=keys, args=args))
        return None if answer < 0 else answer

    @_guarded
    async def read(self, start: int, stop: int) -> list[Record]:
        """The records at positions start..stop-1 in log order (fewer if the log is shorter)."""
        _check_position("start", start)
        if stop <= start:
            return []
        entries = cast(list[bytes], await self._r.lrange(self._keys.log, start, stop - 1))
        return [_record(entry) for entry in entries]

    @_guarded
    async def read_at(self, positions: Sequence[int]) -> list[Record]:
        """The records at these positions, in the order asked; NotFound if one is past the end."""
        for position in positions:
            _check_position("position", position)
        if not positions:
            return []
        # One MULTI/EXEC: every entry from the same state of the log.
        async with self._r.pipeline(transaction=True) as pipe:
            for position in positions:
                pipe.lindex(self._keys.log, position)
            entries = cast(list[bytes | None], await pipe.execute())
        found: list[Record] = []
        for position, entry in zip(positions, entries, strict=True):
            if entry is None:
                raise NotFound(f"the audit log has no record at position {position}")
            found.append(_record(entry))
        return found

    @_guarded
    async def positions_for_camera(self, camera_id: str, after: int = -1, limit: int | None = None) -> list[int]:
        """The positions of the records about this camera after position `after`, in log order (as written; at
        most `limit`)."""
        if after < 0 and limit is None:
            raw = cast(list[bytes], await self._r.lrange(self._keys.camera(camera_id), 0, -1))
        else:
            count = -1 if limit is None else limit
            raw = cast(list[bytes], await self._camera_page(keys=[self._keys.camera(camera_id)], args=[after, count]))
        return [int(position) for position in raw]

    @_guarded
    async def sources(self, seqs: Sequence[int]) -> dict[int, Source]:
        """The kept client addresses of these records (those that had one)."""
        wanted = sorted(set(seqs))
        if not wanted:
            return {}
        found = cast(list[bytes | None], await self._r.hmget(self._keys.sources, [str(seq) for seq in wanted]))
        kept: dict[int, Source] = {}
        for seq, raw in zip(wanted, found, strict=True):
            if raw is not None:
                value = json.loads(raw)
                kept[seq] = Source(str(value["address"]), base64.b64decode(value["salt"]))
        return kept

    @_guarded
    async def save_tally(self, snapshot: str) -> None:
        """Keep the report's snapshot (replacing the one kept)."""
        await self._r.set(self._keys.tally, snapshot.encode())

    @_guarded
    async def tally(self) -> str | None:
        """The report's snapshot kept last, or None."""
        raw = cast(bytes | None, await self._r.get(self._keys.tally))
        return None if raw is None else raw.decode()

    # -- checkpoints, claims, the verifier key ---------------------------------------------------------

    @_guarded
    async def add_checkpoint(self, size: int, note: str) -> None:
        """Keep a signed checkpoint; the first one kept for a size stays."""
        _check_position("size", size)
        await self._add_checkpoint(keys=[self._keys.checkpoints, self._keys.checkpoint_max], args=[size, note])

    @_guarded
    async def checkpoint(self, size: int | None = None) -> str | None:
        """The checkpoint kept for `size`, or the one with the largest size; None if there is none."""
        if size is None:
            largest = cast(bytes | None, await self._r.get(self._keys.checkpoint_max))
            if largest is None:
                return None
            size = int(largest)
        # Checkpoints are never removed, and the hash entry is written before (in the same script as) the max.
        note = cast(bytes | None, await self._r.hget(self._keys.checkpoints, str(size)))
        return None if note is None else note.decode()

    @_guarded
    async def claim(self, key: str) -> bool:
        """True the first time any hub claims `key` (within `CLAIM_SECONDS`)."""
        return bool(await self._r.set(self._keys.claim(key), b"1", nx=True, ex=CLAIM_SECONDS))

    @_guarded
    async def bind_key(self, verifier_key: str) -> str:
        """Record the log's verifier key on first use; return the one recorded (the first ever given)."""
        async with self._r.pipeline(transaction=True) as pipe:
            pipe.set(self._keys.verifier_key, verifier_key.encode(), nx=True)
            pipe.get(self._keys.verifier_key)
            _, recorded = await pipe.execute()
        return cast(bytes, recorded).decode()


if TYPE_CHECKING:

    def _implements_audit_store(store: RedisAuditStore) -> AuditStore:
        # mypy proves here that RedisAuditStore satisfies the AuditStore protocol.
        return store

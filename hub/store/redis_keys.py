"""The shared store's key layout: what every part shares, and `RedisKeys`, which gathers every part's keys.

All names start with a configurable prefix (default "pl:") so several deployments, or a test, can share one
Redis. Records are hashes whose field values are JSON encoded and decoded in Python (`json.dumps` writes a
float exactly; Redis's Lua cjson keeps only 14 significant digits, so scripts copy these strings and never
re-encode a number). A JSON `null` is the string "null". Times are Unix seconds.

Relationships (indexes) are kept in the same Lua script as the record they index, so they never disagree.
The layout needs a single Redis (or a primary with replicas), not Redis Cluster: scripts build some keys from a
stem passed in (new accounts, `account("")`; sessions to purge or end, `session("")`; the account index of a
session deleted or purged, `sessions_of("")`; new and expiring access requests, `access_request("")`).

Each part of the store documents its own keys beside its scripts, in a keys class mixed into `RedisKeys`:
`AccountKeys` (`hub.store.redis_accounts`), `EnrolmentKeys` (`hub.store.redis_enrolment`), `SessionKeys`
(`hub.store.redis_sessions`), `CameraKeys` (`hub.store.redis_cameras`), `ConsentKeys` (`hub.store.redis_consent`)
and `RequestKeys` (`hub.store.redis_requests`); each module also says which fields older records may lack and
how they read. Only what every part uses is here: the prefix, the version counter, the change channel, the
hubs' message bus and the camera ownership leases.
"""

from __future__ import annotations

from dataclasses import dataclass

from hub.store.redis_accounts import AccountKeys
from hub.store.redis_cameras import CameraKeys
from hub.store.redis_consent import ConsentKeys
from hub.store.redis_enrolment import EnrolmentKeys
from hub.store.redis_requests import RequestKeys
from hub.store.redis_sessions import SessionKeys

DEFAULT_PREFIX = "pl:"


class SharedKeys:
    """The keys every part of the store uses: the change feed, the hubs' message bus, ownership leases."""

    __slots__ = ()
    prefix: str

    @property
    def version(self) -> str:
        """STRING, integer: the shared version counter (INCR). Every grant, pilot, policy and camera-masks write
        takes its version from it; account enable/disable, camera add/re-key/move and session deletion (one, or all
        of an account's) bump it too. It is the store's `change_marker`; missing means 0."""
        return f"{self.prefix}version"

    @property
    def changes(self) -> str:
        """PUB/SUB channel: one JSON message per bump of `version`, published by the same Lua script that
        wrote the change: {"kind": "grant"|"pilot"|"policy"|"account"|"camera"|"session"|"view_bar", "id": ...,
        "version": n}. `id` is the camera id (grant, camera, view_bar), the account id (account, session) or
        null."""
        return f"{self.prefix}changes"

    def bus(self, suffix: str) -> str:
        """PUB/SUB channel: hub-to-hub messages (JSON objects) on a topic, e.g. withdrawal confirmations."""
        return f"{self.prefix}bus:{suffix}"

    def owner(self, camera_id: str) -> str:
        """STRING, JSON {"node": ..., "url": ..., "internal": ...}: which hub holds the camera's stream (`internal`:
        where other hubs' relays reach it). A lease: set with a PX expiry by `claim_camera`, renewed only by its
        holder, deleted by `release_camera`."""
        return f"{self.prefix}owner:{camera_id}"

    def carriers(self, camera_id: str) -> str:
        """ZSET node id -> Unix time its lease ends: the hubs other than the owner that carry the camera's video (a
        relay, hub/media/relay_client.py), renewed by each while it does; a withdrawal waits for each to confirm."""
        return f"{self.prefix}carriers:{camera_id}"


@dataclass(frozen=True, slots=True)
class RedisKeys(SharedKeys, AccountKeys, EnrolmentKeys, SessionKeys, CameraKeys, ConsentKeys, RequestKeys):
    """Every key and channel of the shared store, under one prefix. A part that adds keys adds its keys class
    here (one line); its keys are then `self._keys.<name>` in every part."""

    prefix: str = DEFAULT_PREFIX

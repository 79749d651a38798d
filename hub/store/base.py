"""The store interface: its seams, its records and its errors.

Every store (embedded SQLite for one hub, Redis for many) implements `Store`; the hub picks one at start-up.
`Store` is the union of the seams, one Protocol each, kept beside its records:

- `AccountStore` (`hub.store.accounts_base`): agencies, accounts, failed log-ins, the TOTP second factor;
- `EnrolmentStore` (`hub.store.enrolment_base`): one-time enrolment codes;
- `SessionStore` (`hub.store.sessions_base`): log-ins;
- `CameraStore` (`hub.store.cameras_base`): cameras, privacy masks, device tokens;
- `ConsentStore` (`hub.store.consent_base`): grants, the pilot, the policy;
- `RequestStore` (`hub.store.requests_base`): officers' requests for access.
- `ViewBarStore` (`hub.store.view_bars_base`): officers an owner stopped, kept out until the grant is replaced.

`LoginStore` is sessions with their accounts: who a log-in is.

Code that needs only part of the store takes the narrowest seam (or a Protocol of the few it needs); `Store`
is for the few places that need everything. Records are frozen dataclasses; times are Unix seconds (float,
UTC). Records and seams are re-exported here, so `from hub.store.base import Account` keeps working.
"""

from __future__ import annotations

from typing import Protocol

from hub.store.accounts_base import Account, AccountStore, Agency, Role
from hub.store.cameras_base import Camera, CameraStore
from hub.store.consent_base import ConsentStore, Policy
from hub.store.enrolment_base import EnrolmentCheck, EnrolmentStore
from hub.store.requests_base import AccessRequest, RequestState, RequestStore
from hub.store.session_ends_base import SessionEndStore
from hub.store.sessions_base import Session, SessionStore
from hub.store.view_bars_base import ViewBarStore

__all__ = [
    "AccessRequest",
    "Account",
    "AccountStore",
    "Agency",
    "Camera",
    "CameraStore",
    "Conflict",
    "ConsentStore",
    "EnrolmentCheck",
    "EnrolmentStore",
    "LoginStore",
    "NotFound",
    "Policy",
    "RequestState",
    "RequestStore",
    "Role",
    "Session",
    "SessionStore",
    "Store",
    "StoreUnavailable",
]


class NotFound(LookupError):
    """The record asked for does not exist."""


class Conflict(ValueError):
    """The write would break a uniqueness rule (a taken username, camera id, agency id)."""


class StoreUnavailable(ConnectionError):
    """The store did not answer in time."""


class LoginStore(SessionStore, AccountStore, Protocol):
    """Sessions with their accounts: what telling who a log-in is needs (identity, officers' passes)."""


class Store(
    AccountStore,
    EnrolmentStore,
    SessionStore,
    CameraStore,
    ConsentStore,
    RequestStore,
    SessionEndStore,
    ViewBarStore,
    Protocol,
):
    """Everything the hub keeps: every seam, the change marker and closing."""

    async def close(self) -> None: ...

    async def change_marker(self) -> int:
        """A number that grows whenever anything consent-relevant changed, from this or another process."""
        ...

    async def server_id(self) -> str | None:
        """Which server holds the data now (Redis: its run id, new after a restart or a failover, either of which may
        have lost writes); None for a store that cannot lose acknowledged writes that way (the embedded one)."""
        ...

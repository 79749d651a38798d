"""STUN/TURN servers for WHIP and WHEP clients (RFC 9725 §4.6 `Link` headers) and for the hub's own peers.

A TURN server configured with a shared secret gets short-lived credentials made per client in the TURN REST scheme
that coturn's `use-auth-secret` checks: username `<expiry unix time>:<id>`, credential
`base64(HMAC-SHA1(secret, username))`. The TURN server recomputes the credential from the username and refuses it
once the time has passed, so what a client learns is worth nothing after `credential_seconds`; the secret itself is
never sent, logged or shown. Servers with fixed credentials are handed out as configured.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from aiortc import RTCConfiguration, RTCIceServer
from multidict import CIMultiDict

from hub.config import IceServer

ICE_SERVER_REL = "ice-server"


def turn_rest_credentials(secret: bytes, expires_at: float, user_id: str) -> tuple[str, str]:
    """The TURN REST username and credential valid until `expires_at` (unix seconds) for `user_id`."""
    username = f"{int(expires_at)}:{user_id}"
    digest = hmac.new(secret, username.encode(), hashlib.sha1).digest()
    return username, base64.b64encode(digest).decode()


@dataclass(frozen=True, slots=True)
class _Server:
    urls: tuple[str, ...]
    username: str | None
    credential: str | None
    secret: bytes | None
    seconds: float

    def __repr__(self) -> str:  # never the secret or the credential, whatever prints this
        return f"_Server(urls={self.urls!r})"


class IceServers:
    """The configured servers, with credentials issued per client (`for_client`) or for the hub (`for_hub`)."""

    def __init__(self, servers: Sequence[IceServer], clock: Callable[[], float] = time.time) -> None:
        self._servers = tuple(
            _Server(
                urls=(server.urls,) if isinstance(server.urls, str) else tuple(server.urls),
                username=server.username,
                credential=server.credential,
                secret=server.shared_secret() if server.has_secret() else None,  # read once, at start
                seconds=server.credential_seconds,
            )
            for server in servers
        )
        self._clock = clock

    def __repr__(self) -> str:
        return f"IceServers({[server.urls for server in self._servers]!r})"

    def for_client(self, user_id: str) -> list[dict[str, Any]]:
        """Each server as {urls, username?, credential?}, with fresh credentials for `user_id` where it has a secret
        (`user_id` ends up in the TURN server's logs: an opaque session id, never a name)."""
        now = self._clock()
        result: list[dict[str, Any]] = []
        for server in self._servers:
            entry: dict[str, Any] = {"urls": list(server.urls)}
            if server.secret is not None:
                entry["username"], entry["credential"] = turn_rest_credentials(
                    server.secret, now + server.seconds, user_id
                )
            elif server.username is not None:
                entry["username"], entry["credential"] = server.username, server.credential
            result.append(entry)
        return result

    def link_values(self, user_id: str) -> list[str]:
        """One RFC 9725 §4.6 `Link` value per server URL, with its credentials (none for STUN servers)."""
        values = []
        for server in self.for_client(user_id):
            for url in server["urls"]:
                value = f'<{url}>; rel="{ICE_SERVER_REL}"'
                if "username" in server and url.startswith(("turn:", "turns:")):
                    value += (
                        f"; username={_quoted(server['username'])}; credential={_quoted(server['credential'] or '')}"
                        '; credential-type="password"'
                    )
                values.append(value)
        return values

    def for_hub(self) -> list[RTCIceServer]:
        """The servers for one of the hub's own peer connections, with credentials issued now."""
        return [
            RTCIceServer(urls=server["urls"], username=server.get("username"), credential=server.get("credential"))
            for server in self.for_client("porchlight-hub")
        ]


ICE = web.AppKey("ice_servers", IceServers)


def add_ice_links(headers: CIMultiDict[str], servers: IceServers, user_id: str) -> CIMultiDict[str]:
    """Add a `Link` header per ICE server (credentials for `user_id`) to `headers`; `headers`."""
    for value in servers.link_values(user_id):
        headers.add("Link", value)
    return headers


def _quoted(value: str) -> str:
    """An RFC 8288 quoted-string (base64 and our usernames need no escapes, but a configured credential might)."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


class LiveRtcConfiguration(RTCConfiguration):
    """An RTCConfiguration whose `iceServers` are made when aiortc reads them, as each peer connection gathers its
    candidates: a secret-based TURN credential is then fresh for every connection the hub opens, however long it
    has been running (one made at start would expire). Never empty-as-None: aiortc would add a public STUN server.
    """

    def __init__(self, servers: IceServers) -> None:
        self._source = servers
        super().__init__()

    @property
    def iceServers(self) -> list[RTCIceServer]:
        return self._source.for_hub()

    @iceServers.setter
    def iceServers(self, value: object) -> None:
        # The dataclass __init__ assigns the default (None); the servers always come from the source.
        pass

    def __repr__(self) -> str:  # the dataclass's would issue and print credentials
        return f"LiveRtcConfiguration({self._source!r})"

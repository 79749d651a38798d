"""Hub-to-hub authentication: requests between hubs signed with the cluster's shared secret.

Each request carries the sending hub's node id, a timestamp, a random nonce and an HMAC-SHA256 over the node id,
the method, the path (with its query), the timestamp, the nonce and the SHA-256 of the body. The receiving hub refuses a
signature that does not match, a timestamp outside a short window, and a nonce it has seen within that window
(a replay). No user's token ever crosses between hubs: the relay speaks for the hub, and each hub judges its own
officers.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from pathlib import Path

from aiohttp import web

from hub.errors import Unauthorized

NODE_HEADER = "X-Porchlight-Peer"
TIME_HEADER = "X-Porchlight-Peer-Time"
NONCE_HEADER = "X-Porchlight-Peer-Nonce"
SIGNATURE_HEADER = "X-Porchlight-Peer-Signature"
# A signed request is good this long either side of the receiver's clock (hubs keep theirs within
# cluster.max_clock_offset_ms of the store's, far less than this).
WINDOW_SECONDS = 30.0
SECRET_BYTES = 32
_CONTEXT = b"porchlight-peer-v1"


def load_or_create_secret(path: Path) -> bytes:
    """The shared secret in `path` (text), made (mode 600, 32 random bytes) on first use. Every hub of a cluster
    needs the same file: one made by a hub alone is good only for that hub."""
    try:
        return _parse(path.read_text(encoding="utf-8"), path)
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    text = base64.urlsafe_b64encode(secrets.token_bytes(SECRET_BYTES)).decode()
    try:
        # O_EXCL: two processes starting together must not both write a secret.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _parse(path.read_text(encoding="utf-8"), path)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text + "\n")
    return text.encode()


def _parse(text: str, path: Path) -> bytes:
    secret = text.strip().encode()
    if len(secret) < SECRET_BYTES:
        raise ValueError(f"{path}: the hub-to-hub secret must be at least {SECRET_BYTES} characters")
    return secret


def _mac(secret: bytes, node: str, method: str, path: str, stamp: str, nonce: str, body: bytes) -> str:
    parts = [node, method.upper(), path, stamp, nonce]
    message = b"\n".join([_CONTEXT, *(part.encode() for part in parts), _digest(body)])
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def _digest(body: bytes) -> bytes:
    return hashlib.sha256(body).hexdigest().encode()


def sign(secret: bytes, node_id: str, method: str, path: str, body: bytes, now: float | None = None) -> dict[str, str]:
    """The headers that sign one request from hub `node_id` (`path` with its query, exactly as sent)."""
    stamp = f"{time.time() if now is None else now:.3f}"
    nonce = secrets.token_urlsafe(16)
    return {
        NODE_HEADER: node_id,
        TIME_HEADER: stamp,
        NONCE_HEADER: nonce,
        SIGNATURE_HEADER: _mac(secret, node_id, method, path, stamp, nonce, body),
    }


class PeerVerifier:
    """Checks signed requests from other hubs; remembers the nonces seen within the window (bounded)."""

    def __init__(
        self,
        secret: bytes,
        window: float = WINDOW_SECONDS,
        most: int = 100_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._secret = secret
        self._window = window
        self._most = most
        self._clock = clock
        self._seen: OrderedDict[str, float] = OrderedDict()  # nonce -> when it stops mattering

    def verify(self, method: str, path: str, headers: Mapping[str, str], body: bytes) -> str:
        """The signing hub's node id; Unauthorized (`peer_auth_failed`) for a bad or missing signature, a time
        outside the window, or a nonce already used."""
        node, stamp = headers.get(NODE_HEADER, ""), headers.get(TIME_HEADER, "")
        nonce, given = headers.get(NONCE_HEADER, ""), headers.get(SIGNATURE_HEADER, "")
        if not (node and stamp and nonce and given) or len(nonce) > 64:
            raise Unauthorized("a signed hub-to-hub request is required", "peer_auth_failed")
        expected = _mac(self._secret, node, method, path, stamp, nonce, body)
        if not hmac.compare_digest(given.encode(), expected.encode()):
            raise Unauthorized("the hub-to-hub signature does not match", "peer_auth_failed")
        now = self._clock()
        try:
            at = float(stamp)
        except ValueError:
            raise Unauthorized("the hub-to-hub signature's time is not a number", "peer_auth_failed") from None
        if not abs(now - at) <= self._window:
            raise Unauthorized("the hub-to-hub request is outside the time window", "peer_auth_stale")
        self._forget(now)
        if nonce in self._seen:
            raise Unauthorized("the hub-to-hub request was replayed", "peer_auth_replayed")
        self._seen[nonce] = at + self._window
        return node

    def _forget(self, now: float) -> None:
        while self._seen and (len(self._seen) >= self._most or next(iter(self._seen.values())) < now):
            self._seen.popitem(last=False)


class PeerAuth:
    """This hub's side of hub-to-hub authentication: its node id, the shared secret, and the replay memory."""

    def __init__(self, node_id: str, secret: bytes) -> None:
        self.node_id = node_id
        self._secret = secret
        self.verifier = PeerVerifier(secret)

    def sign(self, method: str, path: str, body: bytes) -> dict[str, str]:
        """Headers signing one request from this hub."""
        return sign(self._secret, self.node_id, method, path, body)

    def verify(self, method: str, path: str, headers: Mapping[str, str], body: bytes) -> str:
        """The node id of the hub that signed the request (see `PeerVerifier.verify`)."""
        return self.verifier.verify(method, path, headers, body)


PEER_AUTH: web.AppKey[PeerAuth] = web.AppKey("peer_auth", PeerAuth)

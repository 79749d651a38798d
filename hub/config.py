"""The hub's one typed configuration: a TOML file, then environment overrides, validated at start.

Unknown keys are refused, so a typo fails loudly instead of silently running with a default. Environment
variables `PORCHLIGHT_<SECTION>__<KEY>` override the file (for example `PORCHLIGHT_HTTP__PORT=9000`).
"""

from __future__ import annotations

import ipaddress
import json
import os
import socket
import tomllib
from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import limits
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator

ENV_PREFIX = "PORCHLIGHT_"
# Variables under the prefix that are inputs of commands, not settings.
NOT_SETTINGS = frozenset({"PORCHLIGHT_CONFIG", "PORCHLIGHT_PASSWORD", "PORCHLIGHT_DEVICE_TOKEN"})


class ConfigError(ValueError):
    """The configuration could not be read or is invalid; the message says which key and why."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StoreKind(StrEnum):
    SQLITE = "sqlite"
    REDIS = "redis"


class ForwardingMode(StrEnum):
    """Passthrough forwards the camera's encoded frames; transcode decodes once and encodes per viewer."""

    PASSTHROUGH = "passthrough"
    TRANSCODE = "transcode"


class VideoCodec(StrEnum):
    VP8 = "vp8"
    H264 = "h264"


class HttpConfig(_Section):
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    # The address clients use to reach this hub (for WHIP/WHEP Location headers behind a proxy).
    public_url: str | None = None
    # A log-in lasts at most this long, however busy (the absolute timeout).
    session_seconds: float = Field(default=12 * 3600, gt=0)
    # Served over HTTPS (directly or behind a proxy): the session cookie is then `Secure` and `__Host-` prefixed.
    secure_cookies: bool = False
    # /metrics on an address of its own (loopback, or an interface only the monitoring reaches), and then not on
    # the main one. Unset: served on the main address. A port alone binds 127.0.0.1.
    metrics_host: str | None = None
    metrics_port: int | None = Field(default=None, ge=0, le=65535)
    # Pages on these other origins ("https://player.example.org") may call WHIP and WHEP with a bearer token
    # (CORS, hub/http_cors.py); requests carrying the session cookie stay same-origin whatever this says.
    cors_origins: list[str] = Field(default_factory=list)

    @field_validator("cors_origins")
    @classmethod
    def _cors_origins(cls, value: list[str]) -> list[str]:
        for origin in value:
            try:
                parts = urlsplit(origin)
                parts.port  # noqa: B018 (a port that is not a number raises here)
            except ValueError:
                raise ValueError(f"not an origin like https://player.example.org: {origin!r}") from None
            if (
                parts.scheme not in ("http", "https")
                or not parts.hostname
                or parts.path not in ("", "/")
                or parts.query
                or parts.fragment
                or "@" in parts.netloc
            ):
                raise ValueError(f"not an origin like https://player.example.org (no '*', path or user): {origin!r}")
        return value

    @model_validator(mode="after")
    def _metrics_address(self) -> HttpConfig:
        if self.metrics_host is not None and self.metrics_port is None:
            raise ValueError("metrics_host needs metrics_port")
        if self.metrics_port is not None and self.metrics_port != 0 and self.metrics_port == self.port:
            raise ValueError("metrics_port must differ from port")
        return self


class AuthConfig(_Section):
    # A log-in with no request for this long ends (the idle timeout).
    idle_seconds: float = Field(default=30 * 60, gt=0)
    # Officers and admins log in with a TOTP code too. Only a demo turns it off, and then every page says so.
    mfa_required: bool = True
    # Guessing is slowed, never locked out (NIST SP 800-63B 5.2.2; hub/auth/guessing.py): once an account has this
    # many failed log-ins within the window, every further attempt on it, right or wrong, waits first_delay,
    # doubling with each further failure up to max_delay. The right password is accepted after the wait.
    throttle_after_failures: int = Field(default=5, ge=1, le=100)
    throttle_window_seconds: float = Field(default=15 * 60, gt=0)
    throttle_first_delay_seconds: float = Field(default=0.5, gt=0, le=10)
    throttle_max_delay_seconds: float = Field(default=4.0, gt=0, le=10)
    # The name authenticator apps show for the account.
    totp_issuer: str = "Porchlight"
    # An officer or admin enrols a second factor only with a one-time code an admin issued
    # (hub/auth/enrolment_codes.py), valid this long: enough to pass it on by phone or in person and use it, short
    # enough that a code left in a message or on paper is dead within the hour (with the password it would take the
    # account).
    enrolment_code_seconds: float = Field(default=3600, gt=0, le=7 * 86400)


class StoreConfig(_Section):
    kind: StoreKind = StoreKind.SQLITE
    data_dir: Path = Path("data")
    # Redis: the URL carries any password (redis://:secret@host:6379/0, rediss:// for TLS), so it is a secret:
    # give it in PORCHLIGHT_STORE__REDIS_URL or a file (redis_url_file), never in a committed config file.
    redis_url: SecretStr | None = None
    redis_url_file: Path | None = None
    redis_prefix: str = "pl:"
    redis_connect_timeout_seconds: float = Field(default=1.0, gt=0, le=30)
    redis_socket_timeout_seconds: float = Field(default=1.0, gt=0, le=30)
    # Redis Sentinel ("host:port" each, e.g. ["10.0.0.7:26379", ...]; env: a JSON list or comma-separated): the hub
    # asks them where the primary named `redis_sentinel_master` is, and again after a failover
    # (hub/store/redis_sentinel.py). With them, redis_url is not needed.
    redis_sentinels: list[str] = Field(default_factory=list)
    redis_sentinel_master: str | None = None
    # The password of Redis (and of the sentinels), if the URL does not carry one: a secret, so from
    # PORCHLIGHT_STORE__REDIS_PASSWORD or a file.
    redis_password: SecretStr | None = None
    redis_password_file: Path | None = None
    # Every consent-closing write (withdrawal, audio off, pilot end, disable, an owner's stop) waits until this many
    # replicas have it (Redis WAIT), at most redis_wait_timeout_seconds; 0: no waiting (no replicas). A timeout
    # never undoes the write or reopens a gate: the answer says `replicated: false`.
    redis_wait_replicas: int = Field(default=0, ge=0, le=16)
    redis_wait_timeout_seconds: float = Field(default=0.5, gt=0, le=30)

    @field_validator("redis_sentinels", mode="before")
    @classmethod
    def _sentinel_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("redis_sentinels")
    @classmethod
    def _sentinel_addresses(cls, value: list[str]) -> list[str]:
        for address in value:
            host, _, port = address.rpartition(":")
            if not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise ValueError(f"a sentinel is host:port, not {address!r}")
        return value

    @model_validator(mode="after")
    def _sentinel_settings(self) -> StoreConfig:
        if bool(self.redis_sentinels) != bool(self.redis_sentinel_master):
            raise ValueError("redis_sentinels and redis_sentinel_master go together")
        if self.redis_wait_replicas and self.redis_wait_timeout_seconds >= self.redis_socket_timeout_seconds:
            raise ValueError("redis_wait_timeout_seconds must be shorter than redis_socket_timeout_seconds")
        return self

    def redis_password_value(self) -> str | None:
        """The Redis password from the environment or its file; None if neither is set (the URL may carry one)."""
        if self.redis_password is not None:
            return self.redis_password.get_secret_value()
        if self.redis_password_file is not None:
            try:
                return self.redis_password_file.read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ConfigError(f"cannot read store.redis_password_file: {exc.strerror}") from exc
        return None

    def redis_dsn(self) -> str:
        """The Redis URL, read from the file if one is named; ConfigError if neither is set."""
        if self.redis_url is not None:
            return self.redis_url.get_secret_value()
        if self.redis_url_file is not None:
            try:
                return self.redis_url_file.read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ConfigError(f"cannot read store.redis_url_file: {exc.strerror}") from exc
        raise ConfigError("store.kind is redis but neither store.redis_url nor store.redis_url_file is set")

    @property
    def sqlite_path(self) -> Path:
        """Where the embedded store keeps its file."""
        return self.data_dir / "porchlight.sqlite3"


class IceServer(_Section):
    """A STUN or TURN server for the hub's own peers and, in `Link` headers, for WHIP and WHEP clients.

    A TURN server with `secret` (or `secret_file`) gets credentials made per client in the TURN REST scheme that
    coturn's `use-auth-secret` checks (hub/media/ice_servers.py), valid `credential_seconds`; the secret itself never
    leaves the hub. `username`/`credential` are fixed credentials, handed out as they are.
    """

    urls: str | list[str]
    username: str | None = None
    credential: str | None = None
    secret: SecretStr | None = None
    secret_file: Path | None = None
    credential_seconds: float = Field(default=3600.0, ge=60, le=7 * 86400)

    @model_validator(mode="after")
    def _one_kind_of_credential(self) -> IceServer:
        if self.secret is not None and self.secret_file is not None:
            raise ValueError("give secret or secret_file, not both")
        if self.has_secret() and (self.username is not None or self.credential is not None):
            raise ValueError("a server with a shared secret gets its username and credential made per client")
        urls = [self.urls] if isinstance(self.urls, str) else self.urls
        if self.has_secret() and not all(url.startswith(("turn:", "turns:")) for url in urls):
            raise ValueError("a shared secret is for TURN servers (turn: or turns: URLs)")
        return self

    def has_secret(self) -> bool:
        """Whether credentials are made from a shared secret."""
        return self.secret is not None or self.secret_file is not None

    def shared_secret(self) -> bytes:
        """The TURN REST shared secret, read from the file if one is named; ConfigError if unreadable."""
        if self.secret is not None:
            return self.secret.get_secret_value().encode()
        assert self.secret_file is not None
        try:
            return self.secret_file.read_text(encoding="utf-8").strip().encode()
        except OSError as exc:
            raise ConfigError(f"cannot read media.ice_servers secret_file: {exc.strerror}") from exc


class MediaConfig(_Section):
    forwarding: ForwardingMode = ForwardingMode.PASSTHROUGH
    # Preferred when a camera's offer has both; each camera's codec is negotiated with its publisher, and its
    # passthrough viewers get that one (hub/media/codecs.py).
    codec: VideoCodec = VideoCodec.VP8
    # Many viewers asking for a keyframe at once cause one request to the camera per interval.
    keyframe_interval_seconds: float = Field(default=0.5, gt=0, le=10)
    ice_servers: list[IceServer] = Field(default_factory=list)
    # Gather only 127.0.0.1 candidates: tests and the single-machine demo.
    loopback: bool = False
    # Gather host candidates only on these addresses (added to 127.0.0.1 in loopback mode); empty: every interface.
    ice_addresses: list[str] = Field(default_factory=list)

    @field_validator("ice_addresses")
    @classmethod
    def _addresses(cls, value: list[str]) -> list[str]:
        for address in value:
            try:
                ipaddress.ip_address(address)
            except ValueError:
                raise ValueError(f"not an IP address: {address!r}") from None
        return value

    max_sdp_bytes: int = Field(default=128 * 1024, ge=1024, le=1024 * 1024)
    # Frames waiting per viewer; a slow viewer drops old frames rather than growing memory.
    viewer_queue_frames: int = Field(default=2, ge=1, le=64)
    # How long a viewer may wait for the camera's agent to start publishing.
    publish_timeout_seconds: float = Field(default=15.0, gt=0)
    # A publishing camera that sends no frame for this long (a lost network) has its WHIP session ended.
    silence_seconds: float = Field(default=5.0, gt=0, le=120)


class LimitsConfig(_Section):
    """What one client may ask of a hub. Rates use the `limits` package's notation ("30/minute", "5/second") and are
    counted per hub."""

    login_per_source: str = "60/minute"
    login_per_account: str = "10/minute"
    # WHIP and WHEP offers: per client address, and per officer (WHEP) or camera (WHIP).
    offers_per_source: str = "120/minute"
    offers_per_account: str = "30/minute"
    # The public audit and transparency routes (the report, checkpoint, key and proofs), per client address.
    public_per_source: str = "120/minute"
    # Peer connections open at once: one officer's, and the hub's in all (viewers and cameras).
    peers_per_officer: int = Field(default=8, ge=1)
    peers_total: int = Field(default=256, ge=1)
    # An offer's body, and then its ICE and DTLS handshake, must complete within this long or the connection is
    # closed and its sockets freed.
    handshake_seconds: float = Field(default=10.0, gt=0, le=120)
    # A failed authentication is answered after a random delay in this range (slows guessing, hides timing).
    failed_auth_delay_seconds: tuple[float, float] = (0.1, 0.4)

    @field_validator(
        "login_per_source", "login_per_account", "offers_per_source", "offers_per_account", "public_per_source"
    )
    @classmethod
    def _rate(cls, value: str) -> str:
        try:
            limits.parse(value)
        except ValueError as exc:
            raise ValueError(f"not a rate like '30/minute': {value!r}") from exc
        return value

    @field_validator("failed_auth_delay_seconds")
    @classmethod
    def _delay(cls, value: tuple[float, float]) -> tuple[float, float]:
        low, high = value
        if not 0 <= low <= high <= 10:
            raise ValueError("failed_auth_delay_seconds must be [low, high] with 0 <= low <= high <= 10")
        return value


class ConsentConfig(_Section):
    # Default cap on an opt-in's time box until an admin sets one (7 days).
    default_max_grant_seconds: float = Field(default=7 * 24 * 3600, gt=0)
    # An officer's request for access that its owner has not answered by then expires.
    request_ttl_seconds: float = Field(default=15 * 60, gt=0)
    # How often the hub looks for changes written by another process (the admin CLI).
    poll_seconds: float = Field(default=0.25, gt=0, le=10)
    # The hub's view of consent is fresh this long after the store last answered; then every gate closes.
    lease_seconds: float = Field(default=2.0, gt=0, le=60)
    # A store call on the watch loop that takes longer than this counts as no answer.
    store_timeout_seconds: float = Field(default=1.0, gt=0, le=30)

    @model_validator(mode="after")
    def _lease_outlasts_a_poll(self) -> ConsentConfig:
        if self.lease_seconds <= self.poll_seconds + self.store_timeout_seconds:
            raise ValueError("lease_seconds must exceed poll_seconds + store_timeout_seconds")
        return self


class ClusterConfig(_Section):
    """Several hubs on one Redis (store.kind = "redis")."""

    # This hub's name among its peers (default: host name and port).
    node_id: str | None = None
    # A camera's stream belongs to the hub its agent reached for this long after that hub last renewed it.
    owner_ttl_seconds: float = Field(default=3.0, gt=0.3, le=60)
    # How long a withdrawal made here waits for the owning hub to confirm its gates closed.
    confirm_timeout_seconds: float = Field(default=1.0, gt=0, le=30)
    # A hub whose clock strays further than this from the store's (Redis TIME, measured at every lease renewal)
    # closes every gate and reports not ready: grant expiries and pilot ends are absolute times, so each hub
    # applies them late or early by at most this much. Withdrawals, pilot ends and disables never depend on it.
    max_clock_offset_ms: float = Field(default=250.0, gt=0, le=60_000)
    # A WHEP request for a camera another hub streams: false relays it through this hub (one internal session per
    # camera, hub/media/relay_client.py); true answers 307 to the owning hub, as before the relay.
    whep_redirect: bool = False
    # The hub-to-hub secret that signs relay requests (a secret: at least 32 random bytes, as text). Every hub of a
    # cluster needs the same one; by default it lives in the data directory and is made on first start.
    peer_secret_file: Path | None = None
    # How the other hubs reach this one for relays (e.g. "http://10.0.0.5:8080"); default the public base URL.
    internal_url: str | None = None
    # Where a WHIP publisher (or, with whep_redirect, a player) is sent to reach this hub when another hub took its
    # request: this hub's own public name behind a proxy that spreads one shared name (http.public_url, the pages'
    # origin) over several hubs, e.g. "https://hub-a.porchlight.example.org"; default the public base URL.
    redirect_url: str | None = None


class AuditConfig(_Section):
    # The log's name: the first line of every checkpoint and the signing key's name (no spaces, no '+').
    origin: str = "porchlight.localhost/audit"
    # The Ed25519 signer key (PRIVATE+KEY+... text, a secret). Every hub of one log needs the same key; by default
    # it lives in the data directory and is made on first start.
    signing_key_file: Path | None = None
    # A fresh checkpoint is signed this often when the log has grown (and on demand).
    checkpoint_seconds: float = Field(default=60.0, gt=0)
    # A view or log-in whose record cannot be written within this long is refused.
    write_timeout_seconds: float = Field(default=1.0, gt=0, le=30)
    # Grants that ran out are recorded (consent.expired) within this long.
    expiry_scan_seconds: float = Field(default=5.0, gt=0)

    @field_validator("origin")
    @classmethod
    def _origin(cls, value: str) -> str:
        if not value or "+" in value or any(c.isspace() for c in value):
            raise ValueError("the origin must be one word without spaces or '+'")
        return value


class MapConfig(_Section):
    """The officer's map: a raster tile server, or none (the cameras on a plain background)."""

    # An XYZ tile URL with {z}, {x} and {y} (and optionally {s} or {r}), e.g.
    # "https://tile.openstreetmap.org/{z}/{x}/{y}.png"; None: no tiles are fetched at all.
    tile_url: str | None = None
    # The attribution the tile server's licence asks for, shown on the map (plain text).
    attribution: str = ""
    max_zoom: int = Field(default=19, ge=1, le=22)
    # Asking by area (POST /api/requests/area): the widest circle an officer may draw, in metres.
    area_max_radius_m: float = Field(default=2000.0, gt=0, le=50_000)

    @field_validator("tile_url")
    @classmethod
    def _tile_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        netloc = parts.netloc.replace("{s}.", "", 1)
        if (
            parts.scheme not in ("http", "https")
            or not netloc
            or any(c in netloc for c in "@{}; ,'\"")
            or any(c.isspace() for c in value)
        ):
            raise ValueError(f"not a tile URL like https://tile.example.org/{{z}}/{{x}}/{{y}}.png: {value!r}")
        if not all(part in parts.path + parts.query for part in ("{z}", "{x}", "{y}")):
            raise ValueError("the tile URL needs {z}, {x} and {y}")
        return value

    def tile_origin(self) -> str | None:
        """Where the tiles come from, as a CSP source: scheme, host and port ("{s}." subdomains: any subdomain)."""
        if self.tile_url is None:
            return None
        parts = urlsplit(self.tile_url)
        return f"{parts.scheme}://{parts.netloc.replace('{s}.', '*.', 1)}"


class NotifyConfig(_Section):
    """Telling residents what concerns them (hub/notify/): Web Push to the browsers they allowed, and e-mail."""

    # RFC 8292's contact for push services (`sub` of the VAPID token): a mailto: or https: URL of the operator.
    vapid_subject: str = "mailto:admin@porchlight.localhost"
    # The VAPID private key (P-256, PEM; a secret). By default it lives in the data directory, made on first start;
    # every hub of one deployment needs the same key (browsers subscribed with its public half).
    vapid_key_file: Path | None = None
    # Push endpoints must be https://; this also lets http://127.0.0.1 and http://localhost ones in (tests only).
    allow_loopback_push: bool = False
    # Messages waiting to be sent; more are dropped (and counted): sending never holds up consent.
    queue_size: int = Field(default=1000, ge=1, le=100_000)
    # One push or e-mail delivery that takes longer than this is given up (and counted).
    send_timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    # E-mail through this SMTP server to residents who gave an address (PUT /api/me/email); unset: no e-mail.
    smtp_host: str | None = None
    smtp_port: int = Field(default=587, ge=1, le=65535)
    # "starttls" (port 587), "tls" (implicit TLS, port 465) or "none" (a relay on this machine only).
    smtp_security: str = "starttls"
    smtp_username: str | None = None
    # The SMTP password (a secret): in PORCHLIGHT_NOTIFY__SMTP_PASSWORD or a file, never in a committed file.
    smtp_password: SecretStr | None = None
    smtp_password_file: Path | None = None
    email_from: str = "Porchlight <porchlight@localhost>"

    @field_validator("vapid_subject")
    @classmethod
    def _subject(cls, value: str) -> str:
        if not (value.startswith("mailto:") and "@" in value) and not value.startswith("https://"):
            raise ValueError("the VAPID subject must be a mailto: or https: URL (RFC 8292)")
        return value

    @field_validator("smtp_security")
    @classmethod
    def _security(cls, value: str) -> str:
        if value not in ("starttls", "tls", "none"):
            raise ValueError("smtp_security must be starttls, tls or none")
        return value

    def smtp_secret(self) -> str | None:
        """The SMTP password, read from the file if one is named; None when neither is set."""
        if self.smtp_password is not None:
            return self.smtp_password.get_secret_value()
        if self.smtp_password_file is not None:
            try:
                return self.smtp_password_file.read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ConfigError(f"cannot read notify.smtp_password_file: {exc.strerror}") from exc
        return None


class Config(_Section):
    """Everything the hub reads at start-up."""

    http: HttpConfig = Field(default_factory=HttpConfig)
    store: StoreConfig = Field(default_factory=StoreConfig)
    media: MediaConfig = Field(default_factory=MediaConfig)
    consent: ConsentConfig = Field(default_factory=ConsentConfig)
    cluster: ClusterConfig = Field(default_factory=ClusterConfig)
    audit: AuditConfig = Field(default_factory=AuditConfig)
    auth: AuthConfig = Field(default_factory=AuthConfig)
    limits: LimitsConfig = Field(default_factory=LimitsConfig)
    notify: NotifyConfig = Field(default_factory=NotifyConfig)
    map: MapConfig = Field(default_factory=MapConfig)
    log_level: str = "INFO"

    @field_validator("log_level")
    @classmethod
    def _level(cls, value: str) -> str:
        upper = value.upper()
        if upper not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ValueError("log_level must be DEBUG, INFO, WARNING or ERROR")
        return upper

    def node_id(self) -> str:
        """This hub's name among its peers."""
        return self.cluster.node_id or f"{socket.gethostname()}:{self.http.port}"

    def signing_key_path(self) -> Path:
        """Where the audit log's signer key is read from (made there on first start if it is the default)."""
        return self.audit.signing_key_file or self.store.data_dir / "audit-signer.key"

    def peer_secret_path(self) -> Path:
        """Where the hub-to-hub secret is read from (made there on first start if it is the default)."""
        return self.cluster.peer_secret_file or self.store.data_dir / "peer-secret.key"

    def internal_base_url(self) -> str:
        """The URL other hubs reach this one at (relays): `cluster.internal_url`, else the public base URL."""
        if self.cluster.internal_url:
            return self.cluster.internal_url.rstrip("/")
        return self.base_url()

    def redirect_base_url(self) -> str:
        """The URL a redirect to this hub names: `cluster.redirect_url`, else the public base URL."""
        if self.cluster.redirect_url:
            return self.cluster.redirect_url.rstrip("/")
        return self.base_url()

    def base_url(self) -> str:
        """The URL clients reach this hub at."""
        if self.http.public_url:
            return self.http.public_url.rstrip("/")
        return f"http://{self.http.host}:{self.http.port}"


def _env_overrides(env: Mapping[str, str]) -> dict[str, Any]:
    """Nested dict from PORCHLIGHT_A__B=value; values are parsed as JSON when they parse, else kept as text."""
    tree: dict[str, Any] = {}
    for name, raw in env.items():
        if not name.startswith(ENV_PREFIX) or name in NOT_SETTINGS:
            continue
        path = name[len(ENV_PREFIX) :].lower().split("__")
        try:
            value: Any = json.loads(raw)
        except ValueError:
            value = raw
        node = tree
        for part in path[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"environment variable {name} conflicts with another override")
        node[path[-1]] = value
    return tree


def _merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def load_config(path: Path | None = None, env: Mapping[str, str] | None = None) -> Config:
    """Read `path` (TOML; optional), apply environment overrides, validate. Raises ConfigError."""
    env = os.environ if env is None else env
    data: dict[str, Any] = {}
    if path is None and env.get("PORCHLIGHT_CONFIG"):
        path = Path(env["PORCHLIGHT_CONFIG"])
    if path is not None:
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {path} is not valid TOML: {exc}") from exc
    data = _merge(data, _env_overrides(env))
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(top)'}: {_explain(err)}" for err in exc.errors()
        )
        raise ConfigError(f"invalid configuration: {problems}") from exc


def _explain(err: Any) -> str:
    if err["type"] == "extra_forbidden":
        return "unknown key (not a Porchlight setting)"
    return str(err["msg"])

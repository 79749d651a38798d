"""The agent's settings: one frozen, validated object built at start-up.

The device token is a secret: it is kept out of repr and never logged.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import get_args

from aiortc import RTCConfiguration
from yarl import URL

from device_agent.sources import SourceSpec, parse_source
from device_agent.whip import Codec
from porchlight_rtc.ice import rtc_configuration

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
_ICE_SCHEMES = ("stun", "stuns", "turn", "turns")
_SIZE = re.compile(r"(\d{2,4})x(\d{2,4})")
_PLAIN_NAME = re.compile(r"[A-Za-z0-9_.-]{1,128}")
SOCKET_NAME = "control.sock"
PAUSE_FILE = "pause.json"


class ConfigError(ValueError):
    """The settings are invalid; the message says which one and why."""


@dataclass(frozen=True, slots=True)
class AgentConfig:
    """Everything the agent needs; validated on construction (ConfigError)."""

    hubs: tuple[str, ...]
    camera_id: str
    token: str = field(repr=False)
    source: SourceSpec = field(default_factory=lambda: SourceSpec("synthetic"))
    fps: int = 15
    width: int = 640
    height: int = 480
    codec: Codec = "vp8"
    ice_servers: tuple[str, ...] = ()
    loopback: bool = False  # the CLI calls porchlight_rtc.ice.enable_loopback() before anything else
    name: str = ""
    max_backoff: float = 10.0
    log_level: str = "INFO"
    # Run on each start and end of watching (see device_agent.watching); empty: none.
    on_watch: tuple[str, ...] = ()
    # Run when an officer asks the owner for access to this camera (see device_agent.on_request); empty: none.
    on_request: tuple[str, ...] = ()
    # The owner's pause (device_agent.pause) is kept here, and the local control socket lives here unless
    # `control_socket` names another path. None (library use only): the pause lives in memory, with no socket.
    state_dir: Path | None = None
    control_socket: Path | None = None
    # A command whose output lines (pause, resume, toggle) drive the pause: a physical button (device_agent.button).
    button_command: tuple[str, ...] = ()
    # A microphone (device_agent.audio_source): sent only while the hub says the camera's grant allows audio.
    # None: the agent offers no audio at all.
    audio_source: str | None = None

    def __post_init__(self) -> None:
        if not self.hubs:
            raise ConfigError("at least one --hub is required")
        for hub in self.hubs:
            url = URL(hub)
            if url.scheme not in ("http", "https") or not url.host:
                raise ConfigError("--hub must be an http:// or https:// URL")
            if url.user or url.password or url.query_string:
                raise ConfigError("--hub must not carry credentials or a query")
        if not self.camera_id or not self.camera_id.isprintable() or len(self.camera_id) > 128:
            raise ConfigError("--camera must be 1..128 printable characters")
        if not self.token or any(ch.isspace() for ch in self.token):
            raise ConfigError("the device token is empty or contains whitespace")
        if not 1 <= self.fps <= 60:
            raise ConfigError("--fps must be within 1..60")
        if not (320 <= self.width <= 3840 and 120 <= self.height <= 2160):
            raise ConfigError("--size must be within 320x120 .. 3840x2160")
        if self.height < self.width // 4:
            raise ConfigError("--size is too wide for its height (at most 4:1)")
        if self.width % 2 or self.height % 2:
            raise ConfigError("--size needs even width and height (4:2:0 video)")
        if self.codec not in get_args(Codec):
            raise ConfigError("--codec must be vp8 or h264")
        for server in self.ice_servers:
            if server.split(":", 1)[0] not in _ICE_SCHEMES:
                raise ConfigError("--ice-server must be a stun:, stuns:, turn: or turns: URL")
        if not 0.2 <= self.max_backoff <= 3600:
            raise ConfigError("--max-backoff must be within 0.2..3600 seconds")
        if self.log_level not in LOG_LEVELS:
            raise ConfigError(f"--log-level must be one of {', '.join(LOG_LEVELS)}")
        if self.control_socket is not None and self.state_dir is None:
            raise ConfigError("--control-socket needs a state directory for the pause it controls")

    @property
    def pause_file(self) -> Path | None:
        """Where the owner's pause is kept (None: in memory only)."""
        return None if self.state_dir is None else self.state_dir / PAUSE_FILE

    @property
    def socket_path(self) -> Path | None:
        """Where `porchlight-agent pause|resume|status` reach this agent (None: no socket)."""
        if self.control_socket is not None:
            return self.control_socket
        return None if self.state_dir is None else self.state_dir / SOCKET_NAME

    @property
    def display_name(self) -> str:
        """The name drawn on the test pattern."""
        return self.name or self.camera_id

    def rtc_configuration(self) -> RTCConfiguration:
        """The explicit ICE server list (empty unless configured): never aiortc's public STUN default."""
        return rtc_configuration({"urls": server} for server in self.ice_servers)


def default_state_dir(camera_id: str) -> Path:
    """The state directory when none is given: `$XDG_STATE_HOME/porchlight-agent/<camera>` (XDG_STATE_HOME
    defaulting to ~/.local/state). ConfigError for a camera id that is not a plain file name."""
    if not _PLAIN_NAME.fullmatch(camera_id) or camera_id in (".", ".."):
        raise ConfigError("--camera is not a plain name (letters, digits, . _ -): give --state-dir")
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "porchlight-agent" / camera_id


def parse_size(text: str) -> tuple[int, int]:
    """Parse a size such as 640x480 into (width, height); ConfigError otherwise."""
    match = _SIZE.fullmatch(text.strip().lower())
    if not match:
        raise ConfigError("--size must look like 640x480")
    return int(match.group(1)), int(match.group(2))


def parse_source_arg(text: str) -> SourceSpec:
    """parse_source with ConfigError for the CLI."""
    try:
        return parse_source(text)
    except ValueError as exc:
        raise ConfigError(f"--source: {exc}") from exc

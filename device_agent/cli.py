"""`porchlight-agent`: run one camera's agent from the command line, or pause, resume or ask the running one.

`porchlight-agent --hub URL --camera ID ...` runs the agent. `porchlight-agent pause|resume|toggle|status` talks to
the agent running on this device over its local socket (device_agent.local_socket): no hub, network or log-in.
With no agent running, `pause`, `resume` and `toggle` write the state file it will start with.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import logging
import os
import shlex
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from device_agent import local_socket
from device_agent.agent import Agent
from device_agent.audio_source import AudioSourceError, check_audio_source
from device_agent.config import (
    LOG_LEVELS,
    PAUSE_FILE,
    SOCKET_NAME,
    AgentConfig,
    ConfigError,
    default_state_dir,
    parse_size,
    parse_source_arg,
)
from device_agent.pause import PauseError, PauseState, read_paused
from porchlight_rtc import patch_aiortc

TOKEN_ENV = "PORCHLIGHT_DEVICE_TOKEN"
LOCAL_COMMANDS = ("pause", "resume", "toggle", "status")
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Libraries that log ICE candidates, addresses or SDP at debug level stay at WARNING.
_QUIET_LOGGERS = ("aiortc", "aioice")

logger = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    parser = argparse.ArgumentParser(
        prog="porchlight-agent",
        description="Porchlight camera agent: publishes video to the hub only while someone is allowed to watch.",
        epilog="porchlight-agent pause|resume|toggle|status --camera ID (or --state-dir DIR): pause the camera "
        "running on this device, resume it, or show its state; no hub or log-in needed.",
    )
    parser.add_argument(
        "--hub",
        action="append",
        required=True,
        metavar="URL",
        help="hub base URL (http:// or https://); repeat to fall back to others in order",
    )
    parser.add_argument("--camera", required=True, metavar="ID", help="this camera's id at the hub")
    parser.add_argument(
        "--token-file", type=Path, metavar="PATH", help=f"file holding the device token (default: ${TOKEN_ENV})"
    )
    parser.add_argument(
        "--source", default="synthetic", help="synthetic (default) | webcam:<index> | file:<path> | rtsp://..."
    )
    parser.add_argument(
        "--audio-source",
        default=None,
        metavar="SOURCE",
        help="a microphone, sent only while the hub says the owner shares audio: tone | <format>:<device> "
        "(e.g. pulse:default, alsa:hw:0); default: no audio",
    )
    parser.add_argument("--fps", type=int, default=15, help="frames per second, 1..60 (default 15)")
    parser.add_argument("--size", default="640x480", help="frame size WxH (default 640x480)")
    parser.add_argument(
        "--codec",
        choices=("vp8", "h264"),
        default="vp8",
        help="preferred video codec, offered first (default vp8); the hub may take the other",
    )
    parser.add_argument(
        "--ice-server",
        action="append",
        default=[],
        metavar="URL",
        help="STUN/TURN server URL; repeatable (default: none)",
    )
    parser.add_argument("--loopback", action="store_true", help="gather only 127.0.0.1 ICE candidates")
    parser.add_argument("--name", default="", help="name drawn on the test pattern (default: the camera id)")
    parser.add_argument(
        "--max-backoff",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="longest wait between reconnects (default 10)",
    )
    parser.add_argument(
        "--on-watch",
        metavar="COMMAND",
        default="",
        help="run COMMAND (no shell) each time an officer starts or stops watching; it gets "
        "PORCHLIGHT_WATCH_EVENT, _OFFICER, _AGENCY, _CASE, _SINCE and _CAMERA in its environment",
    )
    parser.add_argument(
        "--on-request",
        metavar="COMMAND",
        default="",
        help="run COMMAND (no shell) when an officer asks for access to this camera (answer on your page); it gets "
        "PORCHLIGHT_REQUEST_ID, _CAMERA, _AGENCY, _REASON, _DURATION and _EXPIRES in its environment",
    )
    parser.add_argument(
        "--state-dir",
        type=Path,
        metavar="DIR",
        help="where the owner's pause is kept and the local control socket lives "
        "(default: $XDG_STATE_HOME/porchlight-agent/<camera>, XDG_STATE_HOME defaulting to ~/.local/state)",
    )
    parser.add_argument(
        "--control-socket", type=Path, metavar="PATH", help=f"the local control socket (default: DIR/{SOCKET_NAME})"
    )
    parser.add_argument(
        "--button-command",
        metavar="COMMAND",
        default="",
        help="run COMMAND (no shell) for as long as the agent runs; each line it prints, pause, resume or toggle, "
        "drives the pause (a physical button, e.g. through gpiomon)",
    )
    parser.add_argument("--log-level", default="INFO", type=str.upper, choices=LOG_LEVELS)
    return parser


def build_local_parser(command: str) -> argparse.ArgumentParser:
    """The interface of `porchlight-agent pause|resume|toggle|status`."""
    parser = argparse.ArgumentParser(
        prog=f"porchlight-agent {command}",
        description={
            "pause": "Pause the camera at the device: it publishes nothing until resumed here, whatever the hub "
            "says, and the hub withdraws its consent. Kept across restarts.",
            "resume": "Resume the camera: it may publish again once its owner opts in again at the hub.",
            "toggle": "Pause the camera if it runs, resume it if it is paused.",
            "status": "Show whether the camera is paused and whether it is publishing.",
        }[command],
    )
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--camera", metavar="ID", help="the camera whose agent uses the default state directory")
    where.add_argument("--state-dir", type=Path, metavar="DIR", help="the agent's --state-dir")
    parser.add_argument("--control-socket", type=Path, metavar="PATH", help="the agent's --control-socket, if set")
    return parser


def read_token(token_file: Path | None) -> str:
    """The device token from `token_file`, else from the environment; ConfigError if neither has one."""
    if token_file is not None:
        try:
            token = token_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"cannot read --token-file: {exc.strerror}") from exc
    else:
        token = os.environ.get(TOKEN_ENV, "").strip()
    if not token:
        raise ConfigError(f"no device token: pass --token-file or set {TOKEN_ENV}")
    return token


def config_from_args(args: argparse.Namespace) -> AgentConfig:
    """Validate the parsed arguments into an AgentConfig (ConfigError on any problem)."""
    width, height = parse_size(args.size)
    return AgentConfig(
        hubs=tuple(args.hub),
        camera_id=args.camera,
        token=read_token(args.token_file),
        source=parse_source_arg(args.source),
        fps=args.fps,
        width=width,
        height=height,
        codec=args.codec,
        ice_servers=tuple(args.ice_server),
        loopback=args.loopback,
        name=args.name,
        max_backoff=args.max_backoff,
        log_level=args.log_level,
        on_watch=tuple(shlex.split(args.on_watch)),
        on_request=tuple(shlex.split(args.on_request)),
        state_dir=args.state_dir or default_state_dir(args.camera),
        control_socket=args.control_socket,
        button_command=tuple(shlex.split(args.button_command)),
        audio_source=parse_audio_source_arg(args.audio_source),
    )


def parse_audio_source_arg(text: str | None) -> str | None:
    """check_audio_source with ConfigError for the CLI."""
    if text is None:
        return None
    try:
        return check_audio_source(text)
    except AudioSourceError as exc:
        raise ConfigError(str(exc)) from exc


def setup_logging(level: str) -> None:
    """Log lines to stderr, flushed per line so a parent process sees them promptly."""
    if isinstance(sys.stderr, io.TextIOWrapper):
        sys.stderr.reconfigure(line_buffering=True)
    logging.basicConfig(level=level, format=LOG_FORMAT, stream=sys.stderr, force=True)
    for name in _QUIET_LOGGERS:
        logging.getLogger(name).setLevel(max(logging.WARNING, logging.getLevelName(level)))


async def run(config: AgentConfig) -> int:
    """Run the agent until SIGINT or SIGTERM, then shut it down cleanly; the exit code."""
    shutdown = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, shutdown.set)
    try:
        await Agent(config).run(shutdown)
    except OSError as exc:  # the local control socket or the state directory: fail closed, and say why
        logger.error("camera %s: cannot start: %s", config.camera_id, exc)
        return 1
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    return 0


def local_main(command: str, argv: Sequence[str]) -> int:
    """`porchlight-agent pause|resume|toggle|status`: ask the running agent, or write the state it starts with."""
    parser = build_local_parser(command)
    args = parser.parse_args(argv)
    try:
        state_dir = args.state_dir or default_state_dir(args.camera)
    except ConfigError as exc:
        parser.error(str(exc))
    socket_path = args.control_socket or state_dir / SOCKET_NAME
    try:
        answer = local_socket.request(socket_path, command)
    except (FileNotFoundError, ConnectionRefusedError):
        return _not_running(command, state_dir / PAUSE_FILE)
    except PermissionError:
        print(f"porchlight-agent: {socket_path}: permission denied (run as the agent's user)", file=sys.stderr)
        return 1
    except (local_socket.LocalControlError, OSError) as exc:
        print(f"porchlight-agent: cannot reach the agent: {exc}", file=sys.stderr)
        return 1
    state = "paused" if answer.get("paused") else "not paused"
    publishing = "publishing" if answer.get("publishing") else "not publishing"
    print(f"camera {answer.get('camera')}: {state}, {publishing}")
    if answer.get("persisted") is False:
        print("porchlight-agent: warning: the agent could not write its state file; it holds until it stops")
    return 0


def _not_running(command: str, pause_file: Path) -> int:
    """No agent listens: the state file decides how the next one starts."""
    if command == "status":
        state = "paused" if read_paused(pause_file) else "not paused"
        print(f"no agent running ({state} when it starts)")
        return 0
    pause = PauseState(pause_file)
    try:
        pause.set(not pause.paused if command == "toggle" else command == "pause")
    except PauseError as exc:
        print(f"porchlight-agent: {exc}", file=sys.stderr)
        return 1
    print(f"no agent running; it will start {'paused' if pause.paused else 'not paused'}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `porchlight-agent` and `python -m device_agent`; returns the exit code."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments and arguments[0] in LOCAL_COMMANDS:
        return local_main(arguments[0], arguments[1:])
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        config = config_from_args(args)
    except ConfigError as exc:
        parser.error(str(exc))
    if config.loopback:
        # Before any aiortc object exists, so no non-loopback candidate is ever gathered.
        from porchlight_rtc.ice import enable_loopback

        enable_loopback()
    patch_aiortc()  # as on the hub: a spoofed DTLS record from anywhere could otherwise break the handshake
    setup_logging(config.log_level)
    logger.info(
        "camera %s: agent starting (%d hub(s), source %s)", config.camera_id, len(config.hubs), config.source.label
    )
    return asyncio.run(run(config))

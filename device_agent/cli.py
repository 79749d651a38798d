"""`porchlight-agent`: run one camera's agent from the command line."""

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

from device_agent.agent import Agent
from device_agent.config import LOG_LEVELS, AgentConfig, ConfigError, parse_size, parse_source_arg
from porchlight_rtc import patch_aiortc

TOKEN_ENV = "PORCHLIGHT_DEVICE_TOKEN"
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Libraries that log ICE candidates, addresses or SDP at debug level stay at WARNING.
_QUIET_LOGGERS = ("aiortc", "aioice")

logger = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    parser = argparse.ArgumentParser(
        prog="porchlight-agent",
        description="Porchlight camera agent: publishes video to the hub only while someone is allowed to watch.",
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
    parser.add_argument("--fps", type=int, default=15, help="frames per second, 1..60 (default 15)")
    parser.add_argument("--size", default="640x480", help="frame size WxH (default 640x480)")
    parser.add_argument("--codec", choices=("vp8", "h264"), default="vp8", help="video codec (default vp8)")
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
    parser.add_argument("--log-level", default="INFO", type=str.upper, choices=LOG_LEVELS)
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
    )


def setup_logging(level: str) -> None:
    """Log lines to stderr, flushed per line so a parent process sees them promptly."""
    if isinstance(sys.stderr, io.TextIOWrapper):
        sys.stderr.reconfigure(line_buffering=True)
    logging.basicConfig(level=level, format=LOG_FORMAT, stream=sys.stderr, force=True)
    for name in _QUIET_LOGGERS:
        logging.getLogger(name).setLevel(max(logging.WARNING, logging.getLevelName(level)))


async def run(config: AgentConfig) -> None:
    """Run the agent until SIGINT or SIGTERM, then shut it down cleanly."""
    shutdown = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, shutdown.set)
    try:
        await Agent(config).run(shutdown)
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `porchlight-agent` and `python -m device_agent`; returns the exit code."""
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
    asyncio.run(run(config))
    return 0

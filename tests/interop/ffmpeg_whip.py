"""Publish stamped H264 (and optionally Opus) to a WHIP endpoint with FFmpeg's own WHIP muxer, through PyAV.

Run as its own process (a crash or hang in FFmpeg cannot take the caller with it):

    python -m tests.interop.ffmpeg_whip --url http://127.0.0.1:8080/whip/front-door --token-file cam.token \\
        [--audio] [--seconds 60] [--fps 15] [--size 640x480]

It encodes as an encoder user would (libx264, baseline profile, `zerolatency`, a keyframe every second, no B
frames) frames of colour bars with a moving box, each stamped with its capture time (device_agent/stamp.py) so a
viewer can tell when every frame it shows was captured. FFmpeg's own DTLS key is P-224, which WebRTC peers refuse,
so a P-256 certificate is made for the run and given to the muxer (`cert_file`, `key_file`). Prints `publishing`
once the muxer's WHIP, ICE and DTLS handshakes are done (its first packet went out), `stopped` on SIGTERM/SIGINT
after closing the muxer (which sends the WHIP DELETE), and FFmpeg's own log lines with ICE passwords and bearer
tokens masked. Exit code 0 after a clean stop, 1 when FFmpeg failed.
"""

from __future__ import annotations

import argparse
import datetime
import logging
import re
import signal
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import av
import av.logging
import numpy as np
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from device_agent.stamp import stamp_frame

log = logging.getLogger("ffmpeg_whip")

AUDIO_RATE = 48000
AUDIO_SAMPLES = 960  # 20 ms Opus frames
# What reaches the log from FFmpeg goes through this first: its errors quote the offer, ICE password included.
_SECRET = re.compile(r"(?i)(ice-pwd:|bearer\s+)\S+")
BARS = [(255, 255, 255), (0, 255, 255), (255, 255, 0), (0, 255, 0), (255, 0, 255), (0, 0, 255), (255, 0, 0)]


class _Redact(logging.Filter):
    """Mask ICE passwords and bearer tokens in FFmpeg's lines (they reach our log through av.logging)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = _SECRET.sub(r"\1***", record.getMessage())
        record.args = ()
        return True


def make_certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed P-256 certificate and key (PEM) in `directory`: (cert_file, key_file)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ffmpeg-whip-interop")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_file, key_file


def picture(width: int, height: int, index: int, fps: int) -> np.ndarray:
    """Colour bars with a white box moving across them (BGR), stamped with the time of capture (now)."""
    img = np.zeros((height, width, 3), np.uint8)
    for i, colour in enumerate(BARS):
        img[:, i * width // len(BARS) : (i + 1) * width // len(BARS)] = colour
    side = height // 6
    x = int((index / fps * width / 4) % (width - side))
    img[height // 2 - side // 2 : height // 2 + side // 2, x : x + side] = 255
    stamp_frame(img, int(time.time() * 1000))
    return img


def tone(start_sample: int) -> np.ndarray:
    """20 ms of a quiet 440 Hz tone, stereo, packed s16 (shape 1 x 2*samples, as PyAV wants packed audio)."""
    t = (np.arange(AUDIO_SAMPLES) + start_sample) / AUDIO_RATE
    mono = (np.sin(2 * np.pi * 440 * t) * 3000).astype(np.int16)
    return np.repeat(mono, 2).reshape(1, -1)


class Stop:
    """Set by SIGTERM or SIGINT: the loop ends and the muxer is closed (sending the WHIP DELETE)."""

    def __init__(self) -> None:
        self.asked = False
        signal.signal(signal.SIGTERM, self._ask)
        signal.signal(signal.SIGINT, self._ask)

    def _ask(self, signum: int, frame: object) -> None:
        self.asked = True


def publish(args: argparse.Namespace, token: str, stop: Stop, workdir: Path) -> None:
    """Encode and send until `stop` is asked or `args.seconds` pass."""
    width, height = (int(v) for v in args.size.split("x"))
    cert_file, key_file = make_certificate(workdir)
    options = {
        "authorization": token,
        "cert_file": str(cert_file),
        "key_file": str(key_file),
        "handshake_timeout": str(int(args.handshake_timeout * 1000)),
    }
    container = av.open(args.url, mode="w", format="whip", options=options)
    try:
        video = container.add_stream("libx264", rate=args.fps)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        # What someone streaming live with libx264 sets: baseline (no B frames), zerolatency, a keyframe a second.
        video.options = {"profile": "baseline", "tune": "zerolatency", "preset": "veryfast", "g": str(args.fps)}
        audio = None
        if args.audio:
            audio = container.add_stream("libopus", rate=AUDIO_RATE, layout="stereo")
        began = time.monotonic()
        index = samples = 0
        announced = False
        while not stop.asked and time.monotonic() - began < args.seconds:
            due = began + index / args.fps
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)  # paced like a live camera
            frame = av.VideoFrame.from_ndarray(picture(width, height, index, args.fps), format="bgr24")
            frame.pts = index
            frame.time_base = Fraction(1, args.fps)  # (setting the stream's instead made every packet's pts 0)
            container.mux(video.encode(frame))
            index += 1
            while audio is not None and samples < index * AUDIO_RATE // args.fps:
                chunk = av.AudioFrame.from_ndarray(tone(samples), format="s16", layout="stereo")
                chunk.sample_rate, chunk.pts, chunk.time_base = AUDIO_RATE, samples, Fraction(1, AUDIO_RATE)
                container.mux(audio.encode(chunk))
                samples += AUDIO_SAMPLES
            if not announced and index > 1:
                print("publishing", flush=True)
                announced = True
    finally:
        container.close()  # the muxer's trailer: DELETE on the session's Location


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="the WHIP endpoint, e.g. http://127.0.0.1:8080/whip/front-door")
    parser.add_argument("--token-file", required=True, type=Path, help="the camera's device token")
    parser.add_argument("--audio", action="store_true", help="send Opus audio too")
    parser.add_argument("--seconds", type=float, default=120.0, help="stop after this long at the latest")
    parser.add_argument("--fps", type=int, default=15)
    parser.add_argument("--size", default="640x480")
    parser.add_argument("--handshake-timeout", type=float, default=10.0, help="ICE + DTLS, seconds")
    parser.add_argument("--verbose", action="store_true", help="FFmpeg's VERBOSE lines (offer and answer, masked)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stdout)
    for handler in logging.getLogger().handlers:
        handler.addFilter(_Redact())
    av.logging.set_level(av.logging.VERBOSE if args.verbose else av.logging.INFO)
    token = args.token_file.read_text(encoding="utf-8").strip()
    stop = Stop()
    with tempfile.TemporaryDirectory(prefix="ffmpeg-whip-") as workdir:
        try:
            publish(args, token, stop, Path(workdir))
        except av.FFmpegError as exc:
            print("ffmpeg failed:", _SECRET.sub(r"\1***", str(exc)), flush=True)
            raise SystemExit(1) from None
    print("stopped", flush=True)


if __name__ == "__main__":
    main()

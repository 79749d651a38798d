"""A tiny RTSP server (GStreamer's gst-rtsp-server) standing in for a home IP camera, on loopback.

Runs under Debian's /usr/bin/python3 (python3-gi, gir1.2-gst-rtsp-server-1.0), never the project's venv. It reads
raw BGR frames of the given size from stdin (the caller draws and stamps them) and serves them as H264 at
rtsp://127.0.0.1:<port>/cam, as most IP cameras do: one shared encoder for every client, a keyframe every second.
Frames read while no client is connected are dropped; a client always gets the newest.

With --user/--password every request needs HTTP Basic credentials (the password is read from a file).

Lines on stdout: `listening <port>`, `client` when a client connects, `playing` when a client's stream starts.
SIGTERM or SIGINT ends it (exit 0); so does the end of stdin.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402


def say(line: str) -> None:
    """One event line for the caller."""
    print(line, flush=True)


class Camera:
    """The RTSP server, its one mount and the frames pushed into whichever media is playing."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.loop = GLib.MainLoop()
        self.sources: list[Gst.Element] = []
        self.lock = threading.Lock()
        self.server = GstRtspServer.RTSPServer()
        self.server.set_address("127.0.0.1")
        self.server.set_service(str(args.port))
        caps = f"video/x-raw,format=BGR,width={args.width},height={args.height},framerate={args.fps}/1"
        factory = GstRtspServer.RTSPMediaFactory()
        factory.set_launch(
            f"( appsrc name=src is-live=true do-timestamp=true format=time caps={caps} "
            "! queue max-size-buffers=2 leaky=downstream ! videoconvert ! video/x-raw,format=I420 "
            f"! x264enc tune=zerolatency speed-preset=ultrafast bitrate=1500 threads=1 key-int-max={args.fps} "
            "! video/x-h264,profile=constrained-baseline ! rtph264pay name=pay0 pt=96 config-interval=-1 )"
        )
        factory.set_shared(True)
        factory.connect("media-configure", self._on_media)
        if args.user:
            self._require_credentials(factory)
        self.server.get_mount_points().add_factory("/cam", factory)
        self.server.connect("client-connected", lambda *_: say("client"))

    def _require_credentials(self, factory: GstRtspServer.RTSPMediaFactory) -> None:
        with open(self.args.password_file, encoding="utf-8") as handle:
            password = handle.read().strip()
        auth = GstRtspServer.RTSPAuth()
        token = GstRtspServer.RTSPToken.new()
        token.set_string(GstRtspServer.RTSP_TOKEN_MEDIA_FACTORY_ROLE, "viewer")
        auth.add_basic(GstRtspServer.RTSPAuth.make_basic(self.args.user, password), token)
        self.server.set_auth(auth)
        permissions = GstRtspServer.RTSPPermissions.new()
        permissions.add_permission_for_role("viewer", GstRtspServer.RTSP_PERM_MEDIA_FACTORY_ACCESS, True)
        permissions.add_permission_for_role("viewer", GstRtspServer.RTSP_PERM_MEDIA_FACTORY_CONSTRUCT, True)
        factory.set_permissions(permissions)

    def _on_media(self, _factory: object, media: GstRtspServer.RTSPMedia) -> None:
        source = media.get_element().get_by_name_recurse_up("src")
        with self.lock:
            self.sources.append(source)
        media.connect("unprepared", lambda *_: self._forget(source))
        say("playing")

    def _forget(self, source: Gst.Element) -> None:
        with self.lock:
            if source in self.sources:
                self.sources.remove(source)

    def _read_frames(self) -> None:
        """Read stdin frame by frame (never blocking the writer for long) and push each to the playing media."""
        size = self.args.width * self.args.height * 3
        stdin = sys.stdin.buffer
        while True:
            data = stdin.read(size)
            if len(data) < size:
                break
            with self.lock:
                sources = list(self.sources)
            for source in sources:
                source.emit("push-buffer", Gst.Buffer.new_wrapped(data))
        GLib.idle_add(self.loop.quit)

    def run(self) -> int:
        if self.server.attach(None) == 0:
            say("error cannot listen")
            return 1
        GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGTERM, self.loop.quit)
        GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGINT, self.loop.quit)
        threading.Thread(target=self._read_frames, daemon=True).start()
        say(f"listening {self.server.get_bound_port()}")
        self.loop.run()
        return 0


def main(argv: list[str]) -> int:
    """Serve stdin's frames over RTSP until told to stop."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--fps", type=int, default=15)
    parser.add_argument("--user", default="")
    parser.add_argument("--password-file", default="")
    args = parser.parse_args(argv)
    Gst.init(None)
    return Camera(args).run()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""A WHIP publisher or WHEP player made of GStreamer's `webrtcbin`, as a user without whipsink/whepsrc writes one.

Runs under Debian's /usr/bin/python3 (python3-gi, python3-gst-1.0, gir1.2-gst-plugins-bad-1.0), never the project's
venv: Debian 12's GStreamer 1.22 has no webrtchttp plugin (no `whipsink`, no `whepsrc`), so this script does the
WHIP/WHEP exchange itself: one offer with every candidate (no trickle), POSTed with a bearer token, the answer set.

    publish: raw BGR frames on stdin (or videotestsrc) -> vp8enc | x264enc -> webrtcbin -> POST /whip/<camera>
    play:    POST /whep/<camera> -> webrtcbin -> decodebin -> count frames (and optionally raw BGR to a file
             descriptor, so the caller can read the capture stamps in the pixels)

The bearer token is read from a file (never on the command line, never printed); the SDP is never printed (it
holds ICE credentials). Lines on stdout, one event each, for the caller:
    posted <status>          the WHIP/WHEP answer's HTTP status (an error body follows as `refused <text>`)
    state <name>=<value> <t> connection/ICE state changes, <t> seconds after the script started
    first-frame <seconds>    (play) first decoded frame, seconds since the offer was POSTed
    frames <count>           (play) decoded frames so far, about once a second
    error <text>             a pipeline error; the script exits 1
The script runs until it is sent SIGTERM/SIGINT (exit 0), or, in play mode with --frames N, until N frames
were decoded (exit 0). It DELETEs its session on the way out.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstSdp", "1.0")
gi.require_version("GstWebRTC", "1.0")
from gi.repository import GLib, Gst, GstSdp, GstWebRTC  # noqa: E402

HTTP_TIMEOUT = 10.0
STARTED = time.monotonic()  # state lines say when, from the script's start (a slow handshake shows)

# RTP caps per codec: what the payloader produces and what a player offers to receive.
RTP_CAPS = {
    "vp8": "application/x-rtp,media=video,encoding-name=VP8,payload=96,clock-rate=90000",
    "h264": (
        "application/x-rtp,media=video,encoding-name=H264,payload=102,clock-rate=90000,"
        "packetization-mode=(string)1,profile-level-id=(string)42e01f,level-asymmetry-allowed=(string)1"
    ),
}


# What the publisher's payloader output is pinned to: the payload type only; the payloader fills in the rest (for
# H264 the profile-level-id of the encoder's SPS, here constrained baseline).
PUBLISH_CAPS = {
    "vp8": "application/x-rtp,media=video,encoding-name=VP8,payload=96",
    "h264": "application/x-rtp,media=video,encoding-name=H264,payload=102",
}


def say(line: str) -> None:
    """One event line for the caller."""
    print(line, flush=True)


def encoder(codec: str, fps: int) -> str:
    """The encoder and payloader, set up as a live WHIP encoder usually is (real time, a keyframe every 2 s)."""
    if codec == "vp8":
        return (
            f"vp8enc deadline=1 cpu-used=8 end-usage=cbr target-bitrate=1000000 keyframe-max-dist={2 * fps} "
            "error-resilient=partitions ! rtpvp8pay picture-id-mode=15-bit"
        )
    return (
        f"x264enc tune=zerolatency speed-preset=ultrafast bitrate=1000 key-int-max={2 * fps} "
        "! video/x-h264,profile=constrained-baseline ! rtph264pay config-interval=-1 aggregate-mode=zero-latency"
    )


def publish_pipeline(args: argparse.Namespace) -> str:
    """gst-launch syntax for the publisher: a source, the encoder and webrtcbin."""
    raw = f"video/x-raw,width={args.width},height={args.height},framerate={args.fps}/1"
    if args.source == "stdin":
        source = (
            f"fdsrc fd=0 blocksize={args.width * args.height * 3} do-timestamp=true "
            f"! rawvideoparse format=bgr width={args.width} height={args.height} framerate={args.fps}/1 "
            "! videoconvert ! video/x-raw,format=I420"
        )
    else:
        source = f"videotestsrc is-live=true pattern=ball ! {raw} ! videoconvert ! video/x-raw,format=I420"
    return (
        f"webrtcbin name=rtc bundle-policy=max-bundle {source} ! queue max-size-buffers=2 leaky=downstream "
        f"! {encoder(args.codec, args.fps)} ! {PUBLISH_CAPS[args.codec]} ! rtc."
    )


class Session:
    """One webrtcbin, its WHIP/WHEP exchange and what it reports."""

    def __init__(self, args: argparse.Namespace, token: str) -> None:
        self.args = args
        self.token = token
        self.loop = GLib.MainLoop()
        self.location: str | None = None
        self.posted_at = 0.0
        self.frames = 0
        self.exit_code = 0
        self.raw_out = args.raw_fd
        if args.mode == "publish":
            self.pipe = Gst.parse_launch(publish_pipeline(args))
            self.rtc = self.pipe.get_by_name("rtc")
        else:
            self.pipe = Gst.Pipeline.new("play")
            self.rtc = Gst.ElementFactory.make("webrtcbin", "rtc")
            self.rtc.set_property("bundle-policy", GstWebRTC.WebRTCBundlePolicy.MAX_BUNDLE)
            self.pipe.add(self.rtc)
            caps = Gst.Caps.new_empty()
            for codec in args.codec.split(","):
                caps.append(Gst.Caps.from_string(RTP_CAPS[codec]))
            self.rtc.emit("add-transceiver", GstWebRTC.WebRTCRTPTransceiverDirection.RECVONLY, caps)
            self.rtc.connect("pad-added", self._on_pad)
        if args.local_address:
            self._gather_only(args.local_address)
        self.rtc.connect("on-negotiation-needed", self._on_negotiation_needed)
        self.rtc.connect("notify::ice-gathering-state", self._on_gathering)
        for name in ("connection-state", "ice-connection-state"):
            self.rtc.connect(f"notify::{name}", self._on_state)
        bus = self.pipe.get_bus()
        bus.add_signal_watch()
        bus.connect("message::error", self._on_error)
        self.offered = False

    def _gather_only(self, addresses: list[str]) -> None:
        """Host candidates on these addresses only (libnice skips loopback unless told; the test hub has only
        127.0.0.1, as the hub's `media.loopback` mode does)."""
        gi.require_version("Nice", "0.1")
        from gi.repository import Nice

        # Kept for the script's life: PyGObject 3.42 drops a reference it never took when a getter's wrapper of
        # webrtcbin's `ice-agent` goes, destroying the agent under webrtcbin.
        self._ice = self.rtc.get_property("ice-agent")
        agent = self._ice.get_property("agent")
        for text in addresses:
            address = Nice.Address.new()
            if not address.set_from_string(text):
                raise SystemExit(f"not an IP address: {text}")
            agent.add_local_address(address)

    # ---- negotiation ----

    def _on_negotiation_needed(self, rtc: Gst.Element) -> None:
        if self.offered:
            return
        self.offered = True
        promise = Gst.Promise.new_with_change_func(self._on_offer, None)
        rtc.emit("create-offer", None, promise)

    def _on_offer(self, promise: Gst.Promise, _data: object) -> None:
        reply = promise.get_reply()
        offer = reply.get_value("offer")
        self.rtc.emit("set-local-description", offer, Gst.Promise.new())

    def _on_gathering(self, rtc: Gst.Element, _pspec: object) -> None:
        # No trickle: the offer goes once every candidate is in it (WHIP servers may answer PATCH with 405).
        if rtc.get_property("ice-gathering-state") == GstWebRTC.WebRTCICEGatheringState.COMPLETE:
            sdp = rtc.get_property("local-description").sdp.as_text()
            threading.Thread(target=self._post, args=(sdp,), daemon=True).start()

    def _post(self, sdp: str) -> None:
        url = self.args.url
        headers = {"Content-Type": "application/sdp", "Authorization": f"Bearer {self.token}"}
        request = urllib.request.Request(url, data=sdp.encode(), headers=headers, method="POST")
        self.posted_at = time.monotonic()
        try:
            with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT) as response:
                status, body = response.status, response.read().decode()
                location = response.headers.get("Location")
                final = response.geturl()
        except urllib.error.HTTPError as exc:
            say(f"posted {exc.code}")
            say(f"refused {exc.read().decode(errors='replace')[:500]}")
            GLib.idle_add(self._quit, 2)
            return
        except OSError as exc:
            say(f"error POST failed: {exc.__class__.__name__}")
            GLib.idle_add(self._quit, 1)
            return
        say(f"posted {status}")
        if location:
            self.location = urllib.parse.urljoin(final, location)
        ok, message = GstSdp.SDPMessage.new_from_text(body)
        if ok != GstSdp.SDPResult.OK:
            say("error the answer is not SDP")
            GLib.idle_add(self._quit, 1)
            return
        answer = GstWebRTC.WebRTCSessionDescription.new(GstWebRTC.WebRTCSDPType.ANSWER, message)
        self.rtc.emit("set-remote-description", answer, Gst.Promise.new())

    def _on_state(self, rtc: Gst.Element, pspec: object) -> None:
        name = pspec.name  # type: ignore[attr-defined]
        value = rtc.get_property(name)
        say(f"state {name}={value.value_nick} {time.monotonic() - STARTED:.2f}s")

    # ---- playing ----

    def _on_pad(self, rtc: Gst.Element, pad: Gst.Pad) -> None:
        if pad.get_direction() != Gst.PadDirection.SRC:
            return
        decode = Gst.ElementFactory.make("decodebin")
        decode.connect("pad-added", self._on_decoded)
        self.pipe.add(decode)
        decode.sync_state_with_parent()
        pad.link(decode.get_static_pad("sink"))

    def _on_decoded(self, decode: Gst.Element, pad: Gst.Pad) -> None:
        caps = pad.get_current_caps() or pad.query_caps(None)
        if not caps.to_string().startswith("video/x-raw"):
            return
        a, w = self.args, self.args
        chain = "queue ! videoconvert ! videoscale ! "
        chain += f"video/x-raw,format=BGR,width={w.width},height={w.height} ! "
        chain += f"fdsink fd={a.raw_fd} sync=false" if a.raw_fd is not None else "fakesink sync=false"
        sink_bin = Gst.parse_bin_from_description(chain, True)
        self.pipe.add(sink_bin)
        sink_bin.sync_state_with_parent()
        pad.link(sink_bin.get_static_pad("sink"))
        # Count frames where they leave the decoder.
        pad.add_probe(Gst.PadProbeType.BUFFER, self._on_frame)

    def _on_frame(self, _pad: Gst.Pad, _info: Gst.PadProbeInfo) -> Gst.PadProbeReturn:
        self.frames += 1
        if self.frames == 1:
            say(f"first-frame {time.monotonic() - self.posted_at:.3f}")
        if self.args.frames and self.frames >= self.args.frames:
            say(f"frames {self.frames}")
            GLib.idle_add(self._quit, 0)
        return Gst.PadProbeReturn.OK

    def _report(self) -> bool:
        say(f"frames {self.frames}")
        return True

    # ---- life cycle ----

    def _on_error(self, _bus: Gst.Bus, message: Gst.Message) -> None:
        error, _debug = message.parse_error()
        say(f"error {error.message}")
        self._quit(1)

    def _quit(self, code: int) -> bool:
        if self.loop.is_running():
            self.exit_code = self.exit_code or code
            self.loop.quit()
        return False

    def run(self) -> int:
        GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGTERM, self._quit, 0)
        GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGINT, self._quit, 0)
        if self.args.mode == "play":
            GLib.timeout_add(1000, self._report)
        self.pipe.set_state(Gst.State.PLAYING)
        self.loop.run()
        self._delete()
        self.pipe.set_state(Gst.State.NULL)
        return self.exit_code

    def _delete(self) -> None:
        """End the session at the server, as a polite client does (RFC 9725 §4.2)."""
        if self.location is None:
            return
        request = urllib.request.Request(
            self.location, headers={"Authorization": f"Bearer {self.token}"}, method="DELETE"
        )
        try:
            with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT) as response:
                say(f"deleted {response.status}")
        except urllib.error.HTTPError as exc:
            say(f"deleted {exc.code}")
        except OSError:
            say("deleted failed")


def parse_args(argv: list[str]) -> argparse.Namespace:
    """The command line (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("mode", choices=("publish", "play"))
    parser.add_argument("url", help="the WHIP or WHEP endpoint (with ?case=..&reason=.. for WHEP)")
    parser.add_argument("--token-file", required=True, help="file holding the bearer token")
    parser.add_argument("--codec", default="vp8", help="vp8 | h264 (play: a comma-separated list to offer)")
    parser.add_argument("--source", choices=("stdin", "test"), default="stdin", help="publish: raw BGR on stdin")
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--fps", type=int, default=15)
    parser.add_argument("--frames", type=int, default=0, help="play: exit after this many decoded frames")
    parser.add_argument("--local-address", action="append", help="gather ICE candidates only on this address")
    parser.add_argument("--raw-fd", type=int, default=None, help="play: write decoded BGR frames to this fd")
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    """Run one publisher or player until told to stop."""
    args = parse_args(argv)
    Gst.init(None)
    with open(args.token_file, encoding="utf-8") as handle:
        token = handle.read().strip()
    return Session(args, token).run()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Mutated SDP offers: hypothesis strategies over two real aiortc offers (a WHEP viewer's and a WHIP camera's).

A case applies a few mutations, at four levels: lines (dropped, duplicated, swapped, truncated, crafted lines
inserted, whole media sections copied), attributes (those the hub and aiortc read: ICE credentials, fingerprint,
setup, mid, BUNDLE, ssrc-group, rtcp-fb, fmtp, extmap, rtpmap, simulcast and rid, candidates, m= and c= lines:
dropped, repeated with conflicting values, given boundary and hostile values, or values that parse but contradict
the rest of the offer, so that cases get past the parser to aiortc's own checks), tokens (one field of a line
replaced, dropped or repeated) and bytes (flips, insertions, invalid UTF-8, NULs, truncation). The text is joined
with CRLF, LF, CR or a mix, sometimes encoded other than UTF-8, sometimes padded to right around the hub's size
limit or past it, and sent as application/sdp except in a few cases (chunked now and then).

Remote candidates only ever name loopback or unusable addresses (and never an mDNS `.local` name), so whatever the
hub's ICE agent does with an offer, no packet leaves the machine.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

from aiortc import RTCConfiguration, RTCPeerConnection
from aiortc.mediastreams import VideoStreamTrack
from hypothesis import strategies as st

from porchlight_rtc.ice import enable_loopback

SDP_TYPE = "application/sdp"
MAX_SDP_BYTES = 128 * 1024  # the hub's default media.max_sdp_bytes: 413 beyond
MAX_TEXT = 4 * MAX_SDP_BYTES  # characters: a case's text is cut here, between mutations
WHEP = "whep"
WHIP = "whip"
T = TypeVar("T")


@dataclass(frozen=True)
class BaseOffers:
    """The real offers every case starts from."""

    whep: str  # a viewer's: recvonly video
    whip: str  # a camera's: sendonly video


async def real_offers() -> BaseOffers:
    """Make a recvonly and a sendonly video offer with aiortc on loopback; its peers are closed again at once."""
    enable_loopback()
    texts = []
    for direction in ("recvonly", "sendonly"):
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        track = VideoStreamTrack()
        try:
            pc.addTransceiver(track if direction == "sendonly" else "video", direction=direction)
            await pc.setLocalDescription(await pc.createOffer())
            texts.append(pc.localDescription.sdp)
        finally:
            await pc.close()
            track.stop()
    return BaseOffers(whep=texts[0], whip=texts[1])


@dataclass(frozen=True)
class Case:
    """One request: where it goes, its exact body and how it is sent."""

    target: str  # WHEP or WHIP
    body: bytes
    content_type: str
    chunks: int  # 0: sent with a Content-Length; n: sent chunked in n pieces
    steps: tuple[str, ...]  # the mutations, in order (written next to an offer that fails)

    @property
    def sdp_typed(self) -> bool:
        """Whether the content type names application/sdp (letter case and parameters aside)."""
        return self.content_type.split(";")[0].strip().lower() == SDP_TYPE


# Boundary and hostile values. Addresses are loopback or unusable only (see the module's docstring).
HOSTS = ["127.0.0.1", "127.0.0.2", "::1", "0.0.0.0", "::", "255.255.255.255", "127.1", "999.0.0.1", "localhost", ""]
WORDS = [
    *HOSTS,
    " ", "  ", "\t", "0", "1", "-1", "-0", "+1", "01", "65535", "65536", "2147483647", "2147483648", "-2147483649",
    "4294967295", "4294967296", "18446744073709551616", "1e400", "1.5", "NaN", "inf", "0x7f", "\u0663", "\U0001d7d7",
    "\x00", "\x00\x00\x00", "\x7f", "\x1b[31m", "\u00e9", "\u202e", "\ufeff", "\u2028", "\U0001f600", "\ud800",
    "\udfff", ":", "::", "/", ";", "=", ",", "*", "%", "%s%n", "{}", "[]", "null", "true", "<script>", "'", '"', "\\",
    "a=", "m=", "\r", "\n", "\r\n", "IN", "IP4", "IP6", "IP7", "UDP/TLS/RTP/SAVPF", "RTP/AVP", "UDP/DTLS/SCTP",
    "TCP/TLS/RTP/SAVPF", "video", "audio", "application", "text", "sendrecv", "sendonly", "recvonly", "inactive",
    "actpass", "active", "passive", "holdconn", "VP8", "vp8", "H264", "VP9", "AV1", "rtx", "opus", "red", "ulpfec",
    "sha-256", "sha-1", "md5", "sha-999", "typ", "host", "srflx", "relay", "prflx", "BUNDLE", "LS", "FID", "SIM",
    "FEC-FR", "nack", "pli", "ccm fir", "goog-remb", "transport-cc", "webrtc-datachannel", "apt=97", "apt=",
]  # fmt: skip
LONG_UNITS = ["A", "9", "\u00e9", "\x00", ":", " ", "\U0001f600", "a=b;", "00:"]
LONG_LENGTHS = [64, 257, 1024, 4096, 65_535, 140_000]
NUMBERS = [0, 1, -1, 9, 15, 16, 127, 128, 255, 256, 4095, 4096, 65535, 65536, 2**31 - 1, 2**31, 2**32 - 1, 2**32, 2**64]
PAYLOAD_TYPES = ["-1", "0", "34", "35", "63", "64", "95", "96", "97", "98", "99", "127", "128", "255", "256", "x", "*"]
PORTS = ["0", "1", "9", "-1", "65535", "65536", "4294967296", "9/2", "9/0", "", "x"]
KINDS = ["video", "audio", "application", "text", "message", "", "VIDEO", "vídeo"]
PROTOS = ["UDP/TLS/RTP/SAVPF", "RTP/AVP", "RTP/SAVP", "UDP/DTLS/SCTP", "DTLS/SCTP", "TCP/DTLS/RTP/SAVPF", "UDP", ""]
DIRECTIONS = ["sendrecv", "sendonly", "recvonly", "inactive", "SENDONLY", "recvonly ", "both"]
EXTENSION_URIS = [
    "urn:ietf:params:rtp-hdrext:sdes:mid",
    "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id",
    "urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id",
    "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time",
    "urn:ietf:params:rtp-hdrext:toffset",
    "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01",
]
BAD_UTF8 = [b"\xff", b"\xfe\xff", b"\xc3", b"\xc0\xaf", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xe2\x82", b"\x80"]


# Strategies are built once: building them per draw costs more than drawing.
SHORT_HOSTILE = st.one_of(
    st.sampled_from(WORDS),
    st.sampled_from(NUMBERS).map(str),
    st.integers(-(2**70), 2**70).map(str),
    st.text(max_size=12),
)
LONG_HOSTILE = st.builds(lambda unit, n: unit * n, st.sampled_from(LONG_UNITS), st.sampled_from(LONG_LENGTHS))
# A value a well-behaved peer would never send: boundary numbers, odd words, control and unicode; one in 16 long.
HOSTILE = st.integers(0, 15).flatmap(lambda k: LONG_HOSTILE if k == 0 else SHORT_HOSTILE)
# Mostly numbers, at the edges of the ranges parsers assume, and now and then not a number at all.
NUMBER = st.one_of(st.sampled_from(NUMBERS).map(str), st.integers(-(2**40), 2**40).map(str), HOSTILE)
BOOL = st.booleans()
PLACEHOLDERS: dict[str, st.SearchStrategy[str]] = {
    "v": HOSTILE,
    "n": NUMBER,
    "pt": st.one_of(st.sampled_from(PAYLOAD_TYPES), HOSTILE),
    "port": st.one_of(st.sampled_from(PORTS), NUMBER),
    "ip": st.sampled_from(HOSTS),
    "dir": st.sampled_from(DIRECTIONS),
    "kind": st.sampled_from(KINDS),
    "proto": st.sampled_from(PROTOS),
    "ext": st.one_of(st.sampled_from(["-1", "0", "1", "14", "15", "16", "255", "256", "4096", "65536"]), NUMBER),
    "uri": st.one_of(st.sampled_from(EXTENSION_URIS), HOSTILE),
}

# Crafted lines: every attribute the hub or aiortc reads, with odd values in their fields.
TEMPLATES = [
    "m=video {port} {proto} {pt}", "m={kind} 9 UDP/TLS/RTP/SAVPF {pt} {pt}", "m=video {n} {v} 97", "m=video 9",
    "m=audio 9 UDP/TLS/RTP/SAVPF 111", "m=application 9 UDP/DTLS/SCTP webrtc-datachannel", "m=video 0 {proto} 97",
    "m=video 9 UDP/TLS/RTP/SAVPF", "m={v}", "c=IN IP4 {ip}", "c=IN IP6 {ip}", "c=IN {v} {v}", "c={v}",
    "a=ice-ufrag:{v}", "a=ice-pwd:{v}", "a=ice-ufrag:", "a=ice-pwd:", "a=ice-lite", "a=ice-options:{v}",
    "a=fingerprint:{v} {v}", "a=fingerprint:sha-256 {v}", "a=fingerprint:sha-256 00:11", "a=fingerprint:{v}",
    "a=fingerprint:md5 00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF", "a=setup:{v}", "a=setup:{dir}",
    "a=mid:{v}", "a=mid:", "a=mid:0", "a=mid:1", "a=group:BUNDLE {v}", "a=group:BUNDLE 0 0 0", "a=group:BUNDLE",
    "a=group:BUNDLE 1", "a=group:BUNDLE 0 1 2", "a=group:{v} 0", "a=group:LS 0 1", "a=msid-semantic:{v}",
    "a=ssrc-group:FID {n} {n}", "a=ssrc-group:FID {n}", "a=ssrc-group:SIM {n} {n} {n}", "a=ssrc-group:{v} {v}",
    "a=ssrc-group:FID", "a=ssrc-group:FEC-FR {n} {n}", "a=ssrc:{n} cname:{v}", "a=ssrc:{n} {v}", "a=ssrc:{v}",
    "a=ssrc:{n} msid:{v} {v}", "a=ssrc:{n}", "a=rtcp-fb:{pt} {v}", "a=rtcp-fb:* {v}", "a=rtcp-fb:{pt} nack {v}",
    "a=rtcp-fb:{pt}", "a=rtcp-fb:97 ccm fir", "a=fmtp:{pt} {v}", "a=fmtp:{pt} apt={n}", "a=fmtp:{pt} apt={pt}",
    "a=fmtp:97 apt=97", "a=fmtp:98 apt=98", "a=fmtp:{pt}", "a=fmtp:{pt} {v}={v};{v}",
    "a=fmtp:99 profile-level-id={v};packetization-mode={n};level-asymmetry-allowed={n}",
    "a=rtpmap:{pt} {v}/{n}", "a=rtpmap:{pt} VP8/{n}", "a=rtpmap:{pt} rtx/90000", "a=rtpmap:{pt} H264/90000",
    "a=rtpmap:{pt} VP8", "a=rtpmap:{pt} VP8/90000/{n}", "a=rtpmap:{v} VP8/90000", "a=rtpmap:97 {v}/90000",
    "a=rtpmap:{pt} opus/48000/2", "a=rtpmap:{pt}", "a=extmap:{ext} {uri}", "a=extmap:{ext}/{dir} {uri}",
    "a=extmap:{ext}/{v} {uri}", "a=extmap:{ext} {uri} {v}", "a=extmap:{ext}", "a=extmap-allow-mixed",
    "a=simulcast:send {v}", "a=simulcast:recv {v};{v}", "a=simulcast:send 1;2;3", "a=simulcast:{v}",
    "a=simulcast:send ~1,2;3 recv 4", "a=rid:{v} send", "a=rid:{v} recv pt={pt}", "a=rid:1 {dir}",
    "a=rid:1 send max-width={n};max-height={n}", "a=rid:{v} {v}", "a=candidate:{v} {n} udp {n} {ip} {port} typ host",
    "a=candidate:1 1 {v} 1 127.0.0.1 9 typ host", "a=candidate:1 {n} udp 1 {ip} {port} typ {v}", "a=candidate:{v}",
    "a=candidate:1 1 tcp 1 127.0.0.1 9 typ host tcptype {v}", "a=candidate:1 1 udp 1 127.0.0.1 9 typ srflx raddr {v}",
    "a=candidate:1 1 udp 1 127.0.0.1 9 typ srflx raddr {ip} rport {port}", "a=candidate:1 1 udp 1 {ip} 9 typ {v}",
    "a=candidate:1 1 udp {n} 127.0.0.1 {port} typ host generation {n}", "a=end-of-candidates",
    "a=end-of-candidates:{v}", "a=msid:{v} {v}", "a=msid:{v}", "a=rtcp:{port} IN IP4 {ip}", "a=rtcp:{v}",
    "a=rtcp-mux", "a=rtcp-rsize", "a=rtcp-mux-only", "a=sctp-port:{n}", "a=max-message-size:{n}",
    "a=sctpmap:{n} webrtc-datachannel {n}", "a={dir}", "a={v}", "a={v}:{v}", "b=AS:{n}", "b=TIAS:{n}", "b={v}",
    "o=- {n} {n} IN IP4 {ip}", "o={v}", "t={n} {n}", "t={v}", "s={v}", "v={v}", "v=0", "i={v}", "u={v}", "e={v}",
    "z={v}", "k=clear:{v}", "r={v}", "x={v}", "{v}", "", " ", "a=", "m=", "=", "a=identity:{v}", "a=tls-id:{v}",
    "a=ptime:{n}", "a=framerate:{n}", "a=imageattr:{pt} send [x={n},y={n}] recv *",
]  # fmt: skip
# The attributes (and non-attribute lines) worth dropping, repeating and rewriting on purpose.
KEYS = [
    "ice-ufrag", "ice-pwd", "fingerprint", "setup", "mid", "group", "ssrc-group", "ssrc", "rtcp-fb", "fmtp",
    "extmap", "rtpmap", "candidate", "msid", "msid-semantic", "rtcp", "rtcp-mux", "end-of-candidates", "recvonly",
    "sendonly", "m=", "c=", "o=", "v=", "s=", "t=",
]  # fmt: skip
PLACEHOLDER = re.compile(r"\{(\w+)\}")
TOKEN_SPLIT = re.compile(r"([ :/;=,.]+)")


def _choose(draw: st.DrawFn, options: Sequence[T]) -> T:
    """One of `options` (an index drawn: cheaper than building a sampled_from strategy per draw)."""
    return options[draw(st.integers(0, len(options) - 1))]


def _bound(lines: list[str]) -> None:
    """Cut the text at `MAX_TEXT` characters: mutations of mutations (a long value on every copied line) could
    otherwise grow without end, and past the hub's limit any size is as good as another."""
    total = 0
    for i, line in enumerate(lines):
        if total + len(line) > MAX_TEXT:
            lines[i] = line[: MAX_TEXT - total]
            del lines[i + 1 :]
            return
        total += len(line) + 2


def _rarely(draw: st.DrawFn, one_in: int) -> bool:
    """True about once in `one_in` draws (hypothesis favours the ends of a range, so the middle value decides)."""
    return draw(st.integers(0, one_in - 1)) == one_in // 2


def _key(line: str) -> str:
    """The attribute name of an `a=` line, or the `x=` type of any other."""
    if line.startswith("a="):
        return line[2:].split(":", 1)[0]
    return line[:2]


def _fill(draw: st.DrawFn, template: str) -> str:
    return PLACEHOLDER.sub(lambda match: draw(PLACEHOLDERS[match.group(1)]), template)


def _index(draw: st.DrawFn, lines: list[str], extra: int = 0) -> int:
    """A line's index; the first line (`v=0`, checked first of all) only now and then, or every mutation of it
    would stop at that first check (hypothesis favours the low end of a range)."""
    top = max(0, len(lines) - 1 + extra)
    return 0 if top == 0 or _rarely(draw, 64) else draw(st.integers(1, top))


def _value_split(line: str) -> tuple[str, str]:
    """A line's head (through its first `:`, or through `=`) and the rest."""
    colon, equals = line.find(":"), line.find("=")
    cut = colon if line.startswith("a=") and colon >= 0 else equals
    return (line[: cut + 1], line[cut + 1 :]) if cut >= 0 else (line, "")


def _drop_line(draw: st.DrawFn, lines: list[str]) -> str:
    if not lines:
        return "drop nothing"
    i = _index(draw, lines)
    return f"drop line {i}: {lines.pop(i)[:40]!r}"


def _duplicate_line(draw: st.DrawFn, lines: list[str]) -> str:
    if not lines:
        return "duplicate nothing"
    i, j = _index(draw, lines), _index(draw, lines, extra=1)
    lines.insert(j, lines[i])
    return f"duplicate line {i} at {j}"


def _swap_lines(draw: st.DrawFn, lines: list[str]) -> str:
    if not lines:
        return "swap nothing"
    i, j = _index(draw, lines), _index(draw, lines)
    lines[i], lines[j] = lines[j], lines[i]
    return f"swap lines {i} and {j}"


def _truncate_lines(draw: st.DrawFn, lines: list[str]) -> str:
    keep = len(lines) - _index(draw, lines)  # counted from the end: cutting a few lines is the likelier case
    del lines[keep:]
    return f"keep the first {keep} lines"


def _drop_key(draw: st.DrawFn, lines: list[str]) -> str:
    key = _choose(draw, KEYS)
    every = draw(BOOL)
    found = [i for i, line in enumerate(lines) if _key(line) == key]
    for i in reversed(found if every else found[:1]):
        del lines[i]
    return f"drop {'every' if every else 'the first'} {key}"


def _repeat_key(draw: st.DrawFn, lines: list[str]) -> str:
    key = _choose(draw, KEYS)
    found = [line for line in lines if _key(line) == key]
    if not found:
        return f"repeat no {key}"
    head, value = _value_split(found[0])
    if draw(BOOL):
        value = draw(HOSTILE)
    at = _index(draw, lines, extra=1)
    lines.insert(at, head + value)
    return f"repeat {key} at {at}"


def _rewrite_key(draw: st.DrawFn, lines: list[str]) -> str:
    """Give every line of one key (or its first) a hostile value; add the line if the offer has none."""
    key = _choose(draw, KEYS)
    value = draw(HOSTILE)
    found = [i for i, line in enumerate(lines) if _key(line) == key]
    if not found:
        lines.insert(_index(draw, lines, extra=1), (f"a={key}:" if "=" not in key else key) + value)
        return f"add {key}"
    every = draw(BOOL) and len(value) * len(found) <= MAX_TEXT  # a long value on every line only while it fits
    for i in found if every else found[:1]:
        lines[i] = _value_split(lines[i])[0] + value
    return f"rewrite {'every' if every else 'the first'} {key}"


def _rewrite_line(draw: st.DrawFn, lines: list[str]) -> str:
    if not lines:
        return "rewrite nothing"
    i = _index(draw, lines)
    lines[i] = _value_split(lines[i])[0] + draw(HOSTILE)
    return f"rewrite the value of line {i}"


def _token(draw: st.DrawFn, lines: list[str]) -> str:
    """Replace, drop or repeat one field of a line (fields split at spaces and at : / ; = , .)."""
    if not lines:
        return "no token"
    i = _index(draw, lines)
    parts = TOKEN_SPLIT.split(lines[i])
    words = [k for k, part in enumerate(parts) if k % 2 == 0 and part]
    if not words:
        return f"no token in line {i}"
    k = _choose(draw, words)
    action = _choose(draw, ["replace", "replace", "drop", "repeat"])
    if action == "replace":
        parts[k] = draw(HOSTILE)
    elif action == "drop":
        parts[k] = ""
    else:
        parts[k] = parts[k] + " " + parts[k]
    lines[i] = "".join(parts)
    return f"{action} token {k // 2} of line {i}"


def _insert_crafted(draw: st.DrawFn, lines: list[str]) -> str:
    template = _choose(draw, TEMPLATES)
    at = _index(draw, lines, extra=1)
    lines.insert(at, _fill(draw, template))
    return f"insert {template!r} at {at}"


def _copy_media(draw: st.DrawFn, lines: list[str]) -> str:
    """Append copies of the (first) media section, their m= line and mid changed or not."""
    starts = [i for i, line in enumerate(lines) if line.startswith("m=")]
    if not starts:
        return "copy no media section"
    start = starts[0]
    end = starts[1] if len(starts) > 1 else len(lines)
    section = lines[start:end]
    copies = _choose(draw, [1, 1, 2, 3, 8, 40])
    m_line = _fill(draw, _choose(draw, TEMPLATES[:9])) if draw(BOOL) else None
    renumber = draw(BOOL)
    for n in range(copies):
        if sum(map(len, lines)) > MAX_TEXT:
            break  # already well past the limit: more copies only slow the run
        copy = list(section)
        if m_line is not None:
            copy[0] = m_line
        if renumber:
            copy = [f"a=mid:{n + 1}" if _key(line) == "mid" else line for line in copy]
        lines.extend(copy)
    return f"copy the media section {copies}x (m= {'kept' if m_line is None else 'changed'}, renumber={renumber})"


MID = "urn:ietf:params:rtp-hdrext:sdes:mid"
# Values that parse but make no sense together: these get past the parser to aiortc's own checks and the answer.
PLAUSIBLE = {
    "setup": ["a=setup:active", "a=setup:passive", "a=setup:holdconn", "a=setup:ACTPASS"],
    "mid": ["a=mid:1", "a=mid:", "a=mid:0 0", "a=mid:" + "m" * 300, "a=mid:\u00e9"],
    "group": ["a=group:BUNDLE 1", "a=group:BUNDLE 0 1", "a=group:BUNDLE", "a=group:LS 0", "a=group:BUNDLE 0 0"],
    "rtcp-mux": ["a=rtcp-rsize", "a=rtcp-mux-only"],
    "rtpmap": [
        "a=rtpmap:97 VP9/90000", "a=rtpmap:97 rtx/90000", "a=rtpmap:97 H264/90000", "a=rtpmap:97 VP8/48000",
        "a=rtpmap:97 VP8/90000/2", "a=rtpmap:98 VP8/90000", "a=rtpmap:97 vp8/90000", "a=rtpmap:97 VP8/1",
    ],
    "fmtp": ["a=fmtp:98 apt=96", "a=fmtp:98 apt=98", "a=fmtp:97 apt=98", "a=fmtp:99 packetization-mode=2", "a=fmtp:98"],
    "ice-ufrag": ["a=ice-ufrag:abc", "a=ice-ufrag:" + "u" * 257, "a=ice-ufrag:ab#$", "a=ice-ufrag:a b c d"],
    "ice-pwd": ["a=ice-pwd:short", "a=ice-pwd:" + "p" * 257, "a=ice-pwd:pass word with spaces!!"],
    "fingerprint": [
        "a=fingerprint:sha-999 AA:BB", "a=fingerprint:sha-256 ZZ", "a=fingerprint:sha-256 " + "AB:" * 31 + "AB",
        "a=fingerprint:sha-1 00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33", "a=fingerprint:md5 00",
    ],
    "candidate": [
        "a=candidate:1 1 udp 2130706431 127.0.0.1 0 typ host", "a=candidate:1 2 udp 1 127.0.0.1 9 typ host",
        "a=candidate:1 1 tcp 1 127.0.0.1 9 typ host tcptype passive", "a=candidate:1 1 udp 1 ::1 9 typ host",
        "a=candidate:1 1 udp 1 127.0.0.1 9 typ relay raddr 0.0.0.0 rport 0",
        "a=candidate:1 1 udp 1 255.255.255.255 9 typ host", "a=candidate:1 1 udp 4294967296 127.0.0.1 9 typ host",
        "a=candidate:1 1 UDP 1 127.0.0.1 9 typ prflx", "a=candidate:1 1 udp 1 127.0.0.1 65535 typ srflx",
        "a=candidate:1 1 udp 1 0.0.0.0 9 typ host", "a=candidate:1 1 udp 1 127.0.0.1 9 typ host generation 99",
    ],
    "extmap": [
        f"a=extmap:0 {MID}", f"a=extmap:15 {MID}", f"a=extmap:16 {MID}", f"a=extmap:256 {MID}",
        f"a=extmap:3 {MID}", "a=extmap:1 urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id", f"a=extmap:1/inactive {MID}",
    ],
    "ssrc-group": ["a=ssrc-group:FID 1", "a=ssrc-group:FID 1 2 3", "a=ssrc-group:SIM 1 2 3", "a=ssrc-group:FID 1 1"],
    "ssrc": ["a=ssrc:4294967295 cname:x", "a=ssrc:0 cname:", "a=ssrc:1 cname:x", "a=ssrc:1 msid:a b"],
    "rtcp-fb": ["a=rtcp-fb:97 transport-cc", "a=rtcp-fb:* nack", "a=rtcp-fb:96 nack", "a=rtcp-fb:97 ccm fir"],
    "recvonly": ["a=sendrecv", "a=inactive", "a=sendonly", "a=recvonly\r\na=sendonly"],
    "sendonly": ["a=sendrecv", "a=inactive", "a=recvonly", "a=sendonly\r\na=recvonly"],
    "m=": [
        "m=video 0 UDP/TLS/RTP/SAVPF 97", "m=video 9 UDP/TLS/RTP/SAVPF 96", "m=video 9 UDP/TLS/RTP/SAVPF 97 97 97",
        "m=video 9 RTP/AVP 97", "m=audio 9 UDP/TLS/RTP/SAVPF 97", "m=video 9 UDP/TLS/RTP/SAVPF 99 100",
        "m=video 9 UDP/TLS/RTP/SAVPF 98", "m=video 9 UDP/TLS/RTP/SAVPF 97 98 97 98",
    ],
    "rid": ["a=rid:1 send", "a=rid:2 recv", "a=simulcast:send 1;2", "a=simulcast:recv 1;~2", "a=rid:1 send pt=98"],
    "msid": ["a=msid:- -", "a=msid:x", "a=msid:" + "s" * 300 + " t"],
    "c=": ["c=IN IP6 ::1", "c=IN IP4 0.0.0.0", "c=IN IP4 255.255.255.255"],
}  # fmt: skip


def _plausible(draw: st.DrawFn, lines: list[str]) -> str:
    """Replace one key's line(s) with a value that parses but contradicts the rest (added if the key is absent)."""
    key = _choose(draw, sorted(PLAUSIBLE))
    new = _choose(draw, PLAUSIBLE[key])
    found = [i for i, line in enumerate(lines) if _key(line) == key]
    if found:
        for i in found if draw(BOOL) else found[:1]:
            lines[i] = new
    else:
        media = [i for i, line in enumerate(lines) if line.startswith("m=")]
        lines.insert(media[0] + 1 if media else len(lines), new)
    return f"plausible {new[:40]!r}"


# Weighted by repetition: crafted lines and attribute rewrites find the most.
LINE_MUTATIONS = [
    _drop_line, _duplicate_line, _swap_lines, _truncate_lines, _drop_key, _drop_key, _repeat_key, _repeat_key,
    _rewrite_key, _rewrite_key, _rewrite_key, _rewrite_line, _token, _token, _insert_crafted, _insert_crafted,
    _insert_crafted, _copy_media, _plausible, _plausible, _plausible, _plausible,
]  # fmt: skip


def _byte_mutation(draw: st.DrawFn, body: bytearray) -> str:
    pos = 0 if not body or _rarely(draw, 64) else draw(st.integers(1, len(body)))
    action = _choose(draw, ["flip", "insert", "bad-utf8", "nul", "delete", "truncate"])
    if action == "flip" and pos < len(body):
        body[pos] ^= 1 << draw(st.integers(0, 7))
    elif action == "insert":
        body[pos:pos] = draw(st.binary(min_size=1, max_size=16))
    elif action == "bad-utf8":
        body[pos:pos] = _choose(draw, BAD_UTF8)
    elif action == "nul":
        body[pos:pos] = b"\x00"
    elif action == "delete":
        del body[pos : pos + draw(st.integers(1, 64))]
    elif action == "truncate":
        del body[pos:]
    return f"bytes: {action} at {pos}"


def _join(draw: st.DrawFn, lines: list[str]) -> tuple[str, str]:
    ending = _choose(draw, ["\r\n", "\r\n", "\r\n", "\n", "\n", "\r", "mixed"])
    final = _choose(draw, [True, True, True, False])
    if ending == "mixed":
        # One draw for every line's ending: two bits of a random mask per line (repeating after 64 lines) pick
        # CRLF, LF, CR or LFCR.
        mask = draw(st.integers(0, 2**128 - 1))
        endings = ["\r\n", "\n", "\r", "\n\r"]
        text = "".join(line + endings[(mask >> 2 * (i % 64)) & 3] for i, line in enumerate(lines))
    else:
        text = ending.join(lines) + (ending if lines else "")
    if not final:
        text = text.rstrip("\r\n")
    return text, f"lines end {ending!r}{'' if final else ', none after the last'}"


def _encode(draw: st.DrawFn, text: str) -> tuple[bytes, str]:
    encoding = _choose(draw, ["utf-8"] * 36 + ["utf-8-sig", "utf-16", "latin-1", "cp1252"])
    if encoding == "utf-8":
        # Lone surrogates from the hostile values become invalid UTF-8 on purpose.
        return text.encode("utf-8", errors="surrogatepass"), "utf-8"
    return text.encode(encoding, errors="replace"), encoding


def _resize(draw: st.DrawFn, body: bytes, eol: str) -> tuple[bytes, str]:
    """Pad (or cut) the body to a size right around the hub's limit, or well past it."""
    target = _choose(draw, [MAX_SDP_BYTES, MAX_SDP_BYTES // 2, 2 * MAX_SDP_BYTES, 1 << 20])
    target += _choose(draw, [0, 0, 1, -1, 2, -2]) or draw(st.integers(-64, 64))
    filler = _choose(draw, ["attribute", "candidates", "ssrc", "long-line", "spaces", "nuls", "media"])
    need = target - len(body)
    if need <= 0:
        return body[:target], f"cut to {target} bytes"
    if filler == "spaces":
        pad = b" " * need
    elif filler == "nuls":
        pad = b"\x00" * need
    elif filler == "long-line":
        pad = (eol + "a=x-long:" + "x" * need).encode()
    else:
        # Copies of the media section (or of the whole body); an empty body has nothing to copy, so a line instead.
        media = (body[body.find(b"m=") :] if b"m=" in body else body) or (eol + "m=video 9 RTP/AVP 97").encode()
        lines = {
            "attribute": lambda n: f"a=x-fuzz-{n}:{'p' * 60}",
            "candidates": lambda n: f"a=candidate:{n} 1 udp {n} 127.0.0.1 {10000 + n % 50000} typ host",
            "ssrc": lambda n: f"a=ssrc:{n + 1} cname:{'c' * 30}",
            "media": None,
        }[filler]
        pieces: list[bytes] = []
        size, n = 0, 0
        while size < need:
            piece = media if lines is None else (eol + lines(n)).encode()
            pieces.append(piece)
            size, n = size + len(piece), n + 1
        pad = b"".join(pieces)
    return (body + pad)[:target], f"padded to {target} bytes with {filler}"


CONTENT_TYPES = [
    "application/sdp; charset=utf-8", "Application/SDP", 'application/sdp;charset="utf-8"', "text/plain",
    "application/json", "application/sdp+xml", "application/octet-stream", "multipart/form-data; boundary=x",
    "application/x-www-form-urlencoded",
]  # fmt: skip


@st.composite
def _case(draw: st.DrawFn, target: str, base: str) -> Case:
    lines = base.split("\r\n")
    if lines and lines[-1] == "":
        lines.pop()
    steps = []
    for _ in range(draw(st.integers(4, 7))):
        steps.append(_choose(draw, LINE_MUTATIONS)(draw, lines))
        _bound(lines)
    text, joined = _join(draw, lines)
    body, encoding = _encode(draw, text)
    steps += [joined, encoding]
    mutable = bytearray(body)
    for _ in range(_choose(draw, [0] * 12 + [1, 1, 2, 3])):
        steps.append(_byte_mutation(draw, mutable))
    body = bytes(mutable)
    if _rarely(draw, 25):
        body, step = _resize(draw, body, "\r\n")
        steps.append(step)
    content_type = _choose(draw, CONTENT_TYPES) if _rarely(draw, 50) else SDP_TYPE
    chunks = draw(st.integers(1, 4)) if _rarely(draw, 20) else 0
    return Case(target, body, content_type, chunks, tuple(steps))


def cases(base: BaseOffers) -> st.SearchStrategy[Case]:
    """Mutated offers for WHEP (from the viewer's offer) and WHIP (from the camera's), half each."""
    return st.one_of(_case(WHEP, base.whep), _case(WHIP, base.whip))


def _bundle_names_missing_media(text: str) -> str:
    # aiortc moves the bundled stream onto the first mid's transport, here none: the answer fails and so did
    # closing the connection, which then held its slot for good (WHIP answered 500).
    return text.replace("a=group:BUNDLE 0", "a=group:BUNDLE 1 0")


def _no_usable_candidate(text: str) -> str:
    # IPv6 only (the hub gathers IPv4) and candidates complete: ICE fails at once, while the hub writes the view's
    # record; the ended viewer was then registered anyway and never removed.
    candidate = "a=candidate:1 1 udp 1 ::1 9 typ host"
    return "\r\n".join(candidate if line.startswith("a=candidate:") else line for line in text.split("\r\n"))


def _many_candidates(text: str) -> str:
    # 1,800 candidates in 128 KiB: aioice pairs them in quadratic time and held the hub's event loop about 2 s, so
    # every gate's lease lapsed (the next offers were refused as state_stale) and every viewer stalled.
    many = "".join(f"a=candidate:{n} 1 udp {n} 127.0.0.1 {10000 + n} typ host\r\n" for n in range(1800))
    return text.replace("a=end-of-candidates\r\n", many + "a=end-of-candidates\r\n")


def _first_video_wrong_way(text: str) -> str:
    # Two video sections, the first in the wrong direction: the hub's transceiver takes the first, and the 201
    # answered a session that carried no video.
    head, _, section = text.partition("m=video")
    right = next(d for d in ("a=recvonly", "a=sendonly") if d in section)
    wrong = "a=sendonly" if right == "a=recvonly" else "a=recvonly"
    second = section.replace("a=mid:0", "a=mid:1")
    return (
        head.replace("a=group:BUNDLE 0", "a=group:BUNDLE 0 1")
        + "m=video"
        + section.replace(right, wrong)
        + ("m=video" + second)
    )


def regressions(base: BaseOffers) -> list[Case]:
    """Offers the fuzzer found breaking the hub, sent before a run's drawn cases (to both endpoints)."""
    return [
        Case(target, edit(text).encode(), SDP_TYPE, 0, (edit.__name__,))
        for edit in (_bundle_names_missing_media, _no_usable_candidate, _many_candidates, _first_video_wrong_way)
        for target, text in ((WHEP, base.whep), (WHIP, base.whip))
    ]

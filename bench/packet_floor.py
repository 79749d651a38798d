"""The floor under forwarding one RTP packet on this machine, measured in the same run as a benchmark.

Forwarding a packet cannot cost less than protecting it with SRTP and handing it to a loopback UDP socket: on
loopback the sending thread also pays for the kernel's delivery to the receiving socket, which a network card would
take off it, and that delivery costs more the more sockets it spreads over (cache misses). This measures exactly
that, in one thread, sending to many receiving sockets in turn (one per viewer, as the hub does) while a second
thread drains them as viewers would: CPU microseconds (the sending thread's user + system time) per packet of
`size` bytes, with the SRTP profile the hub negotiates with aiortc and browsers (AEAD AES-256-GCM). The hub's cost
per extra viewer is then reported as a multiple of (this floor x the packets a viewer gets a second).

    python -m bench.packet_floor [--packets 20000] [--size 1100] [--destinations 100]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import selectors
import socket
import statistics
import struct
import threading
import time

from pylibsrtp import Policy, Session

RTP_HEADER = 12 + 12  # the fixed header and a MID + abs-send-time extension block, as the hub writes them
KEY_BYTES = 32 + 12  # AES-256 key and GCM salt


def _session() -> Session:
    policy = Policy(
        key=os.urandom(KEY_BYTES),
        ssrc_type=Policy.SSRC_ANY_OUTBOUND,
        srtp_profile=Policy.SRTP_PROFILE_AEAD_AES_256_GCM,
    )
    policy.allow_repeat_tx = True
    return Session(policy)


def one_run(packets: int, size: int, destinations: int = 100) -> float:
    """CPU microseconds per packet: SRTP-protect a `size`-byte RTP packet and send it on loopback, `packets` times,
    round-robin to `destinations` receiving sockets (one per viewer, as the hub's are), all drained by one thread."""
    receivers = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(destinations)]
    selector = selectors.DefaultSelector()
    for receiver in receivers:
        receiver.bind(("127.0.0.1", 0))
        receiver.setblocking(False)
        selector.register(receiver, selectors.EVENT_READ)
    addresses = [receiver.getsockname() for receiver in receivers]
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sender.setblocking(False)
    done = threading.Event()

    def drain() -> None:
        while not done.is_set():
            for key, _ in selector.select(timeout=0.1):
                with contextlib.suppress(BlockingIOError):
                    key.fileobj.recv(2048)  # type: ignore[union-attr]

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    protect = _session().protect
    payload = os.urandom(size - RTP_HEADER)
    extension = struct.pack("!HH", 0xBEDE, 2) + os.urandom(8)
    try:
        began = time.thread_time()
        for sequence in range(packets):
            header = struct.pack("!BBHLL", 0x90, 96, sequence & 0xFFFF, sequence * 6000 & 0xFFFFFFFF, 0x1234)
            # The reader may fall behind: the kernel refuses the datagram, as it would one of the hub's.
            with contextlib.suppress(BlockingIOError):
                sender.sendto(protect(header + extension + payload), addresses[sequence % destinations])
        spent = time.thread_time() - began
    finally:
        done.set()
        reader.join()
        selector.close()
        sender.close()
        for receiver in receivers:
            receiver.close()
    return spent / packets * 1e6


def measure(packets: int = 20000, size: int = 1100, runs: int = 3, destinations: int = 100) -> float:
    """The median over `runs` of `one_run`: microseconds of CPU per packet."""
    return round(statistics.median(one_run(packets, size, destinations) for _ in range(runs)), 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--packets", type=int, default=20000)
    parser.add_argument("--size", type=int, default=1100, help="bytes of RTP per packet before SRTP")
    parser.add_argument("--destinations", type=int, default=100, help="receiving sockets, sent to in turn")
    args = parser.parse_args()
    floor = measure(args.packets, args.size, destinations=args.destinations)
    print(f"{floor:.2f} us of CPU per packet (SRTP protect + loopback send to {args.destinations} sockets)")


if __name__ == "__main__":
    main()

"""A lossy link for tests: a network namespace joined to the host by a veth pair, with nftables random drop.

Inside the namespace an nftables table drops UDP at random (`numgen random mod 100 < N`) in both directions,
so media and its RTCP suffer the loss while TCP (HTTP signalling, the control WebSocket) does not. The drop
rate can be changed while traffic flows. The rules sit on the namespace's veth (netdev ingress and egress
hooks) rather than in the inet input and output hooks: a packet dropped at output fails the sender's `sendto`
with EPERM, while one dropped at egress vanishes silently, as on a lossy wire. Everything is named uniquely per
run and removed on exit, even after a failure half-way through setting up. Needs root (or CAP_NET_ADMIN), `ip`
(iproute2) and `nft` (nftables).
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import random
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass

TABLE = "porchlight_loss"
# Where the /30 comes from: private space, picked at random and checked against the host's own networks.
POOL = ipaddress.IPv4Network("10.213.0.0/16")
_SBIN = ("/usr/sbin", "/sbin")
_COUNTERS = ("seen_in", "dropped_in", "seen_out", "dropped_out")


class NetnsUnavailable(RuntimeError):
    """This machine cannot make the lossy link (no namespaces, no veth, no nftables); the message says which."""


def _tool(name: str) -> str | None:
    # /usr/sbin is often missing from a non-login PATH.
    return shutil.which(name, path=os.pathsep.join([os.environ.get("PATH", ""), *_SBIN]))


def _run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), input=stdin, capture_output=True, text=True, timeout=10, check=False)


def _check(result: subprocess.CompletedProcess[str], what: str) -> None:
    if result.returncode != 0:
        raise RuntimeError(f"{what} failed ({result.returncode}): {result.stderr.strip()}")


def _used_networks(ip: str) -> list[ipaddress.IPv4Network]:
    """IPv4 networks the host already has addresses or routes in."""
    used = []
    addrs = json.loads(_run(ip, "-j", "-4", "addr", "show").stdout or "[]")
    for link in addrs:
        for info in link.get("addr_info", []):
            used.append(ipaddress.IPv4Network(f"{info['local']}/{info['prefixlen']}", strict=False))
    for route in json.loads(_run(ip, "-j", "-4", "route", "show", "table", "all").stdout or "[]"):
        dst = route.get("dst", "")
        if dst and dst != "default":
            with contextlib.suppress(ValueError):
                used.append(ipaddress.IPv4Network(dst if "/" in dst else f"{dst}/32", strict=False))
    return used


def _free_subnet(ip: str) -> ipaddress.IPv4Network:
    """A /30 of POOL that overlaps nothing on the host (so concurrent runs and other links do not collide)."""
    used = _used_networks(ip)
    count = 2 ** (30 - POOL.prefixlen)
    for _ in range(100):
        subnet = ipaddress.IPv4Network(f"{POOL.network_address + 4 * random.randrange(count)}/30")
        if not any(subnet.overlaps(other) for other in used):
            return subnet
    raise RuntimeError(f"no free /30 left in {POOL}")


@dataclass
class LossyLink:
    """A namespace on the far end of a veth pair; `host_ip` is the host's end, `peer_ip` the namespace's."""

    namespace: str
    host_if: str
    peer_if: str
    host_ip: str
    peer_ip: str
    ip: str
    nft: str
    loss: int = 0

    def exec_prefix(self) -> list[str]:
        """Put this in front of a command line to run it inside the namespace."""
        return [self.ip, "netns", "exec", self.namespace]

    def set_loss(self, percent: int) -> None:
        """Drop this share of UDP packets, each way, from now on (0 drops none, 100 all); TCP is never dropped.

        The rules are replaced in one nftables transaction, so no packet sees a half-made rule set.
        """
        if not 0 <= percent <= 100:
            raise ValueError(f"loss must be 0..100 percent, not {percent}")
        lines = []
        for chain, suffix in (("ingress", "in"), ("egress", "out")):
            lines.append(f"flush chain netdev {TABLE} {chain}")
            lines.append(f'add rule netdev {TABLE} {chain} meta l4proto udp counter name "seen_{suffix}"')
            if percent:
                sample = "" if percent == 100 else f"numgen random mod 100 < {percent} "
                lines.append(
                    f'add rule netdev {TABLE} {chain} meta l4proto udp {sample}counter name "dropped_{suffix}" drop'
                )
        _check(self._nft("\n".join(lines) + "\n"), f"setting {percent}% loss")
        self.loss = percent

    def counters(self) -> dict[str, int]:
        """UDP packets seen and dropped in the namespace so far, each way: seen_in, dropped_in, seen_out, ..."""
        result = _run(*self.exec_prefix(), self.nft, "-j", "list", "counters", "table", "netdev", TABLE)
        _check(result, "reading the loss counters")
        found = {}
        for item in json.loads(result.stdout)["nftables"]:
            counter = item.get("counter")
            if counter is not None:
                found[counter["name"]] = int(counter["packets"])
        return {name: found.get(name, 0) for name in _COUNTERS}

    def _nft(self, script: str) -> subprocess.CompletedProcess[str]:
        return _run(*self.exec_prefix(), self.nft, "-f", "-", stdin=script)


def _table_script(device: str) -> str:
    counters = "".join(f"  counter {name} {{ }}\n" for name in _COUNTERS)
    chains = "".join(
        f'  chain {hook} {{ type filter hook {hook} device "{device}" priority 0; policy accept; }}\n'
        for hook in ("ingress", "egress")
    )
    return f"table netdev {TABLE} {{\n{counters}{chains}}}\n"


@contextlib.contextmanager
def lossy_link() -> Iterator[LossyLink]:
    """Make the namespace, the veth pair and the loss table (no loss yet); remove them all on exit.

    Raises NetnsUnavailable, naming what failed, where the kernel or the tools do not allow it (tests skip on it).
    Processes started inside the namespace must be ended by their owner before this exits.
    """
    ip, nft = _tool("ip"), _tool("nft")
    if ip is None:
        raise NetnsUnavailable("`ip` (iproute2) is not installed")
    if nft is None:
        raise NetnsUnavailable("`nft` (nftables) is not installed")
    token = f"{os.getpid() % 10000:04d}{secrets.token_hex(2)}"
    subnet = _free_subnet(ip)
    host_ip, peer_ip = (str(address) for address in subnet.hosts())
    link = LossyLink(f"porchlight-{token}", f"plh{token}", f"pln{token}", host_ip, peer_ip, ip, nft)
    created = _run(ip, "netns", "add", link.namespace)
    if created.returncode != 0:
        raise NetnsUnavailable(f"cannot create a network namespace (`ip netns add`): {created.stderr.strip()}")
    try:
        veth = _run(
            ip, "link", "add", link.host_if, "type", "veth", "peer", "name", link.peer_if, "netns", link.namespace
        )
        if veth.returncode != 0:
            raise NetnsUnavailable(f"cannot create a veth pair (`ip link add type veth`): {veth.stderr.strip()}")
        _check(_run(ip, "addr", "add", f"{host_ip}/30", "dev", link.host_if), "addressing the host's veth")
        _check(_run(ip, "link", "set", link.host_if, "up"), "bringing the host's veth up")
        ns = ("-n", link.namespace)
        _check(_run(ip, *ns, "addr", "add", f"{peer_ip}/30", "dev", link.peer_if), "addressing the namespace's veth")
        _check(_run(ip, *ns, "link", "set", link.peer_if, "up"), "bringing the namespace's veth up")
        _check(_run(ip, *ns, "link", "set", "lo", "up"), "bringing the namespace's loopback up")
        table = link._nft(_table_script(link.peer_if))
        if table.returncode != 0:
            raise NetnsUnavailable(
                f"nftables refused the loss table (netdev ingress/egress hooks, `nft -f`): {table.stderr.strip()}"
            )
        link.set_loss(0)
        yield link
    finally:
        # Deleting one end of a veth pair deletes both; the namespace itself goes once nothing uses it.
        _run(ip, "link", "del", link.host_if)
        _run(ip, "netns", "del", link.namespace)

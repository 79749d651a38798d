"""ICE servers in `Link` headers and TURN (issue 15): a real coturn on loopback with `use-auth-secret`, a hub that
knows the same secret, and a Chromium viewer forced to relay with the credentials the hub's `Link` header gave it.
Video reaches it only through TURN: its selected candidate pair is a relay one, and it decodes frames."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from pydantic import SecretStr

from hub.config import IceServer
from hub.media.ice_servers import IceServers, turn_rest_credentials
from tests.support.browser import chromium
from tests.support.procs import PORTS_PER_WORKER, Hub, free_port, running_agent
from tests.support.secrets import SECRETS

pytestmark = pytest.mark.asyncio(loop_scope="module")
CAMERA = "front-door"
TURNSERVER = "/usr/bin/turnserver"
# Relay ports: the top 100 of this pytest-xdist worker's range (tests/support/procs.py), so workers never share one.
_WORKER = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)
RELAY_PORTS = (12000 + (_WORKER + 1) * PORTS_PER_WORKER - 100, 12000 + (_WORKER + 1) * PORTS_PER_WORKER - 1)


@dataclass
class Turn:
    url: str
    secret: str


@pytest.fixture(scope="module")
def turn() -> Iterator[Turn]:
    """coturn's `turnserver` on 127.0.0.1 (no daemon, no TLS or DTLS, loopback peers allowed: both ends are here),
    checking TURN REST credentials against a shared secret; stopped at the end."""
    if not os.access(TURNSERVER, os.X_OK):
        pytest.fail(f"{TURNSERVER} not found: install Debian's coturn (`make system-deps`)")
    secret = secrets.token_urlsafe(24)
    SECRETS.add(secret, "TURN shared secret")  # the hub's logs must never show it
    port = free_port()
    # Outside pytest's temporary directory: coturn's own log is not the hub's, and may quote its command line.
    workdir = Path(tempfile.mkdtemp(prefix="porchlight-turn-"))
    args = [
        TURNSERVER, "-n", "--listening-ip=127.0.0.1", "--relay-ip=127.0.0.1", f"--listening-port={port}",
        f"--min-port={RELAY_PORTS[0]}", f"--max-port={RELAY_PORTS[1]}", "--use-auth-secret",
        f"--static-auth-secret={secret}", "--realm=porchlight.test", "--allow-loopback-peers", "--no-dtls",
        "--no-tls", "--no-cli", "--fingerprint", f"--db={workdir / 'turndb'}", f"--pidfile={workdir / 'pid'}",
        "--log-file=stdout", "--simple-log",
    ]  # fmt: skip
    with (workdir / "turnserver.out").open("wb") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 10
        while not _listening(port):  # its TCP and UDP listeners open together
            assert proc.poll() is None, (workdir / "turnserver.out").read_text(errors="replace")
            assert time.monotonic() < deadline, "turnserver did not open its listener in 10 s"
            time.sleep(0.05)
        yield Turn(f"turn:127.0.0.1:{port}?transport=udp", secret)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(workdir, ignore_errors=True)


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def hub(tmp_path_factory: pytest.TempPathFactory, turn: Turn) -> AsyncIterator[Hub]:
    """A hub whose media.ice_servers names the TURN server with its secret (in a file); the camera's agent."""
    tmp = tmp_path_factory.mktemp("turn-hub")
    secret_file = tmp / "turn.secret"
    secret_file.write_text(turn.secret, encoding="utf-8")
    servers = [{"urls": turn.url, "secret_file": str(secret_file), "credential_seconds": 600}]
    instance = Hub(tmp, env={"PORCHLIGHT_MEDIA__ICE_SERVERS": json.dumps(servers)})
    instance.write_config()
    seeded = await instance.seed()
    await instance.start()
    try:
        async with running_agent(instance, CAMERA, seeded.tokens[CAMERA], tmp):
            yield instance
    finally:
        await instance.stop()


async def test_credentials_follow_the_turn_rest_scheme() -> None:
    """username `<expiry>:<id>`, credential base64(HMAC-SHA1(secret, username)) (the scheme coturn checks), expiry
    `credential_seconds` ahead; the secret is in no Link; STUN servers get no credentials."""
    servers = IceServers(
        [IceServer(urls="stun:stun.example.org"), IceServer(urls="turn:turn.example.org", secret=SecretStr("s3cret"))],
        clock=lambda: 1_000_000.0,
    )
    assert turn_rest_credentials(b"s3cret", 1_003_600, "abc") == ("1003600:abc", "jjRqqEdyTdWHCH/9kl4kafQR7rw=")
    links = servers.link_values("abc")
    assert links == [
        '<stun:stun.example.org>; rel="ice-server"',
        '<turn:turn.example.org>; rel="ice-server"; username="1003600:abc"; credential="jjRqqEdyTdWHCH/9kl4kafQR7rw="'
        '; credential-type="password"',
    ]
    assert "s3cret" not in repr(servers) and "s3cret" not in "".join(links)


# In the hub's own officer page (logged in with the cookie). OPTIONS on the endpoint gives the ICE servers before
# the offer (RFC 9725 §4.6, for players that cannot change them after); the viewer relays only; the 201's Link
# carries them too. Returns the offer's candidate types, the selected pair's and the frames decoded.
RELAY_JS = """
async ({camera, username, password}) => {
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
  const login = await fetch('/api/login', {method: 'POST', headers: {'Content-Type': 'application/json'},
    body: JSON.stringify({username, password})});
  if (login.status !== 200) throw new Error(`login: ${login.status}`);
  const csrf = (await login.json()).csrf_token;
  const parse = (header) => (header || '').split(/,\\s*(?=<)/).filter((v) => /rel="ice-server"/.test(v)).map((v) => {
    const server = {urls: v.match(/<([^>]+)>/)[1]};
    const username = v.match(/username="([^"]*)"/);
    const credential = v.match(/credential="([^"]*)"/);
    if (username) server.username = username[1];
    if (credential) server.credential = credential[1];
    return server;
  });
  const options = await fetch(`/whep/${camera}`, {method: 'OPTIONS'});
  const iceServers = parse(options.headers.get('Link'));
  const pc = new RTCPeerConnection({iceServers, iceTransportPolicy: 'relay'});
  const video = document.createElement('video');
  video.muted = true;
  video.autoplay = true;
  document.body.appendChild(video);
  pc.ontrack = (event) => { video.srcObject = new MediaStream([event.track]); };
  pc.addTransceiver('video', {direction: 'recvonly'});
  await pc.setLocalDescription(await pc.createOffer());
  const until = performance.now() + 10000;
  while (pc.iceGatheringState !== 'complete' && performance.now() < until) await sleep(50);
  const offer = pc.localDescription.sdp;
  const offerTypes = [...offer.matchAll(/a=candidate:.* typ (\\w+)/g)].map((m) => m[1]);
  const whep = await fetch(`/whep/${camera}?case=CASE-TURN&reason=relay%20test`, {method: 'POST',
    headers: {'Content-Type': 'application/sdp', 'X-CSRF-Token': csrf}, body: offer});
  const answer = await whep.text();
  if (whep.status !== 201) return {iceServers, offerTypes, whepStatus: whep.status, answer};
  const answerLinks = parse(whep.headers.get('Link'));
  await pc.setRemoteDescription({type: 'answer', sdp: answer});
  const deadline = performance.now() + 20000;
  let frames = 0;
  let pair = null;
  while (performance.now() < deadline) {
    const stats = await pc.getStats();
    stats.forEach((report) => {
      if (report.type === 'inbound-rtp' && report.kind === 'video') frames = report.framesDecoded;
      if (report.type === 'transport' && report.selectedCandidatePairId) {
        const selected = stats.get(report.selectedCandidatePairId);
        pair = {local: stats.get(selected.localCandidateId).candidateType,
                remote: stats.get(selected.remoteCandidateId).candidateType,
                relayProtocol: stats.get(selected.localCandidateId).relayProtocol || null};
      }
    });
    if (frames >= 30 && pair) break;
    await sleep(100);
  }
  const hangUp = await fetch(new URL(whep.headers.get('Location'), location.href), {method: 'DELETE',
    headers: {'X-CSRF-Token': csrf}});
  pc.close();
  return {iceServers, offerTypes, whepStatus: whep.status, answerLinks, frames, pair, hangUp: hangUp.status,
          videoWidth: video.videoWidth};
}
"""


async def test_a_relay_only_viewer_watches_through_turn(hub: Hub, turn: Turn) -> None:
    async with chromium() as page:
        await page.goto(f"{hub.url}/officer")
        seen: dict[str, Any] = await page.evaluate(
            RELAY_JS, {"camera": CAMERA, "username": "olivia", "password": "olivia-demo-pass"}
        )
    for server in seen["iceServers"] + seen.get("answerLinks", []):
        SECRETS.add(server.get("credential", ""), "TURN credential")  # short-lived, but no log should show it
    assert [server["urls"] for server in seen["iceServers"]] == [turn.url], seen
    username = seen["iceServers"][0]["username"]
    expiry, _, user_id = username.partition(":")
    assert 500 < int(expiry) - time.time() <= 600 and user_id, seen  # credential_seconds ahead, an opaque id
    assert not user_id.startswith("whep-") and "olivia" not in user_id, seen  # TURN's logs name no account
    assert turn.secret not in json.dumps(seen)
    assert seen["whepStatus"] == 201, seen
    assert seen["offerTypes"] and set(seen["offerTypes"]) == {"relay"}, seen
    assert [server["urls"] for server in seen["answerLinks"]] == [turn.url], seen  # the 201 carries them too
    assert seen["pair"] is not None and seen["pair"]["local"] == "relay", seen
    assert seen["frames"] >= 30, seen
    assert seen["hangUp"] == 200, seen


async def test_no_ice_servers_without_a_log_in(hub: Hub) -> None:
    """Without a log-in, OPTIONS on the endpoint names its methods and gives no ICE servers (nor credentials)."""
    async with aiohttp.ClientSession() as http, http.options(f"{hub.url}/whep/{CAMERA}") as response:
        assert response.status == 204
        assert "ice-server" not in ",".join(response.headers.getall("Link", []))

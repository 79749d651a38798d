"""A real Chromium plays the camera's own encoded frames that the hub forwards (passthrough), in VP8 and H264."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.browser import chromium
from tests.support.procs import Hub, running_agent

CAM = "front-door"

# Runs in the page (same origin as the hub, so the login cookie goes with the WHEP request). Every wait is bounded;
# a failure throws with what was seen (status and body, the offer's video codec lines, the last stats).
WATCH_JS = """
async ({camera, username, password}) => {
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
  const login = await fetch('/api/login', {
    method: 'POST',
    headers: {'Content-Type': 'application/json'},
    body: JSON.stringify({username, password}),
  });
  if (login.status !== 200) throw new Error(`login: ${login.status} ${await login.text()}`);
  const csrf = (await login.json()).csrf_token;

  const pc = new RTCPeerConnection({iceServers: []});
  const video = document.createElement('video');
  video.autoplay = true;
  video.muted = true;
  video.playsInline = true;
  document.body.appendChild(video);
  pc.ontrack = (event) => { video.srcObject = new MediaStream([event.track]); };
  pc.addTransceiver('video', {direction: 'recvonly'});
  await pc.setLocalDescription(await pc.createOffer());
  if (pc.iceGatheringState !== 'complete') {
    await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('ICE gathering did not complete in 5 s')), 5000);
      pc.addEventListener('icegatheringstatechange', () => {
        if (pc.iceGatheringState === 'complete') { clearTimeout(timer); resolve(); }
      });
    });
  }
  const offer = pc.localDescription.sdp;
  const offerCodecs = offer.split('\\r\\n').filter((line) => /^a=(rtpmap|fmtp):/.test(line));

  const whep = await fetch(`/whep/${camera}?case=CASE-7&reason=browser%20test`, {
    method: 'POST',
    headers: {'Content-Type': 'application/sdp', 'X-CSRF-Token': csrf},
    body: offer,
  });
  const answer = await whep.text();
  if (whep.status !== 201) {
    throw new Error(`WHEP: ${whep.status} ${answer}\\noffer codecs:\\n${offerCodecs.join('\\n')}`);
  }
  const location = whep.headers.get('Location');
  await pc.setRemoteDescription({type: 'answer', sdp: answer});

  const inbound = async () => {
    const stats = await pc.getStats();
    let rtp = null;
    stats.forEach((report) => { if (report.type === 'inbound-rtp' && report.kind === 'video') rtp = report; });
    const codec = rtp && rtp.codecId ? stats.get(rtp.codecId) : null;
    return {rtp, codec};
  };
  const deadline = performance.now() + 20000;
  let seen = await inbound();
  while (!(video.videoWidth === 640 && seen.rtp && seen.rtp.framesDecoded >= 30)) {
    if (performance.now() > deadline) {
      throw new Error(`no playback in 20 s: video ${video.videoWidth}x${video.videoHeight}, ` +
        `ice ${pc.iceConnectionState}, inbound ${JSON.stringify(seen.rtp)}`);
    }
    await sleep(50);
    seen = await inbound();
  }

  // Real pixels: sample the middle row of the decoded frame (below the time stamp band at the top); the seven
  // colour bars give several distinct colours even where the bouncing white box covers one.
  const canvas = document.createElement('canvas');
  canvas.width = video.videoWidth;
  canvas.height = video.videoHeight;
  const ctx = canvas.getContext('2d', {willReadFrequently: true});
  ctx.drawImage(video, 0, 0);
  const row = ctx.getImageData(0, Math.floor(canvas.height / 2), canvas.width, 1).data;
  const colours = new Set();
  for (let i = 0; i < row.length; i += 4 * 8) {
    colours.add(`${row[i] >> 5},${row[i + 1] >> 5},${row[i + 2] >> 5}`);
  }

  const hangUp = await fetch(location, {method: 'DELETE', headers: {'X-CSRF-Token': csrf}});
  pc.close();
  video.remove();
  return {
    mimeType: seen.codec ? seen.codec.mimeType : null,
    sdpFmtpLine: seen.codec ? seen.codec.sdpFmtpLine : null,
    framesDecoded: seen.rtp.framesDecoded,
    framesDropped: seen.rtp.framesDropped,
    keyFramesDecoded: seen.rtp.keyFramesDecoded,
    hasPliCount: 'pliCount' in seen.rtp,
    hasFirCount: 'firCount' in seen.rtp,
    videoWidth: video.videoWidth,
    videoHeight: video.videoHeight,
    distinctColours: colours.size,
    hangUpStatus: hangUp.status,
  };
}
"""


@pytest.mark.parametrize(("codec", "mime_type"), [("vp8", "video/VP8"), ("h264", "video/H264")])
async def test_chromium_plays_passthrough(
    hub: Hub, tokens: dict[str, str], tmp_path: Path, codec: str, mime_type: str
) -> None:
    agent_args: tuple[str, ...] = ()
    if codec == "h264":
        await hub.stop()
        hub.env = {"PORCHLIGHT_MEDIA__CODEC": "h264"}
        await hub.start()
        agent_args = ("--codec", "h264")
    async with running_agent(hub, CAM, tokens[CAM], tmp_path, *agent_args), chromium() as page:
        # A page of the hub's: its CSP lets it fetch from its own origin (an API answer's lets a document load nothing).
        await page.goto(f"{hub.url}/officer")
        seen = await page.evaluate(WATCH_JS, {"camera": CAM, "username": "olivia", "password": "olivia-demo-pass"})

    assert seen["mimeType"] == mime_type, seen
    assert seen["framesDecoded"] >= 30, seen
    assert seen["keyFramesDecoded"] >= 1, seen
    assert (seen["videoWidth"], seen["videoHeight"]) == (640, 480), seen
    assert seen["distinctColours"] >= 4, f"the decoded frame looks uniform: {seen}"
    assert seen["hangUpStatus"] == 200, seen

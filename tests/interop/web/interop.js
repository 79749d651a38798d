// Publishers and players that talk WHIP and WHEP to the hub from Chromium: by hand with fetch, and with Medooze's
// whip-whep (WHIPClient, WHEPClient) used as its README shows. tests/interop/browser.py drives them through
// `window.interop`; every function returns plain data (statuses, timings, stats) and every wait is bounded.
import { WHIPClient } from "./node_modules/whip-whep/whip.js";
import { WHEPClient } from "./node_modules/whip-whep/whep.js";

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// Every request of the current session, with its status (no headers, nor bodies but refusals': tokens, ICE passwords).
const requests = [];
const realFetch = window.fetch.bind(window);
window.fetch = async (resource, options = {}) => {
  const entry = { method: options.method || "GET", path: new URL(resource, location.href).pathname, status: null };
  requests.push(entry);
  const response = await realFetch(resource, options);
  entry.status = response.status;
  // A refusal's JSON body says why ({"reason", "message"}); it carries no secret.
  if (response.status >= 400) entry.body = (await response.clone().text()).slice(0, 300);
  return response;
};

async function within(ms, what, promise) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: nothing after ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function gathered(pc) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return within(5000, "ICE gathering", new Promise((resolve) => {
    pc.addEventListener("icegatheringstatechange", () => {
      if (pc.iceGatheringState === "complete") resolve();
    });
  }));
}

function connected(pc, ms = 10000) {
  if (pc.connectionState === "connected") return Promise.resolve();
  return within(ms, `connection (state ${pc.connectionState})`, new Promise((resolve, reject) => {
    pc.addEventListener("connectionstatechange", () => {
      if (pc.connectionState === "connected") resolve();
      if (pc.connectionState === "failed") reject(new Error("the connection failed"));
    });
  }));
}

// The SDP lines that say what was negotiated (codecs and directions), never ICE credentials.
function mediaLines(sdp) {
  return (sdp || "").split("\r\n").filter((line) =>
    /^(m=|a=(rtpmap|fmtp|sendonly|recvonly|sendrecv|inactive|setup))/.test(line));
}

async function rtpStats(pc) {
  const found = {};
  if (!pc) return found;
  const stats = await pc.getStats();
  stats.forEach((report) => {
    if (report.type === "outbound-rtp" || report.type === "inbound-rtp") {
      const codec = report.codecId ? stats.get(report.codecId) : null;
      found[`${report.type}:${report.kind}`] = {
        mimeType: codec ? codec.mimeType : null,
        packets: report.packetsSent ?? report.packetsReceived,
        framesEncoded: report.framesEncoded,
        keyFramesEncoded: report.keyFramesEncoded,
        framesDecoded: report.framesDecoded,
        keyFramesDecoded: report.keyFramesDecoded,
        pliCount: report.pliCount,
        firCount: report.firCount,
        nackCount: report.nackCount,
        frameWidth: report.frameWidth,
        frameHeight: report.frameHeight,
      };
    }
  });
  return found;
}

// One publisher or player at a time per page.
const session = { kind: null, pc: null, client: null, location: null, token: null, stream: null, video: null };

function bearer(token) {
  return token ? { Authorization: `Bearer ${token}` } : {};
}

async function camera() {
  // What a page asks for by default: the camera and the microphone (the fake devices stand in for both).
  return navigator.mediaDevices.getUserMedia({ audio: true, video: true });
}

async function publishByHand({ url, token }) {
  requests.length = 0; // this session's requests only
  const began = performance.now();
  const stream = await camera();
  const pc = new RTCPeerConnection({ iceServers: [] });
  Object.assign(session, { kind: "whip-by-hand", pc, token, stream });
  for (const track of stream.getTracks()) pc.addTransceiver(track, { direction: "sendonly" });
  await pc.setLocalDescription(await pc.createOffer());
  await gathered(pc);
  const response = await fetch(url, {
    method: "POST",
    headers: { "Content-Type": "application/sdp", ...bearer(token) },
    body: pc.localDescription.sdp,
  });
  const answer = await response.text();
  const result = { status: response.status, offer: mediaLines(pc.localDescription.sdp), requests };
  if (response.status !== 201) return { ...result, body: answer.slice(0, 500) };
  session.location = new URL(response.headers.get("Location"), url).href;
  result.location = response.headers.get("Location");
  result.answer = mediaLines(answer);
  result.answeredMs = performance.now() - began;
  await pc.setRemoteDescription({ type: "answer", sdp: answer });
  await connected(pc);
  result.connectedMs = performance.now() - began;
  return result;
}

async function publishWithWhipClient({ url, token }) {
  requests.length = 0; // this session's requests only
  const began = performance.now();
  // As whip-whep's README: camera and microphone, max-bundle, every track sendonly, then WHIPClient.publish.
  const stream = await camera();
  const pc = new RTCPeerConnection({ bundlePolicy: "max-bundle" });
  for (const track of stream.getTracks()) pc.addTransceiver(track, { direction: "sendonly" });
  const whip = new WHIPClient();
  Object.assign(session, { kind: "whip-client", pc, client: whip, token, stream });
  try {
    await within(10000, "WHIPClient.publish", whip.publish(pc, url, token));
  } catch (error) {
    return { error: String(error), requests };
  }
  const result = { status: 201, location: whip.resourceURL.pathname, requests, answeredMs: performance.now() - began };
  result.offer = mediaLines(pc.localDescription.sdp);
  result.answer = mediaLines(pc.remoteDescription.sdp);
  await connected(pc);
  result.connectedMs = performance.now() - began;
  return result;
}

async function stopPublishing() {
  const stats = await rtpStats(session.pc);
  let status = null;
  let error = null;
  if (session.kind === "whip-client") {
    try {
      await session.client.stop();
    } catch (thrown) {
      error = String(thrown); // e.g. stop() before publish() got its Location
    }
    const last = requests.filter((r) => r.method === "DELETE").pop();
    status = last ? last.status : null;
  } else if (session.location) {
    session.pc.close();
    status = (await fetch(session.location, { method: "DELETE", headers: bearer(session.token) })).status;
  } else if (session.pc) {
    session.pc.close();
  }
  if (session.stream) session.stream.getTracks().forEach((track) => track.stop());
  Object.assign(session, { kind: null, pc: null, client: null, location: null, stream: null });
  return { deleteStatus: status, error, stats, requests };
}

function videoElement(pc) {
  const video = document.createElement("video");
  video.autoplay = true;
  video.muted = true;
  video.playsInline = true;
  document.body.appendChild(video);
  pc.addEventListener("track", (event) => {
    if (event.track.kind === "video") video.srcObject = event.streams[0] || new MediaStream([event.track]);
  });
  return video;
}

// Frames the page decoded, counted as it presents them (requestVideoFrameCallback), and the first one's time.
function countFrames(video, began) {
  const seen = { presented: 0, firstFrameMs: null };
  const onFrame = () => {
    seen.presented += 1;
    if (seen.firstFrameMs === null) seen.firstFrameMs = performance.now() - began;
    video.requestVideoFrameCallback(onFrame);
  };
  video.requestVideoFrameCallback(onFrame);
  return seen;
}

// The decoded picture now shown, as a PNG data URL (the test reads the capture stamp in it).
function snapshot(video) {
  const canvas = document.createElement("canvas");
  canvas.width = video.videoWidth;
  canvas.height = video.videoHeight;
  canvas.getContext("2d").drawImage(video, 0, 0);
  return canvas.toDataURL("image/png");
}

async function watchFrames(pc, video, seen, frames, ms) {
  const deadline = performance.now() + ms;
  while (seen.presented < frames && performance.now() < deadline) await sleep(50);
  const stats = await rtpStats(pc);
  const inbound = stats["inbound-rtp:video"] || {};
  const result = {
    presented: seen.presented,
    firstFrameMs: seen.firstFrameMs,
    framesDecoded: inbound.framesDecoded || 0,
    width: video.videoWidth,
    height: video.videoHeight,
    connection: pc.connectionState,
    stats,
  };
  if (seen.presented > 0 && video.videoWidth > 0) result.picture = snapshot(video);
  return result;
}

async function playByHand({ url, token, frames = 30, ms = 15000 }) {
  requests.length = 0; // this session's requests only
  const began = performance.now();
  const pc = new RTCPeerConnection({ iceServers: [] });
  Object.assign(session, { kind: "whep-by-hand", pc, token });
  pc.addTransceiver("video", { direction: "recvonly" });
  pc.addTransceiver("audio", { direction: "recvonly" });
  const video = (session.video = videoElement(pc));
  const seen = countFrames(video, began);
  await pc.setLocalDescription(await pc.createOffer());
  await gathered(pc);
  const response = await fetch(url, {
    method: "POST",
    headers: { "Content-Type": "application/sdp", ...bearer(token) },
    body: pc.localDescription.sdp,
  });
  const answer = await response.text();
  if (response.status !== 201) return { status: response.status, body: answer.slice(0, 500), requests };
  session.location = new URL(response.headers.get("Location"), url).href;
  await pc.setRemoteDescription({ type: "answer", sdp: answer });
  const result = await watchFrames(pc, video, seen, frames, ms);
  return { status: 201, answer: mediaLines(answer), requests, ...result };
}

async function playWithWhepClient({ url, token, frames = 30, ms = 15000 }) {
  requests.length = 0; // this session's requests only
  const began = performance.now();
  // As whip-whep's README: max-bundle, an audio and a video transceiver, then WHEPClient.view.
  const pc = new RTCPeerConnection({ bundlePolicy: "max-bundle" });
  pc.addTransceiver("audio");
  pc.addTransceiver("video");
  const video = (session.video = videoElement(pc));
  const seen = countFrames(video, began);
  const whep = new WHEPClient();
  Object.assign(session, { kind: "whep-client", pc, client: whep, token });
  try {
    await within(10000, "WHEPClient.view", whep.view(pc, url, token));
  } catch (error) {
    return { error: String(error), requests };
  }
  const result = await watchFrames(pc, video, seen, frames, ms);
  return { status: 201, answer: mediaLines(pc.remoteDescription.sdp), requests, ...result };
}

async function stopPlaying() {
  let status = null;
  let error = null;
  if (session.kind === "whep-client") {
    try {
      await session.client.stop();
    } catch (thrown) {
      error = String(thrown); // e.g. stop() before view() got its Location
    }
    const last = requests.filter((r) => r.method === "DELETE").pop();
    status = last ? last.status : null;
  } else if (session.location) {
    session.pc.close();
    status = (await fetch(session.location, { method: "DELETE", headers: bearer(session.token) })).status;
  } else if (session.pc) {
    session.pc.close();
  }
  if (session.video) session.video.remove();
  Object.assign(session, { kind: null, pc: null, client: null, location: null, video: null });
  return { deleteStatus: status, error, requests };
}

window.interop = {
  publishByHand,
  publishWithWhipClient,
  stopPublishing,
  publisherStats: () => rtpStats(session.pc),
  playByHand,
  playWithWhepClient,
  stopPlaying,
};

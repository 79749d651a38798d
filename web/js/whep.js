// A WHEP player (draft-ietf-wish-whep): receive one camera's live video from the hub in a <video> element.
// Recvonly offer, ICE gathered in full before the offer is sent (the hub does not take trickled candidates),
// the answer set, and the session's server-sent `end` event (from the Link header) telling us why it ended.
// A page with many sessions opens their event streams only when needed (`lazyEvents`): over HTTP/1.1 a browser
// keeps at most six connections to the hub, and an open stream holds one.

import { csrfToken } from './session.js';

const EVENTS_REL = 'urn:ietf:params:whep:ext:core:server-sent-events';
const GATHER_TIMEOUT_MS = 5000;
// How long a broken connection waits for the hub's `end` event (which says why) before calling it lost.
const LOST_GRACE_MS = 3000;

/** The hub refused the WHEP request: `status`, and its `{reason, message}` when it sent one. */
export class WhepRefused extends Error {
  constructor(status, body) {
    super((body && body.message) || `the hub answered ${status}`);
    this.name = 'WhepRefused';
    this.status = status;
    this.reason = (body && body.reason) || `http_${status}`;
  }
}

/**
 * The URL of the Link header entry with relation `rel`, resolved against `base` (null when there is none).
 * @param {string|null} header
 * @param {string} rel
 * @param {string} base
 * @returns {string|null}
 */
export function linkTarget(header, rel, base) {
  if (!header) return null;
  for (const part of header.split(/,(?=\s*<)/)) {
    const match = /^\s*<([^>]*)>(.*)$/.exec(part);
    if (!match) continue;
    const rels = /;\s*rel="?([^";]+)"?/i.exec(match[2]);
    if (rels && rels[1].split(/\s+/).includes(rel)) return new URL(match[1], base).href;
  }
  return null;
}

function iceGathered(pc) {
  if (pc.iceGatheringState === 'complete') return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('gathering network candidates took too long')), GATHER_TIMEOUT_MS);
    pc.addEventListener('icegatheringstatechange', () => {
      if (pc.iceGatheringState === 'complete') {
        clearTimeout(timer);
        resolve();
      }
    });
  });
}

/**
 * One WHEP session. `onEnd({reason, at, note})` is called once, when the hub ends the session (its `end` event) or the
 * connection is lost (reason "connection_lost"); the video has been stopped by then. `stop()` hangs up.
 */
export class WhepSession {
  /**
   * @param {string} camera camera id
   * @param {HTMLVideoElement} video where the video plays
   * @param {(end: {reason: string, at: string|null, note: string|null}) => void} onEnd
   * @param {{lazyEvents?: boolean}} [options] lazyEvents: listen for `end` only when the connection falters or
   *   `checkEnd()` asks (the hub keeps a session's events, so a late listener still hears why it ended)
   */
  constructor(camera, video, onEnd, options = {}) {
    this.camera = camera;
    this.video = video;
    this.onEnd = onEnd;
    this.pc = null;
    this.events = null;
    this.location = null;
    this.ended = false;
    this.lostTimer = 0;
    this.eventsUrl = null;
    this.lazyEvents = Boolean(options.lazyEvents);
  }

  /**
   * Offer, send with the case number and reason, set the answer; resolves once the hub accepted (201).
   * Throws WhepRefused when the hub says no, or an Error when the browser could not set up the connection.
   * @param {string} caseNumber
   * @param {string} reason
   */
  async start(caseNumber, reason) {
    const pc = new RTCPeerConnection({ iceServers: [] });
    this.pc = pc;
    pc.addTransceiver('video', { direction: 'recvonly' });
    pc.addEventListener('track', (event) => {
      this.video.srcObject = event.streams[0] || new MediaStream([event.track]);
      // The hub ending the session shows here first: its DTLS close_notify closes the transport at once, while
      // the connection's state follows only when ICE stops answering, seconds later.
      const dtls = event.receiver.transport;
      if (dtls) dtls.addEventListener('statechange', () => this.connectionChanged());
    });
    pc.addEventListener('connectionstatechange', () => this.connectionChanged());
    try {
      await pc.setLocalDescription(await pc.createOffer());
      await iceGathered(pc);
      if (this.ended) return; // stopped before asking: nothing to hang up
      const query = new URLSearchParams({ case: caseNumber, reason });
      const response = await fetch(`/whep/${encodeURIComponent(this.camera)}?${query}`, {
        method: 'POST',
        credentials: 'same-origin',
        headers: { 'Content-Type': 'application/sdp', 'X-CSRF-Token': csrfToken() },
        body: pc.localDescription.sdp,
      });
      const text = await response.text();
      if (response.status !== 201) {
        let body = null;
        try {
          body = JSON.parse(text);
        } catch {
          body = null;
        }
        throw new WhepRefused(response.status, body);
      }
      // Relative URLs resolve against the final URL (a redirect may have come in between).
      this.location = new URL(response.headers.get('Location'), response.url).href;
      const eventsUrl = linkTarget(response.headers.get('Link'), EVENTS_REL, response.url);
      this.eventsUrl = eventsUrl;
      if (eventsUrl && !this.lazyEvents) this.listen(eventsUrl);
      await pc.setRemoteDescription({ type: 'answer', sdp: text });
    } catch (error) {
      if (this.ended) {
        // Stopped here, or ended by the hub, while setting up: make sure the hub lets go (a no-op if it has).
        this.teardown();
        this.hangUp();
        return;
      }
      this.teardown();
      if (this.location) this.hangUp();
      throw error;
    }
  }

  listen(url) {
    const source = new EventSource(url);
    this.events = source;
    source.addEventListener('end', (event) => {
      let data = {};
      try {
        data = JSON.parse(event.data);
      } catch {
        data = {};
      }
      this.finish(data.reason || 'ended', data.at || null, typeof data.note === 'string' ? data.note : null);
    });
    // The hub closes the stream after `end`; anything else failing for good leaves the connection to tell us.
    source.addEventListener('error', () => {
      if (source.readyState === EventSource.CLOSED) this.events = null;
    });
  }

  /**
   * Listen for the session's `end` for a moment (a lazy session whose camera may have gone: the `end` event is
   * heard at once if it came); a stream that says nothing within `ms` is closed again, the session goes on.
   * @param {number} [ms]
   */
  checkEnd(ms = 2000) {
    if (this.ended || !this.eventsUrl || this.events) return;
    this.listen(this.eventsUrl);
    if (!this.lazyEvents) return;
    const source = this.events;
    setTimeout(() => {
      if (this.events === source && !this.ended) {
        source.close();
        this.events = null;
      }
    }, ms);
  }

  /** Whether media can still flow: the connection is up and its DTLS transport not closed by the hub. */
  connected() {
    const dtls = this.pc && this.pc.getReceivers()[0]?.transport;
    return Boolean(this.pc) && this.pc.connectionState === 'connected'
      && !(dtls && (dtls.state === 'closed' || dtls.state === 'failed'));
  }

  connectionChanged() {
    if (this.ended || !this.pc) return;
    const dtls = this.pc.getReceivers()[0]?.transport?.state;
    const state = this.pc.connectionState;
    if (state === 'failed' || state === 'closed' || state === 'disconnected' || dtls === 'closed' || dtls === 'failed') {
      // Usually the hub's `end` event (with the reason) is on its way: give it a moment.
      this.checkEnd(LOST_GRACE_MS + 1000);
      clearTimeout(this.lostTimer);
      this.lostTimer = setTimeout(() => {
        if (!this.ended && this.pc && !this.connected()) {
          this.finish('connection_lost', new Date().toISOString());
        }
      }, LOST_GRACE_MS);
    }
  }

  finish(reason, at, note = null) {
    if (this.ended) return;
    this.ended = true;
    this.teardown();
    this.onEnd({ reason, at, note });
  }

  /** Stop the video here: no more frames are decoded (peer connection closed, stream detached). */
  teardown() {
    clearTimeout(this.lostTimer);
    if (this.events) this.events.close();
    this.events = null;
    if (this.pc) this.pc.close();
    const stream = this.video.srcObject;
    if (stream) stream.getTracks().forEach((track) => track.stop());
    this.video.srcObject = null;
  }

  hangUp(keepalive = false) {
    if (!this.location) return Promise.resolve();
    const location = this.location;
    this.location = null;
    return fetch(location, {
      method: 'DELETE',
      credentials: 'same-origin',
      headers: { 'X-CSRF-Token': csrfToken() },
      keepalive,
    }).catch(() => undefined); // already gone: nothing left to hang up
  }

  /**
   * Hang up: the hub ends the session (DELETE on its Location) and the video stops here.
   * @param {boolean} [keepalive] for a page that is going away
   */
  async stop(keepalive = false) {
    this.ended = true;
    this.teardown();
    await this.hangUp(keepalive);
  }
}

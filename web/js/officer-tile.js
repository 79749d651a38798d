// One tile of the officer's wall: a camera's live video with an overlay naming who watches, for which case, and
// the time (drawn over the video, so a screen recording names its maker; it stays in full screen, since the
// tile, not the video, goes full screen), its consent countdown with warnings before the grant ends, and what
// to do when it ends: a consent ending (withdrawn, expired, pilot over...) says why and offers nothing but
// closing; a fault (connection lost, camera not sending, hub busy) retries by itself with a growing pause, and
// offers Retry now. Every retry is a new look, on the record with the same case number and reason.

import { el } from './session.js';
import { WhepRefused, WhepSession } from './whep.js';
import { $ } from './dom.js';
import { leftWords, localTime } from './time-words.js';
import { endedWords, leftLabel, refusedWords } from './officer-words.js';

// Endings a new try may cure. Any other (a consent ending, a refusal for want of consent, my own account or
// session) never retries: nobody but the owner, the admin or a new log-in can change those.
const TRANSIENT = new Set([
  'connection_lost', 'viewer_gone', 'camera_not_publishing', 'state_stale', 'hub_shutdown', 'camera_offline',
  'rate_limited', 'busy', 'audit_unavailable', 'setup_failed', 'http_500', 'http_502', 'http_503', 'http_504',
]);
const BACKOFF_SECONDS = [2, 5, 10, 20, 40]; // then only "Retry now"
const WARN_AT_SECONDS = [120, 30]; // warnings before the owner's consent ends

/**
 * Whether an ending (or a refusal) with this reason may be retried.
 * @param {string} reason
 * @returns {boolean}
 */
export function transient(reason) {
  return TRANSIENT.has(reason);
}

/** One camera's tile. */
export class Tile {
  /**
   * @param {any} camera from /api/cameras
   * @param {{caseNumber: string, reason: string, officer: string, announce: (text: string) => void,
   *   onClose: (tile: Tile) => void, onEnlarge: (tile: Tile) => void}} options
   */
  constructor(camera, options) {
    this.camera = camera;
    this.options = options;
    this.caseNumber = options.caseNumber;
    this.reason = options.reason;
    this.endsAt = (camera.grant && camera.grant.ends_at) || null;
    this.session = null;
    this.ended = false;
    this.attempt = 0; // automatic retries so far, since the last time it played
    this.retryAt = 0; // when the next automatic retry starts (ms), 0: none planned
    this.retryTimer = 0;
    this.warned = new Set();
    this.build();
  }

  build() {
    const { camera } = this;
    const name = camera.name;
    this.video = el('video', {
      autoplay: true, muted: true, playsinline: true, 'aria-label': `Live video from ${name}`,
    });
    this.video.muted = true; // the property, not only the attribute, lets autoplay start without a gesture
    this.clock = el('time', { className: 'overlay-clock' }, localTime(new Date().toISOString()));
    this.warning = el('p', { className: 'tile-warning', hidden: true });
    this.enlargeButton = el('button', {
      type: 'button', className: 'tile-enlarge', 'aria-pressed': 'false', onclick: () => this.options.onEnlarge(this),
    }, `Enlarge ${name}`);
    this.fullButton = el('button', { type: 'button', className: 'tile-full', onclick: () => this.toggleFullscreen() },
      `Full screen: ${name}`);
    this.fullButton.hidden = !document.fullscreenEnabled;
    this.retryButton = el('button', { type: 'button', className: 'tile-retry', hidden: true, onclick: () => this.retryNow() },
      `Retry ${name} now`);
    this.stopButton = el('button', { type: 'button', className: 'tile-stop', onclick: () => this.close() },
      `Stop watching ${name}`);
    this.node = el(
      'article', { className: 'tile', 'data-camera': camera.id, 'data-state': 'connecting', 'aria-labelledby': `tile-${camera.id}` },
      el('div', { className: 'tile-head' },
        el('h3', { id: `tile-${camera.id}`, tabindex: '-1' }, name),
        el('span', { className: 'tile-consent' }, 'Consent: ', this.endsAt
          ? el('span', { className: 'tile-left', 'data-ends': this.endsAt }, leftLabel(this.endsAt))
          : el('span', { className: 'tile-left' }, 'until the pilot ends'))),
      el('div', { className: 'tile-video' },
        this.video,
        el('p', { className: 'tile-overlay' },
          el('span', { className: 'overlay-officer' }, this.options.officer),
          el('span', { className: 'overlay-case' }, 'Case ', el('strong', { className: 'tile-case' }, this.caseNumber)),
          this.clock),
        el('p', { className: 'tile-poster', 'aria-hidden': 'true' }, 'Video stopped'),
        this.warning),
      el('p', { className: 'tile-state' }, 'Connecting…'),
      el('p', { className: 'ended-reason', hidden: true }),
      el('div', { className: 'tile-actions' }, this.enlargeButton, this.fullButton, this.retryButton, this.stopButton),
    ); // prettier-ignore
    const playing = () => {
      if (this.ended || this.video.videoWidth === 0 || this.node.dataset.state === 'playing') return;
      this.setState('playing', 'Live.');
      this.attempt = 0;
      this.options.announce(`Watching ${name} live.`);
    };
    this.video.addEventListener('playing', playing);
    this.video.addEventListener('resize', playing);
    this.node.addEventListener('fullscreenchange', () => {
      const full = document.fullscreenElement === this.node;
      this.fullButton.textContent = full ? `Leave full screen: ${name}` : `Full screen: ${name}`;
    });
  }

  setState(state, words) {
    this.node.dataset.state = state;
    $('.tile-state', this.node).textContent = words;
  }

  /** Start (or start again) the look: a new WHEP session with the case number and reason. */
  async start() {
    clearTimeout(this.retryTimer);
    this.retryAt = 0;
    this.ended = false;
    this.retryButton.hidden = true;
    $('.ended-reason', this.node).hidden = true;
    $('.tile-consent', this.node).hidden = false;
    this.setState('connecting', this.attempt ? `Connecting again (try ${this.attempt + 1})…` : 'Connecting…');
    const left = $('.tile-left', this.node);
    if (this.endsAt) {
      left.dataset.ends = this.endsAt;
      left.textContent = leftLabel(this.endsAt);
    }
    this.stopButton.textContent = `Stop watching ${this.camera.name}`;
    const session = new WhepSession(this.camera.id, this.video, (end) => {
      if (this.session === session) this.end(end.reason, endedWords(end.reason, end.at, end.note));
    }, { lazyEvents: true });
    this.session = session;
    try {
      await session.start(this.caseNumber, this.reason);
    } catch (error) {
      if (this.session !== session) return;
      if (error instanceof WhepRefused) this.end(error.reason, `The hub refused: ${refusedWords(error.reason)}`);
      else this.end('setup_failed', `The video could not be set up: ${error.message}`);
    }
  }

  /**
   * The look ended (`reason`, said as `words`): a fault retries by itself, a consent ending says why and stops.
   * @param {string} reason
   * @param {string} words
   */
  end(reason, words) {
    if (this.ended) return;
    this.ended = true;
    this.node.dataset.state = 'ended';
    this.node.dataset.reason = reason;
    this.warning.hidden = true;
    const why = $('.ended-reason', this.node);
    const left = $('.tile-left', this.node);
    delete left.dataset.ends;
    left.textContent = 'ended';
    // The reason below says why: "Consent: ended" would be untrue when an administrator, the owner's stop of this
    // one view, or the network ended it while the camera stays shared.
    $('.tile-consent', this.node).hidden = true;
    const { name } = this.camera;
    if (transient(reason) && this.attempt < BACKOFF_SECONDS.length) {
      const wait = BACKOFF_SECONDS[this.attempt];
      this.attempt += 1;
      this.retryAt = Date.now() + wait * 1000;
      this.retryTimer = setTimeout(() => this.start(), wait * 1000);
      $('.tile-state', this.node).textContent = `Stopped. Trying again in ${wait} s.`;
      why.textContent = words;
      this.options.announce(`${name}: ${words} Trying again in ${wait} seconds.`);
    } else {
      $('.tile-state', this.node).textContent = transient(reason) ? 'Stopped. It did not come back.' : 'Stopped.';
      why.textContent = words;
      this.options.announce(`${name}: ${words}`);
    }
    why.hidden = false;
    this.retryButton.hidden = !transient(reason);
    this.stopButton.textContent = `Close the ${name} tile`;
  }

  /** Retry at once (the officer asked). */
  retryNow() {
    this.attempt = 0;
    this.start();
  }

  /** Whether a session is up or on its way (what counts against my limit of views at once). */
  get live() {
    return !this.ended && this.session !== null;
  }

  /** Whether this tile holds (or will hold again) one of my views: live, or waiting to retry. */
  get holding() {
    return !this.ended || this.retryAt > 0;
  }

  /** Stop the look (if any) and take the tile away. */
  async close() {
    clearTimeout(this.retryTimer);
    this.retryAt = 0;
    const wasLive = this.live;
    this.ended = true;
    if (document.fullscreenElement === this.node) await document.exitFullscreen().catch(() => {});
    if (wasLive) {
      this.stopButton.disabled = true;
      await this.session.stop();
    }
    this.options.onClose(this, wasLive);
  }

  /** Hang up now (the page is going away, or I log out). */
  hangUp() {
    clearTimeout(this.retryTimer);
    if (this.live) this.session.stop(true);
  }

  /** Its camera is no longer open to me (the list says so): hear the hub's `end`, with its reason, at once. */
  checkEnd() {
    if (this.live) this.session.checkEnd();
  }

  async toggleFullscreen() {
    if (document.fullscreenElement === this.node) await document.exitFullscreen().catch(() => {});
    else await this.node.requestFullscreen().catch(() => {});
  }

  /**
   * The owner renewed (or changed) the grant: the countdown follows it, and its warnings may come again.
   * @param {string} endsAt
   */
  follow(endsAt) {
    if (!endsAt || endsAt === this.endsAt) return;
    this.endsAt = endsAt;
    this.warned.clear();
    if (this.ended) return;
    const node = $('.tile-left', this.node);
    node.dataset.ends = endsAt;
    delete node.dataset.ranOut;
  }

  /** Every second: the overlay's clock, the countdown's warnings, and the retry's countdown. */
  tick() {
    this.clock.textContent = localTime(new Date().toISOString());
    if (this.retryAt && this.ended) {
      const wait = Math.max(0, Math.ceil((this.retryAt - Date.now()) / 1000));
      $('.tile-state', this.node).textContent = `Stopped. Trying again in ${wait} s.`;
    }
    if (this.ended || !this.endsAt) return;
    const left = leftWords(this.endsAt);
    const seconds = (Date.parse(this.endsAt) - Date.now()) / 1000;
    const due = WARN_AT_SECONDS.filter((at) => seconds <= at);
    if (left && due.length) {
      this.warning.hidden = false;
      this.warning.textContent = `Consent ends in ${left}`;
      const at = Math.min(...due);
      if (!this.warned.has(at)) {
        this.warned.add(at);
        WARN_AT_SECONDS.filter((other) => other >= at).forEach((other) => this.warned.add(other));
        this.options.announce(`${this.camera.name}: the owner's consent ends in ${left}; the video stops then.`);
      }
    } else {
      this.warning.hidden = true;
    }
  }
}

// The officer's page, watching: the watch form (a case number and a reason for every look; the owner reads both
// in the viewing record) and the live tiles, several at once, each with its consent countdown; when consent
// ends the video stops and the tile says why and when. Opening the watch form closes the ask form
// (officer-ask.js), and the other way round: one form is open at a time.

import { el, say } from './session.js';
import { WhepRefused, WhepSession } from './whep.js';
import { $ } from './dom.js';
import { endedWords, leftLabel, refusedWords } from './officer-words.js';
import { announce, page, refresh } from './officer-state.js';
import { closeAsk } from './officer-ask.js';

// Each tile holds one server-sent event stream, and the page one more; browsers allow six connections per
// host over HTTP/1.1, so more tiles would starve the page's own requests.
const MAX_TILES = 4;

/** @type {Map<string, {session: WhepSession|null, tile: HTMLElement, endsAt: string|null, ended: boolean}>} */
const tiles = new Map();

// The watch form --------------------------------------------------------------------------------------------

/**
 * Open the watch form for `camera` (or, when it is already watched, go to its tile).
 * @param {any} camera
 */
export function choose(camera) {
  if (page.asking) closeAsk(false);
  const watched = tiles.get(camera.id);
  if (watched && !watched.ended) {
    $('h3', watched.tile).focus();
    say(`You are already watching ${camera.name}.`);
    return;
  }
  page.chosen = camera;
  const section = $('#watch');
  $('#watch-title').textContent = `Watch ${camera.name}`;
  $('#watch-submit').textContent = `Start watching ${camera.name}`;
  $('#watch-error').textContent = '';
  const form = $('#watch-form');
  form.elements.case.value = page.lastCase;
  form.elements.reason.value = '';
  section.hidden = false;
  (page.lastCase ? form.elements.reason : form.elements.case).focus();
}

/** Close the watch form; focus back on its camera's button. */
export function closeForm() {
  const camera = page.chosen;
  page.chosen = null;
  $('#watch').hidden = true;
  const back = camera && document.querySelector(`#camera-list li[data-camera="${CSS.escape(camera.id)}"] button`);
  if (back) back.focus();
}

/**
 * The watch form was sent: check it, and start watching in a new tile.
 * @param {SubmitEvent} event
 */
export async function submitForm(event) {
  event.preventDefault();
  const form = event.currentTarget;
  const error = $('#watch-error');
  const caseNumber = form.elements.case.value.trim();
  const reason = form.elements.reason.value.trim();
  if (!caseNumber || !reason) {
    error.textContent = !caseNumber ? 'Enter the case number.' : 'Enter the reason for watching.';
    (!caseNumber ? form.elements.case : form.elements.reason).focus();
    return;
  }
  const open = [...tiles.values()].filter((t) => !t.ended).length;
  if (open >= MAX_TILES) {
    error.textContent = `You can watch up to ${MAX_TILES} cameras at once. Stop one first.`;
    return;
  }
  const camera = page.chosen;
  if (!camera) return;
  page.lastCase = caseNumber;
  page.chosen = null;
  $('#watch').hidden = true;
  await watch(camera, caseNumber, reason);
}

// Tiles -----------------------------------------------------------------------------------------------------

function setState(watched, state, words) {
  watched.tile.dataset.state = state;
  $('.tile-state', watched.tile).textContent = words;
}

function removeTile(id) {
  const watched = tiles.get(id);
  if (!watched) return;
  watched.tile.remove();
  tiles.delete(id);
  $('#watching').hidden = tiles.size === 0;
  const back = document.querySelector(`#camera-list li[data-camera="${CSS.escape(id)}"] button`);
  (back || $('#cameras-title')).focus();
}

async function watch(camera, caseNumber, reason) {
  const old = tiles.get(camera.id);
  if (old) old.tile.remove();
  const video = el('video', {
    autoplay: true, muted: true, playsinline: true, 'aria-label': `Live video from ${camera.name}`,
  });
  video.muted = true; // the property, not only the attribute, lets autoplay start without a gesture
  const endsAt = (camera.grant && camera.grant.ends_at) || null;
  const stop = el('button', { type: 'button', className: 'tile-stop' }, `Stop watching ${camera.name}`);
  const tile = el(
    'article', { className: 'tile', 'data-camera': camera.id, 'data-state': 'connecting', 'aria-labelledby': `tile-${camera.id}` },
    el('h3', { id: `tile-${camera.id}`, tabindex: '-1' }, camera.name),
    el('p', { className: 'tile-facts' },
      el('span', {}, 'Case ', el('strong', { className: 'tile-case' }, caseNumber)),
      el('span', {}, 'Consent: ', endsAt
        ? el('span', { className: 'tile-left', 'data-ends': endsAt }, leftLabel(endsAt))
        : el('span', { className: 'tile-left' }, 'until the pilot ends'))),
    el('div', { className: 'tile-video' }, video, el('p', { className: 'tile-poster', 'aria-hidden': 'true' }, 'Video stopped')),
    el('p', { className: 'tile-state' }, 'Connecting…'),
    el('p', { className: 'ended-reason', hidden: true }),
    stop,
  ); // prettier-ignore
  const watched = { session: null, tile, endsAt, ended: false };
  tiles.set(camera.id, watched);
  $('#grid').append(tile);
  $('#watching').hidden = false;
  $('h3', tile).focus();

  const ended = (words) => {
    watched.ended = true;
    tile.dataset.state = 'ended';
    $('.tile-state', tile).textContent = 'Stopped.';
    const why = $('.ended-reason', tile);
    why.textContent = words;
    why.hidden = false;
    const left = $('.tile-left', tile);
    delete left.dataset.ends;
    left.textContent = 'ended';
    stop.textContent = `Close the ${camera.name} tile`;
    announce(`${camera.name}: ${words}`);
  };
  stop.addEventListener('click', async () => {
    if (!watched.ended && watched.session) {
      stop.disabled = true;
      await watched.session.stop();
      say(`You stopped watching ${camera.name}.`);
    }
    removeTile(camera.id);
  });
  const playing = () => {
    if (watched.ended || video.videoWidth === 0 || tile.dataset.state === 'playing') return;
    setState(watched, 'playing', 'Live.');
    announce(`Watching ${camera.name} live.`);
  };
  video.addEventListener('playing', playing);
  video.addEventListener('resize', playing);

  const session = new WhepSession(camera.id, video, ({ reason, at }) => ended(endedWords(reason, at)));
  watched.session = session;
  announce(`Connecting to ${camera.name}…`);
  try {
    await session.start(caseNumber, reason);
  } catch (error) {
    const words = error instanceof WhepRefused
      ? `The hub refused: ${refusedWords(error.reason)}`
      : `The video could not be set up: ${error.message}`;
    ended(words);
    if (error instanceof WhepRefused) refresh();
  }
}

/** How many tiles are showing live video now. */
export function liveTiles() {
  let count = 0;
  for (const watched of tiles.values()) if (!watched.ended && watched.session) count += 1;
  return count;
}

/** Hang up every live tile (logging out, or the page going away). */
export function hangUpAll() {
  for (const watched of tiles.values()) {
    if (!watched.ended && watched.session) watched.session.stop(true);
  }
}

/** Each tile's countdown follows its camera's grant when the owner renewed it (from the last camera list). */
export function followGrants() {
  for (const [id, watched] of tiles) {
    const camera = page.cameras.get(id);
    const endsAt = camera && camera.grant && camera.grant.ends_at;
    if (endsAt && !watched.ended && endsAt !== watched.endsAt) {
      watched.endsAt = endsAt;
      const node = $('.tile-left', watched.tile);
      node.dataset.ends = endsAt;
      delete node.dataset.ranOut;
    }
  }
}

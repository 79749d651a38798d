// The officer's page: the cameras opted in for me right now (a list and an offline map, each with its consent
// time left), and live video from several of them at once. Every look needs a case number and a reason (the
// owner reads both in the viewing record); when consent ends, the video stops and the tile says why and when.
// A camera that is not opted in for me can be asked for: its owner approves (it then joins the list like any
// opted-in camera) or declines, or the request expires unanswered; "My requests" follows each one live.

import { ApiError, api, el, live, logout, requireLogin, say } from './session.js';
import { drawMap } from './map.js';
import { WhepRefused, WhepSession } from './whep.js';
import {
  DURATIONS, durationWords, expiryCountdown, requestFacts, stateBadge, stateWords, tickRequests, timeNode, urgentMark,
} from './requests.js';

// Each tile holds one server-sent event stream, and the page one more; browsers allow six connections per
// host over HTTP/1.1, so more tiles would starve the page's own requests.
const MAX_TILES = 4;

const $ = (selector, root = document) => root.querySelector(selector);

/** @type {Map<string, any>} the cameras from the last /api/cameras, by id */
let cameras = new Map();
/** @type {Map<string, {session: WhepSession|null, tile: HTMLElement, endsAt: string|null, ended: boolean}>} */
const tiles = new Map();
let pilot = null; // from /api/pilot
let policy = null; // from /api/pilot: the admin's cap on a grant (and so on what may be asked for)
/** @type {Map<string, any>} the cameras of the pilot I may not watch now (asking their owners is possible) */
let askable = new Map();
/** @type {any[]|null} my access requests, newest first (null until loaded) */
let myRequests = null;
let asking = null; // the camera whose ask form is open
let camerasKey = ''; // what the camera list and map show (redrawn only when it changes)
let askKey = ''; // what the ask list shows
let mapWidth = 0;
let chosen = null; // the camera whose watch form is open
let lastCase = '';

// Plain words -----------------------------------------------------------------------------------------------

/**
 * A time in the viewer's local time with seconds ("14:32:05"; with the date when it is not today).
 * @param {string|Date|null} value ISO 8601 or a Date
 * @returns {string}
 */
export function clock(value) {
  const when = value instanceof Date ? value : new Date(value || Date.now());
  if (Number.isNaN(when.getTime())) return String(value);
  const time = when.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit' });
  if (when.toDateString() === new Date().toDateString()) return time;
  return `${when.toLocaleDateString(undefined, { dateStyle: 'medium' })} ${time}`;
}

/**
 * Time left until `endsAt` as "7 h 59 min 12 s", "3 min 05 s", "45 s"; null once it has passed (or no end).
 * @param {string|null} endsAt ISO 8601
 * @param {number} [now] milliseconds
 * @returns {string|null}
 */
export function timeLeft(endsAt, now = Date.now()) {
  const end = Date.parse(endsAt || '');
  if (Number.isNaN(end)) return null;
  const seconds = Math.ceil((end - now) / 1000);
  if (seconds <= 0) return null;
  const d = Math.floor(seconds / 86400);
  const h = Math.floor((seconds % 86400) / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = String(seconds % 60).padStart(2, '0');
  if (d) return `${d} d ${h} h ${m} min`;
  if (h) return `${h} h ${String(m).padStart(2, '0')} min ${s} s`;
  if (m) return `${m} min ${s} s`;
  return `${seconds} s`;
}

/**
 * Why a session ended, in plain words, with the hub's `at` in local time.
 * @param {string} reason the `end` event's reason
 * @param {string|null} at ISO 8601
 * @returns {string}
 */
export function endedWords(reason, at) {
  const when = clock(at);
  switch (reason) {
    case 'withdrawn': return `The owner withdrew consent at ${when}.`;
    case 'grant_expired': return `The owner's consent ran out at ${when}.`;
    case 'pilot_over': return `The pilot ended at ${when}.`;
    case 'account_disabled': return `Your account was disabled at ${when}.`;
    case 'ended_by_admin': return `An administrator ended this session at ${when}.`;
    case 'session_expired': return `Your session expired at ${when}. Log in again to keep watching.`;
    case 'mfa_reset': return `Your second factor was reset at ${when}: log in again and set it up.`;
    case 'agency_out_of_scope': return `The owner no longer allows your agency to watch (since ${when}).`;
    case 'camera_not_publishing': return `The camera did not send any video, so the hub ended the session at ${when}.`;
    case 'state_stale': return `The hub lost touch with its consent records at ${when}, so it stopped the video.`;
    case 'hub_shutdown': return `The hub shut down at ${when}.`;
    case 'viewer_gone':
    case 'connection_lost': return `The connection to the hub was lost at ${when}.`;
    case 'viewer_left': return `You stopped watching at ${when}.`;
    default: return `The session ended at ${when} (${reason}).`;
  }
}

/**
 * Why the hub refused to start a view, in plain words.
 * @param {string} reason the refusal's reason
 * @returns {string}
 */
export function refusedWords(reason) {
  switch (reason) {
    case 'no_grant': return 'The owner has not opted this camera in.';
    case 'withdrawn': return 'The owner has withdrawn consent for this camera.';
    case 'grant_expired': return "The owner's consent for this camera has run out.";
    case 'grant_not_started': return "The owner's consent for this camera has not started yet.";
    case 'agency_out_of_scope': return 'The owner has not opted this camera in for your agency.';
    case 'no_pilot':
    case 'pilot_not_started': return 'The pilot is not running, so no camera can be watched.';
    case 'pilot_over': return 'The pilot is over, so no camera can be watched.';
    case 'account_disabled': return 'Your account is disabled.';
    case 'session_expired':
    case 'login_required': return 'Your session has expired. Log in again.';
    case 'not_an_officer': return 'Only officers can watch cameras.';
    case 'state_stale': return 'The hub cannot confirm consent right now (its records are out of reach). Try again shortly.';
    case 'camera_offline': return 'The camera is not connected to the hub right now.';
    case 'camera_unknown': return 'There is no such camera.';
    case 'audit_unavailable': return 'The viewing record cannot be written right now, so watching is not allowed. Try again shortly.';
    case 'purpose_required': return 'Enter a case number and a reason.';
    case 'purpose_too_long': return 'The case number and the reason must each be at most 200 characters.';
    case 'codec_unsupported': return "This browser cannot play the camera's video format.";
    case 'csrf_token_invalid': return 'Your session changed in another tab. Reload the page.';
    default: return `The hub refused (${reason}).`;
  }
}

function leftWords(endsAt) {
  const left = timeLeft(endsAt);
  return left ? `${left} left` : 'ended';
}

let pending = [];

/** Say `text` in the status line; what is said within a moment (several tiles ending at once) is said together. */
function announce(text) {
  pending.push(text);
  if (pending.length === 1) {
    setTimeout(() => {
      say(pending.join(' '));
      pending = [];
    }, 150);
  }
}

// Countdowns ------------------------------------------------------------------------------------------------

/** Every second: each `[data-ends]` element shows the time left; a grant that ran out is marked ended. */
function tick() {
  let ranOut = false;
  for (const node of document.querySelectorAll('[data-ends]')) {
    const left = timeLeft(node.dataset.ends);
    const text = leftWords(node.dataset.ends);
    if (node.textContent !== text) node.textContent = text;
    if (!left && !node.dataset.ranOut) {
      node.dataset.ranOut = 'yes';
      ranOut = true;
      const item = node.closest('li[data-camera]');
      if (item) markRanOut(item, node.dataset.ends);
    }
  }
  if (ranOut) refresh(); // the hub no longer lists them
  tickRequests(() => refreshRequests()); // a request ran out: the hub marks it expired in a moment
}

function markRanOut(item, endsAt) {
  item.dataset.ended = 'yes';
  const button = $('button', item);
  if (button) button.remove();
  item.append(el('p', { className: 'ended-note' }, `The owner's consent ran out at ${clock(endsAt)}.`));
  const point = document.querySelector(`#map .point[data-camera="${CSS.escape(item.dataset.camera)}"]`);
  if (point) point.remove();
}

// The cameras -----------------------------------------------------------------------------------------------

function position(camera) {
  if (!camera.location) return el('span', { className: 'no-position' }, 'no position');
  const { lat, lon } = camera.location;
  return el('span', { className: 'muted' }, `at ${lat.toFixed(5)}, ${lon.toFixed(5)}`);
}

function statusWords(camera) {
  if (camera.status === 'streaming') return 'online, sending video';
  if (camera.status === 'idle') return 'online';
  return 'offline';
}

function cameraItem(camera) {
  const endsAt = camera.grant && camera.grant.ends_at;
  return el(
    'li', { id: `camera-${camera.id}`, 'data-camera': camera.id },
    el('div', { className: 'camera-head' },
      el('strong', {}, camera.name),
      el('span', { className: `camera-status ${camera.online ? 'ok' : ''}` }, statusWords(camera))),
    el('div', { className: 'camera-facts' },
      el('span', {}, 'Consent: ', endsAt
        ? el('span', { className: 'time-left', 'data-ends': endsAt }, leftWords(endsAt))
        : el('span', {}, 'until the pilot ends')),
      position(camera)),
    el('button', { type: 'button', onclick: () => choose(camera) }, `Watch ${camera.name}`),
  ); // prettier-ignore
}

function renderMap(shown) {
  const map = $('#map-plot');
  const focused = document.activeElement && document.activeElement.closest('#map .point');
  const picture = drawMap(shown, choose, (camera) => `${camera.name} on the map: watch`, map.clientWidth);
  map.replaceChildren(...(picture ? [picture] : []));
  mapWidth = map.clientWidth;
  for (const node of map.querySelectorAll('text.time-left')) {
    const camera = cameras.get(node.dataset.camera);
    if (camera && camera.grant && camera.grant.ends_at) {
      node.dataset.ends = camera.grant.ends_at;
      node.textContent = leftWords(camera.grant.ends_at);
    }
  }
  if (focused) {
    const again = map.querySelector(`.point[data-camera="${CSS.escape(focused.dataset.camera)}"]`);
    if (again) again.focus();
  }
  const unplaced = shown.filter((camera) => !camera.location).map((camera) => camera.name);
  $('#map-note').textContent = !shown.length
    ? 'Nothing to plot.'
    : !picture
      ? 'None of these cameras has a position, so there is nothing to plot.'
      : unplaced.length
        ? `Not on the map (no position): ${unplaced.join(', ')}.`
        : 'Every camera in the list is on the map.';
}

function renderPilot() {
  const line = $('#pilot');
  const state = pilot ? pilot.state : 'none';
  const empty = $('#no-cameras');
  if (state === 'running') {
    line.replaceChildren('The pilot runs until ', clock(pilot.ends_at), ' (',
      el('span', { 'data-ends': pilot.ends_at }, leftWords(pilot.ends_at)), ').');
    empty.textContent = 'No camera is opted in for you right now. Cameras appear here as soon as an owner opts one in.';
  } else if (state === 'over') {
    line.textContent = `The pilot ended at ${clock(pilot.ends_at)}.`;
    empty.textContent = 'The pilot is over, so no camera can be watched.';
  } else if (state === 'scheduled') {
    line.textContent = `The pilot starts at ${clock(pilot.starts_at)}.`;
    empty.textContent = 'The pilot has not started yet, so no camera can be watched.';
  } else {
    line.textContent = 'There is no pilot, so no camera can be watched.';
    empty.textContent = line.textContent;
  }
}

function renderCameras() {
  const shown = [...cameras.values()];
  renderPilot();
  $('#no-cameras').hidden = shown.length > 0;
  // Redrawn only when something shown changed (live updates come often while agents come and go).
  const key = JSON.stringify(shown);
  if (key !== camerasKey) {
    camerasKey = key;
    // Live updates redraw the list: a keyboard user's focus stays on the same camera's button.
    const focused = document.activeElement && document.activeElement.closest('#camera-list li[data-camera]');
    $('#camera-list').replaceChildren(...shown.map(cameraItem));
    if (focused) {
      const again = document.querySelector(`#camera-list li[data-camera="${CSS.escape(focused.dataset.camera)}"] button`);
      (again || $('#cameras-title')).focus();
    }
    renderMap(shown);
  }
  // A tile's countdown follows a renewed grant.
  for (const [id, watched] of tiles) {
    const camera = cameras.get(id);
    const endsAt = camera && camera.grant && camera.grant.ends_at;
    if (endsAt && !watched.ended && endsAt !== watched.endsAt) {
      watched.endsAt = endsAt;
      const node = $('.tile-left', watched.tile);
      node.dataset.ends = endsAt;
      delete node.dataset.ranOut;
    }
  }
  tick();
}

let refreshing = null;
let again = false;

/** Fetch the cameras I may watch now and show them (one request at a time; a change meanwhile fetches again). */
async function refresh() {
  if (refreshing) {
    again = true;
    return refreshing;
  }
  refreshing = (async () => {
    do {
      again = false;
      try {
        const [answer, current] = await Promise.all([api('/api/cameras?all=1'), api('/api/pilot')]);
        const admitted = answer.cameras.filter((camera) => camera.admitted !== false);
        cameras = new Map(admitted.map((camera) => [camera.id, camera]));
        askable = new Map(answer.cameras.filter((camera) => camera.admitted === false).map((c) => [c.id, c]));
        pilot = current.pilot;
        policy = current.policy;
        renderCameras();
        renderAsk();
      } catch (error) {
        if (error instanceof ApiError && error.status === 401) {
          window.location.reload();
          return;
        }
        say(`The camera list could not be loaded: ${error.message}`, 'error');
      }
    } while (again);
  })();
  try {
    await refreshing;
  } finally {
    refreshing = null;
  }
}

// The watch form --------------------------------------------------------------------------------------------

function choose(camera) {
  if (asking) closeAsk(false);
  const watched = tiles.get(camera.id);
  if (watched && !watched.ended) {
    $('h3', watched.tile).focus();
    say(`You are already watching ${camera.name}.`);
    return;
  }
  chosen = camera;
  const section = $('#watch');
  $('#watch-title').textContent = `Watch ${camera.name}`;
  $('#watch-submit').textContent = `Start watching ${camera.name}`;
  $('#watch-error').textContent = '';
  const form = $('#watch-form');
  form.elements.case.value = lastCase;
  form.elements.reason.value = '';
  section.hidden = false;
  (lastCase ? form.elements.reason : form.elements.case).focus();
}

function closeForm() {
  const camera = chosen;
  chosen = null;
  $('#watch').hidden = true;
  const back = camera && document.querySelector(`#camera-list li[data-camera="${CSS.escape(camera.id)}"] button`);
  if (back) back.focus();
}

async function submitForm(event) {
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
  const camera = chosen;
  if (!camera) return;
  lastCase = caseNumber;
  chosen = null;
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
        ? el('span', { className: 'tile-left', 'data-ends': endsAt }, leftWords(endsAt))
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

function hangUpAll() {
  for (const watched of tiles.values()) {
    if (!watched.ended && watched.session) watched.session.stop(true);
  }
}

// Asking an owner for access -------------------------------------------------------------------------------

/** My request for `cameraId` that still waits for its owner, if any. */
function pendingFor(cameraId) {
  return (myRequests || []).find((r) => r.camera === cameraId && r.state === 'pending') || null;
}

function askItem(camera) {
  const mine = pendingFor(camera.id);
  let action = null;
  if (mine) {
    action = el('p', { className: 'ask-note' }, 'You asked at ', timeNode(mine.created_at),
      "; waiting for the owner's answer. Time left: ", expiryCountdown(mine.expires_at), '.');
  } else if (camera.askable === false) {
    action = el('p', { className: 'ask-note muted' },
      'Its owner shares it with other agencies only. The owner chose who may watch, so you cannot ask.');
  } else if (pilot && pilot.state === 'running') {
    action = el('button', { type: 'button', onclick: () => openAsk(camera) }, `Ask for access to ${camera.name}`);
  }
  return el(
    'li', { 'data-ask': camera.id },
    el('div', { className: 'camera-head' },
      el('strong', {}, camera.name),
      el('span', { className: `camera-status ${camera.online ? 'ok' : ''}` }, statusWords(camera))),
    action,
  ); // prettier-ignore
}

function renderAsk() {
  if (!pilot) return; // the cameras are not loaded yet
  const shown = [...askable.values()];
  const empty = $('#no-askable');
  const running = pilot && pilot.state === 'running';
  if (!running) empty.textContent = 'Asking owners for access is possible only while the pilot runs.';
  else if (!shown.length) empty.textContent = 'Every camera in the pilot is open to you right now: there is nothing to ask for.';
  empty.hidden = running && shown.length > 0;
  if (asking && !running) closeAsk(false);
  const key = JSON.stringify([running, shown.map((camera) => [camera, pendingFor(camera.id)])]);
  if (key === askKey) return;
  askKey = key;
  const focused = document.activeElement && document.activeElement.closest('#ask-list li[data-ask]');
  $('#ask-list').replaceChildren(...(running ? shown.map(askItem) : []));
  if (focused) {
    const again = document.querySelector(`#ask-list li[data-ask="${CSS.escape(focused.dataset.ask)}"] button`);
    (again || $('#ask-title')).focus();
  }
}

/** The duration choices: those above the admin's cap are shown but cannot be chosen. */
function durationOptions() {
  const cap = Number(policy && policy.max_grant_seconds) || 0;
  const options = DURATIONS.map(([seconds, words]) => {
    const over = cap && seconds > cap;
    return el('option', { value: String(seconds), disabled: over },
      over ? `${words} (over the limit of ${durationWords(cap)})` : words);
  });
  const first = options.find((option) => !option.disabled);
  if (first) first.selected = true;
  return options;
}

function openAsk(camera) {
  if (chosen) closeForm();
  asking = camera;
  const field = (label, control, hint = null) => el('div', { className: 'field' },
    el('label', { for: control.id }, label), control, hint);
  const cap = Number(policy && policy.max_grant_seconds) || 0;
  const form = el(
    'form', { id: 'ask-form', novalidate: true, 'aria-labelledby': 'ask-form-title' },
    el('h3', { id: 'ask-form-title' }, `Ask the owner of ${camera.name} for access`),
    field('Case number', el('input', { id: 'ask-case', name: 'case', required: true, maxlength: '200', autocomplete: 'off', spellcheck: 'false' })),
    field('Why you need to watch', el('textarea', { id: 'ask-reason', name: 'reason', required: true, maxlength: '200', rows: '2' })),
    field('For how long', el('select', { id: 'ask-duration', name: 'duration' }, ...durationOptions()),
      cap ? el('p', { className: 'hint muted' }, `Your administrator allows at most ${durationWords(cap)} at a time.`) : null),
    el('div', { className: 'check' },
      el('input', { type: 'checkbox', id: 'ask-urgent', name: 'urgent', 'aria-describedby': 'ask-urgent-help' }),
      el('label', { for: 'ask-urgent' }, 'Urgent')),
    el('p', { id: 'ask-urgent-help', className: 'hint muted' },
      "Urgent only makes the owner's notification more prominent. It opens nothing: there is no emergency " +
      "bypass, and only the owner's approval lets you watch."),
    el('p', { id: 'ask-error', className: 'error', role: 'alert' }),
    el('div', { className: 'toolbar' },
      el('button', { type: 'submit', id: 'ask-submit' }, 'Send request'),
      el('button', { type: 'button', id: 'ask-cancel', onclick: () => closeAsk() }, 'Cancel')),
  ); // prettier-ignore
  form.addEventListener('submit', submitAsk);
  form.addEventListener('keydown', (event) => {
    if (event.key === 'Escape') closeAsk();
  });
  const box = $('#ask-box');
  box.replaceChildren(form);
  box.hidden = false;
  form.elements.case.value = lastCase;
  (lastCase ? form.elements.reason : form.elements.case).focus();
}

/** Close the ask form (built anew each time: nothing of it stays in the page); focus back on its button. */
function closeAsk(focus = true) {
  const camera = asking;
  asking = null;
  const box = $('#ask-box');
  box.replaceChildren();
  box.hidden = true;
  const back = camera && document.querySelector(`#ask-list li[data-ask="${CSS.escape(camera.id)}"] button`);
  if (focus) (back || $('#ask-title')).focus();
}

function askProblem(error) {
  if (!(error instanceof ApiError)) return `The hub cannot be reached (${error.message}). Try again.`;
  const cap = Number(policy && policy.max_grant_seconds) || 0;
  switch (error.reason) {
    case 'camera_opted_in': return 'This camera is opted in already: its owner chose who may watch, so you cannot ask.';
    case 'request_pending': return "You have asked for this camera already. Wait for the owner's answer.";
    case 'duration_too_long': return `That is longer than your administrator allows${cap ? ` (at most ${durationWords(cap)})` : ''}.`;
    case 'no_pilot': return 'The pilot is not running, so you cannot ask.';
    case 'bad_case': return 'Enter the case number (at most 200 characters).';
    case 'bad_reason': return 'Enter why you need to watch (at most 200 characters).';
    case 'camera_unknown': return 'There is no such camera any more.';
    case 'audit_unavailable': return 'The request cannot be put on the record right now, so it was not sent. Try again shortly.';
    default: return error.message;
  }
}

async function submitAsk(event) {
  event.preventDefault();
  const form = event.currentTarget;
  const error = $('#ask-error');
  const caseNumber = form.elements.case.value.trim();
  const reason = form.elements.reason.value.trim();
  if (!caseNumber || !reason) {
    error.textContent = !caseNumber ? 'Enter the case number.' : 'Enter why you need to watch.';
    (!caseNumber ? form.elements.case : form.elements.reason).focus();
    return;
  }
  const camera = asking;
  if (!camera) return;
  const submit = $('#ask-submit');
  submit.disabled = true;
  try {
    const answer = await api(`/api/cameras/${encodeURIComponent(camera.id)}/requests`, {
      json: {
        case: caseNumber, reason, duration_seconds: Number(form.elements.duration.value), urgent: form.elements.urgent.checked,
      },
    });
    lastCase = caseNumber;
    myRequests = [answer.request, ...(myRequests || []).filter((r) => r.id !== answer.request.id)];
    closeAsk(false);
    renderRequests();
    renderAsk();
    const item = document.querySelector(`#request-list li[data-request="${answer.request.id}"]`);
    if (item) item.focus();
    say(`Your request for ${camera.name} was sent to its owner. Their answer shows here under My requests.`);
    refreshRequests();
  } catch (failure) {
    if (failure instanceof ApiError && failure.status === 401) {
      window.location.reload();
      return;
    }
    error.textContent = askProblem(failure);
    submit.disabled = false;
    if (failure instanceof ApiError && ['camera_opted_in', 'request_pending', 'no_pilot'].includes(failure.reason)) {
      refresh();
      refreshRequests();
    }
  }
}

// My requests -----------------------------------------------------------------------------------------------

const SHOWN_REQUESTS = 20;
/** @type {Map<number, string>} each request's state when last shown (to announce answers) */
const lastStates = new Map();
let requestsKey = ''; // what the list shows (redrawn only when it changes)

function requestItem(request) {
  const pending = request.state === 'pending';
  return el(
    'li', { 'data-request': request.id, 'data-state': request.state, tabindex: '-1', className: request.urgent ? 'urgent' : '' },
    el('div', { className: 'camera-head' },
      el('strong', {}, request.camera_name), request.urgent ? urgentMark() : null, stateBadge(request)),
    el('p', { className: 'request-state' }, stateWords(request, 'officer'),
      ...(pending ? [' Time left before it expires: ', expiryCountdown(request.expires_at), '.'] : [])),
    requestFacts(request),
  ); // prettier-ignore
}

function renderRequests() {
  const shown = (myRequests || []).slice(0, SHOWN_REQUESTS);
  $('#no-requests').hidden = shown.length > 0;
  const key = JSON.stringify(shown);
  if (key !== requestsKey) {
    requestsKey = key;
    const focused = document.activeElement && document.activeElement.closest('#request-list li[data-request]');
    $('#request-list').replaceChildren(...shown.map(requestItem));
    if (focused) {
      const again = document.querySelector(`#request-list li[data-request="${CSS.escape(focused.dataset.request)}"]`);
      (again || $('#requests-title')).focus();
    }
  }
  const news = [];
  for (const request of myRequests || []) {
    const before = lastStates.get(request.id);
    if (before === 'pending' && request.state !== 'pending') {
      news.push(`Your request for ${request.camera_name}: ${stateWords(request, 'officer')}`);
    }
    lastStates.set(request.id, request.state);
  }
  if (news.length) announce(news.join(' '));
}

let requestsRun = null;
let requestsAgain = false;

/** Fetch my requests and show them (one fetch at a time; a change meanwhile fetches again). */
async function refreshRequests() {
  if (requestsRun) {
    requestsAgain = true;
    return requestsRun;
  }
  requestsRun = (async () => {
    do {
      requestsAgain = false;
      try {
        myRequests = (await api('/api/requests')).requests;
        renderRequests();
        renderAsk();
      } catch (error) {
        if (error instanceof ApiError && error.status === 401) {
          window.location.reload();
          return;
        }
        say(`Your requests could not be loaded: ${error.message}`, 'error');
      }
    } while (requestsAgain);
  })();
  try {
    await requestsRun;
  } finally {
    requestsRun = null;
  }
}

// Start -----------------------------------------------------------------------------------------------------

async function main() {
  const me = await requireLogin($('#login'), ['officer']);
  const account = me.account;
  $('#whoami').textContent = `${account.username} (officer${account.agency ? `, ${account.agency}` : ''})`;
  $('#account').hidden = false;
  $('#logout').addEventListener('click', async () => {
    hangUpAll();
    await logout();
  });
  $('#app').hidden = false;
  $('#watch-form').addEventListener('submit', submitForm);
  $('#watch-cancel').addEventListener('click', closeForm);
  $('#watch').addEventListener('keydown', (event) => {
    if (event.key === 'Escape') closeForm();
  });
  window.addEventListener('pagehide', hangUpAll);
  window.addEventListener('resize', () => {
    if (Math.abs($('#map-plot').clientWidth - mapWidth) > 40) renderMap([...cameras.values()]);
  });
  setInterval(tick, 1000);
  live((topics) => {
    if (topics.some((topic) => ['all', 'cameras', 'streams'].includes(topic))) refresh();
    if (topics.some((topic) => ['all', 'requests'].includes(topic))) refreshRequests();
  });
  await Promise.all([refresh(), refreshRequests()]);
}

main().catch((error) => say(`Something went wrong: ${error.message}`, 'error'));

// The resident's page: my cameras with their live status and who is watching now; sharing each camera with police
// for a chosen time box (and withdrawing at once); and each camera's viewing history, built from its audit records
// and checked in the browser against the log's signed checkpoint (see merkle.js). What the history says comes from
// the signed record text only, never from the hub's parsed copy beside it. At the top, officers' requests for
// access to my cameras: approve (an ordinary time-boxed grant for that officer's agency) or decline, in one tap.

import { ApiError, api, el, live, logout, requireLogin, say } from './session.js';
import { CheckpointError, checkRecordItem, equalBytes, fromBase64, openCheckpoint, parseVerifierKey } from './merkle.js';
import {
  durationWords, expiryCountdown, localTime, requestFacts, splitRequests, stateBadge, stateWords, tickRequests,
  urgentMark,
} from './requests.js';

const $ = (selector, root = document) => root.querySelector(selector);

// Plain words ------------------------------------------------------------------------------------------------

/**
 * A record's or the API's time ("2026-11-30T14:32:05.12Z", "2026-11-30T14:32:05.120Z") as a Date (null when it
 * is not one).
 * @param {unknown} text
 * @returns {Date|null}
 */
export function parseTime(text) {
  if (typeof text !== 'string') return null;
  const when = new Date(text.replace(/\.(\d{1,2})Z$/, (_, frac) => `.${frac.padEnd(3, '0')}Z`));
  return Number.isNaN(when.getTime()) ? null : when;
}

/** A time in the viewer's local time, with seconds. */
function showTime(text) {
  const when = parseTime(text);
  return when ? when.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'medium' }) : String(text ?? '');
}

/** A `<time>` element showing `text` in local time. */
function timeEl(text) {
  return parseTime(text) ? el('time', { datetime: text }, showTime(text)) : String(text ?? '');
}

/**
 * A duration in milliseconds as "2 min 10 s", "1 h 5 min", "45 s" or "less than a second".
 * @param {unknown} ms
 * @returns {string}
 */
export function duration(ms) {
  const seconds = Math.max(0, Math.round(Number(ms) / 1000)) || 0;
  if (!seconds) return 'less than a second';
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  if (h) return m ? `${h} h ${m} min` : `${h} h`;
  if (m) return s ? `${m} min ${s} s` : `${m} min`;
  return `${s} s`;
}

/**
 * A countdown or a running time, to the second: "6 d 23 h 59 min 58 s", "59 min 58 s", "4 s".
 * @param {number} seconds
 * @returns {string}
 */
export function clock(seconds) {
  const total = Math.max(0, Math.floor(seconds));
  const d = Math.floor(total / 86400);
  const h = Math.floor((total % 86400) / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const parts = [];
  if (d) parts.push(`${d} d`);
  if (d || h) parts.push(`${h} h`);
  if (d || h || m) parts.push(`${m} min`);
  parts.push(`${s} s`);
  return parts.join(' ');
}

/**
 * A time box in words: "1 hour", "8 hours", "7 days", "90 minutes".
 * @param {number} seconds
 * @returns {string}
 */
export function span(seconds) {
  const plural = (n, word) => `${n} ${word}${n === 1 ? '' : 's'}`;
  if (seconds >= 86400 && seconds % 86400 === 0 && seconds !== 86400) return plural(seconds / 86400, 'day');
  if (seconds >= 3600 && seconds % 3600 === 0) return plural(seconds / 3600, 'hour');
  if (seconds >= 60 && seconds % 60 === 0) return plural(seconds / 60, 'minute');
  return plural(Math.round(seconds), 'second');
}

const ENDED_BY = {
  viewer_left: 'hung up',
  viewer_gone: 'connection lost',
  withdrawn: 'withdrawn',
  grant_expired: 'consent expired',
  pilot_over: 'pilot over',
  hub_shutdown: 'hub shut down',
  hub_restarted: 'hub restarted',
  camera_not_publishing: 'camera stopped sending',
  account_disabled: 'account disabled',
  session_expired: 'session expired',
  ended_by_admin: 'ended by an administrator',
};

/** How a view ended, in a sentence (the history's last column). */
const HOW_IT_ENDED = {
  viewer_left: 'The officer hung up',
  viewer_gone: "The officer's connection was lost",
  withdrawn: 'You withdrew consent',
  grant_expired: 'Your consent ran out',
  pilot_over: 'The pilot ended',
  hub_shutdown: 'The hub shut down',
  hub_restarted: 'The hub restarted (the exact end is unknown)',
  camera_not_publishing: 'Your camera stopped sending video',
  account_disabled: "The officer's account was disabled",
  session_expired: "The officer's log-in expired",
  ended_by_admin: 'An administrator ended it',
  agency_out_of_scope: 'You no longer allowed that agency',
};

const DENIED = {
  no_grant: 'the camera was not opted in',
  grant_expired: 'your consent had expired',
  grant_not_started: 'your consent had not started',
  withdrawn: 'you had withdrawn consent',
  agency_out_of_scope: 'that agency is not one you allowed',
  no_pilot: 'no pilot is running',
  pilot_not_started: 'the pilot had not started',
  pilot_over: 'the pilot is over',
  camera_offline: 'the camera was offline',
  camera_not_publishing: 'the camera sent no video',
  account_disabled: "the officer's account is disabled",
  session_expired: "the officer's session had expired",
  state_stale: 'the hub could not confirm consent',
};

const words = (code) => String(code ?? '').replaceAll('_', ' ');

/** Who acted, as the record names them ("You" for the logged-in resident). */
function who(actor, me, capital = true) {
  if (!actor || typeof actor !== 'object') return capital ? 'The hub' : 'the hub';
  if (me && actor.id === me.id) return capital ? 'You' : 'you';
  const name = String(actor.username ?? '?');
  switch (actor.role) {
    case 'officer':
      return `${capital ? 'Officer' : 'officer'} ${name}${actor.agency ? ` (${actor.agency})` : ''}`;
    case 'admin':
      return `${capital ? 'Admin' : 'admin'} ${name}`;
    default:
      return `${capital ? 'Resident' : 'resident'} ${name}`;
  }
}

function purpose(f) {
  return `case ${f.case ?? '?'}, reason '${f.reason ?? ''}'`;
}

/**
 * What a record says, in plain words.
 * @param {Record<string, any>} f the record's fields (parsed from its signed text)
 * @param {{id: number}|null} me the logged-in account
 * @returns {string}
 */
export function describe(f, me) {
  const actor = who(f.actor, me);
  switch (f.kind) {
    case 'view.requested':
      return `${actor} asked to watch — ${purpose(f)}`;
    case 'view.started':
      return `${actor} started watching — ${purpose(f)}`;
    case 'view.ended': {
      const why = ENDED_BY[f.ended_by] ?? (words(f.ended_by) || 'ended');
      return `${actor} stopped watching after ${duration(f.duration_ms)} (${why}) — case ${f.case ?? '?'}`;
    }
    case 'view.denied': {
      const why = DENIED[f.denied] ? ` (${DENIED[f.denied]})` : '';
      return `Denied: ${f.denied}${why} — ${who(f.actor, me, false)} asked to watch, ${purpose(f)}`;
    }
    case 'consent.granted': {
      const scope = Array.isArray(f.agencies) ? ` for ${f.agencies.join(', ')}` : ' for every agency';
      return `${actor} opted in until ${showTime(f.ends)}${scope}`;
    }
    case 'consent.withdrawn':
      return `${actor} withdrew consent (at ${showTime(f.at)})`;
    case 'consent.expired':
      return `Your consent expired (${showTime(f.ends)})`;
    case 'camera.registered':
      return 'Camera registered';
    case 'camera.token_issued':
      return 'A new device token was issued for the camera';
    case 'session.ended':
      return `${actor} ended a live view`;
    case 'audit.read':
      return `Audit read by ${who(f.actor, me, false)} (${f.records ?? 0} records)`;
    case 'access.requested':
      return `${actor} asked you for access for ${span(Number(f.duration_seconds) || 0)}${f.urgent ? ' (urgent)' : ''} — ${purpose(f)}`;
    case 'access.approved':
      return `${actor} approved request ${f.request ?? '?'} (${f.agency ?? 'no agency'}, case ${f.case ?? '?'}) for ${span(Number(f.duration_seconds) || 0)}`;
    case 'access.declined':
      return `${actor} declined request ${f.request ?? '?'} (${f.agency ?? 'no agency'}, case ${f.case ?? '?'})`;
    case 'access.expired':
      return `Request ${f.request ?? '?'} (${f.agency ?? 'no agency'}, case ${f.case ?? '?'}) expired unanswered`;
    default:
      return `${f.kind ?? 'Unknown event'}`;
  }
}

function errorText(err, what) {
  if (err instanceof ApiError) {
    if (err.status === 401) return 'You are no longer logged in: reload the page and log in again.';
    if (err.status === 403) return `The hub refused (${what}): ${err.message}.`;
    return `Something went wrong with ${what}: ${err.message}.`;
  }
  return `Could not reach the hub for ${what} (${err?.message || err}). Check your connection and try again.`;
}

// Page state -------------------------------------------------------------------------------------------------

/**
 * @typedef {object} Entry one camera on the page
 * @property {any} camera the camera as `GET /api/cameras` last showed it
 * @property {HTMLElement} section
 * @property {string} key a short id safe in element ids
 * @property {boolean} choosing the opt-in chooser is open
 * @property {string|null} consentKey what the sharing block shows (rebuilt only when it changes)
 * @property {string|null} watchKey what the "watching now" block shows
 * @property {string|null} recordsKey the camera state the history was last loaded for
 * @property {number} openViews views on the record with no end yet
 * @property {number} rechecks follow-up loads left while a view's end is not yet on the record
 */

const state = {
  me: null,
  log: null,
  logProblem: null,
  pilot: null,
  policy: null,
  /** @type {Map<string, string>} agency id -> name */
  agencies: new Map(),
  /** @type {Map<string, Entry>} */
  cams: new Map(),
  loading: false,
  loadError: false,
  /** @type {any[]|null} officers' requests for my cameras, newest first (null until loaded) */
  requests: null,
  requestsKey: '',
  /** @type {Set<number>|null} ids of the pending requests already shown (null before the first load) */
  seenPending: null,
  news: '',
};

const pilotRunning = () => state.pilot?.state === 'running';

/**
 * Replace a node's children, keeping keyboard focus on the element with the same id if it had it (or on
 * `focusId`). Returns true when focus was inside and its element is gone (the caller may hand focus on).
 */
function replaceKeepingFocus(node, children, focusId = null) {
  const active = document.activeElement;
  const hadFocus = Boolean(active && active !== document.body && node.contains(active));
  node.replaceChildren(...children);
  const target = focusId ?? (hadFocus ? active.id : null);
  const found = target ? document.getElementById(target) : null;
  found?.focus();
  return (hadFocus || Boolean(focusId)) && (!found || document.activeElement !== found);
}

// Live clocks ------------------------------------------------------------------------------------------------

/** A countdown to `iso` (updated every second; asks for fresh data when it reaches zero). */
function countdown(iso, id, suffix = ' left') {
  const node = el('span', { className: 'countdown', 'data-ends': iso, 'data-suffix': suffix, id });
  tickOne(node, Date.now());
  return node;
}

/** How long since `iso`, updated every second. */
function since(iso) {
  const node = el('span', { className: 'elapsed', 'data-since': iso });
  tickOne(node, Date.now());
  return node;
}

function tickOne(node, now) {
  if (node.dataset.ends) {
    const left = Math.max(0, Math.floor(((parseTime(node.dataset.ends)?.getTime() ?? now) - now) / 1000));
    node.dataset.secondsLeft = String(left);
    node.textContent = `${clock(left)}${node.dataset.suffix ?? ''}`;
    // At zero the grant or the pilot is over: ask again (every 2 s until the hub agrees and the block changes).
    if (left === 0 && now - Number(node.dataset.asked || 0) > 2000) {
      node.dataset.asked = String(now);
      refresh(['cameras']);
    }
  } else if (node.dataset.since) {
    const start = parseTime(node.dataset.since)?.getTime() ?? now;
    node.textContent = clock((now - start) / 1000);
  }
}

function tick() {
  const now = Date.now();
  for (const node of document.querySelectorAll('[data-ends], [data-since]')) tickOne(node, now);
  tickRequests(() => refresh(['requests'])); // unanswered in time: the hub marks it expired in a moment
}

// The pilot --------------------------------------------------------------------------------------------------

function renderPilot() {
  const box = $('#pilot');
  const pilot = state.pilot;
  const kind = pilot?.state ?? 'unknown';
  box.dataset.pilot = kind;
  let parts;
  switch (kind) {
    case 'running':
      parts = ['The pilot is running until ', timeEl(pilot.ends_at), ' (', countdown(pilot.ends_at, 'pilot-left'),
        '). You can share your cameras with police until then.'];
      break;
    case 'scheduled':
      parts = ['The pilot has not started: it runs from ', timeEl(pilot.starts_at), ' (in ',
        countdown(pilot.starts_at, 'pilot-starts', ''), ') to ', timeEl(pilot.ends_at),
        '. No one can watch your cameras before it starts, and you cannot opt in yet.'];
      break;
    case 'over':
      parts = ['The pilot is over (it ended ', timeEl(pilot.ends_at),
        '). No one can watch your cameras, and opting in is off.'];
      break;
    case 'none':
      parts = ['There is no pilot running. No one can watch your cameras, and opting in is off.'];
      break;
    default:
      parts = ['Could not find out whether the pilot is running.'];
  }
  box.replaceChildren(...parts);
}

// One camera -------------------------------------------------------------------------------------------------

const STATES = {
  offline: ['Offline', 'the camera is not connected to the hub.'],
  idle: ['Idle', 'connected, sending no video (it sends only while an officer you allowed is watching).'],
  streaming: ['Streaming', 'sending video to the hub now.'],
};

function newEntry(camera, index) {
  const key = `c${index}-${String(camera.id).replace(/[^A-Za-z0-9_-]/g, '_')}`;
  const name = camera.name || camera.id;
  const section = el(
    'section',
    { className: 'camera', 'data-camera': camera.id, 'aria-labelledby': `${key}-title` },
    el('h3', { id: `${key}-title` }, name),
    el('p', { className: 'camera-state' }),
    el('div', { className: 'block watching-block' },
      el('h4', {}, 'Watching now'),
      el('div', { className: 'watching' })),
    el('div', { className: 'block consent-block' },
      el('h4', {}, 'Sharing with police'),
      el('div', { className: 'consent' })),
    el('div', { className: 'block history-block' },
      el('h4', {}, 'Viewing history'),
      el('div', { className: 'record', 'aria-busy': 'true' },
        el('div', { className: 'check-slot' }, el('p', {}, 'Checking the history…')),
        el('div', { className: 'views-slot' }),
        el('h5', {}, 'Your consent'),
        el('div', { className: 'consent-slot' }),
        el('details', { className: 'full-record' },
          el('summary', { id: `${key}-full` }, `Every record about ${name}, with its check`),
          el('div', { className: 'full-slot' })))),
  );
  return {
    camera, section, key, choosing: false, consentKey: null, watchKey: null, recordsKey: null, openViews: 0,
    rechecks: 0,
  };
}

function renderState(entry) {
  const { camera } = entry;
  const [word, detail] = STATES[camera.status] ?? STATES.offline;
  const line = $('.camera-state', entry.section);
  line.dataset.state = camera.status in STATES ? camera.status : 'offline';
  line.replaceChildren(el('span', { className: 'dot', 'aria-hidden': 'true' }), el('strong', {}, word), `: ${detail}`);
}

function agencyName(id) {
  const name = state.agencies.get(id);
  return name ? `${name} (${id})` : String(id ?? 'no agency');
}

function renderWatching(entry) {
  const watching = Array.isArray(entry.camera.watching) ? entry.camera.watching : [];
  const key = JSON.stringify(watching);
  if (key === entry.watchKey) return;
  const name = entry.camera.name || entry.camera.id;
  if (entry.watchKey !== null) announceWatchers(name, JSON.parse(entry.watchKey), watching);
  entry.watchKey = key;
  const box = $('.watching', entry.section);
  box.dataset.count = String(watching.length);
  if (!watching.length) {
    box.replaceChildren(el('p', { className: 'empty' }, `No one is watching ${name} now.`));
    return;
  }
  box.replaceChildren(el(
    'ul', { className: 'watchers' },
    ...watching.map((w) => el(
      'li', { 'data-officer': w.officer ?? '' },
      el('strong', {}, `Officer ${w.officer ?? '?'}`), ', ', agencyName(w.agency),
      el('br'), 'Case number ', el('strong', {}, String(w.case ?? '?')),
      el('br'), 'Watching since ', timeEl(w.since), ' (for ', since(w.since), ')',
    )),
  ));
}

/** Say who started or stopped watching (in the status line: the list itself ticks every second, so is not live). */
function announceWatchers(name, before, after) {
  const label = (w) => `officer ${w.officer ?? '?'} (${w.agency ?? 'no agency'}, case ${w.case ?? '?'})`;
  const id = (w) => JSON.stringify([w.officer, w.since]);
  const was = new Set(before.map(id));
  const now = new Set(after.map(id));
  const came = after.filter((w) => !was.has(id(w))).map(label);
  const left = before.filter((w) => !now.has(id(w))).map(label);
  const parts = [];
  if (came.length) parts.push(`Now watching ${name}: ${came.join(', ')}.`);
  if (left.length) parts.push(`Stopped watching ${name}: ${left.join(', ')}.`);
  if (!after.length) parts.push(`No one is watching ${name} now.`);
  if (parts.length) say(parts.join(' '));
}

/** The time boxes a resident may choose, and whether each is allowed now (the admin's cap, the pilot's end). */
function boxChoices() {
  const max = Number(state.policy?.max_grant_seconds) || 0;
  const pilotEnd = parseTime(state.pilot?.ends_at)?.getTime() ?? 0;
  const pilotLeft = Math.max(0, (pilotEnd - Date.now()) / 1000);
  const capText = max ? `the administrator allows at most ${span(max)}` : '';
  const fixed = [[3600, '1 hour'], [8 * 3600, '8 hours'], [24 * 3600, '24 hours'], [7 * 86400, '7 days']];
  const choices = fixed.map(([seconds, label]) => {
    if (max && seconds > max) return { value: String(seconds), label: `${label} (over the limit: ${capText})`, disabled: true };
    const capped = seconds > pilotLeft ? ' (capped: the pilot ends sooner)' : '';
    return { value: String(seconds), label: label + capped, disabled: false };
  });
  let untilEnd = 'Until the pilot ends';
  if (max && max < pilotLeft) untilEnd += ` (capped at ${span(max)}: ${capText})`;
  else if (state.pilot?.ends_at) untilEnd += ` (${showTime(state.pilot.ends_at)})`;
  return [...choices, { value: 'pilot', label: untilEnd, disabled: false }];
}

function chooser(entry) {
  const { key, camera } = entry;
  const name = camera.name || camera.id;
  const choices = boxChoices();
  const firstOk = choices.find((c) => !c.disabled);
  const box = el('select', { id: `${key}-box`, name: 'box' },
    ...choices.map((c) => el('option', { value: c.value, disabled: c.disabled, selected: c === firstOk }, c.label)));
  const scope = el('select', { id: `${key}-scope`, name: 'scope' },
    el('option', { value: 'all', selected: true }, 'Every agency in the pilot'),
    el('option', { value: 'some' }, 'Only the agencies I tick'));
  const list = el('fieldset', { className: 'agency-list', id: `${key}-agencies`, hidden: true },
    el('legend', {}, 'Agencies allowed to watch'),
    ...[...state.agencies].map(([id, agency]) => el('label', { className: 'check' },
      el('input', { type: 'checkbox', name: 'agency', value: id }), `${agency} (${id})`)));
  scope.addEventListener('change', () => {
    list.hidden = scope.value !== 'some';
  });
  const error = el('p', { className: 'error', role: 'alert', id: `${key}-chooser-error` });
  const max = Number(state.policy?.max_grant_seconds) || 0;
  const form = el(
    'form', { className: 'chooser', id: `${key}-chooser`, novalidate: true, 'aria-label': `Share ${name}: how long and with whom`, hidden: !entry.choosing },
    el('div', { className: 'field' }, el('label', { for: box.id }, 'For how long'), box),
    max ? el('p', { className: 'hint muted' }, `Your administrator allows at most ${span(max)} at a time.`) : null,
    el('div', { className: 'field' }, el('label', { for: scope.id }, 'Which agencies may watch'), scope),
    list,
    error,
    el('div', { className: 'toolbar' },
      el('button', { type: 'submit', id: `${key}-start` }, `Start sharing ${name}`),
      el('button', { type: 'button', id: `${key}-cancel`, onclick: () => cancelChoosing(entry) }, 'Cancel')),
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    optIn(entry, form);
  });
  return form;
}

function consentSummary(entry, sharing) {
  const { grant } = entry.camera;
  const name = entry.camera.name || entry.camera.id;
  const attrs = { className: 'consent-state', id: `${entry.key}-consent`, tabindex: '-1' };
  if (sharing) {
    const scope = Array.isArray(grant.agencies)
      ? `only with ${grant.agencies.map(agencyName).join(', ')}`
      : 'with every agency in the pilot';
    return el('p', { ...attrs, 'data-consent': 'shared' },
      el('strong', {}, 'Shared '), `${scope}, until `, timeEl(grant.ends_at), '. ',
      el('span', { className: 'left' }, 'Time left: ', countdown(grant.ends_at, `${entry.key}-left`), '.'));
  }
  const pilotNote = pilotRunning() ? '' : ' Opting in is off while the pilot is not running.';
  if (grant?.revoked_at) {
    return el('p', { ...attrs, 'data-consent': 'withdrawn' },
      el('strong', {}, 'Not shared. '), 'You withdrew consent at ', timeEl(grant.revoked_at),
      `: no one can watch ${name}.${pilotNote}`);
  }
  if (grant && parseTime(grant.ends_at) && parseTime(grant.ends_at).getTime() <= Date.now()) {
    return el('p', { ...attrs, 'data-consent': 'expired' },
      el('strong', {}, 'Not shared. '), 'Your consent ended at ', timeEl(grant.ends_at),
      `: no one can watch ${name}.${pilotNote}`);
  }
  if (grant?.live && !pilotRunning()) {
    return el('p', { ...attrs, 'data-consent': 'paused' },
      el('strong', {}, 'Not watchable now: '), `the pilot is not running, so no one can watch ${name} even though you opted in until `,
      timeEl(grant.ends_at), '.');
  }
  return el('p', { ...attrs, 'data-consent': 'none' },
    el('strong', {}, 'Not shared. '), `Officers cannot watch ${name}.${pilotNote}`);
}

function renderConsent(entry, focusId = null) {
  const { camera, key } = entry;
  const grant = camera.grant;
  const sharing = Boolean(grant?.live) && pilotRunning();
  const consentKey = JSON.stringify([grant, state.pilot?.state, state.pilot?.ends_at, state.policy?.max_grant_seconds,
    [...state.agencies.keys()]]);
  if (consentKey === entry.consentKey && !focusId) return;
  entry.consentKey = consentKey;
  if (sharing || !pilotRunning()) entry.choosing = false;
  const name = camera.name || camera.id;
  // Withdrawing stays possible whatever the pilot does; opting in only while it runs.
  const withdrawable = Boolean(grant?.live);
  const toggle = el('input', {
    type: 'checkbox', role: 'switch', id: `${key}-share`, checked: sharing || entry.choosing,
    disabled: !pilotRunning(), 'aria-describedby': `${key}-consent`,
  });
  toggle.addEventListener('change', () => onSwitch(entry, toggle));
  const parts = [
    el('div', { className: 'switch-row' }, toggle, el('label', { for: toggle.id }, `Share ${name} with police`)),
    consentSummary(entry, sharing),
  ];
  if (withdrawable) {
    parts.push(el('div', { className: 'toolbar' },
      el('button', { type: 'button', id: `${key}-withdraw`, className: 'withdraw', onclick: () => withdraw(entry) },
        `Withdraw consent for ${name} now`)));
  } else if (pilotRunning()) {
    parts.push(chooser(entry));
  }
  const box = $('.consent', entry.section);
  box.dataset.sharing = String(sharing);
  // A control that vanished (the chooser's button after opting in, Withdraw after withdrawing) hands focus on.
  if (replaceKeepingFocus(box, parts, focusId)) {
    document.getElementById(`${key}-consent`)?.focus();
  }
}

async function onSwitch(entry, toggle) {
  if (toggle.checked) {
    if (entry.camera.grant?.live) return;
    entry.choosing = true;
    const form = document.getElementById(`${entry.key}-chooser`);
    if (form) form.hidden = false;
    // The admin's cap may have changed since the page loaded (no live event says so): ask again.
    refresh(['pilot']);
    return;
  }
  if (entry.camera.grant?.live) {
    await withdraw(entry);
    return;
  }
  cancelChoosing(entry, false);
}

function cancelChoosing(entry, focus = true) {
  entry.choosing = false;
  const form = document.getElementById(`${entry.key}-chooser`);
  if (form) form.hidden = true;
  const toggle = document.getElementById(`${entry.key}-share`);
  if (toggle) {
    toggle.checked = false;
    if (focus) toggle.focus();
  }
}

async function optIn(entry, form) {
  const name = entry.camera.name || entry.camera.id;
  const data = new FormData(form);
  const box = String(data.get('box'));
  const agencies = data.get('scope') === 'some' ? data.getAll('agency').map(String) : null;
  const error = $('.error', form);
  if (agencies && !agencies.length) {
    error.textContent = 'Tick at least one agency, or choose every agency.';
    $('select[name=scope]', form).focus();
    return;
  }
  const button = $('button[type=submit]', form);
  button.disabled = true;
  error.textContent = '';
  try {
    const answer = await api(`/api/cameras/${encodeURIComponent(entry.camera.id)}/grant`, {
      json: { duration_seconds: box === 'pilot' ? null : Number(box), agencies },
    });
    entry.camera = { ...entry.camera, grant: answer.grant };
    entry.choosing = false;
    renderConsent(entry, `${entry.key}-consent`);
    say(`${name} is shared until ${showTime(answer.grant.ends_at)}.`, 'ok');
    refresh(['cameras']);
  } catch (err) {
    button.disabled = false;
    error.textContent = err instanceof ApiError && err.reason === 'no_pilot'
      ? 'The pilot is not running, so you cannot opt in.'
      : errorText(err, `sharing ${name}`);
    refresh(['cameras']);
  }
}

async function withdraw(entry) {
  const name = entry.camera.name || entry.camera.id;
  for (const node of $('.consent', entry.section).querySelectorAll('button, input')) node.disabled = true;
  say(`Withdrawing consent for ${name}…`);
  try {
    const answer = await api(`/api/cameras/${encodeURIComponent(entry.camera.id)}/grant`, { method: 'DELETE' });
    entry.camera = { ...entry.camera, grant: answer.grant };
    renderConsent(entry, `${entry.key}-share`);
    const at = answer.grant?.revoked_at ? ` at ${showTime(answer.grant.revoked_at)}` : '';
    say(`Withdrawn${at}: no one can watch ${name} now.`, 'ok');
  } catch (err) {
    entry.consentKey = null;
    renderConsent(entry, `${entry.key}-share`);
    say(errorText(err, `withdrawing consent for ${name}`), 'error');
  }
  refresh(['cameras']);
}

// The history ------------------------------------------------------------------------------------------------

/**
 * Open the checkpoint of a records answer: its note must verify with the key, be for the log's origin, and
 * agree with the size and root given beside it.
 * @returns {Promise<{checkpoint: import('./merkle.js').Checkpoint|null, problem: string|null}>}
 */
async function openAnswerCheckpoint(answer, log) {
  const given = answer?.checkpoint ?? {};
  try {
    const checkpoint = await openCheckpoint(given.note, log.verifier, log.origin);
    if (checkpoint.size !== given.size || !equalBytes(checkpoint.root, fromBase64(String(given.root)))) {
      throw new CheckpointError('the size or root given differ from the signed note');
    }
    return { checkpoint, problem: null };
  } catch (err) {
    return { checkpoint: null, problem: err instanceof CheckpointError ? err.message : 'the checkpoint is malformed' };
  }
}

function checkpointLine(answer, log, opened) {
  const size = opened.checkpoint?.size ?? answer?.checkpoint?.size;
  const text = `Log checkpoint: ${size ?? '?'} record${size === 1 ? '' : 's'} in the whole log, signed by ${log.verifier.name} ` +
    `(key ${log.verifier.idHex}). `;
  const ok = opened.problem === null;
  return el(
    'p',
    { className: `checkpoint ${ok ? 'ok' : 'bad'}`, 'data-checkpoint': ok ? 'verified' : 'failed', 'data-size': size },
    text,
    el('strong', {}, ok ? 'Signature verified.' : `Checkpoint FAILED: ${opened.problem}.`),
  );
}

function checkCell(checks) {
  const failed = checks.filter((c) => !c.ok);
  return el('td', { className: `status ${failed.length ? 'bad' : 'ok'}`, 'data-label': 'Check', role: 'cell' },
    el('span', {}, failed.length ? `FAILED: ${failed.flatMap((c) => c.problems).join('; ')}` : 'verified'));
}

/** A table whose rows stack as cards at phone width (explicit roles keep it a table for screen readers). */
function table(className, caption, headers, rows, regionId, regionLabel) {
  return el(
    'div', { className: 'table-wrap', tabindex: '0', role: 'region', 'aria-label': regionLabel, id: regionId },
    el('table', { className, role: 'table' },
      el('caption', {}, caption),
      el('thead', { role: 'rowgroup' }, el('tr', { role: 'row' },
        ...headers.map((h) => el('th', { scope: 'col', role: 'columnheader' }, h)))),
      el('tbody', { role: 'rowgroup' }, ...rows)),
  );
}

function cell(label, ...content) {
  // One wrapper, so the content stays one piece when the row becomes a card at phone width.
  return el('td', { 'data-label': label, role: 'cell' }, el('span', {}, ...content));
}

/**
 * The looks at a camera from its checked records: each view.started joined with its view.ended (by `view`),
 * and each view.denied as a refused request; newest first.
 * @param {{item: any, check: import('./merkle.js').RecordCheck}[]} checked
 */
export function looks(checked) {
  const ends = new Map();
  for (const c of checked) {
    const f = c.check.fields;
    if (f?.kind === 'view.ended' && Number.isInteger(f.view)) ends.set(f.view, c);
  }
  const used = new Set();
  const result = [];
  for (const c of checked) {
    const f = c.check.fields;
    if (f?.kind === 'view.started') {
      const end = ends.get(c.item.seq) ?? null;
      if (end) used.add(end);
      result.push({ kind: 'view', start: c, end });
    } else if (f?.kind === 'view.denied') {
      result.push({ kind: 'denied', start: c, end: null });
    }
  }
  for (const c of checked) {
    if (c.check.fields?.kind === 'view.ended' && !used.has(c)) result.push({ kind: 'view', start: null, end: c });
  }
  return result.sort((a, b) => (b.start ?? b.end).item.seq - (a.start ?? a.end).item.seq);
}

function lookRow(look) {
  const s = look.start?.check.fields ?? null;
  const e = look.end?.check.fields ?? null;
  const f = s ?? e;
  const actor = f?.actor ?? {};
  const checks = [look.start, look.end].filter(Boolean).map((c) => c.check);
  const seqs = [look.start, look.end].filter(Boolean).map((c) => c.item.seq).join(' ');
  const status = checks.every((c) => c.ok) ? 'verified' : 'failed';
  const common = [
    cell('Officer', String(actor.username ?? '?')),
    cell('Agency', String(actor.agency ?? '—')),
    cell('Case number', String(f?.case ?? '?')),
    cell('Reason', String(f?.reason ?? '')),
  ];
  if (look.kind === 'denied') {
    const why = DENIED[s.denied] ?? words(s.denied);
    return el('tr', { role: 'row', className: 'denied', 'data-denied': look.start.item.seq, 'data-seqs': seqs, 'data-status': status },
      ...common, cell('Started', 'Asked ', timeEl(s.time)), cell('Ended', '—'), cell('Duration', '—'),
      cell('How it ended', `Refused: ${why}`), checkCell(checks));
  }
  const startText = e?.started ?? s?.time;
  const attrs = { role: 'row', 'data-view': look.start?.item.seq ?? e?.view, 'data-seqs': seqs, 'data-status': status };
  if (!e) {
    return el('tr', { ...attrs, className: 'open', 'data-ended-by': '' },
      ...common, cell('Started', timeEl(startText)), cell('Ended', 'not yet'), cell('Duration', since(startText)),
      cell('How it ended', 'Still watching'), checkCell(checks));
  }
  const how = HOW_IT_ENDED[e.ended_by] ?? (words(e.ended_by) || 'Ended');
  return el('tr', { ...attrs, 'data-ended-by': e.ended_by ?? '' },
    ...common, cell('Started', timeEl(startText)), cell('Ended', timeEl(e.ended)), cell('Duration', duration(e.duration_ms)),
    cell('How it ended', how), checkCell(checks));
}

function recordRow(item, check, me) {
  const f = check.fields;
  const timeCell = el('td', {}, f ? timeEl(f.time) : '');
  const status = check.ok ? 'verified' : 'failed';
  return el(
    'tr',
    { 'data-seq': item.seq, 'data-status': status, 'data-kind': f?.kind },
    timeCell,
    el('td', {}, f ? describe(f, me) : '(unreadable record)'),
    el('td', { className: `status ${check.ok ? 'ok' : 'bad'}` },
      check.ok ? 'verified' : `FAILED: ${check.problems.join('; ')}`),
  );
}

function consentRow(item, check, me) {
  const f = check.fields;
  return el('tr', { role: 'row', 'data-record': item.seq, 'data-status': check.ok ? 'verified' : 'failed' },
    cell('Time', timeEl(f.time)), cell('What happened', describe(f, me)), checkCell([check]));
}

async function loadRecords(entry) {
  const { camera, key } = entry;
  const name = camera.name || camera.id;
  const box = $('.record', entry.section);
  const slots = {
    check: $('.check-slot', box), views: $('.views-slot', box), consent: $('.consent-slot', box), full: $('.full-slot', box),
  };
  box.setAttribute('aria-busy', 'true');
  try {
    if (!state.log) throw new Error(state.logProblem ?? "the log's key is not loaded");
    const log = state.log;
    const answer = await api(`/api/audit/records?camera=${encodeURIComponent(camera.id)}`);
    const opened = await openAnswerCheckpoint(answer, log);
    const items = Array.isArray(answer?.records) ? [...answer.records] : [];
    items.sort((a, b) => b.seq - a.seq);
    const checks = await Promise.all(items.map((item) => checkRecordItem(log.verifier, opened.checkpoint, item, camera.id)));
    const checked = items.map((item, i) => ({ item, check: checks[i] }));
    const failed = checks.filter((c) => !c.ok).length;
    const all = looks(checked);
    entry.openViews = all.filter((l) => l.kind === 'view' && !l.end).length;

    const summary = failed
      ? el('p', { className: 'bad', 'data-failed': failed }, `${failed} of ${items.length} records FAILED verification: the hub's answer was altered or is wrong.`)
      : el('p', { className: 'ok' }, items.length === 1 ? 'The record verified.' : `All ${items.length} records verified.`);
    replaceKeepingFocus(slots.check, [checkpointLine(answer, log, opened), items.length ? summary : null].filter(Boolean));

    const views = all.length
      ? table('history', `Looks at ${name}, newest first`,
        ['Officer', 'Agency', 'Case number', 'Reason', 'Started', 'Ended', 'Duration', 'How it ended', 'Check'],
        all.map(lookRow), `${key}-history`, `Viewing history of ${name}`)
      : el('p', { className: 'empty' }, `No one has looked at ${name}, and no one has asked to.`);
    replaceKeepingFocus(slots.views, [views]);

    const consent = checked.filter((c) => String(c.check.fields?.kind ?? '').startsWith('consent.'));
    replaceKeepingFocus(slots.consent, [consent.length
      ? table('history consent-history', `When you shared ${name} and when it stopped, newest first`,
        ['Time', 'What happened', 'Check'], consent.map((c) => consentRow(c.item, c.check, state.me)),
        `${key}-consent-history`, `Consent history of ${name}`)
      : el('p', { className: 'empty' }, `No consent changes for ${name} are on the record.`)]);

    $('summary', box).textContent = `Every record about ${name} (${items.length}), with its check`;
    replaceKeepingFocus(slots.full, [items.length
      ? el('div', { className: 'table-wrap', tabindex: '0', role: 'region', 'aria-label': `Every record about ${name}`, id: `${key}-records` },
        el('table', {},
          el('caption', {}, `Every record about ${name}, newest first`),
          el('thead', {}, el('tr', {}, el('th', { scope: 'col' }, 'Time'), el('th', { scope: 'col' }, 'What happened'),
            el('th', { scope: 'col' }, 'Check'))),
          el('tbody', {}, ...checked.map((c) => recordRow(c.item, c.check, state.me)))))
      : el('p', { className: 'empty' }, 'There are no records about this camera yet.')]);
  } catch (err) {
    entry.openViews = 0;
    replaceKeepingFocus(slots.check, [el('p', { className: 'error', role: 'alert' }, errorText(err, `the history of ${name}`))]);
    if (err instanceof ApiError && err.status === 401) window.location.reload();
  } finally {
    box.setAttribute('aria-busy', 'false');
  }
}

/**
 * A view that ended a moment ago has its end written just after the watchers change: while the record's open views
 * and the hub's watchers disagree, look again shortly (a few times at most).
 */
function recheckOpenViews(entry) {
  const watching = Array.isArray(entry.camera.watching) ? entry.camera.watching.length : 0;
  if (entry.openViews !== watching && entry.rechecks > 0) {
    entry.rechecks -= 1;
    setTimeout(() => refresh([`records:${entry.camera.id}`]), 1000);
  }
}

// Requests for access --------------------------------------------------------------------------------------

const EARLIER_SHOWN = 5;

function officerWords(request) {
  return `officer ${request.officer ?? '?'} (${agencyName(request.agency)})`;
}

function pendingItem(request) {
  const id = `request-${request.id}`;
  const whose = `${request.officer ?? 'the officer'}'s request for ${request.camera_name}`;
  return el(
    'li', { className: `request${request.urgent ? ' urgent' : ''}`, id, 'data-request': request.id, 'data-state': 'pending' },
    el('p', { className: 'request-head' },
      request.urgent ? urgentMark() : null, request.urgent ? ' ' : null,
      `${officerWords(request).replace(/^o/, 'O')} asks to watch `, el('strong', {}, request.camera_name),
      ` for ${durationWords(request.duration_seconds)}.`),
    requestFacts(request, [['Time left to answer', expiryCountdown(request.expires_at)]]),
    el('div', { className: 'toolbar' },
      el('button', { type: 'button', className: 'approve', id: `${id}-approve`, 'aria-label': `Approve ${whose}`,
        onclick: () => answer(request, 'approve') }, 'Approve'),
      el('button', { type: 'button', className: 'decline', id: `${id}-decline`, 'aria-label': `Decline ${whose}`,
        onclick: () => answer(request, 'decline') }, 'Decline')),
  ); // prettier-ignore
}

function earlierItem(request) {
  return el(
    'li', { className: 'request earlier', 'data-request': request.id, 'data-state': request.state },
    el('p', { className: 'request-head' }, stateBadge(request), ' ',
      `${officerWords(request).replace(/^o/, 'O')}, `, el('strong', {}, request.camera_name),
      `, case ${request.case ?? '?'}, ${durationWords(request.duration_seconds)}${request.urgent ? ', urgent' : ''}. `,
      stateWords(request, 'owner')),
  ); // prettier-ignore
}

/** Tell the owner about requests that arrived since the last look (urgent ones in the alert region). */
function requestNews(pending) {
  const first = state.seenPending === null;
  const fresh = first ? pending : pending.filter((r) => !state.seenPending.has(r.id));
  state.seenPending = new Set(pending.map((r) => r.id));
  const urgent = pending.filter((r) => r.urgent);
  const alert = $('#request-alert');
  if (!urgent.length) alert.replaceChildren();
  const freshUrgent = fresh.filter((r) => r.urgent);
  if (freshUrgent.length) {
    alert.textContent = freshUrgent.map((r) => `Urgent request: ${officerWords(r)} asks to watch ${r.camera_name} ` +
      `for ${durationWords(r.duration_seconds)} (case ${r.case}). Approve or decline it under Requests for access.`).join(' ');
  }
  const calm = fresh.filter((r) => !r.urgent);
  if (first && pending.length) {
    state.news = `${pending.length} request${pending.length === 1 ? '' : 's'} for access to your cameras ` +
      `${pending.length === 1 ? 'is' : 'are'} waiting for your answer.`;
  } else if (calm.length) {
    state.news = calm.map((r) => `New request: ${officerWords(r)} asks to watch ${r.camera_name} for ` +
      `${durationWords(r.duration_seconds)}.`).join(' ');
  }
  document.title = `${pending.length ? `(${pending.length}) ` : ''}My cameras · Porchlight`;
}

function renderRequests(requests) {
  state.requests = requests;
  const { pending, earlier } = splitRequests(requests, EARLIER_SHOWN);
  requestNews(pending);
  const key = JSON.stringify([pending, earlier]);
  if (key === state.requestsKey) return;
  state.requestsKey = key;
  const box = $('#pending-requests');
  box.setAttribute('aria-busy', 'false');
  const active = document.activeElement;
  const focusedItem = active && box.contains(active) ? active.closest('li[data-request]') : null;
  const next = focusedItem?.nextElementSibling?.querySelector('button.approve')?.id
    ?? focusedItem?.previousElementSibling?.querySelector('button.approve')?.id ?? null;
  const lost = replaceKeepingFocus(box, [pending.length
    ? el('ul', { className: 'requests pending' }, ...pending.map(pendingItem))
    : el('p', { className: 'empty' }, 'No officer is waiting for your answer.')]);
  // The request just answered moved to "Earlier requests": focus goes to the next one, or the panel's title.
  if (lost) (document.getElementById(next ?? '') ?? $('#requests-title')).focus();
  $('#earlier-requests').replaceChildren(earlier.length
    ? el('ul', { className: 'requests earlier-list' }, ...earlier.map(earlierItem))
    : el('p', { className: 'empty' }, 'No earlier requests.'));
}

/** Approve or decline one request (one tap: the answer is final; a grant can still be withdrawn later). */
async function answer(request, verb) {
  const item = document.getElementById(`request-${request.id}`);
  // Busy, not disabled: a disabled button would drop the keyboard focus before the list is redrawn.
  if (item?.dataset.busy) return;
  if (item) item.dataset.busy = 'yes';
  const who = officerWords(request);
  try {
    const done = await api(`/api/requests/${encodeURIComponent(request.id)}/${verb}`, { method: 'POST' });
    if (verb === 'approve') {
      const until = done.grant?.ends_at ? `, until ${localTime(done.grant.ends_at)}` : '';
      say(`You approved the request of ${who}: ${request.agency ?? 'that agency'} may watch ${request.camera_name} ` +
        `for ${durationWords(request.duration_seconds)}${until}. You can withdraw at any moment under ${request.camera_name}.`);
    } else {
      say(`You declined the request of ${who} for ${request.camera_name}.`);
    }
  } catch (err) {
    if (err instanceof ApiError && err.status === 409) {
      say(`The request of ${who} for ${request.camera_name} was answered already or has expired.`, 'error');
    } else {
      say(errorText(err, `the request of ${who}`), 'error');
      if (item) delete item.dataset.busy;
    }
  }
  await refresh(['requests', 'cameras']);
}

// Loading ----------------------------------------------------------------------------------------------------

async function loadLogKey() {
  const key = await api('/api/audit/key');
  try {
    return { origin: key.origin, verifier: await parseVerifierKey(key.verifier_key) };
  } catch (err) {
    if (err?.name === 'NotSupportedError') {
      throw new Error('this browser cannot check Ed25519 signatures; use a current browser');
    }
    throw new Error(`the log's key is not valid (${err.message})`);
  }
}

function renderCameras(cameras) {
  const list = $('#camera-list');
  list.setAttribute('aria-busy', 'false');
  if (!cameras.length) {
    state.cams.clear();
    list.replaceChildren(el('p', { className: 'empty' }, 'You have no cameras yet. Connect one with its device agent and it will show here.'));
    return [];
  }
  const entries = cameras.map((camera, i) => {
    let entry = state.cams.get(camera.id);
    if (!entry) {
      entry = newEntry(camera, i);
      state.cams.set(camera.id, entry);
    }
    entry.camera = camera;
    renderState(entry);
    renderWatching(entry);
    renderConsent(entry);
    return entry;
  });
  const ids = new Set(cameras.map((c) => c.id));
  for (const id of [...state.cams.keys()]) if (!ids.has(id)) state.cams.delete(id);
  const sections = entries.map((e) => e.section);
  const shown = [...list.children];
  if (shown.length !== sections.length || shown.some((node, i) => node !== sections[i])) list.replaceChildren(...sections);
  return entries;
}

async function load(topics) {
  const all = topics.includes('all');
  if (all || (!state.log && !state.logProblem)) {
    try {
      state.log = await loadLogKey();
      state.logProblem = null;
      $('#key-id').textContent = `${state.log.verifier.name} ${state.log.verifier.idHex}`;
    } catch (err) {
      state.log = null;
      state.logProblem = err instanceof ApiError ? `the log's key could not be read (${err.message})` : err.message;
    }
  }
  if (all || !state.agencies.size) {
    const { agencies } = await api('/api/agencies');
    state.agencies = new Map(agencies.map((a) => [a.id, a.name]));
  }
  if (all || topics.includes('cameras') || topics.includes('pilot') || !state.pilot) {
    const answer = await api('/api/pilot');
    state.pilot = answer.pilot;
    state.policy = answer.policy;
    renderPilot();
  }
  if (all || topics.includes('requests') || state.requests === null) {
    renderRequests((await api('/api/requests')).requests);
  }
  let entries;
  if (all || ['cameras', 'watchers', 'streams', 'pilot'].some((t) => topics.includes(t)) || !state.cams.size) {
    const { cameras } = await api('/api/cameras');
    entries = renderCameras(cameras);
  } else {
    entries = [...state.cams.values()];
  }
  const forced = new Set(topics.filter((t) => t.startsWith('records:')).map((t) => t.slice('records:'.length)));
  await Promise.all(entries.map(async (entry) => {
    // The history changes when someone starts or stops watching, or consent changes: reload it then only
    // (every read is itself put on the record).
    const recordsKey = JSON.stringify([entry.camera.grant, entry.camera.watching]);
    if (!all && !forced.has(entry.camera.id) && recordsKey === entry.recordsKey) return;
    if (recordsKey !== entry.recordsKey) entry.rechecks = 10;
    entry.recordsKey = recordsKey;
    await loadRecords(entry);
    recheckOpenViews(entry);
  }));
}

let running = null;
const pending = new Set();

/**
 * Fetch again what `topics` say changed ("all", "cameras", "watchers", "streams", "pilot", "records:<camera>");
 * calls made while a load runs are merged into one more load after it.
 * @param {string[]} topics
 * @returns {Promise<void>}
 */
export function refresh(topics) {
  for (const topic of topics) pending.add(topic);
  if (!running) {
    running = (async () => {
      while (pending.size) {
        const batch = [...pending];
        pending.clear();
        try {
          await load(batch);
          if (state.loadError || state.loading) say('');
          state.loadError = false;
          state.loading = false;
          if (state.news) say(state.news);
          state.news = '';
        } catch (err) {
          if (err instanceof ApiError && err.status === 401) {
            window.location.reload();
            return;
          }
          state.loadError = true;
          say(errorText(err, 'your cameras'), 'error');
        }
      }
    })().finally(() => {
      running = null;
      if (pending.size) refresh([]);
    });
  }
  return running;
}

// Start ------------------------------------------------------------------------------------------------------

async function start() {
  $('#logout').addEventListener('click', () => logout());
  const loginBox = $('#login');
  let formShown = false;
  const watcher = new MutationObserver(() => {
    if (loginBox.querySelector('form')) formShown = true;
  });
  watcher.observe(loginBox, { childList: true, subtree: true });
  let me;
  try {
    me = await requireLogin(loginBox, ['resident']);
  } catch (err) {
    say(errorText(err, 'this page'), 'error');
    return;
  } finally {
    watcher.disconnect();
  }
  state.me = me.account;
  $('#whoami').textContent = `Logged in as ${me.account.username}`;
  $('#account').hidden = false;
  $('#page').hidden = false;
  if (formShown) $('#cameras-title').focus();
  state.loading = true;
  say('Loading your cameras…');
  setInterval(tick, 1000);
  let heard = false;
  live((topics) => {
    heard = true;
    refresh(topics);
  });
  // Without the live stream (a proxy that buffers it), load once anyway.
  setTimeout(() => {
    if (!heard) refresh(['all']);
  }, 3000);
}

start();

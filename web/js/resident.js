// The resident's page: log in, list my cameras, and for each one its viewing record, checked in the browser
// against the log's signed checkpoint (see merkle.js). Everything shown comes from the signed record text.

import { CheckpointError, checkRecordItem, equalBytes, fromBase64, openCheckpoint, parseVerifierKey } from './merkle.js';

const $ = (selector, root = document) => root.querySelector(selector);

/** Thrown for a non-2xx answer; carries the status and the hub's {reason, message}. */
class ApiError extends Error {
  constructor(status, body) {
    super(body?.message || `the hub answered ${status}`);
    this.status = status;
    this.reason = body?.reason;
  }
}

/**
 * Call the hub's JSON API (the session cookie goes along).
 * @param {string} path
 * @param {RequestInit & {json?: unknown}} [options]
 * @returns {Promise<any>} the parsed JSON body
 */
export async function api(path, options = {}) {
  const init = { credentials: 'same-origin', headers: { Accept: 'application/json' }, ...options };
  if (options.json !== undefined) {
    init.body = JSON.stringify(options.json);
    init.headers = { ...init.headers, 'Content-Type': 'application/json' };
  }
  const response = await fetch(path, init);
  const text = await response.text();
  let body = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    body = null;
  }
  if (!response.ok) throw new ApiError(response.status, body);
  return body;
}

/** Make an element with attributes and children (strings become text: nothing is ever parsed as HTML). */
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === 'className') node.className = value;
    else node.setAttribute(name, value === true ? '' : String(value));
  }
  node.append(...children.filter((c) => c !== null && c !== undefined));
  return node;
}

// Plain words ------------------------------------------------------------------------------------------------

/**
 * A record's time ("2026-11-30T14:32:05.12Z") as a Date (null when it is not one).
 * @param {unknown} text
 * @returns {Date|null}
 */
export function parseTime(text) {
  if (typeof text !== 'string') return null;
  const when = new Date(text.replace(/\.(\d{1,2})Z$/, (_, frac) => `.${frac.padEnd(3, '0')}Z`));
  return Number.isNaN(when.getTime()) ? null : when;
}

function showTime(text) {
  const when = parseTime(text);
  return when ? when.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'medium' }) : String(text ?? '');
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

const ENDED_BY = {
  viewer_left: 'hung up',
  viewer_gone: 'connection lost',
  withdrawn: 'withdrawn',
  grant_expired: 'consent expired',
  pilot_over: 'pilot over',
  hub_shutdown: 'hub shut down',
  camera_not_publishing: 'camera stopped sending',
  account_disabled: 'account disabled',
  session_expired: 'session expired',
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
  account_disabled: "the officer's account is disabled",
  session_expired: "the officer's session had expired",
  state_stale: 'the hub could not confirm consent',
};

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
      const why = ENDED_BY[f.ended_by] ?? String(f.ended_by ?? 'ended').replaceAll('_', ' ');
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
      return `${actor} withdrew consent`;
    case 'consent.expired':
      return `Your consent expired (${showTime(f.ends)})`;
    case 'camera.registered':
      return 'Camera registered';
    case 'camera.token_issued':
      return 'A new device token was issued for the camera';
    case 'audit.read':
      return `Audit read by ${who(f.actor, me, false)} (${f.records ?? 0} records)`;
    default:
      return `${f.kind ?? 'Unknown event'}`;
  }
}

// Checking ---------------------------------------------------------------------------------------------------

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

// Rendering --------------------------------------------------------------------------------------------------

function cameraStatus(camera) {
  const parts = [camera.online ? 'Online' : 'Offline'];
  const grant = camera.grant;
  if (grant?.live) parts.push(`opted in until ${showTime(grant.ends_at)}`);
  else parts.push('not opted in');
  const watchers = Number(camera.watchers) || 0;
  parts.push(watchers ? `${watchers} watching now` : 'no one watching now');
  return parts.join(' · ');
}

function cameraSection(camera) {
  const headingId = `cam-${camera.id}-title`;
  return el(
    'section',
    { className: 'camera', 'data-camera': camera.id, 'aria-labelledby': headingId },
    el('h3', { id: headingId }, camera.name || camera.id),
    el('p', { className: 'camera-status' }, cameraStatus(camera)),
    el('h4', {}, 'Viewing record'),
    el('div', { className: 'record', 'aria-live': 'polite', 'aria-busy': 'true' }, el('p', {}, 'Checking the record…')),
  );
}

function checkpointLine(answer, log, opened) {
  const size = opened.checkpoint?.size ?? answer?.checkpoint?.size;
  const text = `Log checkpoint: ${size ?? '?'} records in the whole log, signed by ${log.verifier.name} ` +
    `(key ${log.verifier.idHex}). `;
  const ok = opened.problem === null;
  return el(
    'p',
    { className: `checkpoint ${ok ? 'ok' : 'bad'}`, 'data-checkpoint': ok ? 'verified' : 'failed', 'data-size': size },
    text,
    el('strong', {}, ok ? 'Signature verified.' : `Checkpoint FAILED: ${opened.problem}.`),
  );
}

function recordRow(item, check, me) {
  const f = check.fields;
  const timeCell = el('td', {});
  if (f && parseTime(f.time)) timeCell.append(el('time', { datetime: f.time }, showTime(f.time)));
  else timeCell.append(f ? String(f.time ?? '') : '');
  const status = check.ok ? 'verified' : 'failed';
  return el(
    'tr',
    { 'data-seq': item.seq, 'data-status': status, 'data-kind': f?.kind },
    timeCell,
    el('td', {}, f ? describe(f, me) : '(unreadable record)'),
    el(
      'td',
      { className: `status ${check.ok ? 'ok' : 'bad'}` },
      check.ok ? 'verified' : `FAILED: ${check.problems.join('; ')}`,
    ),
  );
}

function recordTable(camera, rows) {
  return el(
    'div',
    { className: 'table-wrap', tabindex: '0', role: 'region', 'aria-label': `Viewing record of ${camera.name || camera.id}` },
    el(
      'table',
      {},
      el('caption', {}, `Every record about ${camera.name || camera.id}, newest first`),
      el(
        'thead',
        {},
        el('tr', {}, el('th', { scope: 'col' }, 'Time'), el('th', { scope: 'col' }, 'What happened'),
          el('th', { scope: 'col' }, 'Check')),
      ),
      el('tbody', {}, ...rows),
    ),
  );
}

function errorText(err, what) {
  if (err instanceof ApiError) {
    if (err.status === 401) return `You are no longer logged in. Log in again to see ${what}.`;
    if (err.status === 403) return `The hub refused to show ${what}: ${err.message}.`;
    return `The hub could not show ${what}: ${err.message}.`;
  }
  return `Could not load ${what}: ${err?.message || err}. Check your connection and try again.`;
}

/** Load, check and show one camera's records into its section. */
async function showRecords(section, camera, log, me) {
  const box = $('.record', section);
  try {
    const answer = await api(`/api/audit/records?camera=${encodeURIComponent(camera.id)}`);
    const opened = await openAnswerCheckpoint(answer, log);
    const items = Array.isArray(answer?.records) ? [...answer.records] : [];
    items.sort((a, b) => b.seq - a.seq);
    const checks = await Promise.all(items.map((item) => checkRecordItem(log.verifier, opened.checkpoint, item, camera.id)));
    const views = checks.filter((c) => String(c.fields?.kind ?? '').startsWith('view.')).length;
    const failed = checks.filter((c) => !c.ok).length;
    let summary = failed ? `${failed} of ${items.length} records FAILED verification.` : `All ${items.length} records verified.`;
    if (!items.length) summary = '';
    const parts = [
      checkpointLine(answer, log, opened),
      views ? el('p', {}, summary) : el('p', { className: 'empty' }, `No one has looked at this camera. ${summary}`.trim()),
    ];
    if (items.length) parts.push(recordTable(camera, items.map((item, i) => recordRow(item, checks[i], me))));
    box.replaceChildren(...parts);
  } catch (err) {
    box.replaceChildren(el('p', { className: 'error', role: 'alert' }, errorText(err, `the record of ${camera.name || camera.id}`)));
  } finally {
    box.setAttribute('aria-busy', 'false');
  }
}

// The page ---------------------------------------------------------------------------------------------------

const state = { me: null, log: null };

function setStatus(text) {
  $('#status').textContent = text;
}

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

/** Load my cameras and check each one's record. */
async function loadCameras() {
  const list = $('#camera-list');
  list.setAttribute('aria-busy', 'true');
  setStatus('Loading your cameras…');
  try {
    state.log ??= await loadLogKey();
    const { cameras } = await api('/api/cameras');
    $('#key-id').textContent = `${state.log.verifier.name} ${state.log.verifier.idHex}`;
    if (!cameras.length) {
      list.replaceChildren(el('p', { className: 'empty' }, 'You have no cameras yet.'));
    } else {
      const sections = cameras.map((camera) => cameraSection(camera));
      list.replaceChildren(...sections);
      await Promise.all(cameras.map((camera, i) => showRecords(sections[i], camera, state.log, state.me)));
    }
    setStatus(`Checked at ${new Date().toLocaleTimeString()}.`);
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) {
      showLogin('Your session ended. Please log in again.');
      return;
    }
    list.replaceChildren(el('p', { className: 'error', role: 'alert' }, errorText(err, 'your cameras')));
    setStatus('');
  } finally {
    list.setAttribute('aria-busy', 'false');
  }
}

function showLogin(message = '') {
  state.me = null;
  $('#login').hidden = false;
  $('#cameras').hidden = true;
  $('#account').hidden = true;
  $('#login-error').textContent = message;
  $('#username').focus();
}

async function showAccount(account) {
  state.me = account;
  $('#login').hidden = true;
  $('#account').hidden = false;
  $('#whoami').textContent = `Logged in as ${account.username}`;
  if (account.role !== 'resident') {
    $('#cameras').hidden = true;
    setStatus(`This page is for residents; you are logged in as ${account.role} ${account.username}.`);
    return;
  }
  $('#cameras').hidden = false;
  await loadCameras();
}

async function onLogin(event) {
  event.preventDefault();
  const form = event.currentTarget;
  const button = $('button[type=submit]', form);
  const username = $('#username').value.trim();
  const password = $('#password').value;
  const error = $('#login-error');
  if (!username || !password) {
    error.textContent = 'Enter your username and password.';
    return;
  }
  button.disabled = true;
  error.textContent = '';
  try {
    const { account } = await api('/api/login', { method: 'POST', json: { username, password } });
    $('#password').value = '';
    const shown = showAccount(account);
    $('#cameras-title').focus();
    await shown;
  } catch (err) {
    error.textContent =
      err instanceof ApiError && err.status === 401 ? 'Wrong username or password.' : errorText(err, 'the log-in');
    $('#password').focus();
  } finally {
    button.disabled = false;
  }
}

async function onLogout() {
  try {
    await api('/api/logout', { method: 'POST' });
  } catch {
    // Logged out or not, show the form.
  }
  $('#camera-list').replaceChildren();
  setStatus('You are logged out.');
  showLogin();
}

async function start() {
  $('#login-form').addEventListener('submit', onLogin);
  $('#logout').addEventListener('click', onLogout);
  $('#refresh').addEventListener('click', () => loadCameras());
  try {
    const { account } = await api('/api/me');
    await showAccount(account);
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) showLogin();
    else setStatus(errorText(err, 'this page'));
  }
}

start();

// What every page shares: calling the JSON API (with the session's CSRF token), logging in (password, and a TOTP
// code for officers and admins, with first-time enrolment: an administrator's one-time enrolment code, then a QR
// code), the "second factor is off" notice, log-out, and the live-update stream. Nothing here builds HTML from
// strings: text is always text.
//
// Nobody is logged out silently: once logged in, the page asks the hub to keep the session alive (the hub does so
// only while something of the person's is live: a view, or a camera shared now), warns before the session ends
// ("You will be logged out at 14:05:00 — Stay logged in"), and when it has ended shows the log-in form saying why
// (the hub's 401 reason). An action that failed for want of a log-in is remembered in this tab and finished by
// the page after the next log-in (`rememberAction`, `takeActions`).

import { el } from './dom.js';
import { durationWords, localTime, parseWhen } from './time-words.js';

export { el }; // the pages' modules have always taken it from here

/** An API answer other than 2xx: `status`, and the hub's `{reason, message}` body when it sent one. */
export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.message) || `the hub answered ${status}`);
    this.name = 'ApiError';
    this.status = status;
    this.reason = body && body.reason;
  }
}

let csrf = '';

/**
 * Call the hub's JSON API. State-changing calls carry the session's CSRF token.
 * @param {string} path
 * @param {{method?: string, json?: unknown, body?: BodyInit, headers?: Record<string,string>}} [options]
 * @returns {Promise<any>} the parsed JSON body (null when empty)
 */
export async function api(path, options = {}) {
  const method = options.method || (options.json !== undefined ? 'POST' : 'GET');
  const headers = { Accept: 'application/json', ...(options.headers || {}) };
  if (method !== 'GET' && method !== 'HEAD') headers['X-CSRF-Token'] = csrf;
  let body = options.body;
  if (options.json !== undefined) {
    body = JSON.stringify(options.json);
    headers['Content-Type'] = 'application/json';
  }
  const response = await fetch(path, { method, headers, body, credentials: 'same-origin' });
  const text = await response.text();
  let parsed = null;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    parsed = null;
  }
  if (!response.ok) throw new ApiError(response.status, parsed);
  return parsed;
}

/** The CSRF token of the current session (for requests made without `api`, such as WHEP offers). */
export function csrfToken() {
  return csrf;
}

/** Say something in the page's status line (announced to screen readers: the element is aria-live). */
export function say(text, kind = '') {
  const status = document.getElementById('status');
  if (!status) return;
  status.textContent = text;
  status.className = kind;
}

function field(label, attrs) {
  const id = `f-${attrs.name}`;
  return el('div', { className: 'field' }, el('label', { for: id }, label), el('input', { id, ...attrs }));
}

/**
 * Show a log-in form in `container` until someone with one of `roles` is logged in; resolves with `/api/me`,
 * plus `formShown` (true when the person logged in here: the page then moves focus to its content).
 * Handles the TOTP code and a first enrolment; shows a notice when the hub runs without second factors.
 * @param {HTMLElement} container
 * @param {string[]} roles
 * @returns {Promise<any>}
 */
export async function requireLogin(container, roles) {
  let formShown = false;
  let why = '';
  for (;;) {
    let me = null;
    try {
      me = await api('/api/me');
    } catch (error) {
      if (!(error instanceof ApiError) || error.status !== 401) throw error;
      if (!formShown) why = whyLoggedOut(error.reason);
    }
    if (me && me.mfa === 'enrol') {
      me = await enrol(container);
    }
    if (me) {
      csrf = me.csrf_token;
      if (roles.includes(me.account.role)) {
        container.replaceChildren();
        showMfaNotice(me);
        forgetEnd();
        watchSession(me.session);
        return { ...me, formShown };
      }
      container.replaceChildren(
        el('p', { className: 'error', role: 'alert' }, `This page is for ${roles.join(' or ')} accounts; you are logged in as ${me.account.username} (${me.account.role}).`),
        el('button', { type: 'button', onclick: () => logout() }, 'Log out'),
      );
      await new Promise(() => {}); // stays here until the log-out reloads the page
    }
    formShown = true;
    await loginForm(container, why);
  }
}

function loginForm(container, why = '') {
  return new Promise((resolve) => {
    const error = el('p', { className: 'error', role: 'alert', id: 'login-error' });
    const waiting = pendingActions();
    const form = el(
      'form', { 'aria-labelledby': 'login-title', novalidate: true },
      el('h2', { id: 'login-title' }, 'Log in'),
      why ? el('p', { className: 'notice login-why', id: 'login-why', role: 'status' }, why) : null,
      ...waiting.map((action) => el('p', { className: 'error login-pending', role: 'alert' }, action.words)),
      field('Username', { name: 'username', autocomplete: 'username', required: true }),
      field('Password', { name: 'password', type: 'password', autocomplete: 'current-password', required: true }),
      field('Code from your authenticator app (officers and admins)', {
        name: 'code', inputmode: 'numeric', autocomplete: 'one-time-code', pattern: '[0-9]{6}', maxlength: '6',
      }),
      el('button', { type: 'submit' }, 'Log in'),
      error,
    );
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      const data = new FormData(form);
      const body = { username: data.get('username'), password: data.get('password') };
      if (data.get('code')) body.code = String(data.get('code')).trim();
      try {
        const answer = await api('/api/login', { json: body });
        csrf = answer.csrf_token;
        resolve();
      } catch (failure) {
        error.textContent = loginProblem(failure);
        form.querySelector(failure.reason === 'mfa_code_required' ? '#f-code' : '#f-password').focus();
      }
    });
    container.replaceChildren(form);
    form.querySelector('#f-username').focus();
  });
}

function loginProblem(failure) {
  if (!(failure instanceof ApiError)) return 'The hub cannot be reached. Try again in a moment.';
  switch (failure.reason) {
    case 'mfa_code_required': return 'Enter the 6-digit code from your authenticator app.';
    case 'account_locked': return 'This account is locked after too many failed log-ins. Ask an administrator to unlock it.';
    case 'bad_credentials': return 'Wrong username, password or code.';
    case 'credentials_required': return 'Enter your username and password.';
    default: return failure.message;
  }
}

/**
 * First enrolment of the second factor: the one-time enrolment code an administrator gave (the password alone never
 * enrols one), then the QR code and the first code from the app. Resolves with `/api/me` once enrolled.
 * @param {HTMLElement} container
 * @returns {Promise<any>}
 */
async function enrol(container) {
  const me = await api('/api/me');
  csrf = me.csrf_token;
  const { setup, enrolmentCode } = await enrolmentCodeForm(container);
  return new Promise((resolve) => {
    const error = el('p', { className: 'error', role: 'alert' });
    const qr = el('div', { className: 'qr', role: 'img', 'aria-label': 'QR code of your new second factor' });
    // The SVG is drawn by the hub (segno) from the otpauth URI: parse it as SVG, never as HTML.
    const svg = new DOMParser().parseFromString(setup.qr_svg, 'image/svg+xml').documentElement;
    qr.append(document.importNode(svg, true));
    const form = el(
      'form', { 'aria-labelledby': 'enrol-title' },
      el('h2', { id: 'enrol-title' }, 'Set up your second factor'),
      el('p', {}, 'Scan this code with an authenticator app (or type the key below), then enter the 6-digit code it shows.'),
      qr,
      el('p', {}, 'Key: ', el('code', { id: 'totp-secret' }, setup.secret)),
      field('Code from the app', { name: 'code', inputmode: 'numeric', autocomplete: 'one-time-code', maxlength: '6', required: true }),
      el('button', { type: 'submit' }, 'Confirm'),
      error,
    );
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      const code = String(new FormData(form).get('code')).trim();
      try {
        resolve(await api('/api/mfa/confirm', { json: { code, enrolment_code: enrolmentCode } }));
      } catch (failure) {
        error.textContent = enrolmentProblem(failure);
      }
    });
    container.replaceChildren(form);
    form.querySelector('#f-code').focus();
  });
}

/**
 * Ask for the enrolment code until the hub accepts it; resolves with the new secret and the code (the
 * confirmation presents it again and uses it up).
 * @param {HTMLElement} container
 * @returns {Promise<{setup: any, enrolmentCode: string}>}
 */
function enrolmentCodeForm(container) {
  return new Promise((resolve) => {
    const error = el('p', { className: 'error', role: 'alert' });
    const form = el(
      'form', { 'aria-labelledby': 'enrol-title' },
      el('h2', { id: 'enrol-title' }, 'Set up your second factor'),
      el('p', {}, 'Enter the one-time enrolment code an administrator gave you (in person or by phone). It works once, for a limited time.'),
      field('Enrolment code', {
        name: 'enrolment_code', autocomplete: 'off', autocapitalize: 'characters', spellcheck: 'false', required: true,
      }),
      el('button', { type: 'submit' }, 'Continue'),
      error,
    );
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      const enrolmentCode = String(new FormData(form).get('enrolment_code')).trim();
      try {
        const setup = await api('/api/mfa/enrol', { json: { enrolment_code: enrolmentCode } });
        resolve({ setup, enrolmentCode });
      } catch (failure) {
        error.textContent = enrolmentProblem(failure);
        form.querySelector('#f-enrolment_code').focus();
      }
    });
    container.replaceChildren(form);
    form.querySelector('#f-enrolment_code').focus();
  });
}

function enrolmentProblem(failure) {
  if (!(failure instanceof ApiError)) return 'The hub cannot be reached.';
  switch (failure.reason) {
    case 'enrolment_code_required': return 'Enter the enrolment code an administrator gave you.';
    case 'enrolment_code_invalid':
      return 'That enrolment code does not work (mistyped, used already or expired). Check it, or ask an administrator for a new one.';
    default: return failure.message;
  }
}

function showMfaNotice(me) {
  const notice = document.getElementById('mfa-notice');
  if (notice && !me.mfa_required) {
    notice.textContent = 'Second-factor log-in (TOTP) is OFF on this hub: a demonstration setting, never for real use.';
    notice.hidden = false;
  }
}

/** End the session and start over at the log-in form. */
export async function logout() {
  try {
    await api('/api/logout', { method: 'POST' });
    try {
      localStorage.setItem(LOGOUT_KEY, String(Date.now())); // other tabs say "You were logged out", not nothing
    } catch {
      // storage off: the other tabs just show the form
    }
  } finally {
    window.location.reload();
  }
}

// Why the log-in form is shown ------------------------------------------------------------------------------

const ENDED_KEY = 'porchlight:session-ended';
const LOGOUT_KEY = 'porchlight:logged-out';
const ACTIONS_KEY = 'porchlight:after-login';
/** A log-out in another tab this recent explains a missing session. */
const LOGOUT_FRESH_MS = 10 * 60 * 1000;

function stored(storage, key) {
  try {
    return JSON.parse(storage.getItem(key) || 'null');
  } catch {
    return null;
  }
}

function store(storage, key, value) {
  try {
    if (value === null) storage.removeItem(key);
    else storage.setItem(key, JSON.stringify(value));
  } catch {
    // storage off (a private window): the page still works, it just cannot say why after a reload
  }
}

function forgetEnd() {
  store(sessionStorage, ENDED_KEY, null);
  store(localStorage, LOGOUT_KEY, null);
}

/**
 * Why the log-in form is shown, in words, from the hub's 401 reason (and what this tab last knew of its session).
 * @param {string|undefined} reason
 * @returns {string} empty when there is nothing to say (a first visit)
 */
export function whyLoggedOut(reason) {
  const known = stored(sessionStorage, ENDED_KEY) || {};
  const code = reason && reason !== 'login_required' ? reason : known.reason;
  const idle = Number(known.idle_seconds) || 0;
  const limit = Number(known.session_seconds) || 0;
  switch (code) {
    case 'session_idle':
      return idle
        ? `Your session ended after ${durationWords(idle)} without activity. Log in again to go on.`
        : 'Your session ended after a time without activity. Log in again to go on.';
    case 'session_limit':
      return limit
        ? `Your session reached its limit of ${durationWords(limit)}. Log in again to go on.`
        : 'Your session reached its time limit. Log in again to go on.';
    case 'logged_out': return 'You were logged out. Log in again to go on.';
    case 'session_ended_by_admin': return 'An administrator ended your session. Log in again to go on.';
    case 'session_ended': return 'Your session has ended. Log in again to go on.';
    default:
      break;
  }
  const loggedOut = Number(localStorage.getItem(LOGOUT_KEY)) || 0;
  if (loggedOut && Date.now() - loggedOut < LOGOUT_FRESH_MS) return 'You were logged out (here or in another window).';
  return '';
}

/**
 * The session is gone (the hub answered 401): remember why in this tab and start over at the log-in form.
 * @param {string} [reason] the hub's 401 reason
 */
export function sessionEnded(reason) {
  if (session.ending) return; // several requests learn it at once: one reload
  session.ending = true;
  clearInterval(session.timer);
  store(sessionStorage, ENDED_KEY, {
    reason, idle_seconds: session.state?.idle_seconds, session_seconds: session.state?.session_seconds,
  });
  window.location.reload();
}

// Actions finished after the next log-in -------------------------------------------------------------------------

/**
 * Remember an action that failed for want of a log-in, to finish once this tab logs in again as the same account
 * (the page does it: see `takeActions`). `words` is what the log-in form says about it meanwhile.
 * @param {{kind: string, username: string, words: string} & Record<string, unknown>} action
 */
export function rememberAction(action) {
  const actions = pendingActions().filter((a) => JSON.stringify({ ...a, words: '' }) !== JSON.stringify({ ...action, words: '' }));
  store(sessionStorage, ACTIONS_KEY, [...actions, { ...action, asked_at: new Date().toISOString() }]);
}

function pendingActions() {
  const actions = stored(sessionStorage, ACTIONS_KEY);
  return Array.isArray(actions) ? actions : [];
}

/**
 * The actions remembered for `username` (forgotten here: the page finishes them now). Those of another account
 * are dropped: they were never this person's to finish.
 * @param {string} username
 * @returns {any[]}
 */
export function takeActions(username) {
  const actions = pendingActions().filter((a) => a.username === username);
  store(sessionStorage, ACTIONS_KEY, null);
  return actions;
}

// Keeping the session alive, and warning before it ends ---------------------------------------------------------

/** What this page knows of its session (`GET /api/session`'s answer), and the hub's clock against ours. */
const session = { state: null, offset: 0, lastKeepAlive: 0, lastCheck: 0, timer: 0, banner: null, ending: false };

function learn(state) {
  if (!state) return;
  session.state = state;
  const hubNow = parseWhen(state.now)?.getTime();
  session.offset = hubNow ? hubNow - Date.now() : 0;
}

/** When the session ends by this browser's clock (ms), or null. */
function endsAt() {
  const end = parseWhen(session.state?.ends_at)?.getTime();
  return end ? end - session.offset : null;
}

/**
 * Follow the session from its `/api/me` state: ask to keep it alive every so often (the hub decides), warn before it
 * ends, and show the log-in form, saying why, once it has.
 * @param {any} state
 */
function watchSession(state) {
  learn(state);
  session.lastKeepAlive = Date.now();
  clearInterval(session.timer);
  session.timer = setInterval(tickSession, 1000);
}

async function tickSession() {
  const state = session.state;
  const end = endsAt();
  if (!state || !end) return;
  const now = Date.now();
  try {
    if (now - session.lastKeepAlive >= (Number(state.keepalive_seconds) || 60) * 1000) {
      session.lastKeepAlive = now;
      learn((await api('/api/session/keepalive', { method: 'POST' })).session);
    } else if (now >= end - (Number(state.warn_seconds) || 120) * 1000 && now - session.lastCheck >= 5000) {
      // About to end: another tab's activity may have moved it; ask (which is not activity itself).
      session.lastCheck = now;
      learn((await api('/api/session')).session);
    }
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) {
      sessionEnded(error.reason);
      return;
    }
    // the hub is out of reach for a moment: the warning below still counts down
  }
  showWarning();
}

function showWarning() {
  const end = endsAt();
  const warnMs = (Number(session.state?.warn_seconds) || 120) * 1000;
  const due = end !== null && Date.now() >= end - warnMs;
  if (!due) {
    if (session.banner) session.banner.hidden = true;
    return;
  }
  if (!session.banner) {
    const stay = el('button', { type: 'button', id: 'stay-logged-in', onclick: () => stayLoggedIn() }, 'Stay logged in');
    session.banner = el('div', { className: 'notice session-warning', id: 'session-warning', role: 'alert' },
      el('span', { className: 'session-warning-text' }), ' ', stay);
    (document.querySelector('main') || document.body).prepend(session.banner);
  }
  const text = `You will be logged out at ${localTime(new Date(end + session.offset).toISOString())}` +
    (session.state?.ends_because === 'limit' ? ' (the longest a log-in lasts).' : ' unless you do something.');
  const words = session.banner.querySelector('.session-warning-text');
  if (words.textContent !== text) words.textContent = text;
  // At its absolute limit no request moves the end: only logging in again helps.
  session.banner.querySelector('button').hidden = session.state?.ends_because === 'limit';
  session.banner.hidden = false;
}

async function stayLoggedIn() {
  try {
    const me = await api('/api/me'); // a request of the person's own: activity, so the idle end moves
    learn(me.session);
    showWarning();
    say(`You stay logged in (until ${localTime(session.state.ends_at)} if you do nothing).`, 'ok');
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) sessionEnded(error.reason);
  }
}

/**
 * Call `onChange(topics)` whenever the hub says something the pages show changed (and once at the start);
 * reconnects by itself. Returns a function that stops listening.
 * @param {(topics: string[]) => void} onChange
 */
export function live(onChange) {
  const source = new EventSource('/api/events');
  source.addEventListener('hello', () => onChange(['all']));
  source.addEventListener('changed', (event) => onChange(JSON.parse(event.data).topics));
  source.addEventListener('logged-out', async () => {
    source.close();
    try {
      await api('/api/session');
      window.location.reload(); // still logged in after all: start over
    } catch (error) {
      sessionEnded(error instanceof ApiError ? error.reason : undefined);
    }
  });
  return () => source.close();
}

// What every page shares: calling the JSON API (with the session's CSRF token), logging in (password, and a TOTP
// code for officers and admins, with first-time enrolment: an administrator's one-time enrolment code, then a QR
// code), the "second factor is off" notice, log-out, and the live-update stream. Nothing here builds HTML from
// strings: text is always text.

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

/**
 * Make an element: attributes, then children (strings become text nodes).
 * @param {string} tag
 * @param {Record<string, unknown>} [attrs]
 * @param {...(Node|string|null|undefined)} children
 * @returns {HTMLElement}
 */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === 'className') node.className = String(value);
    else if (name.startsWith('on') && typeof value === 'function') node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? '' : String(value));
  }
  node.append(...children.filter((c) => c !== null && c !== undefined));
  return node;
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
  for (;;) {
    let me = null;
    try {
      me = await api('/api/me');
    } catch (error) {
      if (!(error instanceof ApiError) || error.status !== 401) throw error;
    }
    if (me && me.mfa === 'enrol') {
      me = await enrol(container);
    }
    if (me) {
      csrf = me.csrf_token;
      if (roles.includes(me.account.role)) {
        container.replaceChildren();
        showMfaNotice(me);
        return { ...me, formShown };
      }
      container.replaceChildren(
        el('p', { className: 'error', role: 'alert' }, `This page is for ${roles.join(' or ')} accounts; you are logged in as ${me.account.username} (${me.account.role}).`),
        el('button', { type: 'button', onclick: () => logout() }, 'Log out'),
      );
      await new Promise(() => {}); // stays here until the log-out reloads the page
    }
    formShown = true;
    await loginForm(container);
  }
}

function loginForm(container) {
  return new Promise((resolve) => {
    const error = el('p', { className: 'error', role: 'alert', id: 'login-error' });
    const form = el(
      'form', { 'aria-labelledby': 'login-title', novalidate: true },
      el('h2', { id: 'login-title' }, 'Log in'),
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
  } finally {
    window.location.reload();
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
  source.addEventListener('logged-out', () => window.location.reload());
  return () => source.close();
}

// The admin page: the pilot window and the consent cap, agencies, accounts, the live views on this hub, and the
// hub's health. Everything shown is refetched when the hub's live events say it changed; the health figures come
// from public endpoints polled every few seconds (they do not keep the admin's session awake). Consequential
// actions ask first in a modal <dialog> that says what will happen. Nothing here builds HTML from strings.

import { ApiError, api, el, live, logout, requireLogin, say } from './session.js';

const HEALTH_EVERY_MS = 5000;
const $ = (id) => document.getElementById(id);

const state = {
  me: null,
  pilot: null,
  policy: null,
  agencies: [],
  accounts: [],
  accountsShown: '',
  views: [],
  pilotShownVersion: -1,
  pilotEdited: false,
};

// ---- time -----------------------------------------------------------------------------------------------------

/**
 * A time from the API (ISO 8601) in the viewer's local time, with seconds.
 * @param {string|null} iso
 * @returns {string}
 */
export function localTime(iso) {
  if (!iso) return '—';
  return new Date(iso).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'medium' });
}

/**
 * A length of time in words: "2 d 3 h 4 min 5 s" (the largest units only, down to seconds).
 * @param {number} seconds
 * @returns {string}
 */
export function spell(seconds) {
  let left = Math.max(0, Math.floor(seconds));
  const parts = [];
  for (const [unit, size] of [['d', 86400], ['h', 3600], ['min', 60]]) {
    if (left >= size || parts.length) parts.push(`${Math.floor(left / size)} ${unit}`);
    left %= size;
  }
  parts.push(`${left} s`);
  return parts.join(' ');
}

/**
 * An ISO 8601 time as the value of a `datetime-local` input (local time, to the second).
 * @param {string|number|Date} time
 * @returns {string}
 */
export function toLocalInput(time) {
  const d = new Date(time);
  const two = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())}T${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`;
}

/**
 * A `datetime-local` value (local time) as ISO 8601 in UTC; null when empty or invalid.
 * @param {string} value
 * @returns {string|null}
 */
export function fromLocalInput(value) {
  if (!value) return null;
  const d = new Date(value); // a date-time without an offset is local time
  return Number.isNaN(d.getTime()) ? null : d.toISOString();
}

// ---- shared bits ----------------------------------------------------------------------------------------------

function problem(error) {
  if (error instanceof ApiError) return `The hub refused: ${error.message}`;
  return 'The hub cannot be reached. Try again in a moment.';
}

/**
 * Ask before a consequential action, in a modal dialog: focus moves to its Cancel button; Escape or Cancel
 * answer no. Resolves true only when the admin pressed the action's own button.
 * @param {{title: string, text: string, action: string}} question
 * @returns {Promise<boolean>}
 */
export function confirmAction({ title, text, action }) {
  const dialog = $('confirm');
  if (dialog.open) return Promise.resolve(false);
  const opener = document.activeElement;
  $('confirm-title').textContent = title;
  $('confirm-text').textContent = text;
  $('confirm-ok').textContent = action;
  dialog.returnValue = '';
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => {
      // The row may have been redrawn meanwhile: give focus back to the same control in the new row.
      const key = opener && opener.dataset ? opener.dataset.focus : null;
      if (key && !opener.isConnected) {
        const again = document.querySelector(`[data-focus="${CSS.escape(key)}"]`);
        if (again) again.focus();
      }
      resolve(dialog.returnValue === 'yes');
    }, { once: true });
    dialog.showModal();
    $('confirm-cancel').focus();
  });
}

function wireDialog() {
  const dialog = $('confirm');
  $('confirm-cancel').addEventListener('click', () => dialog.close('no'));
  $('confirm-ok').addEventListener('click', () => dialog.close('yes'));
}

const busy = new Set();

/** Run one action once at a time; say how it went in #status. */
async function act(key, work, success) {
  if (busy.has(key)) return;
  busy.add(key);
  try {
    const result = await work();
    say(typeof success === 'function' ? success(result) : success, 'ok');
  } catch (error) {
    say(problem(error), 'error');
  } finally {
    busy.delete(key);
  }
}

/** Replace a table body, keeping keyboard focus on the same control (or its row) when it is rebuilt. */
function replaceRows(tbody, rows) {
  const focused = document.activeElement;
  const key = focused && tbody.contains(focused) ? focused.dataset.focus : null;
  const row = key ? focused.closest('tr').dataset.key : null;
  tbody.replaceChildren(...rows);
  if (!key) return;
  const again = tbody.querySelector(`[data-focus="${CSS.escape(key)}"]`)
    || tbody.querySelector(`tr[data-key="${CSS.escape(row)}"] button`);
  if (again) again.focus();
}

/** A table cell that names its column (shown before the value when the table becomes cards on a phone). */
function cell(label, attrs, ...children) {
  return el('td', { ...attrs, 'data-label': label }, ...children);
}

function emptyRow(columns, text) {
  return el('tr', {}, el('td', { colspan: String(columns), className: 'empty' }, text));
}

// ---- pilot and policy -----------------------------------------------------------------------------------------

async function refreshPilot() {
  const answer = await api('/api/pilot');
  state.pilot = answer.pilot;
  state.policy = answer.policy;
  showPilot();
  showPolicy();
}

function pilotState(pilot, now) {
  if (!pilot || pilot.state === 'none' || !pilot.starts_at) return 'none';
  const starts = Date.parse(pilot.starts_at);
  const ends = Date.parse(pilot.ends_at);
  return now < starts ? 'scheduled' : now < ends ? 'running' : 'over';
}

const STATE_WORDS = {
  none: 'No pilot set: officers cannot watch any camera.',
  scheduled: 'Scheduled: not started yet.',
  running: 'Running: officers may watch cameras whose owners opted in.',
  over: 'Over: officers cannot watch any camera.',
};

function tickPilot() {
  const pilot = state.pilot;
  if (!pilot) return;
  const now = Date.now();
  const current = pilotState(pilot, now);
  const stateNode = $('pilot-state');
  if (stateNode.dataset.state !== current) {
    stateNode.dataset.state = current;
    stateNode.textContent = STATE_WORDS[current];
  }
  let left = '—';
  if (current === 'scheduled') left = `starts in ${spell((Date.parse(pilot.starts_at) - now) / 1000)}`;
  if (current === 'running') left = `${spell((Date.parse(pilot.ends_at) - now) / 1000)} until it ends`;
  $('pilot-left').textContent = left;
  $('end-pilot').disabled = current === 'none' || current === 'over';
}

function showPilot() {
  const pilot = state.pilot;
  $('pilot-start').textContent = localTime(pilot.starts_at);
  $('pilot-end').textContent = localTime(pilot.ends_at);
  $('pilot-state').dataset.state = '';
  tickPilot();
  // Fill the form with the current window, unless the admin is in the middle of changing it.
  if (pilot.version !== state.pilotShownVersion && !state.pilotEdited) {
    state.pilotShownVersion = pilot.version;
    $('pilot-starts').value = toLocalInput(pilot.starts_at || Date.now());
    $('pilot-ends').value = pilot.ends_at ? toLocalInput(pilot.ends_at) : '';
  }
}

function policyInUnits(seconds) {
  const unit = seconds >= 86400 && seconds % 86400 === 0 ? 86400 : 3600;
  return { amount: Math.round((seconds / unit) * 100) / 100, unit };
}

function showPolicy() {
  const { amount, unit } = policyInUnits(state.policy.max_grant_seconds);
  const words = unit === 86400 ? 'day' : 'hour';
  $('policy-now').textContent = `${amount} ${words}${amount === 1 ? '' : 's'}`;
  const input = $('policy-amount');
  if (document.activeElement !== input && document.activeElement !== $('policy-unit')) {
    input.value = String(amount);
    $('policy-unit').value = String(unit);
  }
}

function wirePilot() {
  for (const id of ['pilot-starts', 'pilot-ends']) $(id).addEventListener('input', () => { state.pilotEdited = true; });
  $('pilot-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const startsAt = fromLocalInput($('pilot-starts').value);
    const endsAt = fromLocalInput($('pilot-ends').value);
    if (!startsAt || !endsAt) {
      say('Enter both the start and the end of the pilot.', 'error');
      $(startsAt ? 'pilot-ends' : 'pilot-starts').focus();
      return;
    }
    if (Date.parse(endsAt) <= Date.parse(startsAt)) {
      say('The pilot must end after it starts.', 'error');
      $('pilot-ends').focus();
      return;
    }
    act('pilot', async () => {
      const answer = await api('/api/pilot', { method: 'PUT', json: { starts_at: startsAt, ends_at: endsAt } });
      state.pilotEdited = false;
      await refreshPilot();
      return answer.pilot;
    }, (pilot) => `Pilot window saved: ${localTime(pilot.starts_at)} to ${localTime(pilot.ends_at)} (${pilot.state}).`);
  });
  $('end-pilot').addEventListener('click', async () => {
    const yes = await confirmAction({
      title: 'End the pilot now?',
      text: 'Every live view ends at once, and no officer can watch any camera until you set a new pilot window.',
      action: 'Yes, end the pilot now',
    });
    if (!yes) {
      say('The pilot was not ended.');
      return;
    }
    act('end-pilot', async () => {
      await api('/api/pilot/end', { method: 'POST' });
      state.pilotEdited = false;
      await Promise.all([refreshPilot(), refreshLive()]);
    }, 'The pilot is over: every live view has ended.');
  });
  $('policy-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const amount = Number($('policy-amount').value);
    if (!(amount > 0)) {
      say('Enter a positive number for the longest opt-in.', 'error');
      $('policy-amount').focus();
      return;
    }
    const seconds = Math.round(amount * Number($('policy-unit').value));
    act('policy', async () => {
      await api('/api/policy', { method: 'PUT', json: { max_grant_seconds: seconds } });
      $('policy-amount').blur();
      await refreshPilot();
    }, () => `Residents may now opt in for at most ${$('policy-now').textContent}.`);
  });
}

// ---- agencies -------------------------------------------------------------------------------------------------

async function refreshAgencies() {
  state.agencies = (await api('/api/agencies')).agencies;
  const rows = state.agencies.map((a) => el('tr', { 'data-key': a.id }, el('td', {}, a.id), el('td', {}, a.name)));
  replaceRows($('agency-rows'), rows.length ? rows : [emptyRow(2, 'No agencies yet: add one below.')]);
  const select = $('new-agency');
  const chosen = select.value;
  select.replaceChildren(...state.agencies.map((a) => el('option', { value: a.id }, `${a.name} (${a.id})`)));
  if (!state.agencies.length) select.append(el('option', { value: '' }, 'no agencies yet'));
  if (state.agencies.some((a) => a.id === chosen)) select.value = chosen;
}

function wireAgencies() {
  const form = $('agency-form');
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const id = $('agency-id').value.trim();
    const name = $('agency-name').value.trim();
    if (!id || !name) {
      say('Enter both an id and a name for the agency.', 'error');
      $(id ? 'agency-name' : 'agency-id').focus();
      return;
    }
    act('agency', async () => {
      await api('/api/agencies', { json: { id, name } });
      form.reset();
      await refreshAgencies();
    }, `Agency ${name} (${id}) added.`);
  });
}

// ---- accounts -------------------------------------------------------------------------------------------------

async function refreshAccounts() {
  state.accounts = (await api('/api/accounts')).accounts;
  const shown = JSON.stringify(state.accounts);
  if (shown === state.accountsShown) return; // unchanged: leave the rows (and the admin's focus) alone
  state.accountsShown = shown;
  replaceRows($('account-rows'), state.accounts.length ? state.accounts.map(accountRow) : [emptyRow(6, 'No accounts.')]);
}

// Failed log-ins never lock an account (they only slow further attempts on it), so there is no "locked" state.
function accountState(account) {
  return account.disabled ? 'disabled' : 'active';
}

function accountRow(account) {
  const you = state.me && account.id === state.me.account.id;
  const name = account.username;
  const button = (action, label, onclick) => el('button', {
    type: 'button', 'data-focus': `${action}:${account.id}`, 'aria-label': `${label} ${name}`, onclick,
  }, label);
  const actions = [];
  if (account.disabled) actions.push(button('enable', 'Enable', () => enableAccount(account)));
  else if (!you) actions.push(button('disable', 'Disable', () => disableAccount(account)));
  if (account.mfa_enrolled) {
    actions.push(el('button', {
      type: 'button', 'data-focus': `mfa:${account.id}`, 'aria-label': `Reset second factor of ${name}`,
      onclick: () => resetMfa(account),
    }, 'Reset second factor'));
  } else if (account.role !== 'resident') {
    actions.push(button('enrolment-code', 'Issue enrolment code', () => issueEnrolmentCode(account)));
  }
  const status = accountState(account);
  const mfa = account.mfa_enrolled ? 'enrolled' : 'not enrolled';
  return el(
    'tr', { 'data-key': String(account.id), 'data-username': name },
    cell('Username', {}, name, you ? el('span', { className: 'muted' }, ' (you)') : null),
    cell('Role', {}, account.role),
    cell('Agency', {}, account.agency || '—'),
    cell('State', { className: status === 'active' ? 'account-state' : 'account-state bad' }, status),
    cell('Second factor', { className: 'account-mfa' }, mfa),
    cell('Actions', {}, el('div', { className: 'row-actions' }, ...(actions.length ? actions : [el('span', { className: 'muted' }, '—')]))),
  );
}

async function disableAccount(account) {
  const yes = await confirmAction({
    title: `Disable ${account.username}?`,
    text: `This ends this person's live views at once and logs ${account.username} out everywhere. `
      + 'They cannot log in again until you enable the account.',
    action: `Disable ${account.username}`,
  });
  if (!yes) {
    say(`${account.username} was not disabled.`);
    return;
  }
  await act(`disable:${account.id}`, async () => {
    const answer = await api(`/api/accounts/${account.id}/disable`, { method: 'POST' });
    await Promise.all([refreshAccounts(), refreshLive()]);
    return answer;
  }, (answer) => `${account.username} is disabled; live views ended: ${answer.views_ended ?? 0}.`);
}

async function enableAccount(account) {
  await act(`enable:${account.id}`, async () => {
    await api(`/api/accounts/${account.id}/enable`, { method: 'POST' });
    await refreshAccounts();
  }, `${account.username} is enabled again.`);
}

async function resetMfa(account) {
  const yes = await confirmAction({
    title: `Reset ${account.username}'s second factor?`,
    text: `The authenticator app ${account.username} uses stops working here; to set up a new one at their next `
      + 'log-in they need an enrolment code from an administrator. Their sessions and live views end now.',
    action: 'Reset second factor',
  });
  if (!yes) {
    say(`${account.username}'s second factor was not reset.`);
    return;
  }
  await act(`mfa:${account.id}`, async () => {
    await api(`/api/accounts/${account.id}/mfa/reset`, { method: 'POST' });
    await Promise.all([refreshAccounts(), refreshLive()]);
  }, `${account.username}'s second factor is reset: issue an enrolment code for them to set up a new one.`);
}

/** Issue a one-time enrolment code and show it once (it is kept nowhere: hiding it, or leaving, forgets it). */
async function issueEnrolmentCode(account) {
  await act(`enrolment-code:${account.id}`, async () => {
    const answer = await api(`/api/accounts/${account.id}/enrolment-code`, { method: 'POST' });
    const until = new Date(answer.expires_at).toLocaleString();
    $('enrolment-code-text').textContent = `For ${account.username}: it works once, until ${until}`
      + `${answer.replaced ? ', and the earlier code no longer does' : ''}. Give it to them in person or by phone, `
      + 'never together with the password.';
    $('enrolment-code').textContent = answer.code;
    $('enrolment-code-box').hidden = false;
    $('enrolment-code-title').focus();
  }, `An enrolment code for ${account.username} is shown below the accounts.`);
}

function hideEnrolmentCode() {
  $('enrolment-code').textContent = '';
  $('enrolment-code-text').textContent = '';
  $('enrolment-code-box').hidden = true;
}

function wireAccounts() {
  const form = $('account-form');
  const role = $('new-role');
  const showAgency = () => { $('new-agency-field').hidden = role.value !== 'officer'; };
  role.addEventListener('change', showAgency);
  showAgency();
  $('enrolment-code-done').addEventListener('click', () => {
    hideEnrolmentCode();
    $('accounts-title').focus();
  });
  $('refresh-accounts').addEventListener('click', () => act('refresh-accounts', async () => {
    state.accountsShown = '';
    await refreshAccounts();
  }, `Accounts refreshed at ${new Date().toLocaleTimeString()}.`));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const username = $('new-username').value.trim();
    const password = $('new-password').value;
    const agency = role.value === 'officer' ? $('new-agency').value : null;
    if (!username) {
      say('Enter a username for the new account.', 'error');
      $('new-username').focus();
      return;
    }
    if (password.length < 8) {
      say('The password must have at least 8 characters.', 'error');
      $('new-password').focus();
      return;
    }
    if (role.value === 'officer' && !agency) {
      say('An officer needs an agency: add one under Agencies first.', 'error');
      return;
    }
    act('create-account', async () => {
      await api('/api/accounts', { json: { username, password, role: role.value, agency } });
      form.reset();
      showAgency();
      await refreshAccounts();
    }, `Account ${username} created.`);
  });
}

// ---- live sessions --------------------------------------------------------------------------------------------

async function refreshLive() {
  state.views = (await api('/api/live')).views;
  const empty = state.views.length === 0;
  $('live-empty').hidden = !empty;
  $('live-table').hidden = empty;
  replaceRows($('live-rows'), state.views.map(viewRow));
  tickLive();
}

function viewRow(view) {
  const who = view.officer || 'unknown officer';
  return el(
    'tr', { 'data-key': view.id, 'data-officer': who },
    cell('Officer', {}, who),
    cell('Agency', {}, view.agency || '—'),
    cell('Camera', {}, view.camera),
    cell('Case number', {}, view.case || '—'),
    cell('Since', {}, localTime(view.since), ' ', el('span', { className: 'muted since', 'data-since': view.since })),
    cell('Action', {}, el('button', {
      type: 'button', 'data-focus': `end:${view.id}`, 'aria-label': `End ${who}'s session on ${view.camera}`,
      onclick: () => endView(view),
    }, 'End session')),
  );
}

function tickLive() {
  const now = Date.now();
  for (const span of document.querySelectorAll('#live-rows [data-since]')) {
    span.textContent = `(for ${spell((now - Date.parse(span.dataset.since)) / 1000)})`;
  }
}

async function endView(view) {
  await act(`end:${view.id}`, async () => {
    await api(`/api/live/${encodeURIComponent(view.id)}`, { method: 'DELETE' });
    await refreshLive();
  }, `Ended ${view.officer || 'the officer'}'s view of ${view.camera}.`);
}

// ---- hub health -----------------------------------------------------------------------------------------------

const METRICS = {
  'm-viewers': 'porchlight_viewers',
  'm-publishers': 'porchlight_publishers',
  'm-agents': 'porchlight_agents_connected',
  'm-audit': 'porchlight_audit_records',
  'm-pending': 'porchlight_audit_pending',
};

/**
 * One unlabelled sample from Prometheus text; null when absent.
 * @param {string} text
 * @param {string} name
 * @returns {number|null}
 */
export function metric(text, name) {
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  if (!line) return null;
  const value = Number(line.slice(name.length + 1).trim().split(' ')[0]);
  return Number.isFinite(value) ? value : null;
}

async function fetchStatus(path) {
  try {
    const response = await fetch(path, { headers: { Accept: 'application/json' }, cache: 'no-store' });
    let body = null;
    try { body = await response.json(); } catch { body = null; }
    return { ok: response.ok, body };
  } catch {
    return { ok: false, body: null };
  }
}

const NOT_READY = {
  store_unavailable: 'the store does not answer',
  state_stale: "this hub's view of consent is stale",
};

let healthRunning = false;

async function refreshHealth() {
  if (healthRunning) return;
  healthRunning = true;
  try {
    const [alive, ready] = await Promise.all([fetchStatus('/healthz'), fetchStatus('/readyz')]);
    setFact('health-alive', alive.ok ? 'up' : 'not answering', alive.ok);
    const why = ready.body && (NOT_READY[ready.body.reason] || ready.body.reason);
    setFact('health-ready', ready.ok ? 'ready' : `not ready${why ? `: ${why}` : ''}`, ready.ok);
    let text = '';
    try {
      const response = await fetch('/metrics', { cache: 'no-store' });
      if (response.ok) text = await response.text();
    } catch {
      text = '';
    }
    for (const [id, name] of Object.entries(METRICS)) {
      const value = metric(text, name);
      const good = id === 'm-pending' ? value === 0 : value !== null;
      setFact(id, value === null ? 'unknown' : String(Math.round(value)), good);
    }
    $('health-at').textContent = new Date().toLocaleTimeString(undefined, { timeStyle: 'medium' });
  } finally {
    healthRunning = false;
  }
}

function setFact(id, text, good) {
  const node = $(id);
  node.textContent = text;
  node.className = good ? '' : 'bad';
}

// ---- start ----------------------------------------------------------------------------------------------------

function refreshFor(topics) {
  const all = topics.includes('all');
  const jobs = [refreshAccounts()]; // no topic says accounts changed: cheap enough to ask on any change
  if (all || topics.includes('cameras')) jobs.push(refreshPilot());
  if (all || topics.includes('watchers')) jobs.push(refreshLive());
  if (all) jobs.push(refreshAgencies());
  if (all || topics.includes('watchers') || topics.includes('streams')) jobs.push(refreshHealth());
  Promise.all(jobs).catch((error) => say(problem(error), 'error'));
}

async function start() {
  wireDialog();
  $('logout').addEventListener('click', () => logout());
  state.me = await requireLogin($('login'), ['admin']);
  $('whoami').textContent = `Logged in as ${state.me.account.username} (admin)`;
  $('account').hidden = false;
  $('admin').replaceChildren($('admin-template').content.cloneNode(true));
  $('tz').textContent = Intl.DateTimeFormat().resolvedOptions().timeZone || 'local';
  wirePilot();
  wireAgencies();
  wireAccounts();
  setInterval(() => { tickPilot(); tickLive(); }, 1000);
  setInterval(() => { if (!document.hidden) refreshHealth(); }, HEALTH_EVERY_MS);
  live(refreshFor);
}

start().catch((error) => say(problem(error), 'error'));

// The admin page, agencies and accounts: add an agency; create an account; disable or enable one, reset its
// second factor, and issue a one-time enrolment code (shown once, kept nowhere). Failed log-ins never lock an
// account (they only slow further attempts on it), so there is no "locked" state. Form errors show next to their
// field, the hub's refusals too.

import { api, el, say } from './session.js';
import { $, act, cell, emptyRow, replaceRows, state } from './admin-state.js';
import { confirmAction } from './admin-dialog.js';
import { clearFieldErrors, fieldError, showRefusal } from './admin-fields.js';
import { refreshLive } from './admin-live.js';

// ---- agencies -------------------------------------------------------------------------------------------------

/** Fetch the agencies; show them and offer them in the new account's form. */
export async function refreshAgencies() {
  state.agencies = (await api('/api/agencies')).agencies;
  const rows = state.agencies.map((a) => el('tr', { 'data-key': a.id }, el('td', {}, a.id), el('td', {}, a.name)));
  replaceRows($('agency-rows'), rows.length ? rows : [emptyRow(2, 'No agencies yet: add one below.')]);
  const select = $('new-agency');
  const chosen = select.value;
  select.replaceChildren(...state.agencies.map((a) => el('option', { value: a.id }, `${a.name} (${a.id})`)));
  if (!state.agencies.length) select.append(el('option', { value: '' }, 'no agencies yet'));
  if (state.agencies.some((a) => a.id === chosen)) select.value = chosen;
}

function addAgency(event) {
  event.preventDefault();
  const form = $('agency-form');
  clearFieldErrors(form);
  const id = $('agency-id').value.trim();
  const name = $('agency-name').value.trim();
  if (!id) {
    fieldError('agency-id', 'Enter a short id for the agency, such as metro-pd.');
    return;
  }
  if (!name) {
    fieldError('agency-name', "Enter the agency's name.");
    return;
  }
  act('agency', async () => {
    await api('/api/agencies', { json: { id, name } });
    form.reset();
    await refreshAgencies();
  }, `Agency ${name} (${id}) added.`, showRefusal({ id: 'agency-id', name: 'agency-name' }, { conflict: 'id' }));
}

// ---- accounts -------------------------------------------------------------------------------------------------

/** Fetch the accounts; redraw their rows only when something changed (the admin's focus stays put). */
export async function refreshAccounts() {
  state.accounts = (await api('/api/accounts')).accounts;
  const shown = JSON.stringify(state.accounts);
  if (shown === state.accountsShown) return;
  state.accountsShown = shown;
  replaceRows($('account-rows'), state.accounts.length ? state.accounts.map(accountRow) : [emptyRow(6, 'No accounts.')]);
  document.dispatchEvent(new CustomEvent('admin:accounts'));
}

function accountRow(account) {
  const you = state.me && account.id === state.me.account.id;
  const name = account.username;
  const button = (action, label, onclick, text = label) => el('button', {
    type: 'button', 'data-focus': `${action}:${account.id}`, 'aria-label': `${label} ${name}`, onclick,
  }, text);
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
  const status = account.disabled ? 'disabled' : 'active';
  return el(
    'tr', { 'data-key': String(account.id), 'data-username': name },
    cell('Username', {}, name, you ? el('span', { className: 'muted' }, ' (you)') : null),
    cell('Role', {}, account.role),
    cell('Agency', {}, account.agency || '—'),
    cell('State', { className: status === 'active' ? 'account-state' : 'account-state bad' }, status),
    cell('Second factor', { className: 'account-mfa' }, account.mfa_enrolled ? 'enrolled' : 'not enrolled'),
    cell('Actions', {}, el('div', { className: 'row-actions' },
      ...(actions.length ? actions : [el('span', { className: 'muted' }, '—')]))),
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

function createAccount(event) {
  event.preventDefault();
  const form = $('account-form');
  const role = $('new-role');
  clearFieldErrors(form);
  const username = $('new-username').value.trim();
  const password = $('new-password').value;
  const agency = role.value === 'officer' ? $('new-agency').value : null;
  if (!username) {
    fieldError('new-username', 'Enter a username for the new account.');
    return;
  }
  if (password.length < 8) {
    fieldError('new-password', `At least 8 characters (now ${password.length}).`);
    return;
  }
  if (role.value === 'officer' && !agency) {
    fieldError('new-agency', 'An officer needs an agency: add one under Agencies first.');
    return;
  }
  act('create-account', async () => {
    await api('/api/accounts', { json: { username, password, role: role.value, agency } });
    form.reset();
    $('new-agency-field').hidden = role.value !== 'officer';
    await refreshAccounts();
  }, `Account ${username} created.`, showRefusal(
    { username: 'new-username', password: 'new-password', role: 'new-role', agency: 'new-agency' },
    { conflict: 'username' },
  ));
}

/** Wire the agencies' and accounts' forms (once, after log-in). */
export function wireAccounts() {
  $('agency-form').addEventListener('submit', addAgency);
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
  $('account-form').addEventListener('submit', createAccount);
}

// The admin page, the pilot: its window (set, extend, end it) and the longest opt-in a resident may choose, which is
// never longer than the pilot (the form refuses it next to the field; so does the hub, and a shorter window lowers
// the maximum with it: the page says so).

import { api, say } from './session.js';
import { clock, durationWords, fromLocalInput, toLocalInput } from './time-words.js';
import { $, act, shownTime, state } from './admin-state.js';
import { confirmAction } from './admin-dialog.js';
import { clearFieldErrors, fieldError, showRefusal } from './admin-fields.js';
import { refreshLive } from './admin-live.js';

/** Fetch the pilot and the policy and show them. */
export async function refreshPilot() {
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

/**
 * How long the pilot lasts in seconds, while it is scheduled or running; null otherwise.
 * @returns {number|null}
 */
export function pilotLength() {
  const pilot = state.pilot;
  const current = pilotState(pilot, Date.now());
  if (current !== 'scheduled' && current !== 'running') return null;
  return (Date.parse(pilot.ends_at) - Date.parse(pilot.starts_at)) / 1000;
}

const STATE_WORDS = {
  none: 'No pilot set: officers cannot watch any camera.',
  scheduled: 'Scheduled: not started yet.',
  running: 'Running: officers may watch cameras whose owners opted in.',
  over: 'Over: officers cannot watch any camera.',
};

/** Update the pilot's state and time left (every second). */
export function tickPilot() {
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
  if (current === 'scheduled') left = `starts in ${clock((Date.parse(pilot.starts_at) - now) / 1000)}`;
  if (current === 'running') left = `${clock((Date.parse(pilot.ends_at) - now) / 1000)} until it ends`;
  $('pilot-left').textContent = left;
  $('end-pilot').disabled = current === 'none' || current === 'over';
}

function showPilot() {
  const pilot = state.pilot;
  $('pilot-start').textContent = shownTime(pilot.starts_at);
  $('pilot-end').textContent = shownTime(pilot.ends_at);
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
  const seconds = state.policy.max_grant_seconds;
  const { amount, unit } = policyInUnits(seconds);
  $('policy-now').textContent = durationWords(seconds);
  const length = pilotLength();
  $('policy-cap').textContent = length === null
    ? 'It can be at most as long as the pilot.'
    : `It can be at most as long as the pilot: ${durationWords(Math.floor(length))}.`;
  const input = $('policy-amount');
  if (document.activeElement !== input && document.activeElement !== $('policy-unit')) {
    input.value = String(amount);
    $('policy-unit').value = String(unit);
  }
}

function savePilot(event) {
  event.preventDefault();
  const form = $('pilot-form');
  clearFieldErrors(form);
  const startsAt = fromLocalInput($('pilot-starts').value);
  const endsAt = fromLocalInput($('pilot-ends').value);
  if (!startsAt) {
    fieldError('pilot-starts', 'Enter when the pilot starts.');
    return;
  }
  if (!endsAt) {
    fieldError('pilot-ends', 'Enter when the pilot ends.');
    return;
  }
  if (Date.parse(endsAt) <= Date.parse(startsAt)) {
    fieldError('pilot-ends', 'The pilot must end after it starts.');
    return;
  }
  act('pilot', async () => {
    const answer = await api('/api/pilot', { method: 'PUT', json: { starts_at: startsAt, ends_at: endsAt } });
    state.pilotEdited = false;
    await refreshPilot();
    return answer;
  }, (answer) => `Pilot window saved: ${shownTime(answer.pilot.starts_at)} to ${shownTime(answer.pilot.ends_at)} `
    + `(${answer.pilot.state}).${answer.policy_lowered
      ? ` The longest opt-in is lowered to the pilot's length: ${durationWords(answer.policy.max_grant_seconds)}.`
      : ''}`,
  showRefusal({ starts_at: 'pilot-starts', ends_at: 'pilot-ends' }, { bad_window: 'ends_at' }));
}

async function endPilot() {
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
}

function savePolicy(event) {
  event.preventDefault();
  clearFieldErrors($('policy-form'));
  const amount = Number($('policy-amount').value);
  if (!(amount > 0)) {
    fieldError('policy-amount', 'Enter a positive number.');
    return;
  }
  const seconds = Math.round(amount * Number($('policy-unit').value));
  const length = pilotLength();
  if (length !== null && seconds > length) {
    fieldError('policy-amount', `At most the pilot's length: ${durationWords(Math.floor(length))}.`);
    return;
  }
  act('policy', async () => {
    await api('/api/policy', { method: 'PUT', json: { max_grant_seconds: seconds } });
    $('policy-amount').blur();
    await refreshPilot();
  }, () => `Residents may now opt in for at most ${$('policy-now').textContent}.`,
  showRefusal({ max_grant_seconds: 'policy-amount' }, { bad_policy: 'max_grant_seconds' }));
}

/** Wire the pilot's and the policy's forms (once, after log-in). */
export function wirePilot() {
  for (const id of ['pilot-starts', 'pilot-ends']) $(id).addEventListener('input', () => { state.pilotEdited = true; });
  $('pilot-form').addEventListener('submit', savePilot);
  $('end-pilot').addEventListener('click', endPilot);
  $('policy-form').addEventListener('submit', savePolicy);
}

// The resident's page, sharing one camera with police: one big switch whose label always says what is true now
// ("Shared · 7 h 59 min left" / "Not shared"), quick time boxes that share at once (1 hour, 8 hours, 1 day, 7
// days, until the pilot ends; within the admin's cap and the pilot), "+1 hour" on a shared camera, sound as a
// consent of its own, and stopping at once. A withdrawal that failed for want of a log-in is remembered and done
// right after the next log-in (see `finishAfterLogin`).

import { ApiError, api, el, rememberAction, say, sessionEnded } from './session.js';
import { durationWords, localTime, parseWhen, timeNode } from './time-words.js';
import { $, replaceKeepingFocus } from './dom.js';
import { errorText } from './resident-words.js';
import { countdown } from './resident-clocks.js';
import { agencyName, pilotRunning, refresh, state } from './resident-state.js';

const HOUR = 3600;
const QUICK = [HOUR, 8 * HOUR, 24 * HOUR, 7 * 24 * HOUR].map((seconds) => [seconds, durationWords(seconds)]);

const nameOf = (entry) => entry.camera.name || entry.camera.id;

/** Seconds left in the pilot now (0 when not running or unknown). */
function pilotLeft() {
  const end = parseWhen(state.pilot?.ends_at)?.getTime() ?? 0;
  return Math.max(0, (end - Date.now()) / 1000);
}

/** The quick time boxes: each with whether it is allowed now and what it becomes (the admin's cap, the pilot). */
function quickChoices() {
  const max = Number(state.policy?.max_grant_seconds) || 0;
  const left = pilotLeft();
  const choices = QUICK.map(([seconds, label]) => {
    if (max && seconds > max) return { seconds, label, disabled: true, note: `over the ${durationWords(max)} limit` };
    return { seconds, label, disabled: false, note: seconds > left ? 'until the pilot ends, sooner' : '' };
  });
  const untilEnd = max && max < left
    ? { seconds: null, label: 'Until the pilot ends', disabled: true, note: `over the ${durationWords(max)} limit` }
    : { seconds: null, label: 'Until the pilot ends', disabled: false, note: state.pilot?.ends_at ? localTime(state.pilot.ends_at, true) : '' };
  return [...choices, untilEnd];
}

/** The form that opens when the switch is turned on: with whom, sound, then one tap on a time box shares. */
function chooser(entry) {
  const { key } = entry;
  const name = nameOf(entry);
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
    'form', { className: 'chooser', id: `${key}-chooser`, novalidate: true, 'aria-label': `Share ${name}: with whom and for how long`, hidden: !entry.choosing },
    el('div', { className: 'field' }, el('label', { for: scope.id }, 'Which agencies may watch'), scope),
    list,
    // Audio is a consent of its own: off unless ticked (and it can be turned off later without stopping video).
    el('label', { className: 'check' },
      el('input', { type: 'checkbox', name: 'audio', id: `${key}-audio-optin` }), 'Share sound too (off unless ticked)'),
    el('fieldset', { className: 'quick' },
      el('legend', {}, `Share ${name} for`),
      el('div', { className: 'quick-row' }, ...quickChoices().map((choice) => el('button', {
        type: 'submit', name: 'box', value: choice.seconds === null ? 'pilot' : String(choice.seconds),
        disabled: choice.disabled, className: 'quick-box', 'aria-label': `Share ${name} for ${choice.label}${choice.note ? ` (${choice.note})` : ''}`,
      }, choice.label, choice.note ? el('small', {}, choice.note) : null))),
      max ? el('p', { className: 'hint muted' }, `Your administrator allows at most ${durationWords(max)} at a time.`) : null),
    error,
    el('div', { className: 'toolbar' },
      el('button', { type: 'button', id: `${key}-cancel`, onclick: () => cancelChoosing(entry) }, 'Cancel')),
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    optIn(entry, form, event.submitter?.value ?? String(HOUR));
  });
  return form;
}

/** What the big switch's label says beside its name: the truth now, in a few words. */
function switchState(entry, sharing, optedIn) {
  const { grant } = entry.camera;
  if (sharing) {
    return el('span', { className: 'switch-state', 'data-consent': 'shared' },
      'Shared · ', countdown(grant.ends_at, `${entry.key}-left`));
  }
  if (optedIn) {
    return el('span', { className: 'switch-state', 'data-consent': 'paused' }, 'Opted in · no one can watch while the pilot is not running');
  }
  if (entry.choosing) return el('span', { className: 'switch-state', 'data-consent': 'choosing' }, 'Not shared yet · choose for how long below');
  return el('span', { className: 'switch-state', 'data-consent': 'off' }, pilotRunning() ? 'Not shared' : 'Not shared · the pilot is not running');
}

/** The sentence under the switch: shared with whom until when, or why not. */
function consentSummary(entry, sharing) {
  const { grant } = entry.camera;
  const name = nameOf(entry);
  const attrs = { className: 'consent-state', id: `${entry.key}-consent`, tabindex: '-1' };
  if (sharing) {
    const scope = Array.isArray(grant.agencies)
      ? `only with ${grant.agencies.map(agencyName).join(', ')}`
      : 'with every agency in the pilot';
    return el('p', { ...attrs, 'data-consent': 'shared', 'data-audio': String(Boolean(grant.audio)) },
      `Shared ${scope}, until `, timeNode(grant.ends_at, true), '. ',
      grant.audio ? 'Video and sound.' : 'Video only, no sound.');
  }
  const pilotNote = pilotRunning() ? '' : ' Opting in is off while the pilot is not running.';
  if (grant?.revoked_at) {
    return el('p', { ...attrs, 'data-consent': 'withdrawn' },
      'You withdrew consent at ', timeNode(grant.revoked_at, true), `: no one can watch ${name}.${pilotNote}`);
  }
  if (grant && !grant.live && (state.pilot?.state === 'over' || grant.pilot_run !== state.pilot?.run)) {
    // Consent belongs to the pilot it was given in: it never carries into the next one.
    return el('p', { ...attrs, 'data-consent': 'pilot-ended' },
      `Your consent ended with the pilot it was given in: no one can watch ${name}. `,
      pilotRunning() ? 'This is a new pilot: opt in again to share it.' : 'A new pilot starts with no camera shared.');
  }
  if (grant && parseWhen(grant.ends_at) && parseWhen(grant.ends_at).getTime() <= Date.now()) {
    return el('p', { ...attrs, 'data-consent': 'expired' },
      'Your consent ended at ', timeNode(grant.ends_at, true), `: no one can watch ${name}.${pilotNote}`);
  }
  if (grant?.live && !pilotRunning()) {
    return el('p', { ...attrs, 'data-consent': 'paused' },
      `Not watchable now: the pilot is not running, so no one can watch ${name} even though you opted in until `,
      timeNode(grant.ends_at, true), '.');
  }
  return el('p', { ...attrs, 'data-consent': 'none' }, `Officers cannot watch ${name}.${pilotNote}`);
}

/** Seconds "+1 hour" adds now (less when the admin's cap or the pilot's end is nearer), or 0 when it cannot. */
function oneMoreHour(grant) {
  const left = Math.max(0, ((parseWhen(grant.ends_at)?.getTime() ?? 0) - Date.now()) / 1000);
  const max = Number(state.policy?.max_grant_seconds) || Infinity;
  const room = Math.min(max, pilotLeft()) - left;
  return room >= 60 ? Math.min(HOUR, room) : 0;
}

/**
 * Draw the camera's sharing block (only when what it shows changed, or to move focus to `focusId`).
 * @param {import('./resident-state.js').Entry} entry
 * @param {string|null} [focusId]
 */
export function renderConsent(entry, focusId = null) {
  const { camera, key } = entry;
  const grant = camera.grant;
  const sharing = Boolean(grant?.live) && pilotRunning();
  const consentKey = JSON.stringify([grant, state.pilot?.state, state.pilot?.ends_at, state.policy?.max_grant_seconds,
    [...state.agencies.keys()]]);
  if (consentKey === entry.consentKey && !focusId) return;
  entry.consentKey = consentKey;
  if (sharing || !pilotRunning()) entry.choosing = false;
  const name = nameOf(entry);
  // Withdrawing stays possible whatever the pilot does; opting in only while it runs.
  const withdrawable = Boolean(grant?.live);
  const toggle = el('input', {
    type: 'checkbox', role: 'switch', id: `${key}-share`, checked: sharing || withdrawable || entry.choosing,
    disabled: !pilotRunning() && !withdrawable, 'aria-describedby': `${key}-consent`,
  });
  toggle.addEventListener('change', () => onSwitch(entry, toggle));
  const parts = [
    el('div', { className: 'switch-row big' }, toggle,
      el('label', { for: toggle.id }, el('span', { className: 'switch-name' }, `Share ${name} with police`), switchState(entry, sharing, withdrawable))),
    consentSummary(entry, sharing),
  ];
  if (withdrawable) {
    const more = oneMoreHour(grant);
    const audio = el('input', {
      type: 'checkbox', role: 'switch', id: `${key}-audio`, checked: Boolean(grant.audio), 'aria-describedby': `${key}-consent`,
    });
    audio.addEventListener('change', () => setAudio(entry, audio));
    parts.push(el('div', { className: 'toolbar share-tools' },
      el('button', {
        type: 'button', id: `${key}-more`, disabled: !more, onclick: () => extend(entry),
        'aria-label': `Share ${name} for one hour more`,
      }, more >= HOUR ? '+1 hour' : '+1 hour (at the limit)'),
      el('div', { className: 'switch-row sound' }, audio, el('label', { for: audio.id }, `Share sound from ${name} too`))));
  } else if (pilotRunning()) {
    parts.push(chooser(entry));
  }
  const box = $('.consent', entry.section);
  box.dataset.sharing = String(sharing);
  // A control that vanished (the chooser after opting in) hands focus on to the summary.
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
    $('.switch-state', entry.section)?.replaceWith(switchState(entry, false, false));
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
  $('.switch-state', entry.section)?.replaceWith(switchState(entry, false, false));
  const toggle = document.getElementById(`${entry.key}-share`);
  if (toggle) {
    toggle.checked = false;
    if (focus) toggle.focus();
  }
}

async function share(entry, body) {
  return api(`/api/cameras/${encodeURIComponent(entry.camera.id)}/grant`, { json: body });
}

async function optIn(entry, form, box) {
  const name = nameOf(entry);
  const data = new FormData(form);
  const agencies = data.get('scope') === 'some' ? data.getAll('agency').map(String) : null;
  const error = $('.error', form);
  if (agencies && !agencies.length) {
    error.textContent = 'Tick at least one agency, or choose every agency.';
    $('select[name=scope]', form).focus();
    return;
  }
  const buttons = form.querySelectorAll('button');
  for (const button of buttons) button.disabled = true;
  error.textContent = '';
  try {
    const answer = await share(entry, {
      duration_seconds: box === 'pilot' ? null : Number(box), agencies, audio: data.get('audio') === 'on',
    });
    entry.camera = { ...entry.camera, grant: answer.grant };
    entry.choosing = false;
    renderConsent(entry, `${entry.key}-share`);
    say(`${name} is shared until ${localTime(answer.grant.ends_at, true)}.`, 'ok');
    refresh(['cameras']);
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) sessionEnded(err.reason);
    for (const button of buttons) button.disabled = false;
    error.textContent = err instanceof ApiError && err.reason === 'no_pilot'
      ? 'The pilot is not running, so you cannot opt in.'
      : errorText(err, `sharing ${name}`);
    refresh(['cameras']);
  }
}

/** "+1 hour": the same consent (agencies, sound) lengthened to an hour after its current end (`extend`: the same
 * grant, so an officer the owner stopped stays barred). */
async function extend(entry) {
  const { grant } = entry.camera;
  const name = nameOf(entry);
  const more = oneMoreHour(grant);
  if (!more) return;
  const left = Math.max(0, ((parseWhen(grant.ends_at)?.getTime() ?? 0) - Date.now()) / 1000);
  try {
    const answer = await share(entry, {
      duration_seconds: Math.round(left + more), agencies: grant.agencies, audio: Boolean(grant.audio), extend: true,
    });
    entry.camera = { ...entry.camera, grant: answer.grant };
    renderConsent(entry, `${entry.key}-more`);
    say(`${name} is shared for ${durationWords(Math.round(more / 60) * 60)} more: until ${localTime(answer.grant.ends_at, true)}.`, 'ok');
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) sessionEnded(err.reason);
    say(errorText(err, `sharing ${name} longer`), 'error');
  }
  refresh(['cameras']);
}

/** Turn sound on or off on the live grant; the video goes on either way. */
async function setAudio(entry, input) {
  const name = nameOf(entry);
  const on = input.checked;
  input.disabled = true;
  say(on ? `Sharing sound from ${name}…` : `Stopping sound from ${name}…`);
  try {
    const answer = await api(`/api/cameras/${encodeURIComponent(entry.camera.id)}/grant/audio`, {
      method: 'PUT', json: { audio: on },
    });
    entry.camera = { ...entry.camera, grant: answer.grant };
    renderConsent(entry, `${entry.key}-audio`);
    say(on ? `Sound from ${name} is shared too.` : `Sound from ${name} is no longer shared: video only.`, 'ok');
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) sessionEnded(err.reason);
    entry.consentKey = null;
    renderConsent(entry, `${entry.key}-audio`);
    say(errorText(err, `changing sound for ${name}`), 'error');
  }
  refresh(['cameras']);
}

/**
 * Withdraw now. If the session has ended, say it was NOT withdrawn, remember it, and log in again: the page then
 * withdraws at once, with no further click (`finishAfterLogin`).
 * @param {import('./resident-state.js').Entry} entry
 */
export async function withdraw(entry) {
  const name = nameOf(entry);
  for (const node of $('.consent', entry.section).querySelectorAll('button, input')) node.disabled = true;
  say(`Withdrawing consent for ${name}…`);
  try {
    const answer = await api(`/api/cameras/${encodeURIComponent(entry.camera.id)}/grant`, { method: 'DELETE' });
    entry.camera = { ...entry.camera, grant: answer.grant };
    renderConsent(entry, `${entry.key}-share`);
    const at = answer.grant?.revoked_at ? ` at ${localTime(answer.grant.revoked_at, true)}` : '';
    say(`Withdrawn${at}: no one can watch ${name} now.`, 'ok');
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) {
      const words = `NOT withdrawn: log in to withdraw consent for ${name}. It is withdrawn as soon as you log in.`;
      say(words, 'error');
      rememberAction({ kind: 'withdraw', camera: entry.camera.id, name, username: state.me?.username, words });
      sessionEnded(err.reason);
      return;
    }
    entry.consentKey = null;
    renderConsent(entry, `${entry.key}-share`);
    say(errorText(err, `withdrawing consent for ${name}`), 'error');
  }
  refresh(['cameras']);
}

/**
 * Finish what failed for want of a log-in in this tab (withdrawals), now that the same person logged in again;
 * say what was done. Returns once every one was tried.
 * @param {any[]} actions from session.js's `takeActions`
 */
export async function finishAfterLogin(actions) {
  const done = [];
  for (const action of actions) {
    if (action.kind !== 'withdraw') continue;
    try {
      const answer = await api(`/api/cameras/${encodeURIComponent(action.camera)}/grant`, { method: 'DELETE' });
      const at = answer.grant?.revoked_at ? ` at ${localTime(answer.grant.revoked_at, true)}` : '';
      done.push(`Withdrawn${at}, as you asked before logging in: no one can watch ${action.name} now.`);
    } catch (err) {
      done.push(`NOT withdrawn: ${errorText(err, `withdrawing consent for ${action.name}`)} Use the switch to try again.`);
    }
  }
  if (done.length) {
    state.news = done.join(' ');
    say(state.news, done.every((d) => d.startsWith('Withdrawn')) ? 'ok' : 'error');
  }
}

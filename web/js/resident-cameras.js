// The resident's page, one camera at a time: its card (live status, who is watching now, sharing with police,
// and the frame its viewing history fills in, see resident-history.js), the opt-in switch with its chooser (how
// long, which agencies; within the admin's cap and the pilot), the countdown of a grant, and withdrawing at once.

import { ApiError, api, el, say } from './session.js';
import { durationWords, localTime, parseWhen, timeNode } from './time-words.js';
import { $, replaceKeepingFocus } from './dom.js';
import { errorText } from './resident-words.js';
import { countdown, since } from './resident-clocks.js';
import { agencyName, pilotRunning, refresh, state } from './resident-state.js';

const STATES = {
  offline: ['Offline', 'the camera is not connected to the hub.'],
  idle: ['Idle', 'connected, sending no video (it sends only while an officer you allowed is watching).'],
  connecting: ['Connecting', 'starting to send video to the hub.'],
  streaming: ['Streaming', 'sending video to the hub now.'],
  paused: ['Paused at the camera', 'it sends nothing, whatever the hub asks, until you resume it there.'],
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
    el('p', { className: 'masks-link' },
      el('a', { href: `/resident/masks?camera=${encodeURIComponent(camera.id)}` }, `Privacy masks for ${name}`),
      ': hide parts of the picture before it ever leaves your home.'),
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
      el('br'), 'Watching since ', timeNode(w.since, true), ' (for ', since(w.since), ')',
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
  const pilotEnd = parseWhen(state.pilot?.ends_at)?.getTime() ?? 0;
  const pilotLeft = Math.max(0, (pilotEnd - Date.now()) / 1000);
  const capText = max ? `the administrator allows at most ${durationWords(max)}` : '';
  const fixed = [[3600, '1 hour'], [8 * 3600, '8 hours'], [24 * 3600, '24 hours'], [7 * 86400, '7 days']];
  const choices = fixed.map(([seconds, label]) => {
    if (max && seconds > max) return { value: String(seconds), label: `${label} (over the limit: ${capText})`, disabled: true };
    const capped = seconds > pilotLeft ? ' (capped: the pilot ends sooner)' : '';
    return { value: String(seconds), label: label + capped, disabled: false };
  });
  let untilEnd = 'Until the pilot ends';
  if (max && max < pilotLeft) untilEnd += ` (capped at ${durationWords(max)}: ${capText})`;
  else if (state.pilot?.ends_at) untilEnd += ` (${localTime(state.pilot.ends_at, true)})`;
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
    max ? el('p', { className: 'hint muted' }, `Your administrator allows at most ${durationWords(max)} at a time.`) : null,
    el('div', { className: 'field' }, el('label', { for: scope.id }, 'Which agencies may watch'), scope),
    list,
    // Audio is a consent of its own: off unless ticked (and it can be turned off later without stopping video).
    el('label', { className: 'check' },
      el('input', { type: 'checkbox', name: 'audio', id: `${key}-audio-optin` }), 'Share sound too (off unless ticked)'),
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
    return el('p', { ...attrs, 'data-consent': 'shared', 'data-audio': String(Boolean(grant.audio)) },
      el('strong', {}, 'Shared '), `${scope}, until `, timeNode(grant.ends_at, true), '. ',
      grant.audio ? 'Video and sound. ' : 'Video only, no sound. ',
      el('span', { className: 'left' }, 'Time left: ', countdown(grant.ends_at, `${entry.key}-left`), '.'));
  }
  const pilotNote = pilotRunning() ? '' : ' Opting in is off while the pilot is not running.';
  if (grant?.revoked_at) {
    return el('p', { ...attrs, 'data-consent': 'withdrawn' },
      el('strong', {}, 'Not shared. '), 'You withdrew consent at ', timeNode(grant.revoked_at, true),
      `: no one can watch ${name}.${pilotNote}`);
  }
  if (grant && !grant.live && (state.pilot?.state === 'over' || grant.pilot_run !== state.pilot?.run)) {
    // Consent belongs to the pilot it was given in: it never carries into the next one.
    return el('p', { ...attrs, 'data-consent': 'pilot-ended' },
      el('strong', {}, 'Not shared. '), `Your consent ended with the pilot it was given in: no one can watch ${name}. `,
      pilotRunning() ? 'This is a new pilot: opt in again to share it.' : 'A new pilot starts with no camera shared.');
  }
  if (grant && parseWhen(grant.ends_at) && parseWhen(grant.ends_at).getTime() <= Date.now()) {
    return el('p', { ...attrs, 'data-consent': 'expired' },
      el('strong', {}, 'Not shared. '), 'Your consent ended at ', timeNode(grant.ends_at, true),
      `: no one can watch ${name}.${pilotNote}`);
  }
  if (grant?.live && !pilotRunning()) {
    return el('p', { ...attrs, 'data-consent': 'paused' },
      el('strong', {}, 'Not watchable now: '), `the pilot is not running, so no one can watch ${name} even though you opted in until `,
      timeNode(grant.ends_at, true), '.');
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
    const audio = el('input', {
      type: 'checkbox', role: 'switch', id: `${key}-audio`, checked: Boolean(grant.audio),
      'aria-describedby': `${key}-consent`,
    });
    audio.addEventListener('change', () => setAudio(entry, audio));
    parts.push(el('div', { className: 'switch-row sound' }, audio,
      el('label', { for: audio.id }, `Share sound from ${name} too`)));
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
      json: { duration_seconds: box === 'pilot' ? null : Number(box), agencies, audio: data.get('audio') === 'on' },
    });
    entry.camera = { ...entry.camera, grant: answer.grant };
    entry.choosing = false;
    renderConsent(entry, `${entry.key}-consent`);
    say(`${name} is shared until ${localTime(answer.grant.ends_at, true)}.`, 'ok');
    refresh(['cameras']);
  } catch (err) {
    button.disabled = false;
    error.textContent = err instanceof ApiError && err.reason === 'no_pilot'
      ? 'The pilot is not running, so you cannot opt in.'
      : errorText(err, `sharing ${name}`);
    refresh(['cameras']);
  }
}

/** Turn sound on or off on the live grant; the video goes on either way. */
async function setAudio(entry, input) {
  const name = entry.camera.name || entry.camera.id;
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
    entry.consentKey = null;
    renderConsent(entry, `${entry.key}-audio`);
    say(errorText(err, `changing sound for ${name}`), 'error');
  }
  refresh(['cameras']);
}

async function withdraw(entry) {
  const name = entry.camera.name || entry.camera.id;
  for (const node of $('.consent', entry.section).querySelectorAll('button, input')) node.disabled = true;
  say(`Withdrawing consent for ${name}…`);
  try {
    const answer = await api(`/api/cameras/${encodeURIComponent(entry.camera.id)}/grant`, { method: 'DELETE' });
    entry.camera = { ...entry.camera, grant: answer.grant };
    renderConsent(entry, `${entry.key}-share`);
    const at = answer.grant?.revoked_at ? ` at ${localTime(answer.grant.revoked_at, true)}` : '';
    say(`Withdrawn${at}: no one can watch ${name} now.`, 'ok');
  } catch (err) {
    entry.consentKey = null;
    renderConsent(entry, `${entry.key}-share`);
    say(errorText(err, `withdrawing consent for ${name}`), 'error');
  }
  refresh(['cameras']);
}

/**
 * Show my cameras: each keeps its card (and so its open chooser and focus) across redraws; cards of cameras that
 * are gone are dropped. Returns the entries shown, in order (their histories are loaded by the caller).
 * @param {any[]} cameras as `GET /api/cameras` lists them
 * @returns {import('./resident-state.js').Entry[]}
 */
export function renderCameras(cameras) {
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

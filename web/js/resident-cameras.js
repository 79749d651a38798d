// The resident's page, one camera at a time, compact on a phone: its card shows first what matters now (its state,
// whether it is shared and for how long, who is watching with a button to stop each one's view, and one big
// Share/Stop switch, see resident-share.js), then under "Details" its location, privacy masks and the viewing
// history the records fill in (see resident-history.js, resident-location.js).

import { ApiError, api, el, rememberAction, say, sessionEnded } from './session.js';
import { timeNode } from './time-words.js';
import { $ } from './dom.js';
import { errorText } from './resident-words.js';
import { since } from './resident-clocks.js';
import { agencyName, refresh, state } from './resident-state.js';
import { renderConsent } from './resident-share.js';
import { locationForm } from './resident-location.js';

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
  const entry = {
    camera, section: null, key, choosing: false, consentKey: null, watchKey: null, recordsKey: null, openViews: 0,
    rechecks: 0, locationKey: null,
  };
  entry.section = el(
    'section',
    { className: 'camera', 'data-camera': camera.id, 'aria-labelledby': `${key}-title` },
    el('div', { className: 'camera-head' },
      el('h3', { id: `${key}-title` }, name),
      el('p', { className: 'camera-state' })),
    el('div', { className: 'consent' }),
    el('div', { className: 'block watching-block' },
      el('h4', {}, 'Watching now'),
      el('div', { className: 'watching' })),
    el('details', { className: 'camera-details', id: `${key}-details` },
      el('summary', {}, `Details of ${name}: location, privacy masks, viewing history`),
      el('div', { className: 'block location-block' },
        el('h4', {}, 'Where it is'),
        el('div', { className: 'location' })),
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
            el('div', { className: 'full-slot' }))))),
  );
  return entry;
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
      'li', { 'data-officer': w.officer ?? '', 'data-viewer': w.id ?? '' },
      el('strong', {}, `Officer ${w.officer ?? '?'}`), ', ', agencyName(w.agency),
      el('br'), 'Case number ', el('strong', {}, String(w.case ?? '?')),
      el('br'), 'Watching since ', timeNode(w.since), ' (for ', since(w.since), ')',
      w.id ? el('button', {
        type: 'button', className: 'stop-view', onclick: (event) => stopView(entry, w, event.currentTarget),
        'aria-label': `Stop officer ${w.officer ?? '?'}'s view of ${name}`,
      }, 'Stop this view') : null,
    )),
  ));
}

/**
 * Ask before stopping a view, in a modal dialog that says what it does, as the admin page asks: focus opens on
 * Cancel; Escape or Cancel answer no, and focus goes back to the button that asked. True only on "Stop the view".
 */
function confirmStop(who, name) {
  let dialog = document.getElementById('stop-view-dialog');
  if (!dialog) {
    dialog = el('dialog', { id: 'stop-view-dialog', 'aria-labelledby': 'stop-view-title', 'aria-describedby': 'stop-view-text' },
      el('h2', { id: 'stop-view-title' }),
      el('p', { id: 'stop-view-text' }),
      el('p', { className: 'quick-row' },
        el('button', { type: 'button', id: 'stop-view-cancel', onclick: () => dialog.close('no') }, 'Cancel'),
        el('button', { type: 'button', id: 'stop-view-ok', className: 'withdraw', onclick: () => dialog.close('yes') }, 'Stop the view')));
    document.body.append(dialog);
  }
  if (dialog.open) return Promise.resolve(false);
  const opener = document.activeElement;
  $('#stop-view-title', dialog).textContent = `Stop ${who}'s view of ${name}?`;
  $('#stop-view-text', dialog).textContent = `Their video stops now, and they cannot watch ${name} again until you `
    + 'share it again or approve a new request from them. Other officers keep watching; the camera stays shared.';
  dialog.returnValue = '';
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => {
      if (opener && opener.isConnected) opener.focus();
      resolve(dialog.returnValue === 'yes');
    }, { once: true });
    dialog.showModal();
    $('#stop-view-cancel', dialog).focus();
  });
}

/** Stop one officer's view of the camera now, after asking: that officer may not watch it again until the next
 * grant (the hub refuses them); the others watch on and consent stays as it is. */
async function stopView(entry, watcher, button) {
  const name = entry.camera.name || entry.camera.id;
  const who = `officer ${watcher.officer ?? '?'}`;
  if (!await confirmStop(who, name)) return;
  button.disabled = true;
  try {
    const answer = await api(`/api/cameras/${encodeURIComponent(entry.camera.id)}/views/${encodeURIComponent(watcher.id)}`, { method: 'DELETE' });
    // Said after the redraw too, where "stopped watching" would otherwise replace it.
    state.news = answer?.barred === false
      ? `You stopped ${who}'s view of ${name}, but the hub could not note that they may not come back: if they start `
        + 'again, stop sharing to keep everyone out.'
      : `You stopped ${who}'s view of ${name}. They cannot watch it again until you share it again; others keep `
        + 'watching.';
    say(state.news, 'ok');
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) {
      rememberAction({ kind: 'note', username: state.me?.username, words: `NOT stopped: ${who}'s view of ${name} (log in, then stop it again).` });
      sessionEnded(err.reason);
      return;
    }
    button.disabled = false;
    say(err instanceof ApiError && err.reason === 'view_unknown'
      ? `${who[0].toUpperCase()}${who.slice(1)} is no longer watching ${name}.`
      : errorText(err, `stopping ${who}'s view of ${name}`), err instanceof ApiError && err.reason === 'view_unknown' ? '' : 'error');
  }
  refresh(['watchers']);
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
    renderConsent(entry);
    renderWatching(entry);
    locationForm(entry);
    return entry;
  });
  const ids = new Set(cameras.map((c) => c.id));
  for (const id of [...state.cams.keys()]) if (!ids.has(id)) state.cams.delete(id);
  const sections = entries.map((e) => e.section);
  const shown = [...list.children];
  if (shown.length !== sections.length || shown.some((node, i) => node !== sections[i])) list.replaceChildren(...sections);
  return entries;
}

// The resident's page: my cameras with their live status and who is watching now; sharing each camera with police
// for a chosen time box (and withdrawing at once); and each camera's viewing history, built from its audit records
// and checked in the browser against the log's signed checkpoint (see merkle.js). What the history says comes from
// the signed record text only, never from the hub's parsed copy beside it. Below the cameras, officers' requests
// for access to my cameras: approve (an ordinary time-boxed grant for that officer's agency) or decline, in one tap.
//
// This module starts the page (log-in, finishing what failed for want of one, live updates, the clocks) and loads
// what changed; the rest is in resident-cameras.js (the camera cards), resident-share.js (sharing and
// withdrawing), resident-location.js, resident-history.js (the checked viewing history), resident-requests.js (the
// requests panel), resident-clocks.js, resident-words.js and resident-state.js.

import { ApiError, api, live, logout, requireLogin, say, takeActions } from './session.js';
import { parseVerifierKey } from './merkle.js';
import { $ } from './dom.js';
import { errorText } from './resident-words.js';
import { timeNode } from './time-words.js';
import { countdown, tick } from './resident-clocks.js';
import { refresh, setLoader, state } from './resident-state.js';
import { renderCameras } from './resident-cameras.js';
import { finishAfterLogin } from './resident-share.js';
import { loadRecords, recheckOpenViews } from './resident-history.js';
import { renderRequests } from './resident-requests.js';
import { setupNotifications } from './resident-notify.js';

// The pilot --------------------------------------------------------------------------------------------------

function renderPilot() {
  const box = $('#pilot');
  const pilot = state.pilot;
  const kind = pilot?.state ?? 'unknown';
  box.dataset.pilot = kind;
  let parts;
  switch (kind) {
    case 'running':
      parts = ['The pilot is running until ', timeNode(pilot.ends_at, true), ' (', countdown(pilot.ends_at, 'pilot-left'),
        '). You can share your cameras with police until then. Sharing you chose in an earlier pilot does not',
        ' carry over: a camera is shared in this pilot only if you opted it in during it.'];
      break;
    case 'scheduled':
      parts = ['The pilot has not started: it runs from ', timeNode(pilot.starts_at, true), ' (in ',
        countdown(pilot.starts_at, 'pilot-starts', ''), ') to ', timeNode(pilot.ends_at, true),
        '. No one can watch your cameras before it starts, and you cannot opt in yet.'];
      break;
    case 'over':
      parts = ['The pilot is over (it ended ', timeNode(pilot.ends_at, true),
        '). No one can watch your cameras, and opting in is off. If a new pilot starts, none of your cameras',
        ' will be shared in it until you opt in again.'];
      break;
    case 'none':
      parts = ['There is no pilot running. No one can watch your cameras, and opting in is off.'];
      break;
    default:
      parts = ['Could not find out whether the pilot is running.'];
  }
  box.replaceChildren(...parts);
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

/**
 * What a refresh does (see resident-state.js): fetch again what `topics` say changed, and draw it; a camera's
 * history is loaded again only when its grant or watchers changed, or a `records:<camera>` topic asks for it.
 * @param {string[]} topics
 */
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

// Start ------------------------------------------------------------------------------------------------------

async function start() {
  $('#logout').addEventListener('click', () => logout());
  const loginBox = $('#login');
  let me;
  try {
    me = await requireLogin(loginBox, ['resident']);
  } catch (err) {
    say(errorText(err, 'this page'), 'error');
    return;
  }
  state.me = me.account;
  $('#whoami').textContent = `Logged in as ${me.account.username}`;
  $('#account').hidden = false;
  $('#page').hidden = false;
  if (me.formShown) $('#cameras-title').focus();
  // A withdrawal that failed for want of a log-in in this tab is done now, with no further click.
  await finishAfterLogin(takeActions(me.account.username));
  setupNotifications($('#notify')); // this device's notifications: asks for permission only on its button
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

setLoader(load);
start();

// The admin page, live views: who is watching which camera right now, on every hub (on a cluster, which hub holds
// each view: the one the officer's browser reached), for how long, and ending one. Ending asks for a reason
// (required, at most 200 characters): the hub puts it on the session.ended record and tells the officer, whose
// tile says "Ended by an administrator: <reason>".

import { api, el } from './session.js';
import { clock } from './time-words.js';
import { $, act, cell, replaceRows, shownTime, state } from './admin-state.js';
import { MAX_REASON, askReason } from './admin-dialog.js';

/** Fetch the live views and show them. */
export async function refreshLive() {
  const answer = await api('/api/live');
  state.views = answer.views;
  // One hub: no hub to name, so no column for it.
  $('live-hub-col').hidden = answer.single_hub;
  state.thisHub = answer.single_hub ? null : answer.this_hub;
  const empty = state.views.length === 0;
  $('live-empty').hidden = !empty;
  $('live-table').hidden = empty;
  replaceRows($('live-rows'), state.views.map((view) => viewRow(view, answer)));
  tickLive();
}

/**
 * Which hub holds a view, in words: this one (the admin may be on any hub), or another by its name.
 * @param {string} hub
 * @param {string} thisHub
 * @returns {string}
 */
export function hubWords(hub, thisHub) {
  return hub === thisHub ? `this hub (${hub})` : hub;
}

function viewRow(view, answer) {
  const who = view.officer || 'unknown officer';
  return el(
    'tr', { 'data-key': view.id, 'data-officer': who },
    cell('Officer', {}, who),
    cell('Agency', {}, view.agency || '—'),
    cell('Camera', {}, view.camera),
    cell('Hub', { hidden: answer.single_hub }, hubWords(view.hub, answer.this_hub)),
    cell('Case number', {}, view.case || '—'),
    cell('Since', {}, shownTime(view.since), ' ', el('span', { className: 'muted since', 'data-since': view.since })),
    cell('Action', {}, el('button', {
      type: 'button', className: 'danger', 'data-focus': `end:${view.id}`,
      'aria-label': `End ${who}'s session on ${view.camera}`, onclick: () => endView(view),
    }, 'End session…')),
  );
}

/** Update how long each view has lasted (every second). */
export function tickLive() {
  const now = Date.now();
  for (const span of document.querySelectorAll('#live-rows [data-since]')) {
    span.textContent = `(for ${clock((now - Date.parse(span.dataset.since)) / 1000)})`;
  }
}

async function endView(view) {
  const who = view.officer || 'the officer';
  await act(`end:${view.id}`, async () => {
    const ended = await askReason({
      title: `End ${who}'s view of ${view.camera}?`,
      text: `The video stops at once. ${who} is told it was ended by an administrator, with your reason, and the `
        + `reason goes on the audit record (at most ${MAX_REASON} characters).`,
      action: 'End the view',
      submit: (reason) => api(`/api/live/${encodeURIComponent(view.id)}`, { method: 'DELETE', json: { reason } }),
    });
    await refreshLive();
    return ended;
  }, (ended) => (ended ? `Ended ${who}'s view of ${view.camera}.` : `${who}'s view of ${view.camera} goes on.`));
}

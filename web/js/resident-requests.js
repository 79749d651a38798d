// The resident's page, requests for access: officers' requests for my cameras, the waiting ones first (oldest at
// the top, each with its countdown and Approve / Decline: one tap, final; an approval is an ordinary time-boxed
// grant for that officer's agency, withdrawable like any other), then the latest answered or expired ones. New
// requests are announced; urgent ones in the alert region, and the tab's title counts those waiting.

import { ApiError, api, el, say } from './session.js';
import {
  expiryCountdown, requestFacts, splitRequests, stateBadge, stateWords, urgentMark,
} from './requests.js';
import { durationWords, localTime } from './time-words.js';
import { $, replaceKeepingFocus } from './dom.js';
import { errorText } from './resident-words.js';
import { agencyName, refresh, state } from './resident-state.js';

const EARLIER_SHOWN = 5;

function officerWords(request) {
  return `officer ${request.officer ?? '?'} (${agencyName(request.agency)})`;
}

function pendingItem(request) {
  const id = `request-${request.id}`;
  const whose = `${request.officer ?? 'the officer'}'s request for ${request.camera_name}`;
  return el(
    'li', { className: `request${request.urgent ? ' urgent' : ''}`, id, 'data-request': request.id, 'data-state': 'pending' },
    el('p', { className: 'request-head' },
      request.urgent ? urgentMark() : null, request.urgent ? ' ' : null,
      `${officerWords(request).replace(/^o/, 'O')} asks to watch `, el('strong', {}, request.camera_name),
      ` for ${durationWords(request.duration_seconds)}.`),
    requestFacts(request, [['Time left to answer', expiryCountdown(request.expires_at)]]),
    el('div', { className: 'toolbar' },
      el('button', { type: 'button', className: 'approve', id: `${id}-approve`, 'aria-label': `Approve ${whose}`,
        onclick: () => answer(request, 'approve') }, 'Approve'),
      el('button', { type: 'button', className: 'decline', id: `${id}-decline`, 'aria-label': `Decline ${whose}`,
        onclick: () => answer(request, 'decline') }, 'Decline')),
  ); // prettier-ignore
}

function earlierItem(request) {
  return el(
    'li', { className: 'request earlier', 'data-request': request.id, 'data-state': request.state },
    el('p', { className: 'request-head' }, stateBadge(request), ' ',
      `${officerWords(request).replace(/^o/, 'O')}, `, el('strong', {}, request.camera_name),
      `, case ${request.case ?? '?'}, ${durationWords(request.duration_seconds)}${request.urgent ? ', urgent' : ''}. `,
      stateWords(request, 'owner')),
  ); // prettier-ignore
}

/** Tell the owner about requests that arrived since the last look (urgent ones in the alert region). */
function requestNews(pending) {
  const first = state.seenPending === null;
  const fresh = first ? pending : pending.filter((r) => !state.seenPending.has(r.id));
  state.seenPending = new Set(pending.map((r) => r.id));
  const urgent = pending.filter((r) => r.urgent);
  const alert = $('#request-alert');
  if (!urgent.length) alert.replaceChildren();
  const freshUrgent = fresh.filter((r) => r.urgent);
  if (freshUrgent.length) {
    alert.textContent = freshUrgent.map((r) => `Urgent request: ${officerWords(r)} asks to watch ${r.camera_name} ` +
      `for ${durationWords(r.duration_seconds)} (case ${r.case}). Approve or decline it under Requests for access.`).join(' ');
  }
  const calm = fresh.filter((r) => !r.urgent);
  if (first && pending.length) {
    state.news = `${pending.length} request${pending.length === 1 ? '' : 's'} for access to your cameras ` +
      `${pending.length === 1 ? 'is' : 'are'} waiting for your answer.`;
  } else if (calm.length) {
    state.news = calm.map((r) => `New request: ${officerWords(r)} asks to watch ${r.camera_name} for ` +
      `${durationWords(r.duration_seconds)}.`).join(' ');
  }
  document.title = `${pending.length ? `(${pending.length}) ` : ''}My cameras · Porchlight`;
}

/**
 * Show the requests for my cameras (redrawn only when they changed), announcing new ones first. When the
 * focused request moved away (answered), focus goes to the next one, or the panel's title.
 * @param {any[]} requests newest first, as `GET /api/requests` lists them
 */
export function renderRequests(requests) {
  state.requests = requests;
  const { pending, earlier } = splitRequests(requests, EARLIER_SHOWN);
  requestNews(pending);
  const key = JSON.stringify([pending, earlier]);
  if (key === state.requestsKey) return;
  state.requestsKey = key;
  const box = $('#pending-requests');
  box.setAttribute('aria-busy', 'false');
  const active = document.activeElement;
  const focusedItem = active && box.contains(active) ? active.closest('li[data-request]') : null;
  const next = focusedItem?.nextElementSibling?.querySelector('button.approve')?.id
    ?? focusedItem?.previousElementSibling?.querySelector('button.approve')?.id ?? null;
  const lost = replaceKeepingFocus(box, [pending.length
    ? el('ul', { className: 'requests pending' }, ...pending.map(pendingItem))
    : el('p', { className: 'empty' }, 'No officer is waiting for your answer.')]);
  // The request just answered moved to "Earlier requests": focus goes to the next one, or the panel's title.
  if (lost) (document.getElementById(next ?? '') ?? $('#requests-title')).focus();
  $('#earlier-requests').replaceChildren(earlier.length
    ? el('ul', { className: 'requests earlier-list' }, ...earlier.map(earlierItem))
    : el('p', { className: 'empty' }, 'No earlier requests.'));
}

/** Approve or decline one request (one tap: the answer is final; a grant can still be withdrawn later). */
async function answer(request, verb) {
  const item = document.getElementById(`request-${request.id}`);
  // Busy, not disabled: a disabled button would drop the keyboard focus before the list is redrawn.
  if (item?.dataset.busy) return;
  if (item) item.dataset.busy = 'yes';
  const who = officerWords(request);
  try {
    const done = await api(`/api/requests/${encodeURIComponent(request.id)}/${verb}`, { method: 'POST' });
    if (verb === 'approve') {
      const until = done.grant?.ends_at ? `, until ${localTime(done.grant.ends_at)}` : '';
      say(`You approved the request of ${who}: ${request.agency ?? 'that agency'} may watch ${request.camera_name} ` +
        `for ${durationWords(request.duration_seconds)}${until}. You can withdraw at any moment under ${request.camera_name}.`);
    } else {
      say(`You declined the request of ${who} for ${request.camera_name}.`);
    }
  } catch (err) {
    if (err instanceof ApiError && err.status === 409) {
      say(`The request of ${who} for ${request.camera_name} was answered already or has expired.`, 'error');
    } else {
      say(errorText(err, `the request of ${who}`), 'error');
      if (item) delete item.dataset.busy;
    }
  }
  await refresh(['requests', 'cameras']);
}

// Access requests, as both sides see them: an officer asks a camera's owner for live access (case number, reason,
// how long, maybe "urgent"); only the owner's approval opens anything, as an ordinary time-boxed grant for that
// officer's agency. "Urgent" makes the owner's notification more prominent and nothing else: there is no bypass.
// This module holds the words, the times and the shared parts of a request's rendering; officer-ask.js and
// resident-requests.js build their own lists around them. Nothing here parses HTML.

import { el } from './session.js';
import { durationWords, leftWords, localTime, timeNode } from './time-words.js';

/** The durations an officer may ask for, in seconds, with their words. */
export const DURATIONS = [
  [15 * 60, '15 minutes'],
  [3600, '1 hour'],
  [4 * 3600, '4 hours'],
  [8 * 3600, '8 hours'],
];

/**
 * A countdown to a request's expiry, updated every second by `tickRequests`.
 * @param {string} iso when the request expires
 * @returns {HTMLElement}
 */
export function expiryCountdown(iso) {
  const node = el('span', { className: 'request-left', 'data-expires': iso });
  node.textContent = leftWords(iso) ?? 'none';
  return node;
}

/**
 * Every second: each request countdown on the page shows the time left; `onZero()` is called (once per
 * countdown) when one reaches zero, so the page can ask the hub again.
 * @param {() => void} onZero
 */
export function tickRequests(onZero) {
  const now = Date.now();
  let zero = false;
  for (const node of document.querySelectorAll('[data-expires]')) {
    const left = leftWords(node.dataset.expires, now);
    const text = left ?? 'none';
    if (node.textContent !== text) node.textContent = text;
    if (!left && !node.dataset.zero) {
      node.dataset.zero = 'yes';
      zero = true;
    }
  }
  if (zero) onZero();
}

/**
 * What became of a request, in a sentence, for its officer ("officer") or the camera's owner ("owner").
 * A pending request past its expiry is "expiring": the hub marks it expired within moments.
 * @param {any} request as `GET /api/requests` shows it
 * @param {'officer'|'owner'} side
 * @returns {string}
 */
export function stateWords(request, side) {
  const at = localTime(request.answered_at);
  const name = request.camera_name;
  switch (request.state) {
    case 'approved':
      return side === 'officer'
        ? `Approved by the owner at ${at}: you may watch ${name} for ${durationWords(request.duration_seconds)} from then.`
        : `You approved it at ${at}: ${request.agency ?? 'that agency'} may watch ${name} for ${durationWords(request.duration_seconds)} from then.`;
    case 'declined':
      return side === 'officer' ? `Declined by the owner at ${at}.` : `You declined it at ${at}.`;
    case 'expired':
      return side === 'officer'
        ? `Expired at ${at}: the owner did not answer in time.`
        : `Expired at ${at}: it was not answered in time.`;
    default:
      return side === 'officer' ? "Waiting for the owner's answer." : 'Waiting for your answer.';
  }
}

/** The short state word shown as a badge: "Waiting", "Approved", "Declined", "Expired". */
export function stateBadge(request) {
  const word = { pending: 'Waiting', approved: 'Approved', declined: 'Declined', expired: 'Expired' }[request.state]
    ?? String(request.state);
  return el('span', { className: 'request-badge', 'data-state': request.state }, word);
}

/** The "Urgent" mark (words, not colour alone). */
export function urgentMark() {
  return el('strong', { className: 'urgent-mark' }, 'Urgent');
}

/**
 * The facts of a request as a description list: case number, reason, duration asked, when it was sent.
 * @param {any} request
 * @param {Array<[string, Node|string]>} [extra] more rows (label, value) at the end
 * @returns {HTMLElement}
 */
export function requestFacts(request, extra = []) {
  const rows = [
    ['Case number', String(request.case ?? '?')],
    ['Reason', String(request.reason ?? '')],
    ['Duration asked', durationWords(request.duration_seconds)],
    ['Sent', timeNode(request.created_at)],
    ...extra,
  ];
  return el('dl', { className: 'request-facts' },
    ...rows.flatMap(([label, value]) => [el('dt', {}, label), el('dd', {}, value)]));
}

/**
 * The requests split as the pages show them: pending ones (oldest first: the first to expire at the top) and
 * the answered or expired ones (newest first, at most `keep`).
 * @param {any[]} requests newest first, as the API lists them
 * @param {number} keep
 * @returns {{pending: any[], earlier: any[]}}
 */
export function splitRequests(requests, keep) {
  const pending = requests.filter((r) => r.state === 'pending').reverse();
  const earlier = requests.filter((r) => r.state !== 'pending').slice(0, keep);
  return { pending, earlier };
}

/**
 * An officer's ask form's case number and reason, both required: null (the error said, focus on the field) when
 * one is missing.
 * @param {HTMLFormElement} form with `case` and `reason` fields
 * @param {HTMLElement} error where to say what is missing
 * @returns {{caseNumber: string, reason: string}|null}
 */
export function caseAndReason(form, error) {
  const caseNumber = form.elements.case.value.trim();
  const reason = form.elements.reason.value.trim();
  if (caseNumber && reason) return { caseNumber, reason };
  error.textContent = !caseNumber ? 'Enter the case number.' : 'Enter why you need to watch.';
  (!caseNumber ? form.elements.case : form.elements.reason).focus();
  return null;
}

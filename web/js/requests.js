// Access requests, as both sides see them: an officer asks a camera's owner for live access (case number, reason,
// how long, maybe "urgent"); only the owner's approval opens anything, as an ordinary time-boxed grant for that
// officer's agency. "Urgent" makes the owner's notification more prominent and nothing else: there is no bypass.
// This module holds the words, the times and the shared parts of a request's rendering; officer-ask.js and
// resident-requests.js build their own lists around them. Nothing here parses HTML.

import { el } from './session.js';

/** The durations an officer may ask for, in seconds, with their words. */
export const DURATIONS = [
  [15 * 60, '15 minutes'],
  [3600, '1 hour'],
  [4 * 3600, '4 hours'],
  [8 * 3600, '8 hours'],
];

/**
 * An API time ("2026-11-30T14:32:05.120Z") as a Date; null when it is not one.
 * @param {unknown} text
 * @returns {Date|null}
 */
export function parseWhen(text) {
  if (typeof text !== 'string') return null;
  const when = new Date(text.replace(/\.(\d{1,2})Z$/, (_, frac) => `.${frac.padEnd(3, '0')}Z`));
  return Number.isNaN(when.getTime()) ? null : when;
}

/**
 * A time in the viewer's local time with seconds ("14:32:05"; with the date when it is not today).
 * @param {string|null} text ISO 8601
 * @returns {string}
 */
export function localTime(text) {
  const when = parseWhen(text);
  if (!when) return String(text ?? '');
  const time = when.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit' });
  if (when.toDateString() === new Date().toDateString()) return time;
  return `${when.toLocaleDateString(undefined, { dateStyle: 'medium' })} ${time}`;
}

/** A `<time>` element showing `text` in local time with seconds. */
export function timeNode(text) {
  return parseWhen(text) ? el('time', { datetime: text }, localTime(text)) : String(text ?? '');
}

/**
 * A duration in words, one rule on every page: "15 minutes", "1 hour", "24 hours", "7 days", "90 seconds" (whole
 * days in days, one day excepted: it reads as the "24 hours" people choose; never "168 hours").
 * @param {number} seconds
 * @returns {string}
 */
export function durationWords(seconds) {
  const n = Number(seconds) || 0;
  const plural = (count, word) => `${count} ${word}${count === 1 ? '' : 's'}`;
  if (n > 86400 && n % 86400 === 0) return plural(n / 86400, 'day');
  if (n >= 3600 && n % 3600 === 0) return plural(n / 3600, 'hour');
  if (n >= 60 && n % 60 === 0) return plural(n / 60, 'minute');
  return plural(Math.round(n), 'second');
}

/**
 * Seconds left until `iso` as "7 min 05 s", "1 h 02 min 05 s", "45 s"; null once it has passed.
 * @param {string|null} iso
 * @param {number} [now] milliseconds
 * @returns {string|null}
 */
export function leftWords(iso, now = Date.now()) {
  const end = parseWhen(iso);
  if (!end) return null;
  const seconds = Math.ceil((end.getTime() - now) / 1000);
  if (seconds <= 0) return null;
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = String(seconds % 60).padStart(2, '0');
  if (h) return `${h} h ${String(m).padStart(2, '0')} min ${s} s`;
  if (m) return `${m} min ${s} s`;
  return `${seconds} s`;
}

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

// The resident's page's live clocks: countdowns (to a grant's or the pilot's end, or its start) and running times
// (how long an officer has been watching), all ticked once a second by `tick`, with the requests' countdowns.
// A countdown that reaches zero asks the hub again, since what it counted down to is over.

import { el } from './session.js';
import { tickRequests } from './requests.js';
import { clock, parseWhen } from './time-words.js';
import { refresh } from './resident-state.js';

/**
 * A countdown to `iso` (updated every second; asks for fresh data when it reaches zero).
 * @param {string} iso
 * @param {string} [id]
 * @param {string} [suffix] after the time ("left" by default)
 * @returns {HTMLElement}
 */
export function countdown(iso, id, suffix = ' left') {
  const node = el('span', { className: 'countdown', 'data-ends': iso, 'data-suffix': suffix, id });
  tickOne(node, Date.now());
  return node;
}

/**
 * How long since `iso`, updated every second.
 * @param {string} iso
 * @returns {HTMLElement}
 */
export function since(iso) {
  const node = el('span', { className: 'elapsed', 'data-since': iso });
  tickOne(node, Date.now());
  return node;
}

function tickOne(node, now) {
  if (node.dataset.ends) {
    const left = Math.max(0, Math.floor(((parseWhen(node.dataset.ends)?.getTime() ?? now) - now) / 1000));
    node.dataset.secondsLeft = String(left);
    node.textContent = `${clock(left)}${node.dataset.suffix ?? ''}`;
    // At zero the grant or the pilot is over: ask again (every 2 s until the hub agrees and the block changes).
    if (left === 0 && now - Number(node.dataset.asked || 0) > 2000) {
      node.dataset.asked = String(now);
      refresh(['cameras']);
    }
  } else if (node.dataset.since) {
    const start = parseWhen(node.dataset.since)?.getTime() ?? now;
    node.textContent = clock((now - start) / 1000);
  }
}

/** Move every clock on the page on (call once a second). */
export function tick() {
  const now = Date.now();
  for (const node of document.querySelectorAll('[data-ends], [data-since]')) tickOne(node, now);
  tickRequests(() => refresh(['requests'])); // unanswered in time: the hub marks it expired in a moment
}

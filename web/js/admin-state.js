// What the admin page's modules share: the page's state, finding elements, running one action at a time with its
// outcome in the status line, and redrawing table rows without losing the keyboard focus. Nothing here builds
// HTML from strings.

import { ApiError, el, say } from './session.js';
import { localTime } from './time-words.js';

/**
 * The element with this id.
 * @param {string} id
 * @returns {any}
 */
export const $ = (id) => document.getElementById(id);

/** The page's state (one object: the modules read and update it in place). */
export const state = {
  me: null,
  pilot: null,
  policy: null,
  /** @type {any[]} */
  agencies: [],
  /** @type {any[]} */
  accounts: [],
  accountsShown: '',
  /** @type {any[]} */
  views: [],
  /** @type {any[]} */
  cameras: [],
  singleHub: true,
  /** This hub's name on a cluster (from the live views' answer); null on a hub of its own. */
  thisHub: null,
  pilotShownVersion: -1,
  pilotEdited: false,
};

/**
 * A time from the API in full local time; a dash when there is none.
 * @param {string|null|undefined} iso
 * @returns {string}
 */
export const shownTime = (iso) => (iso ? localTime(iso, true) : '—');

/**
 * What went wrong, in words for the status line.
 * @param {unknown} error
 * @returns {string}
 */
export function problem(error) {
  if (error instanceof ApiError) return `The hub refused: ${error.message}`;
  return 'The hub cannot be reached. Try again in a moment.';
}

const busy = new Set();

/**
 * Run one action once at a time; say how it went in #status. `failed(error)` may show the error itself (next to
 * a field) and return true; otherwise the status line says it.
 * @param {string} key
 * @param {() => Promise<any>} work
 * @param {string|((result: any) => string)} success
 * @param {(error: unknown) => boolean} [failed]
 */
export async function act(key, work, success, failed = () => false) {
  if (busy.has(key)) return;
  busy.add(key);
  try {
    const result = await work();
    say(typeof success === 'function' ? success(result) : success, 'ok');
  } catch (error) {
    if (!failed(error)) say(problem(error), 'error');
  } finally {
    busy.delete(key);
  }
}

/**
 * Replace a table body, keeping keyboard focus on the same control (or its row) when it is rebuilt.
 * @param {HTMLElement} tbody
 * @param {HTMLElement[]} rows
 */
export function replaceRows(tbody, rows) {
  const focused = document.activeElement;
  const key = focused && tbody.contains(focused) ? focused.dataset.focus : null;
  const row = key ? focused.closest('tr').dataset.key : null;
  tbody.replaceChildren(...rows);
  if (!key) return;
  const again = tbody.querySelector(`[data-focus="${CSS.escape(key)}"]`)
    || tbody.querySelector(`tr[data-key="${CSS.escape(row)}"] button`);
  if (again) again.focus();
}

/**
 * A table cell that names its column (shown before the value when the table becomes cards on a phone).
 * @param {string} label
 * @param {Record<string, unknown>} attrs
 * @param {...(Node|string|null)} children
 */
export function cell(label, attrs, ...children) {
  return el('td', { ...attrs, 'data-label': label }, ...children);
}

/**
 * A row saying a table is empty.
 * @param {number} columns
 * @param {string} text
 */
export function emptyRow(columns, text) {
  return el('tr', {}, el('td', { colspan: String(columns), className: 'empty' }, text));
}

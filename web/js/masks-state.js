// What the mask editor's modules share: the page's state (the camera, the masks the hub holds and the ones being
// edited, the polygon being drawn, the picture, the save and the wait for the camera's confirmation), the limits
// the hub enforces, and small helpers: finding elements, enabling buttons, counting in words, a mask's style from
// its <select>, and the hub's refusals in plain words. Every other masks-*.js module reads and updates the one
// state object in place; this module imports none of them.

import { ApiError } from './session.js';

/** At most this many masks per camera, and points per mask (as hub/media/masks.py and device_agent/masks.py). */
export const MAX_MASKS = 32;
export const MAX_POINTS = 64;

/** A mask's style in words. */
export const STYLE_WORDS = { black: 'Black out', blur: 'Blur' };

/** The frame drawn on before any picture came. */
const DEFAULT_SIZE = { width: 640, height: 480 };

/**
 * The element with this id.
 * @param {string} id
 * @returns {any}
 */
export const $ = (id) => document.getElementById(id);

/** The page's state (one object: the modules read and update it in place). */
export const state = {
  /** @type {string} */
  cameraId: '',
  /** @type {any} the camera as GET /api/cameras shows it */
  camera: null,
  /** @type {{version: number, masks: any[]}|null} what the hub holds */
  saved: null,
  applied: false,
  /** @type {any[]} the masks being edited */
  masks: [],
  /** @type {{points: number[][]}|null} the polygon being drawn */
  drawing: null,
  /** @type {{url: string, width: number, height: number, at: Date}|null} */
  picture: null,
  snapping: false,
  saving: false,
  /** until when (ms) the page checks that the camera confirmed */
  waitUntil: 0,
  pollTimer: 0,
  /** counts the reads of the hub's masks, so an answer overtaken by a later read or a save is dropped */
  seq: 0,
};

/**
 * A deep copy of a list of masks (the edited masks never share arrays with the saved ones).
 * @param {any[]} masks
 * @returns {any[]}
 */
export const copy = (masks) => masks.map((m) => ({ points: m.points.map(([x, y]) => [x, y]), style: m.style }));

/** Whether the masks being edited differ from the ones the hub holds. */
export const dirty = () => state.saved !== null && JSON.stringify(state.masks) !== JSON.stringify(state.saved.masks);

/** The size of the picture drawn on (a default frame until a picture came). */
export const size = () => state.picture ?? DEFAULT_SIZE;

/**
 * The style a <select> of styles says ('black' unless it says 'blur').
 * @param {HTMLSelectElement} select
 * @returns {'black'|'blur'}
 */
export const styleOf = (select) => (select.value === 'blur' ? 'blur' : 'black');

/**
 * A count in words: "1 mask", "3 masks".
 * @param {number} count
 * @param {string} word
 * @returns {string}
 */
export const counted = (count, word) => `${count} ${word}${count === 1 ? '' : 's'}`;

/**
 * Enable or disable a button without taking it out of the tab order (focus never falls to the page body).
 * @param {HTMLElement} button
 * @param {boolean} on
 */
export function enable(button, on) {
  if (on) button.removeAttribute('aria-disabled');
  else button.setAttribute('aria-disabled', 'true');
}

/**
 * What went wrong with `what` ("your masks", "the picture"), in plain words.
 * @param {unknown} err
 * @param {string} what
 * @returns {string}
 */
export function errorText(err, what) {
  if (err instanceof ApiError) {
    if (err.status === 401) return 'You are no longer logged in: reload the page and log in again.';
    if (err.reason === 'csrf_token_invalid') return 'Your session changed in another window: reload the page.';
    if (err.status === 403 || err.status === 404) return `This camera is not one of yours (${what}).`;
    if (err.reason === 'store_unavailable') return 'The hub cannot reach its database right now. Try again in a moment.';
    return `Something went wrong with ${what}: ${err.message}.`;
  }
  return `Could not reach the hub for ${what}. Check your connection and try again.`;
}

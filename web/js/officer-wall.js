// The officer's video wall: the tiles (officer-tile.js) in a layout of 1, 2x2 or 3x3 (a control, remembered in
// this browser), one tile enlarged to take the wall, as many tiles as the hub lets me watch at once (its limit of
// views per officer). The warning before my log-in ends is session.js's, as on every page.

import { el, say } from './session.js';
import { $ } from './dom.js';
import { announce, page, refresh } from './officer-state.js';
import { Tile } from './officer-tile.js';

const LAYOUTS = [
  { id: '1', columns: 1, words: '1', name: 'One tile per row' },
  { id: '2x2', columns: 2, words: '2×2', name: '2 by 2' },
  { id: '3x3', columns: 3, words: '3×3', name: '3 by 3' },
];
const LAYOUT_KEY = 'porchlight.officer.layout';
/** The event the document gets whenever a tile comes, goes or changes what it holds. */
export const WALL_CHANGED = 'porchlight:wall-changed';

/** @type {Map<string, Tile>} the tiles, by camera id */
const tiles = new Map();

function storedLayout() {
  try {
    const stored = window.localStorage.getItem(LAYOUT_KEY);
    if (LAYOUTS.some((layout) => layout.id === stored)) return stored;
  } catch {
    // storage turned off: the default
  }
  return '2x2';
}

/**
 * Use the layout `id` (and remember it in this browser).
 * @param {string} id
 */
function setLayout(id) {
  const wall = $('#grid');
  wall.dataset.layout = id;
  for (const button of document.querySelectorAll('#wall-layouts button')) {
    button.setAttribute('aria-pressed', String(button.dataset.layout === id));
  }
  try {
    window.localStorage.setItem(LAYOUT_KEY, id);
  } catch {
    // storage turned off: the layout lasts as long as the page
  }
}

/** Build the layout control (once, at the start). */
export function setUpWall() {
  const group = $('#wall-layouts');
  group.replaceChildren(
    ...LAYOUTS.map((layout) => el('button', {
      type: 'button', 'data-layout': layout.id, 'aria-label': layout.name, onclick: () => setLayout(layout.id),
    }, layout.words)),
  ); // prettier-ignore
  setLayout(storedLayout());
  document.addEventListener('keydown', (event) => {
    if (event.key === 'Escape' && $('#grid').dataset.enlarged && !document.fullscreenElement) enlarge(null);
  });
}

/** How many tiles hold one of my views (live, or about to retry). */
function holding() {
  return [...tiles.values()].filter((tile) => tile.holding).length;
}

function renderCount() {
  const count = holding();
  $('#wall-count').textContent = `Watching ${count} of at most ${page.viewerLimit} at once.`;
  $('#watching').hidden = tiles.size === 0;
  // What else shows whether I watch a camera ("Watch now" on my requests) follows, without importing it here.
  document.dispatchEvent(new CustomEvent(WALL_CHANGED));
}

/**
 * Enlarge `tile` to take the wall (null: back to the wall).
 * @param {Tile|null} tile
 */
function enlarge(tile) {
  const wall = $('#grid');
  const current = wall.dataset.enlarged;
  const chosen = tile && tile.camera.id !== current ? tile : null;
  if (chosen) wall.dataset.enlarged = chosen.camera.id;
  else delete wall.dataset.enlarged;
  for (const each of tiles.values()) {
    const big = chosen === each;
    each.node.toggleAttribute('data-enlarged', big);
    each.enlargeButton.setAttribute('aria-pressed', String(big));
    each.enlargeButton.textContent = big ? 'Back to the wall' : `Enlarge ${each.camera.name}`;
  }
  const focus = chosen || (current && tiles.get(current));
  if (focus) focus.enlargeButton.focus();
}

function closed(tile) {
  if ($('#grid').dataset.enlarged === tile.camera.id) enlarge(null);
  tile.node.remove();
  tiles.delete(tile.camera.id);
  renderCount();
  const back = document.querySelector(`#camera-list li[data-camera="${CSS.escape(tile.camera.id)}"] button`);
  (back || $('#cameras-title')).focus();
}

/**
 * The tile watching `cameraId` now (live or about to retry), if any.
 * @param {string} cameraId
 * @returns {Tile|null}
 */
export function watching(cameraId) {
  const tile = tiles.get(cameraId);
  return tile && tile.holding ? tile : null;
}

/**
 * Whether one more tile fits within my limit of views at once; says why not when it does not.
 * @returns {boolean}
 */
export function roomForOneMore() {
  return holding() < page.viewerLimit;
}

/**
 * Watch `camera` in a new tile (an ended tile of the same camera is replaced).
 * @param {any} camera
 * @param {string} caseNumber
 * @param {string} reason
 */
export async function watch(camera, caseNumber, reason) {
  const old = tiles.get(camera.id);
  if (old) {
    old.hangUp();
    old.node.remove();
  }
  const tile = new Tile(camera, {
    caseNumber, reason, officer: page.officer, announce, onClose: (t, wasLive) => {
      if (wasLive) say(`You stopped watching ${t.camera.name}.`);
      closed(t);
    }, onEnlarge: enlarge,
  }); // prettier-ignore
  tiles.set(camera.id, tile);
  $('#grid').append(tile.node);
  renderCount();
  $('h3', tile.node).focus();
  announce(`Connecting to ${camera.name}…`);
  await tile.start();
  renderCount();
  if (tile.ended && !tile.retryAt) refresh(); // refused: the list may be out of date
}

/** Hang up every tile (logging out, or the page going away). */
export function hangUpAll() {
  for (const tile of tiles.values()) tile.hangUp();
}

/**
 * After each camera list: a tile's countdown follows its camera's renewed grant; a tile whose camera is no longer
 * open to me hears the hub's `end` (with its reason) now rather than when the connection notices.
 */
export function followGrants() {
  for (const [id, tile] of tiles) {
    const camera = page.cameras.get(id);
    if (!camera) tile.checkEnd();
    else tile.follow(camera.grant && camera.grant.ends_at);
  }
  renderCount();
}

/** Every second: the tiles' clocks and warnings. */
export function tickWall() {
  for (const tile of tiles.values()) tile.tick();
}

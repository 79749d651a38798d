// The officer's page, the cameras I may watch now: the list (each with its status, consent time left and
// position) and the map (map.js: Leaflet, clustered), redrawn only when something shown changed and keeping the
// keyboard focus; the pilot line; and the countdowns, ticked every second, that mark a camera whose consent ran
// out.

import { el } from './session.js';
import { CameraMap } from './map.js';
import { tickRequests } from './requests.js';
import { leftWords, localTime } from './time-words.js';
import { $ } from './dom.js';
import { leftLabel, statusWords } from './officer-words.js';
import { page, refresh, refreshRequests } from './officer-state.js';
import { choose } from './officer-watch.js';
import { followGrants } from './officer-wall.js';

let camerasKey = ''; // what the camera list and map show (redrawn only when it changes)
/** @type {CameraMap|null} */
let map = null;

// Countdowns ------------------------------------------------------------------------------------------------

/** Every second: each `[data-ends]` element shows the time left; a grant that ran out is marked ended. */
export function tick() {
  let ranOut = false;
  for (const node of document.querySelectorAll('[data-ends]')) {
    const left = leftWords(node.dataset.ends);
    const text = leftLabel(node.dataset.ends);
    if (node.textContent !== text) node.textContent = text;
    if (!left && !node.dataset.ranOut) {
      node.dataset.ranOut = 'yes';
      ranOut = true;
      const item = node.closest('li[data-camera]');
      if (item) markRanOut(item, node.dataset.ends);
    }
  }
  if (ranOut) refresh(); // the hub no longer lists them
  tickRequests(() => refreshRequests()); // a request ran out: the hub marks it expired in a moment
}

function markRanOut(item, endsAt) {
  item.dataset.ended = 'yes';
  const button = $('button', item);
  if (button) button.remove();
  item.append(el('p', { className: 'ended-note' }, `The owner's consent ran out at ${localTime(endsAt)}.`));
  const point = map && map.markerElement(item.dataset.camera);
  if (point) point.hidden = true; // until the list comes without it
}

// The cameras -----------------------------------------------------------------------------------------------

function position(camera) {
  if (!camera.location) return el('span', { className: 'no-position' }, 'no position');
  const { lat, lon } = camera.location;
  return el('span', { className: 'muted' }, `at ${lat.toFixed(5)}, ${lon.toFixed(5)}`);
}

function cameraItem(camera) {
  const endsAt = camera.grant && camera.grant.ends_at;
  return el(
    'li', { id: `camera-${camera.id}`, 'data-camera': camera.id },
    el('div', { className: 'camera-head' },
      el('strong', {}, camera.name),
      el('span', { className: `camera-status ${camera.online ? 'ok' : ''}` }, statusWords(camera))),
    el('div', { className: 'camera-facts' },
      el('span', {}, 'Consent: ', endsAt
        ? el('span', { className: 'time-left', 'data-ends': endsAt }, leftLabel(endsAt))
        : el('span', {}, 'until the pilot ends')),
      position(camera)),
    el('button', { type: 'button', onclick: () => choose(camera) }, `Watch ${camera.name}`),
  ); // prettier-ignore
}

/**
 * Set up the map (once, with GET /api/map's settings): Leaflet draws it, with the tile server's streets or, with
 * none configured, on a plain background.
 * @param {{tile_url: string|null, attribution: string, max_zoom: number}} settings
 * @returns {CameraMap}
 */
export function setUpMap(settings) {
  map = new CameraMap($('#map-plot'), settings);
  camerasKey = ''; // the next render puts the cameras on it
  $('#map-tiles').textContent = settings.tile_url
    ? ''
    : 'No tile server is configured (map.tile_url), so the map shows the cameras without streets.';
  $('#map-tiles').hidden = Boolean(settings.tile_url);
  return map;
}

function renderMap(shown) {
  if (!map) return;
  const focused = document.activeElement && document.activeElement.closest('#map .point');
  const placed = map.show(shown, choose, (camera) => `${camera.name} on the map: watch`);
  if (focused) {
    const again = map.markerElement(focused.dataset.camera);
    if (again) again.focus();
  }
  const unplaced = shown.filter((camera) => !camera.location).map((camera) => camera.name);
  $('#map-note').textContent = !shown.length
    ? 'No camera to show.'
    : !placed
      ? 'None of these cameras has a position, so none is on the map.'
      : unplaced.length
        ? `Not on the map (no position): ${unplaced.join(', ')}.`
        : 'Every camera in the list is on the map.';
}

function renderPilot() {
  const line = $('#pilot');
  const { pilot } = page;
  const state = pilot ? pilot.state : 'none';
  const empty = $('#no-cameras');
  if (state === 'running') {
    line.replaceChildren('The pilot runs until ', localTime(pilot.ends_at), ' (',
      el('span', { 'data-ends': pilot.ends_at }, leftLabel(pilot.ends_at)), ').');
    empty.textContent = 'No camera is opted in for you right now. Cameras appear here as soon as an owner opts one in.';
  } else if (state === 'over') {
    line.textContent = `The pilot ended at ${localTime(pilot.ends_at)}.`;
    empty.textContent = 'The pilot is over, so no camera can be watched.';
  } else if (state === 'scheduled') {
    line.textContent = `The pilot starts at ${localTime(pilot.starts_at)}.`;
    empty.textContent = 'The pilot has not started yet, so no camera can be watched.';
  } else {
    line.textContent = 'There is no pilot, so no camera can be watched.';
    empty.textContent = line.textContent;
  }
}

/** Show the pilot line, the camera list and the map (the list and map only when something shown changed). */
export function renderCameras() {
  const shown = [...page.cameras.values()];
  renderPilot();
  $('#no-cameras').hidden = shown.length > 0;
  // Redrawn only when something shown changed (live updates come often while agents come and go).
  const key = JSON.stringify(shown);
  if (key !== camerasKey) {
    camerasKey = key;
    // Live updates redraw the list: a keyboard user's focus stays on the same camera's button.
    const focused = document.activeElement && document.activeElement.closest('#camera-list li[data-camera]');
    $('#camera-list').replaceChildren(...shown.map(cameraItem));
    if (focused) {
      const again = document.querySelector(`#camera-list li[data-camera="${CSS.escape(focused.dataset.camera)}"] button`);
      (again || $('#cameras-title')).focus();
    }
    renderMap(shown);
  }
  followGrants(); // a tile's countdown follows a renewed grant
  tick();
}

/** The window was resized: the map measures itself again. */
export function fitMap() {
  if (map) map.resized();
}

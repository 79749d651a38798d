// The officer's page, the cameras I may watch now: the list (each with its status, consent time left and
// position) and the offline map, redrawn only when something shown changed and keeping the keyboard focus; the
// pilot line; and the countdowns, ticked every second, that mark a camera whose consent ran out.

import { el } from './session.js';
import { drawMap } from './map.js';
import { tickRequests } from './requests.js';
import { leftWords, localTime } from './time-words.js';
import { $ } from './dom.js';
import { leftLabel, statusWords } from './officer-words.js';
import { page, refresh, refreshRequests } from './officer-state.js';
import { choose, followGrants } from './officer-watch.js';

let camerasKey = ''; // what the camera list and map show (redrawn only when it changes)
let mapWidth = 0;

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
  const point = document.querySelector(`#map .point[data-camera="${CSS.escape(item.dataset.camera)}"]`);
  if (point) point.remove();
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

function renderMap(shown) {
  const map = $('#map-plot');
  const focused = document.activeElement && document.activeElement.closest('#map .point');
  const picture = drawMap(shown, choose, (camera) => `${camera.name} on the map: watch`, map.clientWidth);
  map.replaceChildren(...(picture ? [picture] : []));
  mapWidth = map.clientWidth;
  for (const node of map.querySelectorAll('text.time-left')) {
    const camera = page.cameras.get(node.dataset.camera);
    if (camera && camera.grant && camera.grant.ends_at) {
      node.dataset.ends = camera.grant.ends_at;
      node.textContent = leftLabel(camera.grant.ends_at);
    }
  }
  if (focused) {
    const again = map.querySelector(`.point[data-camera="${CSS.escape(focused.dataset.camera)}"]`);
    if (again) again.focus();
  }
  const unplaced = shown.filter((camera) => !camera.location).map((camera) => camera.name);
  $('#map-note').textContent = !shown.length
    ? 'Nothing to plot.'
    : !picture
      ? 'None of these cameras has a position, so there is nothing to plot.'
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

/** The window was resized: redraw the map when its width changed by more than a little. */
export function fitMap() {
  if (Math.abs($('#map-plot').clientWidth - mapWidth) > 40) renderMap([...page.cameras.values()]);
}

// The owner's privacy-mask editor (/resident/masks?camera=ID): a still picture from the camera (fetched without
// caching, shown from a blob: URL, never kept), the camera's masks drawn over it, and editing them with the
// pointer (click points, finish, undo) or the keyboard (a rectangle by its percentages, or points one by one).
// Saving sends the masks to the hub; until the camera's agent confirms it applies them, the hub holds the
// camera's video for every viewer, and the page says so until the confirmation comes.

import { ApiError, api, el, live, logout, requireLogin, say } from './session.js';

const $ = (selector, root = document) => root.querySelector(selector);
const SVG_NS = 'http://www.w3.org/2000/svg';

export const MAX_MASKS = 32;
export const MAX_POINTS = 64;
const POLL_MS = 500;
const WAIT_MS = 15_000;
const CLOSE_PX = 12; // a click this close to the first point closes the polygon
const DEFAULT_SIZE = { width: 640, height: 480 }; // the frame drawn on before any picture came
const STYLE_WORDS = { black: 'Black out', blur: 'Blur' };

// Pure helpers (exported for reuse and tests) ----------------------------------------------------------------

/**
 * A rectangle given in percent of the picture as a mask polygon (relative 0..1 corners, clockwise from the
 * top left); throws an Error naming the field at fault (`error.field`) when the numbers do not make one.
 * @param {{left: number, top: number, width: number, height: number}} box
 * @param {'black'|'blur'} style
 * @returns {{points: number[][], style: string}}
 */
export function rectangleMask(box, style) {
  const fail = (field, message) => Object.assign(new Error(message), { field });
  for (const [field, name] of [['left', 'Left'], ['top', 'Top'], ['width', 'Width'], ['height', 'Height']]) {
    if (!Number.isFinite(box[field])) throw fail(field, `${name}: type a number of percent.`);
  }
  if (box.left < 0 || box.left >= 100) throw fail('left', 'Left must be from 0 up to (not including) 100 %.');
  if (box.top < 0 || box.top >= 100) throw fail('top', 'Top must be from 0 up to (not including) 100 %.');
  if (box.width <= 0) throw fail('width', 'Width must be more than 0 %.');
  if (box.height <= 0) throw fail('height', 'Height must be more than 0 %.');
  const eps = 1e-9;
  if (box.left + box.width > 100 + eps) {
    throw fail('width', `Left plus width is ${round1(box.left + box.width)} %: the rectangle must end inside the picture (at most 100 %).`);
  }
  if (box.top + box.height > 100 + eps) {
    throw fail('height', `Top plus height is ${round1(box.top + box.height)} %: the rectangle must end inside the picture (at most 100 %).`);
  }
  const x0 = rel(box.left);
  const y0 = rel(box.top);
  const x1 = rel(Math.min(100, box.left + box.width));
  const y1 = rel(Math.min(100, box.top + box.height));
  return { points: [[x0, y0], [x1, y0], [x1, y1], [x0, y1]], style };
}

/**
 * A position in percent as a relative coordinate (0..1, four decimals).
 * @param {number} percent
 * @returns {number}
 */
export function rel(percent) {
  return Math.round(Math.min(100, Math.max(0, percent)) * 100) / 10000;
}

function round1(value) {
  return Math.round(value * 10) / 10;
}

/** A relative coordinate in percent for reading: "55.0". */
function pct(value) {
  return (value * 100).toFixed(1);
}

function clamp01(value) {
  return Math.min(1, Math.max(0, value));
}

const copy = (masks) => masks.map((m) => ({ points: m.points.map(([x, y]) => [x, y]), style: m.style }));
const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);

// Page state -------------------------------------------------------------------------------------------------

const state = {
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
  /** until when (ms) the page checks every POLL_MS that the camera confirmed */
  waitUntil: 0,
  pollTimer: 0,
  seq: 0,
};

const dirty = () => state.saved !== null && !same(state.masks, state.saved.masks);
const size = () => state.picture ?? DEFAULT_SIZE;

/** Enable or disable a button without taking it out of the tab order (focus never falls to the page body). */
function enable(button, on) {
  if (on) button.removeAttribute('aria-disabled');
  else button.setAttribute('aria-disabled', 'true');
}

function errorText(err, what) {
  if (err instanceof ApiError) {
    if (err.status === 401) return 'You are no longer logged in: reload the page and log in again.';
    if (err.reason === 'csrf_token_invalid') return 'Your session changed in another window: reload the page.';
    if (err.status === 403 || err.status === 404) return `This camera is not one of yours (${what}).`;
    if (err.reason === 'store_unavailable') return 'The hub cannot reach its database right now. Try again in a moment.';
    return `Something went wrong with ${what}: ${err.message}.`;
  }
  return `Could not reach the hub for ${what}. Check your connection and try again.`;
}

// The picture ------------------------------------------------------------------------------------------------

async function takePicture() {
  const button = $('#snap');
  if (state.snapping) return;
  state.snapping = true;
  button.setAttribute('aria-busy', 'true');
  $('#snap-state').textContent = 'Asking your camera for a picture…';
  try {
    const response = await fetch(`/api/cameras/${encodeURIComponent(state.cameraId)}/snapshot`, {
      cache: 'no-store', credentials: 'same-origin', headers: { Accept: 'image/jpeg' },
    });
    if (!response.ok) {
      let body = null;
      try {
        body = await response.json();
      } catch {
        body = null;
      }
      throw new ApiError(response.status, body);
    }
    const blob = await response.blob();
    const url = URL.createObjectURL(blob);
    const img = $('#picture');
    const loaded = new Promise((resolve, reject) => {
      img.onload = resolve;
      img.onerror = () => reject(new Error('not a picture'));
    });
    img.src = url;
    await loaded;
    if (state.picture) URL.revokeObjectURL(state.picture.url);
    state.picture = { url, width: img.naturalWidth, height: img.naturalHeight, at: new Date() };
    const when = state.picture.at.toLocaleTimeString(undefined, { timeStyle: 'medium' });
    img.alt = `Still picture from ${state.camera?.name ?? 'your camera'}, taken at ${when}`;
    img.hidden = false;
    $('#no-picture').hidden = true;
    $('#frame').dataset.picture = 'shown';
    $('#snap-state').textContent = `Picture taken at ${when}.`;
    renderOverlay();
  } catch (err) {
    $('#snap-state').textContent = pictureProblem(err);
    if (!state.picture) {
      $('#no-picture').textContent = 'No picture: you can still add masks by their position; they are drawn on a blank frame here.';
    }
  } finally {
    state.snapping = false;
    button.removeAttribute('aria-busy');
  }
}

function pictureProblem(err) {
  if (err instanceof ApiError) {
    if (err.reason === 'camera_offline') {
      return 'Your camera is not connected to the hub, so it cannot take a picture. Check that it is switched on, then try again.';
    }
    if (err.reason === 'snapshot_failed') return 'Your camera did not send a picture. Try again in a moment.';
    return errorText(err, 'the picture');
  }
  if (err instanceof Error && err.message === 'not a picture') return 'The camera sent something that is not a picture.';
  return 'Could not reach the hub for a picture. Check your connection and try again.';
}

// Drawing the overlay ----------------------------------------------------------------------------------------

function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, String(value));
  node.append(...children);
  return node;
}

function renderOverlay() {
  const { width, height } = size();
  const overlay = $('#overlay');
  const frame = $('#frame');
  frame.style.aspectRatio = `${width} / ${height}`;
  frame.style.setProperty('--ratio', String(width / height));
  overlay.setAttribute('viewBox', `0 0 ${width} ${height}`);
  const unit = width / 320; // stroke widths and sizes scale with the picture
  const xy = ([x, y]) => `${x * width},${y * height}`;
  const hatch = svg(
    'pattern', { id: 'hatch', patternUnits: 'userSpaceOnUse', width: 6 * unit, height: 6 * unit, patternTransform: 'rotate(45)' },
    svg('rect', { width: 6 * unit, height: 6 * unit, fill: '#fff', 'fill-opacity': 0.35 }),
    svg('line', { x1: 0, y1: 0, x2: 0, y2: 6 * unit, stroke: '#000', 'stroke-width': 2.5 * unit, 'stroke-opacity': 0.75 }),
  );
  const nodes = [svg('defs', {}, hatch)];
  state.masks.forEach((mask, i) => {
    const fill = mask.style === 'blur' ? { fill: 'url(#hatch)' } : { fill: '#000', 'fill-opacity': 0.6 };
    const cx = mask.points.reduce((sum, p) => sum + p[0], 0) / mask.points.length;
    const cy = mask.points.reduce((sum, p) => sum + p[1], 0) / mask.points.length;
    nodes.push(svg(
      'g', { class: `mask ${mask.style}`, 'data-mask': i + 1 },
      svg('polygon', { points: mask.points.map(xy).join(' '), ...fill, stroke: '#ffd400', 'stroke-width': unit, 'stroke-linejoin': 'round' }),
      svg('text', {
        x: cx * width, y: cy * height, 'font-size': 11 * unit, 'text-anchor': 'middle', 'dominant-baseline': 'middle',
        fill: '#fff', stroke: '#000', 'stroke-width': 2.5 * unit, 'paint-order': 'stroke', 'font-weight': 700,
      }, `Mask ${i + 1}`),
    ));
  });
  if (state.drawing) {
    const points = state.drawing.points;
    const group = svg('g', { class: 'drawing' });
    if (points.length > 1) {
      group.append(svg('polyline', {
        points: points.map(xy).join(' '), fill: 'none', stroke: '#ffd400', 'stroke-width': 1.5 * unit,
        'stroke-dasharray': `${4 * unit} ${3 * unit}`,
      }));
    }
    points.forEach((p, i) => {
      const first = i === 0 && points.length >= 3;
      group.append(svg('circle', {
        cx: p[0] * width, cy: p[1] * height, r: (first ? 5 : 3) * unit, fill: first ? '#fff' : '#ffd400',
        stroke: '#000', 'stroke-width': unit,
      }));
    });
    nodes.push(group);
  }
  overlay.replaceChildren(...nodes);
  const count = state.masks.length;
  overlay.setAttribute('aria-label', count
    ? `The picture with ${count} mask${count === 1 ? '' : 's'} drawn over it (listed below)`
    : 'The picture, with no masks drawn over it');
}

// Editing ----------------------------------------------------------------------------------------------------

function drawError(text) {
  $('#draw-error').textContent = text;
}

function addPoint(x, y) {
  drawError('');
  if (!state.drawing) {
    if (state.masks.length >= MAX_MASKS) {
      drawError(`You have ${MAX_MASKS} masks, the most there can be: delete one before drawing another.`);
      return false;
    }
    state.drawing = { points: [] };
  }
  if (state.drawing.points.length >= MAX_POINTS) {
    drawError(`A mask has at most ${MAX_POINTS} points: finish this one.`);
    return false;
  }
  state.drawing.points.push([Math.round(clamp01(x) * 10000) / 10000, Math.round(clamp01(y) * 10000) / 10000]);
  renderDrawing();
  return true;
}

function finishPolygon() {
  const points = state.drawing?.points ?? [];
  if (points.length < 3) {
    drawError(points.length
      ? `A mask needs at least 3 points; this one has ${points.length}.`
      : 'Nothing to finish: click on the picture (or add points by position) first.');
    return;
  }
  const style = $('#draw-style').value === 'blur' ? 'blur' : 'black';
  state.masks.push({ points, style });
  state.drawing = null;
  drawError('');
  renderDrawing();
  renderMasks();
  say(`Mask ${state.masks.length} added (${STYLE_WORDS[style]}, ${points.length} points). Not saved yet.`);
}

function undoPoint() {
  if (!state.drawing?.points.length) {
    drawError('No point to undo.');
    return;
  }
  state.drawing.points.pop();
  if (!state.drawing.points.length) state.drawing = null;
  drawError('');
  renderDrawing();
}

function cancelDrawing() {
  if (!state.drawing) return;
  state.drawing = null;
  drawError('');
  renderDrawing();
  say('Polygon cancelled.');
}

function onPictureClick(event) {
  const box = $('#overlay').getBoundingClientRect();
  if (!box.width || !box.height) return;
  const x = (event.clientX - box.left) / box.width;
  const y = (event.clientY - box.top) / box.height;
  const points = state.drawing?.points ?? [];
  if (points.length >= 3) {
    const [fx, fy] = points[0];
    if (Math.hypot((fx - x) * box.width, (fy - y) * box.height) <= CLOSE_PX) {
      finishPolygon();
      return;
    }
  }
  addPoint(x, y);
}

function onPointForm(event) {
  event.preventDefault();
  const xField = $('#point-x');
  const yField = $('#point-y');
  const x = xField.valueAsNumber;
  const y = yField.valueAsNumber;
  for (const [value, field, name] of [[x, xField, 'From the left'], [y, yField, 'From the top']]) {
    if (!Number.isFinite(value) || value < 0 || value > 100) {
      drawError(`${name}: type a number from 0 to 100 (percent).`);
      field.focus();
      return;
    }
  }
  if (addPoint(x / 100, y / 100)) {
    xField.value = '';
    yField.value = '';
    xField.focus();
    say(`Point ${state.drawing.points.length} added at ${round1(x)} % from the left, ${round1(y)} % from the top.`);
  }
}

function onRectangle(event) {
  event.preventDefault();
  const form = $('#rect-form');
  const error = $('#rect-error');
  const number = (name) => /** @type {HTMLInputElement} */ (form.elements.namedItem(name)).valueAsNumber;
  if (state.masks.length >= MAX_MASKS) {
    error.textContent = `You have ${MAX_MASKS} masks, the most there can be: delete one first.`;
    return;
  }
  const style = $('#rect-style').value === 'blur' ? 'blur' : 'black';
  let mask;
  try {
    mask = rectangleMask({ left: number('left'), top: number('top'), width: number('width'), height: number('height') }, style);
  } catch (failure) {
    error.textContent = failure.message;
    $(`#rect-${failure.field}`)?.focus();
    return;
  }
  error.textContent = '';
  state.masks.push(mask);
  form.reset();
  renderMasks();
  say(`Mask ${state.masks.length} added: a rectangle (${STYLE_WORDS[style]}). Not saved yet.`);
}

function deleteMask(index) {
  state.masks.splice(index, 1);
  const next = state.masks.length ? `mask-${Math.min(index, state.masks.length - 1) + 1}-delete` : 'list-title';
  renderMasks(next);
  say(`Mask ${index + 1} deleted${state.masks.length ? '; the masks after it are numbered again' : ''}. Not saved yet.`);
}

// The list of masks ------------------------------------------------------------------------------------------

function maskItem(mask, i) {
  const n = i + 1;
  const style = el(
    'select', { id: `mask-${n}-style`, onchange: (event) => {
      mask.style = event.target.value === 'blur' ? 'blur' : 'black';
      renderOverlay();
      renderSave();
    } },
    el('option', { value: 'black' }, STYLE_WORDS.black),
    el('option', { value: 'blur' }, STYLE_WORDS.blur),
  );
  style.value = mask.style;
  const rows = mask.points.map(([x, y], p) => el('tr', {}, el('td', {}, String(p + 1)), el('td', {}, pct(x)), el('td', {}, pct(y))));
  return el(
    'li', { className: 'mask-item', 'data-mask': n },
    el('h4', { id: `mask-${n}-title` }, `Mask ${n}`),
    el('div', { className: 'toolbar' },
      el('label', { className: 'inline', for: `mask-${n}-style` }, `Style of mask ${n}`, style),
      el('button', { type: 'button', id: `mask-${n}-delete`, className: 'danger', onclick: () => deleteMask(i) }, `Delete mask ${n}`)),
    el('div', { className: 'table-wrap' },
      el('table', { className: 'points' },
        el('caption', {}, `Points of mask ${n} (in percent of the picture)`),
        el('thead', {}, el('tr', {}, el('th', { scope: 'col' }, 'Point'), el('th', { scope: 'col' }, 'x (%)'), el('th', { scope: 'col' }, 'y (%)'))),
        el('tbody', {}, ...rows))),
  );
}

/** Redraw the masks (overlay and list), keeping keyboard focus on the same control, or moving it to `focusId`. */
function renderMasks(focusId = null) {
  renderOverlay();
  const list = $('#mask-list');
  const active = document.activeElement;
  const keep = focusId ?? (active && list.contains(active) ? active.id : null);
  const count = state.masks.length;
  $('#list-title').textContent = count ? `Masks (${count})` : 'Masks';
  if (!count) {
    list.replaceChildren(el('p', { className: 'empty' }, state.saved?.masks.length
      ? 'No masks left. Save to remove all masks: your camera will then send the whole picture.'
      : 'No masks yet: your camera sends the whole picture. Draw on the picture or add a rectangle.'));
  } else {
    list.replaceChildren(el('ol', { className: 'masks' }, ...state.masks.map(maskItem)));
  }
  if (keep) document.getElementById(keep)?.focus();
  renderSave();
}

function renderDrawing() {
  const count = state.drawing?.points.length ?? 0;
  let text;
  if (!state.drawing) text = 'Not drawing: click on the picture (or add a point by its position) to start a mask.';
  else if (count < 3) text = `Drawing a new mask: ${count} point${count === 1 ? '' : 's'} (at least 3 needed).`;
  else text = `Drawing a new mask: ${count} points. Click the first point, or choose “Finish polygon”, to close it.`;
  $('#draw-state').textContent = text;
  enable($('#finish'), count >= 3);
  enable($('#undo'), count > 0);
  enable($('#cancel-draw'), Boolean(state.drawing));
  renderOverlay();
}

function renderSave() {
  const changed = dirty();
  $('#dirty').textContent = changed ? 'You have unsaved changes: officers still see the masks last saved.' : 'No unsaved changes.';
  $('#dirty').className = changed ? 'unsaved' : 'muted';
  enable($('#save'), changed && !state.saving);
  enable($('#discard'), changed && !state.saving);
}

// Applied or pending -----------------------------------------------------------------------------------------

function renderApply() {
  const box = $('#apply-state');
  if (!state.saved) return;
  const waiting = Date.now() < state.waitUntil;
  let kind;
  let text;
  if (state.saving) {
    // The hub holds the video from the moment it takes the new masks (its answer may already say applied).
    kind = 'pending';
    text = 'Applying… officers see nothing from this camera until your camera confirms.';
  } else if (state.applied && state.saved.masks.length) {
    kind = 'applied';
    text = 'Applied: masked areas never leave your home.';
  } else if (state.applied) {
    kind = 'none';
    text = 'No masks: your camera sends the whole picture to anyone allowed to watch it.';
  } else if (state.camera && !state.camera.online) {
    kind = 'offline';
    text = 'Not applied yet: your camera is not connected. Officers see nothing from this camera until your camera reconnects and confirms your masks.';
  } else if (waiting) {
    kind = 'pending';
    text = 'Applying… officers see nothing from this camera until your camera confirms.';
  } else {
    kind = 'unconfirmed';
    text = 'Your camera has not confirmed your masks yet: officers see nothing from this camera until it does. This page updates when it confirms.';
  }
  if (box.dataset.state !== kind || box.textContent !== text) {
    box.dataset.state = kind;
    box.textContent = text;
  }
}

function startWaiting() {
  state.waitUntil = Date.now() + WAIT_MS;
  schedulePoll();
  renderApply();
}

function schedulePoll() {
  clearTimeout(state.pollTimer);
  if (state.applied || Date.now() >= state.waitUntil) {
    renderApply();
    return;
  }
  state.pollTimer = setTimeout(async () => {
    await refreshMasks();
    schedulePoll();
  }, POLL_MS);
}

/** Take the hub's answer about the masks; adopt its masks unless the owner is editing. */
function adopt(answer, justSaved = false) {
  const changed = !state.saved || answer.version !== state.saved.version;
  const editing = dirty();
  state.saved = { version: answer.version, masks: copy(answer.masks) };
  state.applied = Boolean(answer.applied);
  if (changed) {
    if (!editing || justSaved) {
      state.masks = copy(answer.masks);
      renderMasks();
    } else say('Your masks were changed in another window. Save to replace them with yours, or Discard changes to see them.');
  }
  renderSave();
  renderApply();
}

async function refreshMasks() {
  const mine = ++state.seq;
  try {
    const answer = await api(`/api/cameras/${encodeURIComponent(state.cameraId)}/masks`);
    if (mine === state.seq && !state.saving) adopt(answer);
  } catch (err) {
    if (mine === state.seq) say(errorText(err, 'your masks'), 'error');
  }
}

async function save() {
  const error = $('#save-error');
  if (state.saving) return;
  if (state.drawing?.points.length) {
    error.textContent = 'Finish or cancel the polygon you are drawing first.';
    return;
  }
  if (!dirty()) {
    error.textContent = '';
    say('Nothing to save: no changes since the last save.');
    return;
  }
  state.saving = true;
  state.seq += 1; // answers to reads sent before this save are stale
  renderSave();
  renderApply();
  error.textContent = '';
  say('Saving your masks…');
  try {
    const answer = await api(`/api/cameras/${encodeURIComponent(state.cameraId)}/masks`, {
      method: 'PUT', json: { masks: state.masks },
    });
    state.seq += 1;
    state.saving = false;
    if (!answer.applied) state.waitUntil = Date.now() + WAIT_MS;
    adopt(answer, true);
    const n = answer.masks.length;
    say(n ? `Saved ${n} mask${n === 1 ? '' : 's'}.` : 'Saved: all masks removed.', 'ok');
    if (!answer.applied) startWaiting();
  } catch (err) {
    error.textContent = saveProblem(err);
    say('Not saved.', 'error');
  } finally {
    state.saving = false;
    renderSave();
    renderApply();
  }
}

function saveProblem(err) {
  if (err instanceof ApiError && err.reason === 'bad_masks') {
    return `The hub refused these masks: ${err.message}. Each mask needs 3 to ${MAX_POINTS} points inside the picture, and there can be at most ${MAX_MASKS} masks.`;
  }
  return errorText(err, 'saving your masks');
}

function discard() {
  if (!dirty() && !state.drawing) {
    say('Nothing to discard.');
    return;
  }
  state.masks = copy(state.saved?.masks ?? []);
  state.drawing = null;
  $('#save-error').textContent = '';
  renderDrawing();
  renderMasks();
  say('Changes discarded: the page shows the masks last saved.');
}

// The camera -------------------------------------------------------------------------------------------------

async function refreshCamera() {
  let cameras;
  try {
    cameras = (await api('/api/cameras')).cameras;
  } catch (err) {
    say(errorText(err, 'your cameras'), 'error');
    return null;
  }
  const camera = cameras.find((c) => c.id === state.cameraId) ?? null;
  if (camera) {
    state.camera = camera;
    $('#camera-state').textContent = camera.online
      ? 'Your camera is connected to the hub.'
      : 'Your camera is not connected to the hub.';
    $('#camera-state').dataset.online = String(Boolean(camera.online));
  }
  return { camera, cameras };
}

function chooseCamera(cameras, missing) {
  $('#choose').hidden = false;
  const box = $('#camera-choice');
  const intro = missing
    ? el('p', { className: 'error' }, `No camera "${missing}" among your cameras. Choose one of yours:`)
    : el('p', {}, 'Which camera do you want to draw privacy masks for?');
  if (!cameras.length) {
    box.replaceChildren(intro, el('p', { className: 'empty' }, 'You have no cameras yet.'));
    return;
  }
  box.replaceChildren(intro, el('ul', {}, ...cameras.map((c) => el(
    'li', {}, el('a', { href: `/resident/masks?camera=${encodeURIComponent(c.id)}` }, `Privacy masks for ${c.name}`),
  ))));
}

// Start ------------------------------------------------------------------------------------------------------

async function start() {
  $('#logout').addEventListener('click', () => logout());
  const loginBox = $('#login');
  let me;
  try {
    me = await requireLogin(loginBox, ['resident']);
  } catch (err) {
    say(errorText(err, 'this page'), 'error');
    return;
  }
  $('#whoami').textContent = `Logged in as ${me.account.username}`;
  $('#account').hidden = false;
  state.cameraId = new URLSearchParams(window.location.search).get('camera') ?? '';
  const found = await refreshCamera();
  if (!found) return;
  if (!found.camera) {
    chooseCamera(found.cameras, state.cameraId);
    if (me.formShown) $('#choose-title').focus();
    return;
  }
  const name = found.camera.name;
  document.title = `Privacy masks for ${name} · Porchlight`;
  $('#camera-title').textContent = `Privacy masks for ${name}`;
  wire();
  $('#page').hidden = false;
  if (me.formShown) $('#camera-title').focus();
  renderDrawing();
  renderMasks();
  await refreshMasks();
  if (state.saved && !state.applied) startWaiting();
  takePicture();
  live((topics) => {
    if (topics.includes('all') || topics.includes('cameras') || topics.includes('streams')) {
      refreshCamera().then(() => renderApply());
      refreshMasks();
    }
  });
}

function wire() {
  $('#snap').addEventListener('click', () => takePicture());
  $('#overlay').addEventListener('click', onPictureClick);
  $('#point-form').addEventListener('submit', onPointForm);
  $('#rect-form').addEventListener('submit', onRectangle);
  $('#finish').addEventListener('click', () => finishPolygon());
  $('#undo').addEventListener('click', () => undoPoint());
  $('#cancel-draw').addEventListener('click', () => cancelDrawing());
  $('#save').addEventListener('click', () => save());
  $('#discard').addEventListener('click', () => discard());
  window.addEventListener('beforeunload', (event) => {
    if (dirty() || state.drawing) event.preventDefault();
  });
  // The picture is never kept: let go of it when the page goes away.
  window.addEventListener('pagehide', () => {
    if (state.picture) URL.revokeObjectURL(state.picture.url);
  });
}

start();

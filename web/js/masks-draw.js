// Drawing a polygon mask point by point: with the pointer (click points on the picture; clicking the first point
// again, or "Finish polygon", closes it) or with the keyboard (type each point's position in percent in the
// point form). "Undo last point" and "Cancel this polygon" mend a slip. The drawing line under the buttons says
// how far the polygon is; errors go in the panel's alert line.

import { say } from './session.js';
import { fraction, round1 } from './masks-geometry.js';
import { renderMasks } from './masks-list.js';
import { renderOverlay } from './masks-overlay.js';
import { $, MAX_MASKS, MAX_POINTS, STYLE_WORDS, counted, enable, state, styleOf } from './masks-state.js';

const CLOSE_PX = 12; // a click this close to the first point closes the polygon

function drawError(text) {
  $('draw-error').textContent = text;
}

/** Show how far the polygon being drawn is, enable the buttons that apply, and redraw the overlay. */
export function renderDrawing() {
  const count = state.drawing?.points.length ?? 0;
  let text;
  if (!state.drawing) text = 'Not drawing: click on the picture (or add a point by its position) to start a mask.';
  else if (count < 3) text = `Drawing a new mask: ${counted(count, 'point')} (at least 3 needed).`;
  else text = `Drawing a new mask: ${count} points. Click the first point, or choose “Finish polygon”, to close it.`;
  $('draw-state').textContent = text;
  enable($('finish'), count >= 3);
  enable($('undo'), count > 0);
  enable($('cancel-draw'), Boolean(state.drawing));
  renderOverlay();
}

/** Add a point (relative 0..1) to the polygon, starting one if none is being drawn; false when it cannot. */
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
  state.drawing.points.push([fraction(x), fraction(y)]);
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
  const style = styleOf($('draw-style'));
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
  const box = $('overlay').getBoundingClientRect();
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
  const xField = $('point-x');
  const yField = $('point-y');
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

/** Listen to the picture, the point form and the drawing buttons. */
export function wireDrawing() {
  $('overlay').addEventListener('click', onPictureClick);
  $('point-form').addEventListener('submit', onPointForm);
  $('finish').addEventListener('click', () => finishPolygon());
  $('undo').addEventListener('click', () => undoPoint());
  $('cancel-draw').addEventListener('click', () => cancelDrawing());
}

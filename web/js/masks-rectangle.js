// Adding a rectangle mask with the keyboard: its left, top, width and height in percent of the picture and its
// style; numbers that do not make a rectangle inside the picture are refused in plain words, with focus on the
// field at fault (masks-geometry.js decides which).

import { say } from './session.js';
import { rectangleMask } from './masks-geometry.js';
import { renderMasks } from './masks-list.js';
import { $, MAX_MASKS, STYLE_WORDS, state, styleOf } from './masks-state.js';

function onRectangle(event) {
  event.preventDefault();
  const form = $('rect-form');
  const error = $('rect-error');
  const number = (name) => /** @type {HTMLInputElement} */ (form.elements.namedItem(name)).valueAsNumber;
  if (state.masks.length >= MAX_MASKS) {
    error.textContent = `You have ${MAX_MASKS} masks, the most there can be: delete one first.`;
    return;
  }
  const style = styleOf($('rect-style'));
  let mask;
  try {
    mask = rectangleMask({ left: number('left'), top: number('top'), width: number('width'), height: number('height') }, style);
  } catch (failure) {
    error.textContent = failure.message;
    $(`rect-${failure.field}`)?.focus();
    return;
  }
  error.textContent = '';
  state.masks.push(mask);
  form.reset();
  renderMasks();
  say(`Mask ${state.masks.length} added: a rectangle (${STYLE_WORDS[style]}). Not saved yet.`);
}

/** Listen to the rectangle form. */
export function wireRectangle() {
  $('rect-form').addEventListener('submit', onRectangle);
}

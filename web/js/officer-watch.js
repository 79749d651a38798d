// The officer's page, the watch form: a case number and a reason for every look (the owner reads both in the
// viewing record), then a new tile on the wall (officer-wall.js). Opening it closes any other form on the page.

import { say } from './session.js';
import { $ } from './dom.js';
import { openingForm, page, registerForm } from './officer-state.js';
import { roomForOneMore, watch, watching } from './officer-wall.js';

/**
 * Open the watch form for `camera` (or, when it is already watched, go to its tile).
 * @param {any} camera
 */
export function choose(camera) {
  const tile = watching(camera.id);
  if (tile) {
    $('h3', tile.node).focus();
    say(`You are already watching ${camera.name}.`);
    return;
  }
  openingForm('watch');
  page.chosen = camera;
  const section = $('#watch');
  $('#watch-title').textContent = `Watch ${camera.name}`;
  $('#watch-submit').textContent = `Start watching ${camera.name}`;
  $('#watch-error').textContent = '';
  const form = $('#watch-form');
  form.elements.case.value = page.lastCase;
  form.elements.reason.value = '';
  section.hidden = false;
  (page.lastCase ? form.elements.reason : form.elements.case).focus();
}

/**
 * Close the watch form; with `focus`, back on its camera's button.
 * @param {boolean} [focus]
 */
export function closeForm(focus = true) {
  const camera = page.chosen;
  page.chosen = null;
  $('#watch').hidden = true;
  const back = camera && document.querySelector(`#camera-list li[data-camera="${CSS.escape(camera.id)}"] button`);
  if (focus && back) back.focus();
}

registerForm('watch', closeForm);

/**
 * Start watching `camera` for this case and reason, if my limit of views at once allows; false (and why, in
 * `error` or the status line) when not.
 * @param {any} camera
 * @param {string} caseNumber
 * @param {string} reason
 * @param {HTMLElement|null} [error] where to say why not
 * @returns {boolean}
 */
export function startWatching(camera, caseNumber, reason, error = null) {
  if (!roomForOneMore()) {
    const words = `You can watch up to ${page.viewerLimit} cameras at once. Stop one first.`;
    if (error) error.textContent = words;
    else say(words, 'error');
    return false;
  }
  page.lastCase = caseNumber;
  watch(camera, caseNumber, reason);
  return true;
}

/**
 * The watch form was sent: check it, and start watching in a new tile.
 * @param {SubmitEvent} event
 */
export function submitForm(event) {
  event.preventDefault();
  const form = event.currentTarget;
  const error = $('#watch-error');
  const caseNumber = form.elements.case.value.trim();
  const reason = form.elements.reason.value.trim();
  if (!caseNumber || !reason) {
    error.textContent = !caseNumber ? 'Enter the case number.' : 'Enter the reason for watching.';
    (!caseNumber ? form.elements.case : form.elements.reason).focus();
    return;
  }
  const camera = page.chosen;
  if (!camera) return;
  if (!startWatching(camera, caseNumber, reason, error)) return;
  page.chosen = null;
  $('#watch').hidden = true;
}

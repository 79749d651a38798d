// The two lines that say where the masks stand. The save panel's line: whether there are unsaved changes (and
// so whether "Save masks" and "Discard changes" do anything). The applied line: whether the camera applies the
// masks the hub holds; until it confirms, the hub holds the camera's video for every viewer, and the line says so
// (pending while saving or just after, offline while the camera is not connected, unconfirmed once the wait is
// over). Both only read the state.

import { $, dirty, enable, state } from './masks-state.js';

/** The applied line's words for each of its states (`data-state`, which tests and styles read). */
const APPLY_WORDS = {
  pending: 'Applying… officers see nothing from this camera until your camera confirms.',
  applied: 'Applied: masked areas never leave your home.',
  none: 'No masks: your camera sends the whole picture to anyone allowed to watch it.',
  offline: 'Not applied yet: your camera is not connected. Officers see nothing from this camera until your camera reconnects and confirms your masks.',
  unconfirmed: 'Your camera has not confirmed your masks yet: officers see nothing from this camera until it does. This page updates when it confirms.',
};

/** Show whether there are unsaved changes; Save and Discard are enabled only then (and not while saving). */
export function renderSave() {
  const changed = dirty();
  const line = $('dirty');
  line.textContent = changed ? 'You have unsaved changes: officers still see the masks last saved.' : 'No unsaved changes.';
  line.className = changed ? 'unsaved' : 'muted';
  enable($('save'), changed && !state.saving);
  enable($('discard'), changed && !state.saving);
}

function applyState() {
  // The hub holds the video from the moment it takes the new masks (its answer may already say applied).
  if (state.saving) return 'pending';
  if (state.applied) return state.saved.masks.length ? 'applied' : 'none';
  if (state.camera && !state.camera.online) return 'offline';
  return Date.now() < state.waitUntil ? 'pending' : 'unconfirmed';
}

/** Show whether the camera applies the saved masks (nothing until the hub's masks are known). */
export function renderApply() {
  if (!state.saved) return;
  const kind = applyState();
  const box = $('apply-state');
  if (box.dataset.state === kind) return; // unchanged: not announced again
  box.dataset.state = kind;
  box.textContent = APPLY_WORDS[kind];
}

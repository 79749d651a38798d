// Saving the edited masks to the hub, and discarding the edits. From the moment the hub takes new masks it holds
// the camera's video for every viewer until the camera confirms it applies them (masks-sync.js waits for that).
// Leaving the page with unsaved edits, or a polygon half drawn, asks first.

import { ApiError, api, say } from './session.js';
import { renderDrawing } from './masks-draw.js';
import { renderMasks } from './masks-list.js';
import { renderApply, renderSave } from './masks-status.js';
import { adoptSaved, masksPath } from './masks-sync.js';
import { $, MAX_MASKS, MAX_POINTS, copy, counted, dirty, errorText, state } from './masks-state.js';

function saveProblem(err) {
  if (err instanceof ApiError && err.reason === 'bad_masks') {
    return `The hub refused these masks: ${err.message}. Each mask needs 3 to ${MAX_POINTS} points inside the picture, and there can be at most ${MAX_MASKS} masks.`;
  }
  return errorText(err, 'saving your masks');
}

async function save() {
  const error = $('save-error');
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
    const answer = await api(masksPath(), { method: 'PUT', json: { masks: state.masks } });
    state.seq += 1; // and so are answers to reads sent during it
    state.saving = false;
    adoptSaved(answer);
    const n = answer.masks.length;
    say(n ? `Saved ${counted(n, 'mask')}.` : 'Saved: all masks removed.', 'ok');
  } catch (err) {
    error.textContent = saveProblem(err);
    say('Not saved.', 'error');
  } finally {
    state.saving = false;
    renderSave();
    renderApply();
  }
}

function discard() {
  if (!dirty() && !state.drawing) {
    say('Nothing to discard.');
    return;
  }
  state.masks = copy(state.saved?.masks ?? []);
  state.drawing = null;
  $('save-error').textContent = '';
  renderDrawing();
  renderMasks();
  say('Changes discarded: the page shows the masks last saved.');
}

/** Listen to Save and Discard; ask before leaving with unsaved edits. */
export function wireSave() {
  $('save').addEventListener('click', () => save());
  $('discard').addEventListener('click', () => discard());
  window.addEventListener('beforeunload', (event) => {
    if (dirty() || state.drawing) event.preventDefault();
  });
}

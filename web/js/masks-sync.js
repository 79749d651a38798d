// The masks the hub holds for the camera, and whether the camera applies them: reading them, adopting them (the
// list follows the hub's version unless the owner has unsaved edits, who is then told another window changed
// them), and, after a save the camera has not yet confirmed, asking again every half second for a while so the
// applied line turns as soon as it confirms (the live-update stream covers later changes).

import { api, say } from './session.js';
import { renderMasks } from './masks-list.js';
import { renderApply, renderSave } from './masks-status.js';
import { copy, dirty, errorText, state } from './masks-state.js';

const POLL_MS = 500;
const WAIT_MS = 15_000;

/** The camera's masks on the hub (GET answers it; PUT stores the masks). */
export const masksPath = () => `/api/cameras/${encodeURIComponent(state.cameraId)}/masks`;

/**
 * Take the hub's answer about the masks; adopt its masks unless the owner is editing (or has just saved them).
 * @param {{version: number, masks: any[], applied: boolean}} answer
 * @param {boolean} [justSaved]
 */
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

/** Read the hub's masks and adopt them (an answer overtaken by a later read or a save is dropped). */
export async function refreshMasks() {
  const mine = ++state.seq;
  try {
    const answer = await api(masksPath());
    if (mine === state.seq && !state.saving) adopt(answer);
  } catch (err) {
    if (mine === state.seq) say(errorText(err, 'your masks'), 'error');
  }
}

/**
 * Take the hub's answer to a save: adopt it, and unless the camera already applies the masks, wait for it to
 * confirm (the applied line says "Applying…" meanwhile, not "not confirmed").
 * @param {{version: number, masks: any[], applied: boolean}} answer
 */
export function adoptSaved(answer) {
  if (!answer.applied) state.waitUntil = Date.now() + WAIT_MS;
  adopt(answer, true);
  schedulePoll();
}

/** Wait a while for the camera to confirm the saved masks, asking the hub every POLL_MS. */
export function startWaiting() {
  state.waitUntil = Date.now() + WAIT_MS;
  schedulePoll();
}

function schedulePoll() {
  clearTimeout(state.pollTimer);
  renderApply();
  if (state.applied || Date.now() >= state.waitUntil) return;
  state.pollTimer = setTimeout(async () => {
    await refreshMasks();
    schedulePoll();
  }, POLL_MS);
}

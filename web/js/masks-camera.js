// Which camera the page edits (?camera=ID) and whether it is connected: the owner's cameras from the hub, the
// camera's connected line, and, when the id is none of the owner's, a list of the owner's cameras to choose from.

import { api, el, say } from './session.js';
import { $, errorText, state } from './masks-state.js';

/**
 * Fetch the owner's cameras and show whether the edited one is connected; null (said in the status line) when
 * the hub cannot tell.
 * @returns {Promise<{camera: any, cameras: any[]}|null>}
 */
export async function refreshCamera() {
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
    const line = $('camera-state');
    line.textContent = camera.online ? 'Your camera is connected to the hub.' : 'Your camera is not connected to the hub.';
    line.dataset.online = String(Boolean(camera.online));
  }
  return { camera, cameras };
}

/**
 * Offer the owner's cameras to choose from (`missing`: the id asked for, which is none of them).
 * @param {any[]} cameras
 * @param {string} missing
 */
export function chooseCamera(cameras, missing) {
  $('choose').hidden = false;
  const box = $('camera-choice');
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

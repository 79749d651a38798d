// The still picture to draw on: asked of the camera through the hub without caching, shown from a blob: URL and
// never kept (let go of when a new one comes or the page goes away). Only the owner gets it; officers never see
// it. Without a picture (camera offline, or it sent none) masks are still drawn, on a blank frame.

import { ApiError } from './session.js';
import { localTime } from './time-words.js';
import { renderOverlay } from './masks-overlay.js';
import { $, errorText, state } from './masks-state.js';

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

/** Ask the camera for a new picture and show it (one request at a time); say what went wrong if it fails. */
export async function takePicture() {
  if (state.snapping) return;
  const button = $('snap');
  state.snapping = true;
  button.setAttribute('aria-busy', 'true');
  $('snap-state').textContent = 'Asking your camera for a picture…';
  try {
    const response = await fetch(`/api/cameras/${encodeURIComponent(state.cameraId)}/snapshot`, {
      cache: 'no-store', credentials: 'same-origin', headers: { Accept: 'image/jpeg' },
    });
    if (!response.ok) throw new ApiError(response.status, await response.json().catch(() => null));
    const url = URL.createObjectURL(await response.blob());
    const img = $('picture');
    const loaded = new Promise((resolve, reject) => {
      img.onload = resolve;
      img.onerror = () => reject(new Error('not a picture'));
    });
    img.src = url;
    await loaded;
    if (state.picture) URL.revokeObjectURL(state.picture.url);
    state.picture = { url, width: img.naturalWidth, height: img.naturalHeight, at: new Date() };
    const when = localTime(state.picture.at.toISOString());
    img.alt = `Still picture from ${state.camera?.name ?? 'your camera'}, taken at ${when}`;
    img.hidden = false;
    $('no-picture').hidden = true;
    $('frame').dataset.picture = 'shown';
    $('snap-state').textContent = `Picture taken at ${when}.`;
    renderOverlay();
  } catch (err) {
    $('snap-state').textContent = pictureProblem(err);
    if (!state.picture) {
      $('no-picture').textContent = 'No picture: you can still add masks by their position; they are drawn on a blank frame here.';
    }
  } finally {
    state.snapping = false;
    button.removeAttribute('aria-busy');
  }
}

/** Listen to "Take a new picture"; let go of the picture when the page goes away (it is never kept). */
export function wirePicture() {
  $('snap').addEventListener('click', () => takePicture());
  window.addEventListener('pagehide', () => {
    if (state.picture) URL.revokeObjectURL(state.picture.url);
  });
}

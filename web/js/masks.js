// The owner's privacy-mask editor (/resident/masks?camera=ID): a still picture from the camera (fetched without
// caching, shown from a blob: URL, never kept), the camera's masks drawn over it, and editing them with the
// pointer (click points, finish, undo) or the keyboard (a rectangle by its percentages, or points one by one).
// Saving sends the masks to the hub; until the camera's agent confirms it applies them, the hub holds the
// camera's video for every viewer, and the page says so until the confirmation comes.
//
// This module logs in, finds the camera, wires the parts and decides what to fetch again on a change. The parts:
// masks-picture.js (the still picture), masks-overlay.js (the masks drawn over it), masks-draw.js (polygons by
// pointer or typed points), masks-rectangle.js (a typed rectangle), masks-list.js (the list of masks),
// masks-save.js (save and discard), masks-sync.js (the hub's masks and the camera's confirmation),
// masks-status.js (the unsaved and applied lines) and masks-camera.js (which camera), sharing masks-state.js and
// the page-free numbers of masks-geometry.js.

import { live, logout, requireLogin, say } from './session.js';
import { chooseCamera, refreshCamera } from './masks-camera.js';
import { renderDrawing, wireDrawing } from './masks-draw.js';
import { renderMasks } from './masks-list.js';
import { takePicture, wirePicture } from './masks-picture.js';
import { wireRectangle } from './masks-rectangle.js';
import { wireSave } from './masks-save.js';
import { renderApply } from './masks-status.js';
import { refreshMasks, startWaiting } from './masks-sync.js';
import { $, errorText, state } from './masks-state.js';

function refreshFor(topics) {
  if (topics.includes('all') || topics.includes('cameras') || topics.includes('streams')) {
    refreshCamera().then(() => renderApply());
    refreshMasks();
  }
}

async function start() {
  $('logout').addEventListener('click', () => logout());
  let me;
  try {
    me = await requireLogin($('login'), ['resident']);
  } catch (err) {
    say(errorText(err, 'this page'), 'error');
    return;
  }
  $('whoami').textContent = `Logged in as ${me.account.username}`;
  $('account').hidden = false;
  state.cameraId = new URLSearchParams(window.location.search).get('camera') ?? '';
  const found = await refreshCamera();
  if (!found) return;
  if (!found.camera) {
    chooseCamera(found.cameras, state.cameraId);
    if (me.formShown) $('choose-title').focus();
    return;
  }
  const name = found.camera.name;
  document.title = `Privacy masks for ${name} · Porchlight`;
  $('camera-title').textContent = `Privacy masks for ${name}`;
  wirePicture();
  wireDrawing();
  wireRectangle();
  wireSave();
  $('page').hidden = false;
  if (me.formShown) $('camera-title').focus();
  renderDrawing();
  renderMasks();
  await refreshMasks();
  if (state.saved && !state.applied) startWaiting();
  takePicture();
  live(refreshFor);
}

start();

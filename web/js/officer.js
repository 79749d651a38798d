// The officer's page: the cameras opted in for me right now (a list and a map, each with its consent time left),
// and a wall of live video from several of them at once. Every look needs a case number and a reason (the
// owner reads both in the viewing record); when consent ends, the video stops and the tile says why and when.
// A camera that is not opted in for me can be asked for: its owner approves (it then joins the list like any
// opted-in camera) or declines, or the request expires unanswered; "My requests" follows each one live.
//
// This module starts the page (log-in, live updates, the clocks) and fetches what changed; the rest is in
// officer-cameras.js (the list, the map, the countdowns), officer-watch.js (the watch form), officer-wall.js and
// officer-tile.js (the wall of tiles), officer-ask.js (asking owners for access, my requests), officer-area.js
// (asking by area on the map), map.js, officer-words.js and officer-state.js.

import { ApiError, api, live, logout, requireLogin, say } from './session.js';
import { $ } from './dom.js';
import { page, refresh, refreshRequests, setLoaders } from './officer-state.js';
import { fitMap, renderCameras, setUpMap, tick } from './officer-cameras.js';
import { closeForm, submitForm } from './officer-watch.js';
import { WALL_CHANGED, hangUpAll, setUpWall, tickWall } from './officer-wall.js';
import { renderAsk, renderRequests } from './officer-ask.js';
import { setUpArea } from './officer-area.js';

// Fetching --------------------------------------------------------------------------------------------------

/** Fetch the cameras I may watch now, those I may ask for and the pilot, and show them; false when reloading. */
async function loadCameras() {
  try {
    const [answer, current] = await Promise.all([api('/api/cameras?all=1'), api('/api/pilot')]);
    const admitted = answer.cameras.filter((camera) => camera.admitted !== false);
    page.cameras = new Map(admitted.map((camera) => [camera.id, camera]));
    page.askable = new Map(answer.cameras.filter((camera) => camera.admitted === false).map((c) => [c.id, c]));
    page.pilot = current.pilot;
    page.policy = current.policy;
    if (Number(answer.viewer_limit) > 0) page.viewerLimit = Number(answer.viewer_limit);
    renderCameras();
    renderAsk();
    renderRequests(); // "Watch now" follows the cameras open to me
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) {
      window.location.reload();
      return false;
    }
    say(`The camera list could not be loaded: ${error.message}`, 'error');
  }
  return true;
}

/** Fetch my requests and show them; false when reloading. */
async function loadRequests() {
  try {
    page.myRequests = (await api('/api/requests')).requests;
    renderRequests();
    renderAsk();
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) {
      window.location.reload();
      return false;
    }
    say(`Your requests could not be loaded: ${error.message}`, 'error');
  }
  return true;
}

// Start -----------------------------------------------------------------------------------------------------

/** The map and asking by area (GET /api/map says which tile server, if any); the page works on without them. */
async function startMap() {
  try {
    const settings = await api('/api/map');
    if (!window.L) throw new Error('the map library did not load');
    setUpArea(setUpMap(settings), settings);
    renderCameras();
  } catch (error) {
    $('#map-note').textContent = `The map could not be shown (${error.message}); the list has every camera.`;
  }
}

async function main() {
  const me = await requireLogin($('#login'), ['officer']);
  const account = me.account;
  page.officer = account.username;
  $('#whoami').textContent = `${account.username} (officer${account.agency ? `, ${account.agency}` : ''})`;
  $('#account').hidden = false;
  $('#logout').addEventListener('click', async () => {
    hangUpAll();
    await logout();
  });
  $('#app').hidden = false;
  $('#watch-form').addEventListener('submit', submitForm);
  $('#watch-cancel').addEventListener('click', () => closeForm());
  $('#watch').addEventListener('keydown', (event) => {
    if (event.key === 'Escape') closeForm();
  });
  window.addEventListener('pagehide', hangUpAll);
  window.addEventListener('resize', fitMap);
  setUpWall();
  document.addEventListener(WALL_CHANGED, () => renderRequests());
  setInterval(() => {
    tick();
    tickWall();
  }, 1000);
  // Live views keep my log-in alive (the hub renews it while they play) up to its absolute limit; session.js
  // warns before that, as on every page.
  live((topics) => {
    if (topics.some((topic) => ['all', 'cameras', 'streams'].includes(topic))) refresh();
    if (topics.some((topic) => ['all', 'requests'].includes(topic))) refreshRequests();
  });
  await Promise.all([startMap(), refresh(), refreshRequests()]);
}

setLoaders({ cameras: loadCameras, requests: loadRequests });
main().catch((error) => say(`Something went wrong: ${error.message}`, 'error'));

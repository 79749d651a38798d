// What the resident's page knows, shared by its modules: the account, the log's key, the pilot and the admin's
// policy, the agencies, my cameras and the requests for them; and `refresh`, the one way any part of the page asks
// the hub again. What a refresh fetches and draws is resident.js's `load`, handed in once with `setLoader`, so
// the page's parts need not import the entry module (nor each other) to ask for fresh data.

import { ApiError, say, sessionEnded } from './session.js';
import { errorText } from './resident-words.js';

/**
 * @typedef {object} Entry one camera on the page
 * @property {any} camera the camera as `GET /api/cameras` last showed it
 * @property {HTMLElement} section
 * @property {string} key a short id safe in element ids
 * @property {boolean} choosing the opt-in chooser is open
 * @property {string|null} consentKey what the sharing block shows (rebuilt only when it changes)
 * @property {string|null} watchKey what the "watching now" block shows
 * @property {string|null} recordsKey the camera state the history was last loaded for
 * @property {number} openViews views on the record with no end yet
 * @property {number} rechecks follow-up loads left while a view's end is not yet on the record
 * @property {string|null} locationKey the location the location form shows
 */

/** The page's state (one object: the modules read and update it in place). */
export const state = {
  me: null,
  log: null,
  logProblem: null,
  pilot: null,
  policy: null,
  /** @type {Map<string, string>} agency id -> name */
  agencies: new Map(),
  /** @type {Map<string, Entry>} */
  cams: new Map(),
  loading: false,
  loadError: false,
  /** @type {any[]|null} officers' requests for my cameras, newest first (null until loaded) */
  requests: null,
  requestsKey: '',
  /** @type {Set<number>|null} ids of the pending requests already shown (null before the first load) */
  seenPending: null,
  news: '',
};

/** Whether the pilot is running now (as the hub last said). */
export const pilotRunning = () => state.pilot?.state === 'running';

/**
 * An agency as "Name (id)" (just the id when its name is unknown).
 * @param {string|null} id
 * @returns {string}
 */
export function agencyName(id) {
  const name = state.agencies.get(id);
  return name ? `${name} (${id})` : String(id ?? 'no agency');
}

/** @type {(topics: string[]) => Promise<void>} */
let load = async () => {};

/**
 * Set what a refresh does with its topics (resident.js does, once, before the first refresh).
 * @param {(topics: string[]) => Promise<void>} loader
 */
export function setLoader(loader) {
  load = loader;
}

let running = null;
const pending = new Set();

/**
 * Fetch again what `topics` say changed ("all", "cameras", "watchers", "streams", "pilot", "records:<camera>");
 * calls made while a load runs are merged into one more load after it.
 * @param {string[]} topics
 * @returns {Promise<void>}
 */
export function refresh(topics) {
  for (const topic of topics) pending.add(topic);
  if (!running) {
    running = (async () => {
      while (pending.size) {
        const batch = [...pending];
        pending.clear();
        try {
          await load(batch);
          if (state.loadError || state.loading) say('');
          state.loadError = false;
          state.loading = false;
          if (state.news) say(state.news);
          state.news = '';
        } catch (err) {
          if (err instanceof ApiError && err.status === 401) {
            sessionEnded(err.reason); // the log-in form says why
            return;
          }
          state.loadError = true;
          say(errorText(err, 'your cameras'), 'error');
        }
      }
    })().finally(() => {
      running = null;
      if (pending.size) refresh([]);
    });
  }
  return running;
}

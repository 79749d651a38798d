// What the officer's page knows, shared by its modules: who I am, the cameras I may watch now and those I may ask
// for, the pilot and the admin's policy, my access requests, which form is open; the status line's `announce`;
// the two fetches (`refresh`: the cameras; `refreshRequests`: my requests), each run one at a time; and the one
// open form (`openingForm`: opening one closes the others). What a fetch does is officer.js's business, handed
// in once with `setLoaders`, and each form registers how it closes, so the page's parts never import each other
// in a loop.

import { say } from './session.js';

/** The page's state (one object: the modules read and update it in place). */
export const page = {
  /** @type {Map<string, any>} the cameras from the last /api/cameras I may watch now, by id */
  cameras: new Map(),
  /** @type {Map<string, any>} the cameras of the pilot I may not watch now (asking their owners is possible) */
  askable: new Map(),
  pilot: null, // from /api/pilot
  policy: null, // from /api/pilot: the admin's cap on a grant (and so on what may be asked for)
  /** @type {any[]|null} my access requests, newest first (null until loaded) */
  myRequests: null,
  chosen: null, // the camera whose watch form is open
  asking: null, // the camera whose ask form is open
  lastCase: '', // the case number last used (the next form starts with it)
  officer: '', // my username, shown over every tile
  viewerLimit: 4, // how many cameras I may watch at once (the hub's peers_per_officer, from /api/cameras)
};

/** @type {Map<string, (focus: boolean) => void>} how each form closes, by name */
const forms = new Map();

/**
 * Say how the form `name` closes (each form module does, once).
 * @param {string} name
 * @param {(focus: boolean) => void} close
 */
export function registerForm(name, close) {
  forms.set(name, close);
}

/**
 * The form `name` is opening: every other one closes (without taking the focus).
 * @param {string} name
 */
export function openingForm(name) {
  for (const [other, close] of forms) if (other !== name) close(false);
}

let said = [];

/**
 * Say `text` in the status line; what is said within a moment (several tiles ending at once) is said together.
 * @param {string} text
 */
export function announce(text) {
  said.push(text);
  if (said.length === 1) {
    setTimeout(() => {
      say(said.join(' '));
      said = [];
    }, 150);
  }
}

/**
 * `load` run one at a time: a call while it runs makes it run once more afterwards (and waits for that run).
 * `load` returning false ends the runs (the page is reloading).
 * @param {() => Promise<boolean|void>} load
 * @returns {() => Promise<void>}
 */
function oneAtATime(load) {
  let running = null;
  let again = false;
  return async () => {
    if (running) {
      again = true;
      return running;
    }
    running = (async () => {
      do {
        again = false;
        if ((await load()) === false) return;
      } while (again);
    })();
    try {
      await running;
    } finally {
      running = null;
    }
  };
}

const loaders = { cameras: async () => {}, requests: async () => {} };

/**
 * Set what `refresh` and `refreshRequests` fetch and show (officer.js does, once, before the first fetch).
 * @param {{cameras: () => Promise<boolean|void>, requests: () => Promise<boolean|void>}} given
 */
export function setLoaders(given) {
  Object.assign(loaders, given);
}

/** Fetch the cameras I may watch now (and those I may ask for) and show them. */
export const refresh = oneAtATime(() => loaders.cameras());

/** Fetch my requests and show them. */
export const refreshRequests = oneAtATime(() => loaders.requests());

// The resident's page in plain words: times and durations as people read them, and what each audit record says
// (who did what, why a view ended, why one was refused), built from the record's signed fields only; and what
// went wrong when the hub could not be reached or refused. Nothing here changes the page by itself.

import { ApiError, el } from './session.js';
import { durationWords, lastedWords, localTime } from './time-words.js';

// What the records say ---------------------------------------------------------------------------------------

const ENDED_BY = {
  viewer_left: 'hung up',
  viewer_gone: 'connection lost',
  withdrawn: 'withdrawn',
  grant_expired: 'consent expired',
  pilot_over: 'pilot over',
  hub_shutdown: 'hub shut down',
  hub_restarted: 'hub restarted',
  camera_not_publishing: 'camera stopped sending',
  account_disabled: 'account disabled',
  session_expired: 'session expired',
  ended_by_admin: 'ended by an administrator',
  ended_by_owner: 'you stopped it',
  stopped_by_owner: 'you stopped this officer',
};

/** How a view ended, in a sentence (the history's last column), by the record's `ended_by`. */
export const HOW_IT_ENDED = {
  viewer_left: 'The officer hung up',
  viewer_gone: "The officer's connection was lost",
  withdrawn: 'You withdrew consent',
  grant_expired: 'Your consent ran out',
  pilot_over: 'The pilot ended',
  hub_shutdown: 'The hub shut down',
  hub_restarted: 'The hub restarted (the exact end is unknown)',
  camera_not_publishing: 'Your camera stopped sending video',
  account_disabled: "The officer's account was disabled",
  session_expired: "The officer's log-in expired",
  ended_by_admin: 'An administrator ended it',
  ended_by_owner: 'You stopped this view',
  stopped_by_owner: 'You had stopped this officer',
  agency_out_of_scope: 'You no longer allowed that agency',
};

/** Why a look was refused, by the record's `denied`. */
export const DENIED = {
  no_grant: 'the camera was not opted in',
  grant_expired: 'your consent had expired',
  grant_not_started: 'your consent had not started',
  withdrawn: 'you had withdrawn consent',
  agency_out_of_scope: 'that agency is not one you allowed',
  no_pilot: 'no pilot is running',
  pilot_not_started: 'the pilot had not started',
  pilot_over: 'the pilot is over',
  camera_offline: 'the camera was offline',
  camera_not_publishing: 'the camera sent no video',
  account_disabled: "the officer's account is disabled",
  session_expired: "the officer's session had expired",
  state_stale: 'the hub could not confirm consent',
  stopped_by_owner: 'you had stopped their view: not until you share again',
};

/**
 * A code as words ("grant_expired" -> "grant expired").
 * @param {unknown} code
 * @returns {string}
 */
export const words = (code) => String(code ?? '').replaceAll('_', ' ');

/** Who acted, as the record names them ("You" for the logged-in resident). */
function who(actor, me, capital = true) {
  if (!actor || typeof actor !== 'object') return capital ? 'The hub' : 'the hub';
  if (me && actor.id === me.id) return capital ? 'You' : 'you';
  const name = String(actor.username ?? '?');
  switch (actor.role) {
    case 'officer':
      return `${capital ? 'Officer' : 'officer'} ${name}${actor.agency ? ` (${actor.agency})` : ''}`;
    case 'admin':
      return `${capital ? 'Admin' : 'admin'} ${name}`;
    default:
      return `${capital ? 'Resident' : 'resident'} ${name}`;
  }
}

function purpose(f) {
  return `case ${f.case ?? '?'}, reason '${f.reason ?? ''}'`;
}

/**
 * What a record says, in plain words.
 * @param {Record<string, any>} f the record's fields (parsed from its signed text)
 * @param {{id: number}|null} me the logged-in account
 * @returns {string}
 */
export function describe(f, me) {
  const actor = who(f.actor, me);
  switch (f.kind) {
    case 'view.requested':
      return `${actor} asked to watch — ${purpose(f)}`;
    case 'view.started':
      return `${actor} started watching — ${purpose(f)}`;
    case 'view.ended': {
      const why = ENDED_BY[f.ended_by] ?? (words(f.ended_by) || 'ended');
      const heard = Number.isInteger(f.audio_packets) ? (f.audio_packets > 0 ? ', audio heard' : ', video only') : '';
      return `${actor} stopped watching after ${lastedWords(f.duration_ms)} (${why}${heard}) — case ${f.case ?? '?'}`;
    }
    case 'view.denied': {
      const why = DENIED[f.denied] ? ` (${DENIED[f.denied]})` : '';
      return `Denied: ${f.denied}${why} — ${who(f.actor, me, false)} asked to watch, ${purpose(f)}`;
    }
    case 'consent.granted': {
      const scope = Array.isArray(f.agencies) ? ` for ${f.agencies.join(', ')}` : ' for every agency';
      return `${actor} opted in until ${localTime(f.ends, true)}${scope}${f.audio ? ', with sound' : ''}`;
    }
    case 'consent.audio':
      return f.audio ? `${actor} shared sound too` : `${actor} stopped sharing sound (video only)`;
    case 'consent.withdrawn':
      return `${actor} withdrew consent (at ${localTime(f.at, true)})`;
    case 'consent.expired':
      return `Your consent expired (${localTime(f.ends, true)})`;
    case 'camera.registered':
      return 'Camera registered';
    case 'camera.token_issued':
      return 'A new device token was issued for the camera';
    case 'session.ended': {
      const officer = f.officer && typeof f.officer === 'object' ? ` of ${who(f.officer, me, false)}` : '';
      if (f.ended_by === 'ended_by_owner' && f.barred === true) {
        const them = f.officer && typeof f.officer === 'object' ? `officer ${f.officer.username ?? '?'}'s` : "an officer's";
        return `${actor} stopped ${them} view; they cannot watch again until you share again (the camera stayed shared)`;
      }
      return `${actor} ended a live view${officer}${f.ended_by === 'ended_by_owner' ? ' (the camera stayed shared)' : ''}`;
    }
    case 'audit.read':
      return `Audit read by ${who(f.actor, me, false)} (${f.records ?? 0} records)`;
    case 'access.requested':
      return `${actor} asked you for access for ${durationWords(Number(f.duration_seconds) || 0)}${f.urgent ? ' (urgent)' : ''} — ${purpose(f)}`;
    case 'access.approved':
      return `${actor} approved request ${f.request ?? '?'} (${f.agency ?? 'no agency'}, case ${f.case ?? '?'}) for ${durationWords(Number(f.duration_seconds) || 0)}`;
    case 'access.declined':
      return `${actor} declined request ${f.request ?? '?'} (${f.agency ?? 'no agency'}, case ${f.case ?? '?'})`;
    case 'access.expired':
      return `Request ${f.request ?? '?'} (${f.agency ?? 'no agency'}, case ${f.case ?? '?'}) expired unanswered`;
    default:
      return `${f.kind ?? 'Unknown event'}`;
  }
}

/**
 * What went wrong with `what` ("your cameras", "sharing Porch"), in a sentence for the status line.
 * @param {unknown} err
 * @param {string} what
 * @returns {string}
 */
export function errorText(err, what) {
  if (err instanceof ApiError) {
    if (err.status === 401) return 'You are no longer logged in: log in again to go on.';
    if (err.status === 403) return `The hub refused (${what}): ${err.message}.`;
    return `Something went wrong with ${what}: ${err.message}.`;
  }
  return `Could not reach the hub for ${what} (${err?.message || err}). Check your connection and try again.`;
}

// The officer's page in plain words: the time left on a consent ("7 h 59 min 12 s left"), why a live view ended
// (with the hub's time), why the hub refused to start one, and a camera's status. Times of day and durations
// asked for come from requests.js; nothing here changes the page.

import { leftWords, localTime } from './time-words.js';

/**
 * A consent's countdown text: "7 h 59 min 12 s left", or "ended".
 * @param {string|null} endsAt ISO 8601
 * @returns {string}
 */
export function leftLabel(endsAt) {
  const left = leftWords(endsAt);
  return left ? `${left} left` : 'ended';
}

/**
 * Why a session ended, in plain words, with the hub's `at` in local time (now, when the hub gave no time).
 * @param {string} reason the `end` event's reason
 * @param {string|null} at ISO 8601
 * @param {string|null} [note] an administrator's reason for ending it (the `end` event's `note`)
 * @returns {string}
 */
export function endedWords(reason, at, note = null) {
  const when = localTime(at || new Date().toISOString());
  switch (reason) {
    case 'withdrawn': return `The owner withdrew consent at ${when}.`;
    case 'grant_expired': return `The owner's consent ran out at ${when}.`;
    case 'pilot_over': return `The pilot ended at ${when}.`;
    case 'account_disabled': return `Your account was disabled at ${when}.`;
    case 'ended_by_admin':
      return note ? `Ended by an administrator: ${note} (at ${when}).` : `An administrator ended this session at ${when}.`;
    case 'ended_by_owner':
    case 'stopped_by_owner':
      return `The owner stopped your view at ${when}. You may watch this camera again only if the owner shares it again or approves a new request.`;
    case 'session_expired': return `Your session expired at ${when}. Log in again to keep watching.`;
    case 'mfa_reset': return `Your second factor was reset at ${when}: log in again and set it up.`;
    case 'agency_out_of_scope': return `The owner no longer allows your agency to watch (since ${when}).`;
    case 'camera_not_publishing': return `The camera did not send any video, so the hub ended the session at ${when}.`;
    case 'state_stale': return `The hub lost touch with its consent records at ${when}, so it stopped the video.`;
    case 'hub_shutdown': return `The hub shut down at ${when}.`;
    case 'viewer_gone':
    case 'connection_lost': return `The connection to the hub was lost at ${when}.`;
    case 'viewer_left': return `You stopped watching at ${when}.`;
    default: return `The session ended at ${when} (${reason}).`;
  }
}

/**
 * Why the hub refused to start a view, in plain words.
 * @param {string} reason the refusal's reason
 * @returns {string}
 */
export function refusedWords(reason) {
  switch (reason) {
    case 'no_grant': return 'The owner has not opted this camera in.';
    case 'withdrawn': return 'The owner has withdrawn consent for this camera.';
    case 'grant_expired': return "The owner's consent for this camera has run out.";
    case 'grant_not_started': return "The owner's consent for this camera has not started yet.";
    case 'agency_out_of_scope': return 'The owner has not opted this camera in for your agency.';
    case 'stopped_by_owner': return 'The owner stopped your view of this camera. You may watch it again only if the owner shares it again or approves a new request.';
    case 'no_pilot':
    case 'pilot_not_started': return 'The pilot is not running, so no camera can be watched.';
    case 'pilot_over': return 'The pilot is over, so no camera can be watched.';
    case 'account_disabled': return 'Your account is disabled.';
    case 'session_expired':
    case 'login_required': return 'Your session has expired. Log in again.';
    case 'not_an_officer': return 'Only officers can watch cameras.';
    case 'state_stale': return 'The hub cannot confirm consent right now (its records are out of reach). Try again shortly.';
    case 'camera_offline': return 'The camera is not connected to the hub right now.';
    case 'camera_unknown': return 'There is no such camera.';
    case 'audit_unavailable': return 'The viewing record cannot be written right now, so watching is not allowed. Try again shortly.';
    case 'purpose_required': return 'Enter a case number and a reason.';
    case 'purpose_too_long': return 'The case number and the reason must each be at most 200 characters.';
    case 'codec_unsupported': return "This browser cannot play the camera's video format.";
    case 'csrf_token_invalid': return 'Your session changed in another tab. Reload the page.';
    default: return `The hub refused (${reason}).`;
  }
}

/**
 * A camera's status as the lists show it: "online, sending video", "online, connecting", "online" or "offline".
 * @param {{status: string}} camera
 * @returns {string}
 */
export function statusWords(camera) {
  if (camera.status === 'streaming') return 'online, sending video';
  if (camera.status === 'connecting') return 'online, connecting';
  if (camera.status === 'idle') return 'online';
  return 'offline';
}

// The admin page, cameras: every camera with its owner, its status, whether its agent is connected (and to which
// hub, on a cluster), whether the camera applies its owner's privacy masks, and its consent (window, agencies,
// audio, withdrawn), from `GET /api/admin/cameras`: what the hub an agent reached knows, and who watches on every
// hub, come from the cluster's shared state.

import { api, el } from './session.js';
import { leftWords } from './time-words.js';
import { $, cell, emptyRow, replaceRows, shownTime, state } from './admin-state.js';

/** Fetch the cameras and show them. */
export async function refreshCameras() {
  const answer = await api('/api/admin/cameras');
  state.cameras = answer.cameras;
  state.singleHub = answer.single_hub;
  $('cameras-scope').textContent = answer.single_hub
    ? 'This hub is the only one: what it knows is the whole picture.'
    : 'One of several hubs: an agent connected to another hub is named with it; who watches counts every hub.';
  const rows = state.cameras.map(cameraRow);
  replaceRows($('camera-rows'), rows.length ? rows : [emptyRow(6, 'No cameras registered yet.')]);
  document.dispatchEvent(new CustomEvent('admin:cameras'));
}

const STATUS_WORDS = {
  streaming: 'sending video',
  connecting: 'starting to send video',
  idle: 'online, not sending (nobody watching)',
  paused: 'paused at the camera by its owner',
  elsewhere: 'online on another hub',
  offline: 'offline',
};

/**
 * Where a camera's agent is connected, in words.
 * @param {any} agent
 * @returns {string}
 */
export function agentWords(agent) {
  if (agent.where === 'here') return 'connected to this hub';
  // By the hub's name, as the live views name it (its URL only when no name is known yet).
  if (agent.where === 'other_hub') return `connected to another hub: ${agent.node || agent.hub}`;
  return 'not connected';
}

/**
 * Whether a camera applies its owner's masks, in words (`agent`: where its agent is connected).
 * @param {any} masks
 * @param {any} agent
 * @returns {{text: string, bad: boolean}}
 */
export function masksWords(masks, agent) {
  const count = masks.count === 1 ? '1 mask' : `${masks.count} masks`;
  if (masks.applied === null && agent.where === 'other_hub') {
    const what = masks.count ? `${count} (version ${masks.version})` : 'no masks';
    return { text: `${what}; whether the camera applies them is known to the hub its agent is on`, bad: false };
  }
  if (masks.applied === null) {
    const what = masks.count ? `${count} (version ${masks.version})` : 'no masks';
    return { text: masks.count ? `${what}; checked when the camera connects` : what, bad: false };
  }
  if (masks.applied && !masks.count) return { text: 'no masks', bad: false };
  if (masks.applied) return { text: `${count}, applied (version ${masks.version} confirmed by the camera)`, bad: false };
  const told = masks.confirmed >= 0 ? `it applies version ${masks.confirmed}` : 'it has not said yet';
  return { text: `${count}: NOT confirmed (version ${masks.version}; ${told}): its video is held from everyone`, bad: true };
}

/**
 * A camera's consent in words: its state, window, agencies and audio.
 * @param {any} consent
 * @returns {string}
 */
export function consentWords(consent) {
  const grant = consent.grant;
  const agencies = grant && (grant.agencies === null ? 'every agency' : grant.agencies.join(', ') || 'no agency');
  const audio = grant && (grant.audio ? 'sound shared' : 'video only');
  switch (consent.state) {
    case 'live': {
      const left = leftWords(grant.ends_at);
      return `Shared until ${shownTime(grant.ends_at)}${left ? ` (${left} left)` : ''}; ${agencies}; ${audio}.`;
    }
    case 'scheduled': return `Shared from ${shownTime(grant.starts_at)} to ${shownTime(grant.ends_at)}; ${agencies}; ${audio}.`;
    case 'withdrawn': return `Withdrawn by the owner at ${shownTime(grant.revoked_at)}.`;
    case 'expired': return `Ran out at ${shownTime(grant.ends_at)}.`;
    case 'no_pilot': return 'No pilot running: not shared.';
    default: return 'Not shared in this pilot.';
  }
}

function cameraRow(camera) {
  const masks = masksWords(camera.masks, camera.agent);
  const watching = camera.watchers ? `${camera.watchers} watching` : null;
  return el(
    'tr', { 'data-key': camera.id, 'data-camera': camera.id, 'data-consent': camera.consent.state },
    cell('Camera', {}, camera.name, el('span', { className: 'muted' }, ` (${camera.id})`)),
    cell('Owner', {}, camera.owner.username || `account ${camera.owner.id}`),
    cell('Status', { className: 'camera-state' }, STATUS_WORDS[camera.status] || camera.status,
      watching ? el('span', { className: 'muted' }, `; ${watching}`) : null),
    cell('Agent', { className: 'camera-agent' }, agentWords(camera.agent)),
    cell('Masks', { className: masks.bad ? 'camera-masks bad' : 'camera-masks' }, masks.text),
    cell('Consent', { className: 'camera-consent' }, consentWords(camera.consent)),
  );
}

// The admin page: live views first, the cameras (owner, status, agent, masks, consent), the accounts, the pilot
// window and the consent cap, agencies, the hub's health, and an audit viewer that checks every record it shows.
// Everything shown is refetched when the hub's live events say it changed; the health figures come from public
// endpoints polled every few seconds (they do not keep the admin's session awake). Consequential actions ask
// first in a modal <dialog> that says what will happen; ending a view asks for a reason. Nothing here builds HTML
// from strings.
//
// This module logs in, wires the sections and decides what to fetch again on a change; the sections are
// admin-live.js, admin-cameras.js, admin-accounts.js (agencies too), admin-pilot.js (and the policy),
// admin-health.js and admin-audit.js, sharing admin-state.js, admin-dialog.js and admin-fields.js.

import { live, logout, requireLogin, say } from './session.js';
import { $, problem, state } from './admin-state.js';
import { wireDialogs } from './admin-dialog.js';
import { refreshLive, tickLive } from './admin-live.js';
import { refreshCameras } from './admin-cameras.js';
import { refreshAccounts, refreshAgencies, wireAccounts } from './admin-accounts.js';
import { refreshPilot, tickPilot, wirePilot } from './admin-pilot.js';
import { refreshHealth } from './admin-health.js';
import { wireAudit } from './admin-audit.js';

const HEALTH_EVERY_MS = 5000;

function refreshFor(topics) {
  const all = topics.includes('all');
  const jobs = [refreshAccounts()]; // no topic says accounts changed: cheap enough to ask on any change
  if (all || topics.includes('cameras')) jobs.push(refreshPilot());
  if (all || topics.includes('watchers')) jobs.push(refreshLive());
  if (all || ['cameras', 'streams', 'watchers'].some((t) => topics.includes(t))) jobs.push(refreshCameras());
  if (all) jobs.push(refreshAgencies());
  if (all || topics.includes('watchers') || topics.includes('streams')) jobs.push(refreshHealth());
  Promise.all(jobs).catch((error) => say(problem(error), 'error'));
}

async function start() {
  wireDialogs();
  $('logout').addEventListener('click', () => logout());
  state.me = await requireLogin($('login'), ['admin']);
  $('whoami').textContent = `Logged in as ${state.me.account.username} (admin)`;
  $('account').hidden = false;
  $('admin').replaceChildren($('admin-template').content.cloneNode(true));
  $('tz').textContent = Intl.DateTimeFormat().resolvedOptions().timeZone || 'local';
  $('audit-tz').textContent = $('tz').textContent;
  wirePilot();
  wireAccounts();
  wireAudit();
  setInterval(() => { tickPilot(); tickLive(); }, 1000);
  setInterval(() => { if (!document.hidden) refreshHealth(); }, HEALTH_EVERY_MS);
  live(refreshFor);
}

start().catch((error) => say(problem(error), 'error'));

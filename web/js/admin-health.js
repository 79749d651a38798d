// The admin page, the hub's health: whether the process answers and is ready, and a few figures from /metrics,
// polled every few seconds from public endpoints (they do not keep the admin's session awake).

import { $, state } from './admin-state.js';

const METRICS = {
  'm-viewers': 'porchlight_viewers',
  'm-publishers': 'porchlight_publishers',
  'm-agents': 'porchlight_agents_connected',
  'm-audit': 'porchlight_audit_records',
  'm-pending': 'porchlight_audit_pending',
};

const NOT_READY = {
  store_unavailable: 'the store does not answer',
  state_stale: "this hub's view of consent is stale",
};

/**
 * One unlabelled sample from Prometheus text; null when absent.
 * @param {string} text
 * @param {string} name
 * @returns {number|null}
 */
export function metric(text, name) {
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  if (!line) return null;
  const value = Number(line.slice(name.length + 1).trim().split(' ')[0]);
  return Number.isFinite(value) ? value : null;
}

async function fetchStatus(path) {
  try {
    const response = await fetch(path, { headers: { Accept: 'application/json' }, cache: 'no-store' });
    let body = null;
    try { body = await response.json(); } catch { body = null; }
    return { ok: response.ok, body };
  } catch {
    return { ok: false, body: null };
  }
}

function setFact(id, text, good) {
  const node = $(id);
  node.textContent = text;
  node.className = good ? '' : 'bad';
}

let running = false;

/** Check the hub's health and figures again (one check at a time). */
export async function refreshHealth() {
  if (running) return;
  running = true;
  try {
    const [alive, ready] = await Promise.all([fetchStatus('/healthz'), fetchStatus('/readyz')]);
    setFact('health-alive', alive.ok ? 'up' : 'not answering', alive.ok);
    const why = ready.body && (NOT_READY[ready.body.reason] || ready.body.reason);
    setFact('health-ready', ready.ok ? 'ready' : `not ready${why ? `: ${why}` : ''}`, ready.ok);
    let text = '';
    try {
      const response = await fetch('/metrics', { cache: 'no-store' });
      if (response.ok) text = await response.text();
    } catch {
      text = '';
    }
    for (const [id, name] of Object.entries(METRICS)) {
      const value = metric(text, name);
      const good = id === 'm-pending' ? value === 0 : value !== null;
      setFact(id, value === null ? 'unknown' : String(Math.round(value)), good);
    }
    $('health-at').textContent = new Date().toLocaleTimeString(undefined, { timeStyle: 'medium' });
    // On a cluster these figures are this hub's alone: say which one (the live views and cameras cover all).
    $('health-scope').hidden = !state.thisHub;
    $('health-scope').textContent = state.thisHub
      ? `This hub (${state.thisHub}) only: each hub of the cluster has its own viewers, cameras and agents.` : '';
  } finally {
    running = false;
  }
}

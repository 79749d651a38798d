// Porchlight's service worker (scope /, a module: it shares the pages' time words). It shows the hub's Web Push
// messages as notifications, the same words for an officer's request as the resident page uses, and answers a
// request from its Approve or Decline action without the page open: it reads the session's CSRF token from
// /api/me with the session cookie and posts to the same approve and decline endpoints the page uses. If there is
// no session (logged out, or timed out) or the answer is refused (the request expired, was answered elsewhere),
// it opens the resident page at the request instead, where the resident logs in and answers.
//
// Messages it reads (JSON, decrypted by the browser): {type: "request", request, camera_name, agency, case, reason,
// duration_seconds, expires_at, url, tag} and {type: "view", camera_name, agency, case, reason, url, tag}; title
// and body are plain-text fallbacks.

import { durationWords, localTime } from '/js/time-words.js';

const ICON = '/icons/porchlight-192.png';

self.addEventListener('install', () => {
  self.skipWaiting();
});

self.addEventListener('activate', (event) => {
  event.waitUntil(self.clients.claim());
});

/**
 * The notification for one message: its title and showNotification options.
 * @param {any} data
 * @returns {{title: string, options: NotificationOptions & {actions?: {action: string, title: string}[]}}}
 */
export function notice(data) {
  const base = { icon: ICON, badge: ICON, tag: String(data.tag || 'porchlight'), data: { ...data } };
  const who = `${data.agency || 'An officer'}, case ${data.case || '?'}: ${data.reason || 'no reason given'}`;
  if (data.type === 'request') {
    const until = data.expires_at ? `; answer by ${localTime(data.expires_at)}` : '';
    return {
      title: `Officer asks to watch ${data.camera_name || 'your camera'}`,
      options: {
        ...base,
        body: `${who}. For ${durationWords(data.duration_seconds)}${until}.`,
        requireInteraction: true,
        actions: [{ action: 'approve', title: 'Approve' }, { action: 'decline', title: 'Decline' }],
      },
    };
  }
  if (data.type === 'view') {
    return {
      title: `An officer started watching ${data.camera_name || 'your camera'}`,
      options: { ...base, body: `${who}. You can stop it on your page at any moment.` },
    };
  }
  return { title: String(data.title || 'Porchlight'), options: { ...base, body: String(data.body || '') } };
}

self.addEventListener('push', (event) => {
  let data = null;
  try {
    data = event.data ? event.data.json() : null;
  } catch {
    data = null;
  }
  // A push must show something (userVisibleOnly): a message this worker cannot read still says where to look.
  if (!data || typeof data !== 'object') data = { title: 'Porchlight', body: 'Something needs your attention.' };
  const { title, options } = notice(data);
  event.waitUntil(self.registration.showNotification(title, options));
});

/**
 * Answer a request as its owner: the session's CSRF token from /api/me, then the approve or decline endpoint.
 * @param {number} id
 * @param {'approve'|'decline'} action
 * @returns {Promise<{ok: boolean, status: number, body: any}>}
 */
async function answer(id, action) {
  const headers = { Accept: 'application/json' };
  const me = await fetch('/api/me', { credentials: 'same-origin', headers });
  if (!me.ok) return { ok: false, status: me.status, body: null };
  const { csrf_token: csrf } = await me.json();
  const response = await fetch(`/api/requests/${encodeURIComponent(id)}/${action}`, {
    method: 'POST', credentials: 'same-origin', headers: { ...headers, 'X-CSRF-Token': csrf },
  });
  return { ok: response.ok, status: response.status, body: await response.json().catch(() => null) };
}

/** Focus an open resident page (sent to `url`), or open one. */
async function openPage(url) {
  const windows = await self.clients.matchAll({ type: 'window', includeUncontrolled: true });
  const open = windows.find((client) => new URL(client.url).pathname.startsWith('/resident'));
  if (open) {
    const moved = await open.navigate(url).catch(() => open);
    return (moved || open).focus();
  }
  return self.clients.openWindow(url);
}

/**
 * What a tap on a notification (or on one of its actions) does; the outcome, for whoever asked.
 * @param {Notification} notification
 * @param {string} action '' for the notification itself
 */
async function act(notification, action) {
  const data = notification.data || {};
  notification.close();
  if (data.type === 'request' && (action === 'approve' || action === 'decline')) {
    const result = await answer(data.request, action);
    if (result.ok) {
      const done = action === 'approve'
        ? `Approved: ${data.agency || 'the officer'} may watch ${data.camera_name} for ${durationWords(data.duration_seconds)}.`
        : `Declined: ${data.agency || 'the officer'} may not watch ${data.camera_name}.`;
      await self.registration.showNotification(done, {
        icon: ICON, badge: ICON, tag: `${data.tag}-answer`, body: 'You can change this on your page at any time.',
        data: { type: 'answered', url: data.url },
      });
      return { answered: action, status: result.status };
    }
    await openPage(data.url || '/resident');
    return { answered: null, status: result.status, opened: data.url };
  }
  await openPage(data.url || '/resident');
  return { answered: null, opened: data.url || '/resident' };
}

self.addEventListener('notificationclick', (event) => {
  event.waitUntil(act(event.notification, event.action));
});

// A page of this origin may ask for what a tap on a shown notification would do ({type: "notification-action",
// tag, action}): the same `act`, its outcome posted back. It can do nothing the page could not do itself.
self.addEventListener('message', (event) => {
  const message = event.data || {};
  if (message.type !== 'notification-action') return;
  event.waitUntil((async () => {
    const [shown] = await self.registration.getNotifications({ tag: String(message.tag) });
    const outcome = shown ? await act(shown, String(message.action || '')) : { error: 'no such notification' };
    event.source?.postMessage({ type: 'notification-action', tag: message.tag, outcome });
  })());
});

// Porchlight's service worker (scope /, a module: it shares the pages' time words). It shows the hub's Web Push
// messages as notifications, the same words for an officer's request as the resident page uses, and answers a
// request from its Approve or Decline action without the page open.
//
// How it answers: each request's push message carries its own answer token (`answer_token`; see
// hub/notify/answer_tokens.py), which it posts with the button tapped to POST /api/requests/{id}/answer, with no
// cookie: that works when the session has ended, as it usually has on a phone. The token is never put in a URL,
// logged or kept beyond the notification. A message without a token (from an older hub) is answered with the
// session instead (its CSRF token from /api/me). If the answer is refused (answered already, expired, no
// connection), a notification says so and the resident page opens at the request.
//
// Messages it reads (JSON, decrypted by the browser): {type: "request", request, answer_token, camera_name, agency,
// case, reason, duration_seconds, expires_at, url, tag} and {type: "view", camera_name, agency, case, reason, url,
// tag}; title and body are plain-text fallbacks.

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
 * The answer of one fetch: whether it succeeded, its status and JSON body (status 0: no connection).
 * @param {() => Promise<Response>} call
 * @returns {Promise<{ok: boolean, status: number, body: any}>}
 */
async function outcomeOf(call) {
  try {
    const response = await call();
    return { ok: response.ok, status: response.status, body: await response.json().catch(() => null) };
  } catch {
    return { ok: false, status: 0, body: null };
  }
}

/**
 * Answer a request with the message's answer token: no cookie, no session needed.
 * @param {any} data the push message
 * @param {'approve'|'decline'} action
 */
function answerWithToken(data, action) {
  return outcomeOf(() => fetch(`/api/requests/${encodeURIComponent(data.request)}/answer`, {
    method: 'POST',
    credentials: 'omit',
    cache: 'no-store',
    headers: { Accept: 'application/json', 'Content-Type': 'application/json' },
    body: JSON.stringify({ token: String(data.answer_token), answer: action }),
  }));
}

/**
 * Answer a request with the resident's session (a message without a token): the CSRF token from /api/me, then
 * the page's approve or decline endpoint.
 * @param {any} data the push message
 * @param {'approve'|'decline'} action
 */
async function answerWithSession(data, action) {
  const headers = { Accept: 'application/json' };
  const me = await outcomeOf(() => fetch('/api/me', { credentials: 'same-origin', headers }));
  if (!me.ok) return me;
  return outcomeOf(() => fetch(`/api/requests/${encodeURIComponent(data.request)}/${action}`, {
    method: 'POST', credentials: 'same-origin', headers: { ...headers, 'X-CSRF-Token': me.body?.csrf_token },
  }));
}

/**
 * What the notification after an answer says: who may (not) watch what, or why nothing was answered.
 * @param {any} data the push message
 * @param {'approve'|'decline'} action
 * @param {{ok: boolean, status: number, body: any}} result
 * @returns {{title: string, body: string}}
 */
export function answerWords(data, action, result) {
  const request = result.body?.request || {};
  const camera = request.camera_name || data.camera_name || 'your camera';
  if (result.ok) {
    const officer = request.officer ? `${request.officer} (${request.agency || data.agency || 'no agency'})`
      : (data.agency || 'the officer');
    const duration = durationWords(request.duration_seconds ?? data.duration_seconds);
    return action === 'approve'
      ? { title: `Approved: ${officer} may watch ${camera} for ${duration}.`,
        body: 'You can stop it on your page at any moment.' }
      : { title: `Declined: ${officer} may not watch ${camera}.`, body: 'You can change this on your page.' };
  }
  const reason = result.body?.reason || '';
  if (reason === 'answer_token_used' || reason === 'request_answered') {
    return { title: 'Already answered', body: `The request to watch ${camera} was answered already: see your page.` };
  }
  if (reason === 'request_expired') {
    return { title: 'Request expired', body: `The request to watch ${camera} expired before it was answered.` };
  }
  if (result.status === 0) {
    return { title: 'Not answered: no connection', body: 'Answer on your page once you are online.' };
  }
  const why = result.body?.message || (result.status === 401 ? 'log in to answer' : `the hub answered ${result.status}`);
  return { title: 'Not answered', body: `${why[0].toUpperCase()}${why.slice(1)}. Answer on your page.` };
}

/** Focus an open resident page (sent to `url`), or open one. A browser may refuse to open a window long after
 * the tap: the notification already said what happened. */
async function openPage(url) {
  try {
    const windows = await self.clients.matchAll({ type: 'window', includeUncontrolled: true });
    const open = windows.find((client) => new URL(client.url).pathname.startsWith('/resident'));
    if (open) {
      const moved = await open.navigate(url).catch(() => open);
      await (moved || open).focus();
      return;
    }
    await self.clients.openWindow(url);
  } catch {
    // Nothing more to do: the page is one tap away on the notification that said why.
  }
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
    const result = data.answer_token ? await answerWithToken(data, action) : await answerWithSession(data, action);
    const { title, body } = answerWords(data, action, result);
    await self.registration.showNotification(title, {
      icon: ICON, badge: ICON, tag: `${data.tag}-answer`, body, data: { type: 'answered', url: data.url },
    });
    if (result.ok) return { answered: action, status: result.status };
    await openPage(data.url || '/resident');
    return { answered: null, status: result.status, reason: result.body?.reason ?? null, opened: data.url };
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

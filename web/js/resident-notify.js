// Notifications on this device, on the resident's page: "Notify me" subscribes this browser to the hub's Web Push
// messages (an officer asks to watch one of my cameras, with Approve and Decline; an officer started watching), after
// the browser asks for permission, only on that click; "Turn off" unsubscribes it. The service worker (/sw.js)
// shows the messages and answers from them. When the hub sends e-mail, an address for the same notices.

import { ApiError, api, el } from './session.js';

const WORKER = '/sw.js';
const SUBSCRIBE_MS = 20000;

/** Whether this browser can receive push messages at all (a secure context with the three APIs). */
function supported() {
  return window.isSecureContext && 'serviceWorker' in navigator && 'PushManager' in window && 'Notification' in window;
}

/** The VAPID public key (base64url) as the bytes `applicationServerKey` takes. */
function keyBytes(text) {
  const base64 = text.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (text.length % 4)) % 4);
  return Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
}

async function registration() {
  return navigator.serviceWorker.register(WORKER, { type: 'module', scope: '/' });
}

/**
 * Draw the notification controls into `box` and keep them in step with the browser's state.
 * @param {HTMLElement} box
 */
export async function setupNotifications(box) {
  const state = el('p', { id: 'notify-state', role: 'status' });
  const button = el('button', { type: 'button', id: 'notify-toggle', className: 'primary' });
  const email = el('div', { id: 'notify-email' });
  box.replaceChildren(
    el('h2', { id: 'notify-title' }, 'Notifications'),
    el('div', { className: 'notify-row' }, state, button),
    email,
  );
  const show = (text, label, busy = false) => {
    state.textContent = text;
    button.textContent = label;
    button.hidden = !label;
    button.disabled = busy;
  };
  if (!supported()) {
    show('This browser cannot show notifications from this page. Requests still wait for you here.', '');
    await setupEmail(email);
    return;
  }
  let reg;
  try {
    reg = await registration();
  } catch (err) {
    show(`Notifications could not be set up (${err.message}).`, '');
    return;
  }
  const refresh = async () => {
    const subscription = await reg.pushManager.getSubscription();
    if (Notification.permission === 'denied') {
      show('Notifications are blocked for this site in your browser settings; allow them there to be told here.', '');
    } else if (subscription) {
      show('This device is told when an officer asks to watch a camera, and when someone starts watching.', 'Turn off');
    } else {
      show('This device is not told of requests or views. Requests expire if nobody answers.', 'Notify me');
    }
    return subscription;
  };
  button.addEventListener('click', async () => {
    const current = await reg.pushManager.getSubscription();
    button.disabled = true;
    try {
      if (current) await turnOff(current);
      else await turnOn(reg, show);
    } catch (err) {
      state.textContent = `Could not change notifications: ${err instanceof ApiError ? err.message : describe(err)}.`;
      button.disabled = false;
      return;
    }
    await refresh();
  });
  await refresh();
  await setupEmail(email);
}

function describe(err) {
  if (err?.name === 'NotAllowedError') return 'the browser did not allow them';
  if (err?.name === 'AbortError') return "the browser's push service did not answer; try again later";
  return err?.message || String(err);
}

async function turnOn(reg, show) {
  show('Asking your browser for permission…', 'Notify me', true);
  // Asked only here, on the resident's click.
  const permission = await Notification.requestPermission();
  if (permission !== 'granted') throw Object.assign(new Error('permission not given'), { name: 'NotAllowedError' });
  const { key } = await api('/api/push/key');
  // A browser whose push service cannot be reached may never answer: give up after a while and say so.
  const subscription = await Promise.race([
    reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: keyBytes(key) }),
    new Promise((_, reject) => {
      setTimeout(() => reject(Object.assign(new Error('no answer'), { name: 'AbortError' })), SUBSCRIBE_MS);
    }),
  ]);
  try {
    await api('/api/push/subscriptions', { json: subscription.toJSON() });
  } catch (err) {
    await subscription.unsubscribe();
    throw err;
  }
}

async function turnOff(subscription) {
  const { endpoint } = subscription;
  await subscription.unsubscribe();
  await api('/api/push/subscriptions', { method: 'DELETE', json: { endpoint } });
}

/** The e-mail address for the same notices, when the hub sends e-mail. */
async function setupEmail(box) {
  let current;
  try {
    current = await api('/api/me/email');
  } catch {
    return;
  }
  if (!current.sending) return;
  const input = el('input', {
    id: 'notify-address', type: 'email', name: 'email', autocomplete: 'email', value: current.email || '',
    'aria-describedby': 'notify-email-state',
  });
  const said = el('p', { id: 'notify-email-state', role: 'status' },
    current.email ? 'Notices also go to this address.' : 'No e-mail is sent.');
  const form = el('form', { className: 'notify-email-form', novalidate: true },
    el('label', { for: 'notify-address' }, 'E-mail me too'), input,
    el('button', { type: 'submit' }, 'Save address'));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const email = input.value.trim() || null;
    try {
      await api('/api/me/email', { method: 'PUT', json: { email } });
      said.textContent = email ? 'Saved: notices also go to this address.' : 'Saved: no e-mail is sent.';
    } catch (err) {
      said.textContent = `Not saved: ${err.message}.`;
    }
  });
  box.replaceChildren(form, said);
}

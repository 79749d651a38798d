// The officer's page, asking owners for access: the cameras of the pilot I may not watch now, each with a button
// to ask its owner (case number, reason, how long within the admin's cap, maybe "urgent": that only makes the
// owner's notification more prominent, it opens nothing), and "My requests", followed live, with each answer
// announced, and "Watch now" on an approved one. Opening the ask form closes any other form on the page.

import { ApiError, api, el, say } from './session.js';
import {
  DURATIONS, caseAndReason, expiryCountdown, requestFacts, stateBadge, stateWords, urgentMark,
} from './requests.js';
import { durationWords, timeNode } from './time-words.js';
import { $ } from './dom.js';
import { announce, openingForm, page, refresh, refreshRequests, registerForm } from './officer-state.js';
import { startWatching } from './officer-watch.js';
import { watching } from './officer-wall.js';

let askKey = ''; // what the ask list shows (redrawn only when it changes)

// Asking an owner for access -------------------------------------------------------------------------------

/** My request for `cameraId` that still waits for its owner, if any. */
function pendingFor(cameraId) {
  return (page.myRequests || []).find((r) => r.camera === cameraId && r.state === 'pending') || null;
}

function askItem(camera) {
  const mine = pendingFor(camera.id);
  let action = null;
  if (mine) {
    action = el('p', { className: 'ask-note' }, 'You asked at ', timeNode(mine.created_at),
      "; waiting for the owner's answer. Time left: ", expiryCountdown(mine.expires_at), '.');
  } else if (camera.askable === false) {
    action = el('p', { className: 'ask-note muted' },
      'Its owner shares it with other agencies only. The owner chose who may watch, so you cannot ask.');
  } else if (page.pilot && page.pilot.state === 'running') {
    action = el('button', { type: 'button', onclick: () => openAsk(camera) }, `Ask for access to ${camera.name}`);
  }
  return el(
    'li', { 'data-ask': camera.id },
    // Whether it is online is not mine to know (the hub sends only its name): "not shared with me", nothing more.
    el('div', { className: 'camera-head' },
      el('strong', {}, camera.name),
      el('span', { className: 'camera-status muted' }, 'not shared with you')),
    action,
  ); // prettier-ignore
}

/** Show the cameras I may ask for (redrawn only when they, or my requests for them, changed). */
export function renderAsk() {
  const { pilot } = page;
  if (!pilot) return; // the cameras are not loaded yet
  const shown = [...page.askable.values()];
  const empty = $('#no-askable');
  const running = pilot && pilot.state === 'running';
  if (!running) empty.textContent = 'Asking owners for access is possible only while the pilot runs.';
  else if (!shown.length) empty.textContent = 'Every camera in the pilot is open to you right now: there is nothing to ask for.';
  empty.hidden = running && shown.length > 0;
  if (page.asking && !running) closeAsk(false);
  const key = JSON.stringify([running, shown.map((camera) => [camera, pendingFor(camera.id)])]);
  if (key === askKey) return;
  askKey = key;
  const focused = document.activeElement && document.activeElement.closest('#ask-list li[data-ask]');
  $('#ask-list').replaceChildren(...(running ? shown.map(askItem) : []));
  if (focused) {
    const again = document.querySelector(`#ask-list li[data-ask="${CSS.escape(focused.dataset.ask)}"] button`);
    (again || $('#ask-title')).focus();
  }
}

/** The duration choices: those above the admin's cap are shown but cannot be chosen. */
export function durationOptions() {
  const cap = Number(page.policy && page.policy.max_grant_seconds) || 0;
  const options = DURATIONS.map(([seconds, words]) => {
    const over = cap && seconds > cap;
    return el('option', { value: String(seconds), disabled: over },
      over ? `${words} (over the limit of ${durationWords(cap)})` : words);
  });
  const first = options.find((option) => !option.disabled);
  if (first) first.selected = true;
  return options;
}

function openAsk(camera) {
  openingForm('ask');
  page.asking = camera;
  const field = (label, control, hint = null) => el('div', { className: 'field' },
    el('label', { for: control.id }, label), control, hint);
  const cap = Number(page.policy && page.policy.max_grant_seconds) || 0;
  const form = el(
    'form', { id: 'ask-form', novalidate: true, 'aria-labelledby': 'ask-form-title' },
    el('h3', { id: 'ask-form-title' }, `Ask the owner of ${camera.name} for access`),
    field('Case number', el('input', { id: 'ask-case', name: 'case', required: true, maxlength: '200', autocomplete: 'off', spellcheck: 'false' })),
    field('Why you need to watch', el('textarea', { id: 'ask-reason', name: 'reason', required: true, maxlength: '200', rows: '2' })),
    field('For how long', el('select', { id: 'ask-duration', name: 'duration' }, ...durationOptions()),
      cap ? el('p', { className: 'hint muted' }, `Your administrator allows at most ${durationWords(cap)} at a time.`) : null),
    el('div', { className: 'check' },
      el('input', { type: 'checkbox', id: 'ask-urgent', name: 'urgent', 'aria-describedby': 'ask-urgent-help' }),
      el('label', { for: 'ask-urgent' }, 'Urgent')),
    el('p', { id: 'ask-urgent-help', className: 'hint muted' },
      "Urgent only makes the owner's notification more prominent. It opens nothing: there is no emergency " +
      "bypass, and only the owner's approval lets you watch."),
    el('p', { id: 'ask-error', className: 'error', role: 'alert' }),
    el('div', { className: 'toolbar' },
      el('button', { type: 'submit', id: 'ask-submit' }, 'Send request'),
      el('button', { type: 'button', id: 'ask-cancel', onclick: () => closeAsk() }, 'Cancel')),
  ); // prettier-ignore
  form.addEventListener('submit', submitAsk);
  form.addEventListener('keydown', (event) => {
    if (event.key === 'Escape') closeAsk();
  });
  const box = $('#ask-box');
  box.replaceChildren(form);
  box.hidden = false;
  form.elements.case.value = page.lastCase;
  (page.lastCase ? form.elements.reason : form.elements.case).focus();
}

/**
 * Close the ask form (built anew each time: nothing of it stays in the page); focus back on its button.
 * @param {boolean} [focus]
 */
export function closeAsk(focus = true) {
  const camera = page.asking;
  page.asking = null;
  const box = $('#ask-box');
  box.replaceChildren();
  box.hidden = true;
  const back = camera && document.querySelector(`#ask-list li[data-ask="${CSS.escape(camera.id)}"] button`);
  if (focus) (back || $('#ask-title')).focus();
}

registerForm('ask', closeAsk);

function askProblem(error) {
  if (!(error instanceof ApiError)) return `The hub cannot be reached (${error.message}). Try again.`;
  const cap = Number(page.policy && page.policy.max_grant_seconds) || 0;
  switch (error.reason) {
    case 'camera_opted_in': return 'This camera is opted in already: its owner chose who may watch, so you cannot ask.';
    case 'request_pending': return "You have asked for this camera already. Wait for the owner's answer.";
    case 'duration_too_long': return `That is longer than your administrator allows${cap ? ` (at most ${durationWords(cap)})` : ''}.`;
    case 'no_pilot': return 'The pilot is not running, so you cannot ask.';
    case 'bad_case': return 'Enter the case number (at most 200 characters).';
    case 'bad_reason': return 'Enter why you need to watch (at most 200 characters).';
    case 'camera_unknown': return 'There is no such camera any more.';
    case 'audit_unavailable': return 'The request cannot be put on the record right now, so it was not sent. Try again shortly.';
    default: return error.message;
  }
}

async function submitAsk(event) {
  event.preventDefault();
  const form = event.currentTarget;
  const error = $('#ask-error');
  const given = caseAndReason(form, error);
  if (!given) return;
  const { caseNumber, reason } = given;
  const camera = page.asking;
  if (!camera) return;
  const submit = $('#ask-submit');
  submit.disabled = true;
  try {
    const answer = await api(`/api/cameras/${encodeURIComponent(camera.id)}/requests`, {
      json: {
        case: caseNumber, reason, duration_seconds: Number(form.elements.duration.value), urgent: form.elements.urgent.checked,
      },
    });
    page.lastCase = caseNumber;
    page.myRequests = [answer.request, ...(page.myRequests || []).filter((r) => r.id !== answer.request.id)];
    closeAsk(false);
    renderRequests();
    renderAsk();
    const item = document.querySelector(`#request-list li[data-request="${answer.request.id}"]`);
    if (item) item.focus();
    say(`Your request for ${camera.name} was sent to its owner. Their answer shows here under My requests.`);
    refreshRequests();
  } catch (failure) {
    if (failure instanceof ApiError && failure.status === 401) {
      window.location.reload();
      return;
    }
    error.textContent = askProblem(failure);
    submit.disabled = false;
    if (failure instanceof ApiError && ['camera_opted_in', 'request_pending', 'no_pilot'].includes(failure.reason)) {
      refresh();
      refreshRequests();
    }
  }
}

// My requests -----------------------------------------------------------------------------------------------

const SHOWN_REQUESTS = 20;
/** @type {Map<number, string>} each request's state when last shown (to announce answers) */
const lastStates = new Map();
let requestsKey = ''; // what the list shows (redrawn only when it changes)

/** "Watch now" on an approved request whose camera is open to me now: the request's case number and reason. */
function watchNow(request) {
  const camera = page.cameras.get(request.camera);
  if (request.state !== 'approved' || !camera || watching(camera.id)) return null;
  return el('button', {
    type: 'button', className: 'watch-now',
    onclick: () => startWatching(camera, request.case, request.reason),
  }, `Watch ${request.camera_name} now`); // prettier-ignore
}

function requestItem(request) {
  const pending = request.state === 'pending';
  return el(
    'li', { 'data-request': request.id, 'data-state': request.state, tabindex: '-1', className: request.urgent ? 'urgent' : '' },
    el('div', { className: 'camera-head' },
      el('strong', {}, request.camera_name), request.urgent ? urgentMark() : null, stateBadge(request)),
    el('p', { className: 'request-state' }, stateWords(request, 'officer'),
      ...(pending ? [' Time left before it expires: ', expiryCountdown(request.expires_at), '.'] : [])),
    requestFacts(request),
    watchNow(request),
  ); // prettier-ignore
}

/** Show my requests (the latest few; redrawn only when they changed) and announce the ones just answered. */
export function renderRequests() {
  const shown = (page.myRequests || []).slice(0, SHOWN_REQUESTS);
  $('#no-requests').hidden = shown.length > 0;
  // Redrawn also when a "Watch now" comes or goes (its camera opened to me, or I started watching it).
  const key = JSON.stringify([shown, shown.map((r) => Boolean(page.cameras.get(r.camera) && !watching(r.camera)))]);
  if (key !== requestsKey) {
    requestsKey = key;
    const focused = document.activeElement && document.activeElement.closest('#request-list li[data-request]');
    $('#request-list').replaceChildren(...shown.map(requestItem));
    if (focused) {
      const again = document.querySelector(`#request-list li[data-request="${CSS.escape(focused.dataset.request)}"]`);
      (again || $('#requests-title')).focus();
    }
  }
  const news = [];
  for (const request of page.myRequests || []) {
    const before = lastStates.get(request.id);
    if (before === 'pending' && request.state !== 'pending') {
      news.push(`Your request for ${request.camera_name}: ${stateWords(request, 'officer')}`);
    }
    lastStates.set(request.id, request.state);
  }
  if (news.length) announce(news.join(' '));
}

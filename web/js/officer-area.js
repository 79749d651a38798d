// The officer's page, asking by area: draw a circle on the map (its centre where I click, or the map's centre for
// the keyboard; its radius from a slider) and send one request to the owner of every camera inside it that I may
// not watch now (POST /api/requests/area). Each owner answers for their own camera, as for any request; where
// those cameras are stays private (they are not on my map), and each request shows under My requests.

import { ApiError, api, el, say } from './session.js';
import { $ } from './dom.js';
import { durationWords } from './time-words.js';
import { caseAndReason } from './requests.js';
import { openingForm, page, refreshRequests, registerForm } from './officer-state.js';
import { durationOptions } from './officer-ask.js';

const MIN_RADIUS_M = 50;

/** @type {import('./map.js').CameraMap|null} */
let map = null;
let circle = null; // {lat, lon, radius} as drawn

function metres(radius) {
  return radius >= 1000 ? `${(radius / 1000).toFixed(radius % 1000 ? 2 : 0)} km` : `${Math.round(radius)} m`;
}

function problem(error) {
  if (!(error instanceof ApiError)) return `The hub cannot be reached (${error.message}). Try again.`;
  const cap = Number(page.policy && page.policy.max_grant_seconds) || 0;
  switch (error.reason) {
    case 'radius_too_large': return `The circle is too wide: ${error.message}.`;
    case 'bad_radius': return `The circle must be at least ${MIN_RADIUS_M} m wide.`;
    case 'duration_too_long': return `That is longer than your administrator allows${cap ? ` (at most ${durationWords(cap)})` : ''}.`;
    case 'no_pilot': return 'The pilot is not running, so you cannot ask.';
    case 'bad_case': return 'Enter the case number (at most 200 characters).';
    case 'bad_reason': return 'Enter why you need to watch (at most 200 characters).';
    case 'rate_limited': return `You have asked by area often in a short time: ${error.message}.`;
    case 'audit_unavailable': return 'The requests cannot be put on the record right now, so not all were sent. Try again shortly.';
    default: return error.message;
  }
}

/**
 * Set up asking by area on `cameraMap` (once): the button that opens the form.
 * @param {import('./map.js').CameraMap} cameraMap
 * @param {{area_max_radius_m: number}} settings
 */
export function setUpArea(cameraMap, settings) {
  map = cameraMap;
  const open = $('#area-open');
  open.hidden = false;
  open.addEventListener('click', () => openArea(settings.area_max_radius_m || 2000));
}

function openArea(widest) {
  if (!map) return;
  openingForm('area');
  const start = Math.min(400, widest);
  const radius = el('input', {
    type: 'range', id: 'area-radius', name: 'radius', min: String(MIN_RADIUS_M), max: String(widest), step: '50',
    value: String(start), 'aria-describedby': 'area-radius-words',
  }); // prettier-ignore
  const radiusWords = el('output', { id: 'area-radius-words', for: 'area-radius' }, metres(start));
  const where = el('p', { id: 'area-where', className: 'hint muted' });
  const field = (label, control, hint = null) => el('div', { className: 'field' },
    el('label', { for: control.id }, label), control, hint);
  const form = el(
    'form', { id: 'area-form', novalidate: true, 'aria-labelledby': 'area-form-title' },
    el('h3', { id: 'area-form-title' }, 'Ask every owner in an area'),
    el('p', { className: 'hint muted' },
      'Click the map where the circle\u2019s centre goes (or move the map and use the button below). The owner of each ' +
      'camera inside it that you may not watch now is asked, once; each answers for their own camera. You do not ' +
      'see where those cameras are: their requests show under My requests.'),
    field('Radius', radius, radiusWords),
    where,
    el('button', { type: 'button', id: 'area-centre', onclick: () => map.centreCircle() }, 'Put the centre at the middle of the map'),
    field('Case number', el('input', { id: 'area-case', name: 'case', required: true, maxlength: '200', autocomplete: 'off', spellcheck: 'false' })),
    field('Why you need to watch', el('textarea', { id: 'area-reason', name: 'reason', required: true, maxlength: '200', rows: '2' })),
    field('For how long', el('select', { id: 'area-duration', name: 'duration' }, ...durationOptions())),
    el('div', { className: 'check' },
      el('input', { type: 'checkbox', id: 'area-urgent', name: 'urgent', 'aria-describedby': 'area-urgent-help' }),
      el('label', { for: 'area-urgent' }, 'Urgent')),
    el('p', { id: 'area-urgent-help', className: 'hint muted' },
      "Urgent only makes the owners' notifications more prominent; it opens nothing."),
    el('p', { id: 'area-error', className: 'error', role: 'alert' }),
    el('div', { className: 'toolbar' },
      el('button', { type: 'submit', id: 'area-submit' }, 'Send to every owner in the circle'),
      el('button', { type: 'button', onclick: () => closeArea() }, 'Cancel')),
  ); // prettier-ignore
  radius.addEventListener('input', () => {
    radiusWords.textContent = metres(Number(radius.value));
    map.setRadius(Number(radius.value));
  });
  form.addEventListener('submit', submitArea);
  form.addEventListener('keydown', (event) => {
    if (event.key === 'Escape') closeArea();
  });
  const box = $('#area-box');
  box.replaceChildren(form);
  box.hidden = false;
  $('#area-open').hidden = true;
  map.startCircle(start, (drawn) => {
    circle = drawn;
    where.textContent = `Centre at ${drawn.lat.toFixed(5)}, ${drawn.lon.toFixed(5)}; ${metres(drawn.radius)} around it.`;
  });
  form.elements.case.value = page.lastCase;
  $('#map').scrollIntoView({ block: 'nearest' });
  radius.focus();
}

/**
 * Close the form and take the circle off the map.
 * @param {boolean} [focus] back on the button that opens it
 */
export function closeArea(focus = true) {
  const box = $('#area-box');
  if (box.hidden) return;
  box.replaceChildren();
  box.hidden = true;
  circle = null;
  if (map) map.stopCircle();
  $('#area-open').hidden = false;
  if (focus) $('#area-open').focus();
}

registerForm('area', closeArea);

async function submitArea(event) {
  event.preventDefault();
  const form = event.currentTarget;
  const error = $('#area-error');
  const given = caseAndReason(form, error);
  if (!given) return;
  const { caseNumber, reason } = given;
  if (!circle) return;
  const submit = $('#area-submit');
  submit.disabled = true;
  try {
    const answer = await api('/api/requests/area', {
      json: {
        lat: circle.lat, lon: circle.lon, radius_m: circle.radius, case: caseNumber, reason,
        duration_seconds: Number(form.elements.duration.value), urgent: form.elements.urgent.checked,
      },
    }); // prettier-ignore
    page.lastCase = caseNumber;
    closeArea();
    const sent = answer.requests.length;
    const skipped = answer.skipped ? ` (${answer.skipped} more inside are open to you already or waiting for an answer)` : '';
    say(sent
      ? `Your request was sent to the owners of ${sent} camera${sent === 1 ? '' : 's'} in the circle${skipped}. Their answers show under My requests.`
      : `No owner was asked: no camera in the circle is waiting for a request from you${skipped}.`); // prettier-ignore
    refreshRequests();
  } catch (failure) {
    if (failure instanceof ApiError && failure.status === 401) {
      window.location.reload();
      return;
    }
    error.textContent = problem(failure);
    submit.disabled = false;
  }
}

// The resident's page, where a camera is: a small form under the camera's "Details" to set its position for the
// officers' map (latitude and longitude, or this device's position via the browser's geolocation), or remove it.

import { ApiError, api, el, say, sessionEnded } from './session.js';
import { $, replaceKeepingFocus } from './dom.js';
import { errorText } from './resident-words.js';
import { refresh } from './resident-state.js';

/**
 * Draw the camera's location form (only when its location changed since last drawn).
 * @param {import('./resident-state.js').Entry} entry
 */
export function locationForm(entry) {
  const { camera, key } = entry;
  const shown = JSON.stringify(camera.location ?? null);
  if (shown === entry.locationKey) return;
  entry.locationKey = shown;
  const name = camera.name || camera.id;
  const where = camera.location;
  const number = (field, label, value, min, max) => el('div', { className: 'field' },
    el('label', { for: `${key}-${field}` }, label),
    el('input', {
      id: `${key}-${field}`, name: field, type: 'number', step: 'any', min, max, inputmode: 'decimal',
      value: value ?? '', required: true,
    }));
  const error = el('p', { className: 'error', role: 'alert' });
  const form = el('form', { className: 'location-form', novalidate: true, 'aria-label': `Where ${name} is` },
    el('p', { className: 'muted', id: `${key}-where` }, where
      ? `Officers' map shows ${name} at ${where.lat}, ${where.lon}.`
      : `${name} has no position: officers' map does not show it (they can still find it by name).`),
    el('div', { className: 'location-fields' },
      number('lat', 'Latitude', where?.lat, '-90', '90'),
      number('lon', 'Longitude', where?.lon, '-180', '180')),
    error,
    el('div', { className: 'toolbar' },
      el('button', { type: 'submit', id: `${key}-save-location` }, 'Save position'),
      'geolocation' in navigator
        ? el('button', { type: 'button', onclick: () => useMyPosition(form, error) }, 'Use my location')
        : null,
      where ? el('button', { type: 'button', onclick: () => save(entry, null, null, error) }, 'Remove position') : null));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const lat = Number(form.elements.lat.value);
    const lon = Number(form.elements.lon.value);
    if (form.elements.lat.value === '' || !(Math.abs(lat) <= 90)) {
      error.textContent = 'Latitude is a number from -90 to 90.';
      form.elements.lat.focus();
      return;
    }
    if (form.elements.lon.value === '' || !(Math.abs(lon) <= 180)) {
      error.textContent = 'Longitude is a number from -180 to 180.';
      form.elements.lon.focus();
      return;
    }
    save(entry, lat, lon, error);
  });
  replaceKeepingFocus($('.location', entry.section), [form]);
}

/** Fill the form with this device's position (the browser asks the person first). */
function useMyPosition(form, error) {
  error.textContent = '';
  say('Asking this device where it is…');
  navigator.geolocation.getCurrentPosition(
    (position) => {
      form.elements.lat.value = position.coords.latitude.toFixed(6);
      form.elements.lon.value = position.coords.longitude.toFixed(6);
      say('Position filled in from this device: check it, then save.');
      form.elements.lat.focus();
    },
    (failure) => {
      say('');
      error.textContent = failure.code === failure.PERMISSION_DENIED
        ? 'This browser may not tell the page where you are: type the position instead.'
        : 'This device could not tell where it is: type the position instead.';
    },
    { enableHighAccuracy: true, timeout: 15000 },
  );
}

async function save(entry, lat, lon, error) {
  const name = entry.camera.name || entry.camera.id;
  error.textContent = '';
  try {
    const answer = await api(`/api/cameras/${encodeURIComponent(entry.camera.id)}/location`, {
      method: 'PUT', json: lat === null ? { lat: null } : { lat, lon },
    });
    const location = answer?.location ?? (lat === null ? null : { lat, lon });
    entry.camera = { ...entry.camera, location };
    locationForm(entry);
    say(location ? `${name}'s position is saved.` : `${name}'s position is removed: officers' map no longer shows it.`, 'ok');
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) sessionEnded(err.reason);
    error.textContent = errorText(err, `saving where ${name} is`);
  }
  refresh(['cameras']);
}

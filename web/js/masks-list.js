// The list of masks being edited, beside the picture: each mask numbered as on the picture, with its style (a
// <select> that changes it at once), a button to delete it, and its points in percent. Redrawing the list redraws
// the overlay and the save line too, and keeps keyboard focus where it was (or moves it where an action says).

import { el, say } from './session.js';
import { pct } from './masks-geometry.js';
import { renderOverlay } from './masks-overlay.js';
import { renderSave } from './masks-status.js';
import { $, STYLE_WORDS, state, styleOf } from './masks-state.js';

function maskItem(mask, i) {
  const n = i + 1;
  const style = el(
    'select', { id: `mask-${n}-style`, onchange: (event) => {
      mask.style = styleOf(event.target);
      renderOverlay();
      renderSave();
    } },
    el('option', { value: 'black' }, STYLE_WORDS.black),
    el('option', { value: 'blur' }, STYLE_WORDS.blur),
  );
  style.value = mask.style;
  const rows = mask.points.map(([x, y], p) => el('tr', {}, el('td', {}, String(p + 1)), el('td', {}, pct(x)), el('td', {}, pct(y))));
  return el(
    'li', { className: 'mask-item', 'data-mask': n },
    el('h4', { id: `mask-${n}-title` }, `Mask ${n}`),
    el('div', { className: 'toolbar' },
      el('label', { className: 'inline', for: `mask-${n}-style` }, `Style of mask ${n}`, style),
      el('button', { type: 'button', id: `mask-${n}-delete`, className: 'danger', onclick: () => deleteMask(i) }, `Delete mask ${n}`)),
    el('div', { className: 'table-wrap' },
      el('table', { className: 'points' },
        el('caption', {}, `Points of mask ${n} (in percent of the picture)`),
        el('thead', {}, el('tr', {}, el('th', { scope: 'col' }, 'Point'), el('th', { scope: 'col' }, 'x (%)'), el('th', { scope: 'col' }, 'y (%)'))),
        el('tbody', {}, ...rows))),
  );
}

/**
 * Redraw the masks (overlay, list and save line), keeping keyboard focus on the same control, or moving it to
 * the element with id `focusId`.
 * @param {string|null} [focusId]
 */
export function renderMasks(focusId = null) {
  renderOverlay();
  const list = $('mask-list');
  const active = document.activeElement;
  const keep = focusId ?? (active && list.contains(active) ? active.id : null);
  const count = state.masks.length;
  $('list-title').textContent = count ? `Masks (${count})` : 'Masks';
  if (!count) {
    list.replaceChildren(el('p', { className: 'empty' }, state.saved?.masks.length
      ? 'No masks left. Save to remove all masks: your camera will then send the whole picture.'
      : 'No masks yet: your camera sends the whole picture. Draw on the picture or add a rectangle.'));
  } else {
    list.replaceChildren(el('ol', { className: 'masks' }, ...state.masks.map(maskItem)));
  }
  if (keep) $(keep)?.focus();
  renderSave();
}

function deleteMask(index) {
  state.masks.splice(index, 1);
  // Focus goes to the delete button now in its place (or the last one), or to the list's title when none is left.
  const next = state.masks.length ? `mask-${Math.min(index, state.masks.length - 1) + 1}-delete` : 'list-title';
  renderMasks(next);
  say(`Mask ${index + 1} deleted${state.masks.length ? '; the masks after it are numbered again' : ''}. Not saved yet.`);
}

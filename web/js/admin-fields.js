// Errors next to the field that caused them: the message goes in a line under the field, which the field names
// with aria-describedby and marks aria-invalid, and focus moves to the field. The hub's 400s name their field
// (hub/api/models.py: the reason is `bad_<field>` or the message starts with "<field>:"), so a refusal lands
// next to the field it is about too; what names no field goes to the status line.

import { ApiError, el, say } from './session.js';
import { problem } from './admin-state.js';

/**
 * Show `text` under the field with id `id` (or clear it when `text` is empty); focus the field unless `quiet`.
 * @param {string} id
 * @param {string} text
 * @param {boolean} [quiet]
 */
export function fieldError(id, text, quiet = false) {
  const input = document.getElementById(id);
  if (!input) return;
  const errorId = `${id}-error`;
  let line = document.getElementById(errorId);
  const described = (input.getAttribute('aria-describedby') || '').split(' ').filter((x) => x && x !== errorId);
  if (!text) {
    line?.remove();
    input.removeAttribute('aria-invalid');
    if (described.length) input.setAttribute('aria-describedby', described.join(' '));
    else input.removeAttribute('aria-describedby');
    return;
  }
  if (!line) {
    line = el('p', { id: errorId, className: 'field-error' });
    (input.closest('.field') || input.parentElement).append(line);
  }
  line.textContent = text;
  input.setAttribute('aria-invalid', 'true');
  input.setAttribute('aria-describedby', [...described, errorId].join(' '));
  if (!quiet) input.focus();
}

/**
 * Clear every field error inside `root`.
 * @param {ParentNode} root
 */
export function clearFieldErrors(root) {
  for (const input of root.querySelectorAll('[aria-invalid="true"]')) fieldError(input.id, '');
}

/**
 * The API field a refusal is about, among `fields` (API names), or null.
 * @param {unknown} error
 * @param {string[]} fields
 * @param {Record<string, string>} [reasons] refusal reasons that name a field otherwise (bad_window: ends_at)
 * @returns {string|null}
 */
export function refusedField(error, fields, reasons = {}) {
  if (!(error instanceof ApiError)) return null;
  if (error.reason && reasons[error.reason]) return reasons[error.reason];
  if (error.status !== 400) return null;
  const message = String(error.message || '');
  for (const name of fields) {
    if (error.reason === `bad_${name}`) return name;
    if (message.startsWith(`${name}:`) || message.startsWith(`${name} `)) return name;
  }
  return null;
}

/**
 * A failure handler for `act`: a refusal about one of the form's fields goes next to that field (`fields` maps
 * API names to input ids), with the status line saying nothing was saved; anything else is left to `act`.
 * @param {Record<string, string>} fields
 * @param {Record<string, string>} [reasons]
 * @returns {(error: unknown) => boolean}
 */
export function showRefusal(fields, reasons = {}) {
  return (error) => {
    const name = refusedField(error, Object.keys(fields), reasons);
    if (name === null) return false;
    const message = String(error.message).replace(new RegExp(`^${name}:\\s*`), '');
    fieldError(fields[name], `The hub refused this: ${message}.`);
    say(`Not saved: ${problem(error)}`, 'error');
    return true;
  };
}

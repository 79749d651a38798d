// The admin page's modal dialogs: one that asks before a consequential action and says what will happen, and one
// that asks for a reason (required, length-capped) and keeps asking until the action it is for succeeds or the
// admin cancels. Focus opens on Cancel (or the reason's field) and goes back to the control that opened it.

import { ApiError } from './session.js';
import { $, problem } from './admin-state.js';
import { clearFieldErrors, fieldError } from './admin-fields.js';

/** The longest reason the hub takes for ending a view (hub/api/accounts.py MAX_END_REASON). */
export const MAX_REASON = 200;

/** Give focus back to the control that opened a dialog (or its twin, when its row was redrawn meanwhile). */
function restoreFocus(opener) {
  const key = opener && opener.dataset ? opener.dataset.focus : null;
  if (key && !opener.isConnected) {
    const again = document.querySelector(`[data-focus="${CSS.escape(key)}"]`);
    if (again) again.focus();
  }
}

/**
 * Ask before a consequential action, in a modal dialog: focus moves to its Cancel button; Escape or Cancel
 * answer no. Resolves true only when the admin pressed the action's own button.
 * @param {{title: string, text: string, action: string}} question
 * @returns {Promise<boolean>}
 */
export function confirmAction({ title, text, action }) {
  const dialog = $('confirm');
  if (dialog.open) return Promise.resolve(false);
  const opener = document.activeElement;
  $('confirm-title').textContent = title;
  $('confirm-text').textContent = text;
  $('confirm-ok').textContent = action;
  dialog.returnValue = '';
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => {
      restoreFocus(opener);
      resolve(dialog.returnValue === 'yes');
    }, { once: true });
    dialog.showModal();
    $('confirm-cancel').focus();
  });
}

/**
 * Ask for a reason, then run `submit(reason)`; the dialog stays open (with the hub's refusal next to the field)
 * until it succeeds or the admin cancels. Resolves with submit's result, or null when cancelled.
 * @param {{title: string, text: string, action: string, submit: (reason: string) => Promise<any>}} question
 * @returns {Promise<any>}
 */
export function askReason({ title, text, action, submit }) {
  const dialog = $('reason-dialog');
  if (dialog.open) return Promise.resolve(null);
  const opener = document.activeElement;
  const form = $('reason-form');
  const input = $('reason-text');
  $('reason-title').textContent = title;
  $('reason-intro').textContent = text;
  $('reason-ok').textContent = action;
  form.reset();
  clearFieldErrors(form);
  countReason();
  return new Promise((resolve) => {
    let result = null;
    let sending = false;
    const onSubmit = async (event) => {
      event.preventDefault();
      if (sending) return;
      const reason = input.value.trim();
      if (!reason) {
        fieldError('reason-text', 'Enter a reason: the officer is told it, and it goes on the record.');
        return;
      }
      if (reason.length > MAX_REASON) {
        fieldError('reason-text', `At most ${MAX_REASON} characters (now ${reason.length}).`);
        return;
      }
      fieldError('reason-text', '', true);
      sending = true;
      $('reason-ok').setAttribute('aria-busy', 'true');
      try {
        result = await submit(reason);
        dialog.close('done');
      } catch (error) {
        const about = error instanceof ApiError && error.reason === 'bad_reason';
        fieldError('reason-text', about ? `The hub refused this reason: ${error.message}.` : problem(error));
      } finally {
        sending = false;
        $('reason-ok').removeAttribute('aria-busy');
      }
    };
    form.addEventListener('submit', onSubmit);
    dialog.addEventListener('close', () => {
      form.removeEventListener('submit', onSubmit);
      restoreFocus(opener);
      resolve(result);
    }, { once: true });
    dialog.showModal();
    input.focus();
  });
}

/** Say how much of the reason's length is used. */
function countReason() {
  const used = $('reason-text').value.length;
  $('reason-count').textContent = `${used} of ${MAX_REASON} characters`;
}

/** Wire the dialogs' own buttons (once, at start). */
export function wireDialogs() {
  const dialog = $('confirm');
  $('confirm-cancel').addEventListener('click', () => dialog.close('no'));
  $('confirm-ok').addEventListener('click', () => dialog.close('yes'));
  $('reason-cancel').addEventListener('click', () => $('reason-dialog').close('no'));
  $('reason-text').addEventListener('input', countReason);
}

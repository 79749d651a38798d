// Small DOM helpers the resident's and the officer's page modules share: finding an element, and redrawing a
// part of the page without losing the keyboard focus. (Building elements is `el` in session.js.)

/**
 * The first element matching `selector` under `root` (the whole document by default), or null.
 * @param {string} selector
 * @param {ParentNode} [root]
 * @returns {any}
 */
export const $ = (selector, root = document) => root.querySelector(selector);

/**
 * Replace a node's children, keeping keyboard focus on the element with the same id if it had it (or on
 * `focusId`). Returns true when focus was inside and its element is gone (the caller may hand focus on).
 * @param {Element} node
 * @param {Array<Node|string>} children
 * @param {string|null} [focusId]
 * @returns {boolean}
 */
export function replaceKeepingFocus(node, children, focusId = null) {
  const active = document.activeElement;
  const hadFocus = Boolean(active && active !== document.body && node.contains(active));
  node.replaceChildren(...children);
  const target = focusId ?? (hadFocus ? active.id : null);
  const found = target ? document.getElementById(target) : null;
  found?.focus();
  return (hadFocus || Boolean(focusId)) && (!found || document.activeElement !== found);
}

// Small DOM helpers every page's modules share: building an element (text is always text), finding one, and
// redrawing a part of the page without losing the keyboard focus. No imports: every module may use it.

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

/**
 * Make an element: attributes, then children (strings become text nodes).
 * @param {string} tag
 * @param {Record<string, unknown>} [attrs]
 * @param {...(Node|string|null|undefined)} children
 * @returns {HTMLElement}
 */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === 'className') node.className = String(value);
    else if (name.startsWith('on') && typeof value === 'function') node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? '' : String(value));
  }
  node.append(...children.filter((c) => c !== null && c !== undefined));
  return node;
}

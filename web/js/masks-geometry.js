// The mask editor's numbers, with no page in them: positions typed in percent of the picture and clicked positions
// as the relative coordinates (0..1, four decimals) the hub stores, and a rectangle typed in percent as a mask
// polygon (or the field at fault and why, when the numbers do not make one). Kept apart so they can be reused
// and tested without a page.

/**
 * A position in percent as a relative coordinate (0..1, four decimals).
 * @param {number} percent
 * @returns {number}
 */
export function rel(percent) {
  return Math.round(Math.min(100, Math.max(0, percent)) * 100) / 10000;
}

/**
 * A position as a fraction of the picture, kept inside it, to four decimals (as `rel` gives).
 * @param {number} value
 * @returns {number}
 */
export function fraction(value) {
  return Math.round(Math.min(1, Math.max(0, value)) * 10000) / 10000;
}

/**
 * A number to one decimal, for saying it back: 12.3.
 * @param {number} value
 * @returns {number}
 */
export function round1(value) {
  return Math.round(value * 10) / 10;
}

/**
 * A relative coordinate in percent for reading: "55.0".
 * @param {number} value
 * @returns {string}
 */
export function pct(value) {
  return (value * 100).toFixed(1);
}

/**
 * A rectangle given in percent of the picture as a mask polygon (relative 0..1 corners, clockwise from the
 * top left); throws an Error naming the field at fault (`error.field`) when the numbers do not make one.
 * @param {{left: number, top: number, width: number, height: number}} box
 * @param {'black'|'blur'} style
 * @returns {{points: number[][], style: string}}
 */
export function rectangleMask(box, style) {
  const fail = (field, message) => Object.assign(new Error(message), { field });
  for (const [field, name] of [['left', 'Left'], ['top', 'Top'], ['width', 'Width'], ['height', 'Height']]) {
    if (!Number.isFinite(box[field])) throw fail(field, `${name}: type a number of percent.`);
  }
  if (box.left < 0 || box.left >= 100) throw fail('left', 'Left must be from 0 up to (not including) 100 %.');
  if (box.top < 0 || box.top >= 100) throw fail('top', 'Top must be from 0 up to (not including) 100 %.');
  if (box.width <= 0) throw fail('width', 'Width must be more than 0 %.');
  if (box.height <= 0) throw fail('height', 'Height must be more than 0 %.');
  const eps = 1e-9; // a hair of slack for floating-point sums of typed decimals
  if (box.left + box.width > 100 + eps) {
    throw fail('width', `Left plus width is ${round1(box.left + box.width)} %: the rectangle must end inside the picture (at most 100 %).`);
  }
  if (box.top + box.height > 100 + eps) {
    throw fail('height', `Top plus height is ${round1(box.top + box.height)} %: the rectangle must end inside the picture (at most 100 %).`);
  }
  const x0 = rel(box.left);
  const y0 = rel(box.top);
  const x1 = rel(Math.min(100, box.left + box.width));
  const y1 = rel(Math.min(100, box.top + box.height));
  return { points: [[x0, y0], [x1, y0], [x1, y1], [x0, y1]], style };
}

// Times and durations in words, one rule for every page: a time of day in the viewer's local time, a chosen
// duration in whole units ("7 days", never "168 hours"), and a countdown or a running time to the second
// ("2 d 03 h 04 min 05 s"). Every page imports these; none keeps a copy of its own. Nothing here parses HTML.

import { el } from './dom.js';

/**
 * An API time ("2026-11-30T14:32:05.120Z") as a Date; null when it is not one.
 * @param {unknown} text
 * @returns {Date|null}
 */
export function parseWhen(text) {
  if (typeof text !== 'string') return null;
  const when = new Date(text.replace(/\.(\d{1,2})Z$/, (_, frac) => `.${frac.padEnd(3, '0')}Z`));
  return Number.isNaN(when.getTime()) ? null : when;
}

/**
 * A time in the viewer's local time with seconds: "14:32:05" today, with the date on other days; with `full`, the
 * date always. The text itself when it is not a time.
 * @param {unknown} text ISO 8601
 * @param {boolean} [full]
 * @returns {string}
 */
export function localTime(text, full = false) {
  const when = parseWhen(text);
  if (!when) return String(text ?? '');
  if (full) return when.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'medium' });
  const time = when.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit' });
  if (when.toDateString() === new Date().toDateString()) return time;
  return `${when.toLocaleDateString(undefined, { dateStyle: 'medium' })} ${time}`;
}

/**
 * A `<time>` element showing `text` as `localTime` does (the text itself when it is not a time).
 * @param {unknown} text ISO 8601
 * @param {boolean} [full]
 * @returns {HTMLElement|string}
 */
export function timeNode(text, full = false) {
  return parseWhen(text) ? el('time', { datetime: text }, localTime(text, full)) : String(text ?? '');
}

/**
 * A chosen duration in words: "15 minutes", "1 hour", "1 day", "7 days", "36 hours", "90 seconds" (whole days in
 * days: never "168 hours").
 * @param {number} seconds
 * @returns {string}
 */
export function durationWords(seconds) {
  const n = Number(seconds) || 0;
  const plural = (count, word) => `${count} ${word}${count === 1 ? '' : 's'}`;
  if (n >= 86400 && n % 86400 === 0) return plural(n / 86400, 'day');
  if (n >= 3600 && n % 3600 === 0) return plural(n / 3600, 'hour');
  if (n >= 60 && n % 60 === 0) return plural(n / 60, 'minute');
  return plural(Math.round(n), 'second');
}

/**
 * A countdown or a running time, to the second, from its largest unit: "6 d 23 h 59 min 58 s", "7 h 04 min 05 s",
 * "3 min 05 s", "45 s" (units after the first in two digits, so the text does not jump as it ticks).
 * @param {number} seconds
 * @returns {string}
 */
export function clock(seconds) {
  let left = Math.max(0, Math.floor(Number(seconds) || 0));
  const parts = [];
  for (const [unit, size] of [['d', 86400], ['h', 3600], ['min', 60], ['s', 1]]) {
    const count = Math.floor(left / size);
    left %= size;
    if (count || parts.length || size === 1) parts.push(`${parts.length ? String(count).padStart(2, '0') : count} ${unit}`);
  }
  return parts.join(' ');
}

/**
 * How long something lasted, from milliseconds: `clock`'s words, or "less than a second".
 * @param {unknown} ms
 * @returns {string}
 */
export function lastedWords(ms) {
  const seconds = Math.round(Number(ms) / 1000) || 0;
  return seconds > 0 ? clock(seconds) : 'less than a second';
}

/**
 * The time left until `iso` in `clock`'s words; null once it has passed (or when `iso` is not a time).
 * @param {unknown} iso
 * @param {number} [now] milliseconds
 * @returns {string|null}
 */
export function leftWords(iso, now = Date.now()) {
  const end = parseWhen(iso);
  if (!end) return null;
  const seconds = Math.ceil((end.getTime() - now) / 1000);
  return seconds > 0 ? clock(seconds) : null;
}

/**
 * A time as the value of a `datetime-local` input (local time, to the second).
 * @param {string|number|Date} time
 * @returns {string}
 */
export function toLocalInput(time) {
  const d = new Date(time);
  const two = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())}T${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`;
}

/**
 * A `datetime-local` value (local time) as ISO 8601 in UTC; null when empty or invalid.
 * @param {string} value
 * @returns {string|null}
 */
export function fromLocalInput(value) {
  if (!value) return null;
  const d = new Date(value); // a date-time without an offset is local time
  return Number.isNaN(d.getTime()) ? null : d.toISOString();
}

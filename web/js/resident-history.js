// The resident's page, each camera's viewing history: its audit records are fetched, every one checked in the
// browser against the log's signed checkpoint (merkle.js), and shown three ways: the looks (each view with its
// start and end joined, and each refused request), the consent changes, and every record. What the tables say
// comes from the signed record text only, never from the hub's parsed copy beside it (but for records the hub
// gives redacted, their text holding a client address: only their place in the log is checked, and they say so).
// The records come in pages (`next` is the cursor), each checked against the checkpoint it came with.

import { ApiError, api, el, sessionEnded } from './session.js';
import { checkRecordItem, openAnswerCheckpoint } from './merkle.js';
import { $, replaceKeepingFocus } from './dom.js';
import { DENIED, HOW_IT_ENDED, describe, errorText, words } from './resident-words.js';
import { lastedWords, timeNode } from './time-words.js';
import { since } from './resident-clocks.js';
import { refresh, state } from './resident-state.js';


/** At most this many pages of one camera's records are read (500 records a page). */
const MAX_PAGES = 200;

/**
 * Every page of a camera's records, following the `next` cursor.
 * @returns {Promise<any[]>}
 */
async function fetchPages(cameraId) {
  const pages = [];
  let after = null;
  do {
    const more = after === null ? '' : `&after=${after}`;
    const page = await api(`/api/audit/records?camera=${encodeURIComponent(cameraId)}${more}`);
    pages.push(page);
    const next = page?.next;
    after = Number.isSafeInteger(next) && next > (after ?? -1) ? next : null;
  } while (after !== null && pages.length < MAX_PAGES);
  return pages;
}

function checkpointLine(answer, log, opened) {
  const size = opened.checkpoint?.size ?? answer?.checkpoint?.size;
  const text = `Log checkpoint: ${size ?? '?'} record${size === 1 ? '' : 's'} in the whole log, signed by ${log.verifier.name} ` +
    `(key ${log.verifier.idHex}). `;
  const ok = opened.problem === null;
  return el(
    'p',
    { className: `checkpoint ${ok ? 'ok' : 'bad'}`, 'data-checkpoint': ok ? 'verified' : 'failed', 'data-size': size },
    text,
    el('strong', {}, ok ? 'Signature verified.' : `Checkpoint FAILED: ${opened.problem}.`),
  );
}

function checkCell(checks) {
  const failed = checks.filter((c) => !c.ok);
  return el('td', { className: `status ${failed.length ? 'bad' : 'ok'}`, 'data-label': 'Check', role: 'cell' },
    el('span', {}, failed.length ? `FAILED: ${failed.flatMap((c) => c.problems).join('; ')}` : 'verified'));
}

/** A table whose rows stack as cards at phone width (explicit roles keep it a table for screen readers). */
function table(className, caption, headers, rows, regionId, regionLabel) {
  return el(
    'div', { className: 'table-wrap', tabindex: '0', role: 'region', 'aria-label': regionLabel, id: regionId },
    el('table', { className, role: 'table' },
      el('caption', {}, caption),
      el('thead', { role: 'rowgroup' }, el('tr', { role: 'row' },
        ...headers.map((h) => el('th', { scope: 'col', role: 'columnheader' }, h)))),
      el('tbody', { role: 'rowgroup' }, ...rows)),
  );
}

function cell(label, ...content) {
  // One wrapper, so the content stays one piece when the row becomes a card at phone width.
  return el('td', { 'data-label': label, role: 'cell' }, el('span', {}, ...content));
}

/**
 * The looks at a camera from its checked records: each view.started joined with its view.ended (by `view`),
 * and each view.denied as a refused request; newest first.
 * @param {{item: any, check: import('./merkle.js').RecordCheck}[]} checked
 */
export function looks(checked) {
  const ends = new Map();
  for (const c of checked) {
    const f = c.check.fields;
    if (f?.kind === 'view.ended' && Number.isInteger(f.view)) ends.set(f.view, c);
  }
  const used = new Set();
  const result = [];
  for (const c of checked) {
    const f = c.check.fields;
    if (f?.kind === 'view.started') {
      const end = ends.get(c.item.seq) ?? null;
      if (end) used.add(end);
      result.push({ kind: 'view', start: c, end });
    } else if (f?.kind === 'view.denied') {
      result.push({ kind: 'denied', start: c, end: null });
    }
  }
  for (const c of checked) {
    if (c.check.fields?.kind === 'view.ended' && !used.has(c)) result.push({ kind: 'view', start: null, end: c });
  }
  return result.sort((a, b) => (b.start ?? b.end).item.seq - (a.start ?? a.end).item.seq);
}

function lookRow(look) {
  const s = look.start?.check.fields ?? null;
  const e = look.end?.check.fields ?? null;
  const f = s ?? e;
  const actor = f?.actor ?? {};
  const checks = [look.start, look.end].filter(Boolean).map((c) => c.check);
  const seqs = [look.start, look.end].filter(Boolean).map((c) => c.item.seq).join(' ');
  const status = checks.every((c) => c.ok) ? 'verified' : 'failed';
  const common = [
    cell('Officer', String(actor.username ?? '?')),
    cell('Agency', String(actor.agency ?? '—')),
    cell('Case number', String(f?.case ?? '?')),
    cell('Reason', String(f?.reason ?? '')),
  ];
  if (look.kind === 'denied') {
    const why = DENIED[s.denied] ?? words(s.denied);
    return el('tr', { role: 'row', className: 'denied', 'data-denied': look.start.item.seq, 'data-seqs': seqs, 'data-status': status },
      ...common, cell('Started', 'Asked ', timeNode(s.time, true)), cell('Ended', '—'), cell('Duration', '—'), cell('Sound', '—'),
      cell('How it ended', `Refused: ${why}`), checkCell(checks));
  }
  const startText = e?.started ?? s?.time;
  const attrs = { role: 'row', 'data-view': look.start?.item.seq ?? e?.view, 'data-seqs': seqs, 'data-status': status };
  if (!e) {
    return el('tr', { ...attrs, className: 'open', 'data-ended-by': '' },
      ...common, cell('Started', timeNode(startText, true)), cell('Ended', 'not yet'), cell('Duration', since(startText)),
      cell('Sound', '—'), cell('How it ended', 'Still watching'), checkCell(checks));
  }
  const how = HOW_IT_ENDED[e.ended_by] ?? (words(e.ended_by) || 'Ended');
  // Whether sound reached the officer (audio is its own consent), in a column of its own: it is not how the view
  // ended. Records from before audio say nothing.
  const heard = Number.isInteger(e.audio_packets) ? (e.audio_packets > 0 ? 'audio heard' : 'video only') : null;
  return el('tr', { ...attrs, 'data-ended-by': e.ended_by ?? '', 'data-audio': heard ?? '' },
    ...common, cell('Started', timeNode(startText, true)), cell('Ended', timeNode(e.ended, true)), cell('Duration', lastedWords(e.duration_ms)),
    cell('Sound', heard ? heard[0].toUpperCase() + heard.slice(1) : '—'), cell('How it ended', how), checkCell(checks));
}

function recordRow(item, check, me) {
  const f = check.fields;
  const timeCell = el('td', {}, f ? timeNode(f.time, true) : '');
  const status = !check.ok ? 'failed' : check.redacted ? 'redacted' : 'verified';
  const verdict = !check.ok ? `FAILED: ${check.problems.join('; ')}`
    : check.redacted ? 'in the log (its text holds a network address and is withheld: only its place is checked)'
      : 'verified';
  return el(
    'tr',
    { 'data-seq': item.seq, 'data-status': status, 'data-kind': f?.kind },
    timeCell,
    el('td', {}, f ? describe(f, me) : '(unreadable record)'),
    el('td', { className: `status ${check.ok ? 'ok' : 'bad'}` }, verdict),
  );
}

function consentRow(item, check, me) {
  const f = check.fields;
  return el('tr', { role: 'row', 'data-record': item.seq, 'data-status': check.ok ? 'verified' : 'failed' },
    cell('Time', timeNode(f.time, true)), cell('What happened', describe(f, me)), checkCell([check]));
}

/**
 * Fetch a camera's records, check each against the signed checkpoint, and fill in its history (the check
 * line, the looks, the consent changes, every record). Sets `entry.openViews`.
 * @param {import('./resident-state.js').Entry} entry
 * @returns {Promise<void>}
 */
export async function loadRecords(entry) {
  const { camera, key } = entry;
  const name = camera.name || camera.id;
  const box = $('.record', entry.section);
  const slots = {
    check: $('.check-slot', box), views: $('.views-slot', box), consent: $('.consent-slot', box), full: $('.full-slot', box),
  };
  box.setAttribute('aria-busy', 'true');
  try {
    if (!state.log) throw new Error(state.logProblem ?? "the log's key is not loaded");
    const log = state.log;
    const pages = await fetchPages(camera.id);
    const checked = [];
    let answer = pages[pages.length - 1];
    let opened = null;
    for (const page of pages) {
      const pageOpened = await openAnswerCheckpoint(page, log);
      // The line shows the newest checkpoint, or the first that failed.
      if (opened === null || opened.problem === null) [answer, opened] = [page, pageOpened];
      const pageItems = Array.isArray(page?.records) ? page.records : [];
      const pageChecks = await Promise.all(
        pageItems.map((item) => checkRecordItem(log.verifier, pageOpened.checkpoint, item, camera.id)));
      pageItems.forEach((item, i) => checked.push({ item, check: pageChecks[i] }));
    }
    checked.sort((a, b) => b.item.seq - a.item.seq);
    const items = checked.map((c) => c.item);
    const checks = checked.map((c) => c.check);
    const failed = checks.filter((c) => !c.ok).length;
    const all = looks(checked);
    entry.openViews = all.filter((l) => l.kind === 'view' && !l.end).length;

    const summary = failed
      ? el('p', { className: 'bad', 'data-failed': failed }, `${failed} of ${items.length} records FAILED verification: the hub's answer was altered or is wrong.`)
      : el('p', { className: 'ok' }, items.length === 1 ? 'The record verified.' : `All ${items.length} records verified.`);
    replaceKeepingFocus(slots.check, [checkpointLine(answer, log, opened), items.length ? summary : null].filter(Boolean));

    const views = all.length
      ? table('history', `Looks at ${name}, newest first`,
        ['Officer', 'Agency', 'Case number', 'Reason', 'Started', 'Ended', 'Duration', 'Sound', 'How it ended', 'Check'],
        all.map(lookRow), `${key}-history`, `Viewing history of ${name}`)
      : el('p', { className: 'empty' }, `No one has looked at ${name}, and no one has asked to.`);
    replaceKeepingFocus(slots.views, [views]);

    const consent = checked.filter((c) => String(c.check.fields?.kind ?? '').startsWith('consent.'));
    replaceKeepingFocus(slots.consent, [consent.length
      ? table('history consent-history', `When you shared ${name} and when it stopped, newest first`,
        ['Time', 'What happened', 'Check'], consent.map((c) => consentRow(c.item, c.check, state.me)),
        `${key}-consent-history`, `Consent history of ${name}`)
      : el('p', { className: 'empty' }, `No consent changes for ${name} are on the record.`)]);

    $('summary', box).textContent = `Every record about ${name} (${items.length}), with its check`;
    replaceKeepingFocus(slots.full, [items.length
      ? el('div', { className: 'table-wrap', tabindex: '0', role: 'region', 'aria-label': `Every record about ${name}`, id: `${key}-records` },
        el('table', {},
          el('caption', {}, `Every record about ${name}, newest first`),
          el('thead', {}, el('tr', {}, el('th', { scope: 'col' }, 'Time'), el('th', { scope: 'col' }, 'What happened'),
            el('th', { scope: 'col' }, 'Check'))),
          el('tbody', {}, ...checked.map((c) => recordRow(c.item, c.check, state.me)))))
      : el('p', { className: 'empty' }, 'There are no records about this camera yet.')]);
  } catch (err) {
    entry.openViews = 0;
    replaceKeepingFocus(slots.check, [el('p', { className: 'error', role: 'alert' }, errorText(err, `the history of ${name}`))]);
    if (err instanceof ApiError && err.status === 401) sessionEnded(err.reason);
  } finally {
    box.setAttribute('aria-busy', 'false');
  }
}

/**
 * A view that ended a moment ago has its end written just after the watchers change: while the record's open views
 * and the hub's watchers disagree, look again shortly (a few times at most).
 * @param {import('./resident-state.js').Entry} entry
 */
export function recheckOpenViews(entry) {
  const watching = Array.isArray(entry.camera.watching) ? entry.camera.watching.length : 0;
  if (entry.openViews !== watching && entry.rechecks > 0) {
    entry.rechecks -= 1;
    setTimeout(() => refresh([`records:${entry.camera.id}`]), 1000);
  }
}

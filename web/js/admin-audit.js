// The admin page, the audit viewer: records filtered by camera, officer, kind and time (the hub filters,
// hub/api/audit_filter.py), in log order, a page at a time. Every record shown is checked here in the browser
// before it is believed: its signature, its inclusion proof against the signed checkpoint its page came with
// (RFC 9162, merkle.js), and that its signed fields match the filter asked for. What a row says comes from the
// signed record text only, never from the hub's parsed copy beside it.

import { api, el, say } from './session.js';
import { checkRecordItem, openAnswerCheckpoint, parseVerifierKey } from './merkle.js';
import { fromLocalInput, timeNode } from './time-words.js';
import { $, act, cell, emptyRow, problem, state } from './admin-state.js';
import { clearFieldErrors, fieldError, showRefusal } from './admin-fields.js';

/** Records shown per "page" of the viewer; the hub is asked again (a filtered answer may hold few) up to this often. */
const SHOWN = 50;
const MAX_ASKS = 20;

/** Kinds the filter offers: families first, then each kind (hub/audit/record.py). */
const FAMILIES = ['view', 'consent', 'access', 'session', 'account', 'login', 'pilot', 'policy', 'masks', 'camera', 'agency', 'enrolment_code', 'audit'];
const KINDS = [
  'view.requested', 'view.denied', 'view.started', 'view.ended', 'session.ended',
  'consent.granted', 'consent.withdrawn', 'consent.expired', 'consent.audio',
  'access.requested', 'access.approved', 'access.declined', 'access.expired',
  'pilot.changed', 'policy.changed', 'masks.changed', 'camera.registered', 'camera.token_issued',
  'account.created', 'account.disabled', 'account.enabled', 'account.mfa_enrolled', 'account.mfa_reset',
  'login.ok', 'login.failed', 'logout', 'agency.created', 'audit.read',
];

const viewer = {
  log: null,
  /** @type {{camera: string, officer: string, kind: string, from: string|null, to: string|null}|null} */
  filter: null,
  next: null,
  shown: 0,
  failed: 0,
  first: null,
  last: null,
};

/** The log's origin and key (fetched once; a key from the hub proves nothing by itself: its id is shown). */
async function logKey() {
  if (!viewer.log) {
    const key = await api('/api/audit/key');
    viewer.log = { origin: key.origin, verifier: await parseVerifierKey(key.verifier_key) };
  }
  return viewer.log;
}

/**
 * Whether a record's signed fields match the filter; what does not, in words (empty when it matches).
 * @param {Record<string, any>} f
 * @param {{camera: string, officer: string, kind: string, from: string|null, to: string|null}} filter
 * @returns {string[]}
 */
export function mismatches(f, filter) {
  const wrong = [];
  if (filter.camera && f.camera !== filter.camera) wrong.push(`it is not about camera ${filter.camera}`);
  if (filter.kind) {
    const family = filter.kind.endsWith('.*');
    const kind = String(f.kind);
    if (kind !== filter.kind && !(family && kind.startsWith(filter.kind.slice(0, -1)))) wrong.push(`its kind is ${kind}`);
  }
  if (filter.officer) {
    const names = [f.actor, f.officer].filter((w) => w && typeof w === 'object').map((w) => w.username);
    if (!names.includes(filter.officer)) wrong.push(`it does not name ${filter.officer}`);
  }
  const at = Date.parse(String(f.time));
  if (filter.from && !(at >= Date.parse(filter.from))) wrong.push('it is older than the filter');
  if (filter.to && !(at < Date.parse(filter.to))) wrong.push('it is newer than the filter');
  return wrong;
}

/** A record's details: its fields but those every row shows in columns. */
function details(f) {
  const skip = new Set(['seq', 'time', 'kind', 'hub', 'actor', 'camera', 'source_commitment', 'source']);
  const text = (value) => (value && typeof value === 'object' && 'username' in value ? value.username : JSON.stringify(value));
  return Object.keys(f).filter((k) => !skip.has(k)).map((k) => `${k.replaceAll('_', ' ')}: ${text(f[k])}`).join('; ');
}

function who(actor) {
  if (!actor || typeof actor !== 'object') return 'the hub';
  return `${actor.username ?? '?'} (${actor.role ?? '?'}${actor.agency ? `, ${actor.agency}` : ''})`;
}

function recordRow(item, check, wrong) {
  const f = check.fields ?? {};
  const ok = check.ok && !wrong.length;
  const problems = [...check.problems, ...(wrong.length ? [`not what was asked for: ${wrong.join(', ')}`] : [])];
  return el(
    'tr', { 'data-seq': item.seq, 'data-status': ok ? 'verified' : 'failed', 'data-kind': f.kind ?? '' },
    cell('Position', {}, String(item.seq)),
    cell('Time', {}, f.time ? timeNode(f.time, true) : '?'),
    cell('Kind', {}, String(f.kind ?? '?')),
    cell('Who', {}, who(f.actor)),
    cell('Camera', {}, String(f.camera ?? '—')),
    cell('Details', { className: 'audit-details' }, details(f)),
    cell('Check', { className: `status ${ok ? 'ok' : 'bad'}` }, ok ? 'verified' : `FAILED: ${problems.join('; ')}`),
  );
}

function query(filter, after) {
  const params = new URLSearchParams({ limit: String(SHOWN) });
  if (after !== null) params.set('after', String(after));
  for (const name of ['camera', 'officer', 'kind', 'from', 'to']) if (filter[name]) params.set(name, filter[name]);
  return `/api/audit/records?${params}`;
}

function summary(log, size) {
  const filtered = Object.entries(viewer.filter).filter(([, v]) => v).map(([k, v]) => `${k} ${v}`).join(', ');
  const range = viewer.shown ? ` (log positions ${viewer.first} to ${viewer.last})` : '';
  const checked = viewer.failed
    ? el('strong', { className: 'bad' }, `${viewer.failed} of ${viewer.shown} FAILED verification.`)
    : el('strong', { className: 'ok' }, viewer.shown ? `All ${viewer.shown} verified.` : 'Nothing to verify.');
  $('audit-summary').replaceChildren(
    `${viewer.shown} record${viewer.shown === 1 ? '' : 's'} shown${range}${filtered ? `, matching ${filtered}` : ''}. `
    + `Each is checked here against the checkpoint it came with (the last of ${size ?? '?'} records), signed by `
    + `${log.verifier.name} (key ${log.verifier.idHex}): its signature, its inclusion proof, and that it matches the filter. `,
    checked,
  );
  $('audit-summary').dataset.failed = String(viewer.failed);
  $('audit-more').hidden = viewer.next === null;
}

/** Fetch and check records until a page's worth is shown (or the log's end); append their rows. */
async function showMore() {
  const log = await logKey();
  const rows = [];
  let size = null;
  let checkpointProblem = null;
  for (let asks = 0; asks < MAX_ASKS && rows.length < SHOWN; asks += 1) {
    const answer = await api(query(viewer.filter, viewer.next));
    const opened = await openAnswerCheckpoint(answer, log);
    checkpointProblem = checkpointProblem ?? opened.problem;
    size = answer?.checkpoint?.size ?? size;
    const items = Array.isArray(answer?.records) ? answer.records : [];
    const checks = await Promise.all(items.map((item) => checkRecordItem(log.verifier, opened.checkpoint, item,
      viewer.filter.camera || undefined)));
    items.forEach((item, i) => {
      const wrong = checks[i].fields ? mismatches(checks[i].fields, viewer.filter) : [];
      if (!checks[i].ok || wrong.length) viewer.failed += 1;
      viewer.first = viewer.first ?? item.seq;
      viewer.last = item.seq;
      viewer.shown += 1;
      rows.push(recordRow(item, checks[i], wrong));
    });
    viewer.next = Number.isSafeInteger(answer?.next) ? answer.next : null;
    if (viewer.next === null) break;
  }
  const body = $('audit-rows');
  if (!viewer.shown) body.replaceChildren(emptyRow(7, 'No records match.'));
  else if (rows.length) {
    if (body.querySelector('td.empty')) body.replaceChildren();
    body.append(...rows);
  }
  $('audit-table').hidden = false;
  $('audit-checkpoint').textContent = checkpointProblem ? `Checkpoint FAILED: ${checkpointProblem}.` : '';
  summary(log, size);
}

function readFilter() {
  const from = $('audit-from').value;
  const to = $('audit-to').value;
  return {
    camera: $('audit-camera').value,
    officer: $('audit-officer').value,
    kind: $('audit-kind').value,
    from: from ? fromLocalInput(from) : null,
    to: to ? fromLocalInput(to) : null,
  };
}

async function search(event) {
  event.preventDefault();
  const form = $('audit-form');
  clearFieldErrors(form);
  const filter = readFilter();
  if ($('audit-from').value && !filter.from) {
    fieldError('audit-from', 'Enter a date and time, or leave it empty.');
    return;
  }
  if ($('audit-to').value && !filter.to) {
    fieldError('audit-to', 'Enter a date and time, or leave it empty.');
    return;
  }
  if (filter.from && filter.to && Date.parse(filter.to) <= Date.parse(filter.from)) {
    fieldError('audit-to', 'The end must be after the start.');
    return;
  }
  Object.assign(viewer, { filter, next: null, shown: 0, failed: 0, first: null, last: null });
  $('audit-rows').replaceChildren();
  await act('audit', async () => {
    $('audit-results').setAttribute('aria-busy', 'true');
    try {
      await showMore();
    } finally {
      $('audit-results').setAttribute('aria-busy', 'false');
    }
  }, () => `Audit records: ${viewer.shown} shown, ${viewer.failed ? `${viewer.failed} FAILED verification` : 'all verified'}.`,
  showRefusal({ camera: 'audit-camera', officer: 'audit-officer', kind: 'audit-kind', from: 'audit-from', to: 'audit-to' },
    { camera_unknown: 'camera', not_found: 'camera' }));
  if (viewer.failed) say(`Audit records: ${viewer.shown} shown, ${viewer.failed} FAILED verification.`, 'error');
}

function more() {
  act('audit-more', () => showMore(), () => `Audit records: ${viewer.shown} shown.`, (error) => {
    $('audit-checkpoint').textContent = problem(error);
    return false;
  });
}

/** Offer the cameras and officers the page knows in the filter (kept as chosen). */
export function fillAuditChoices() {
  const fill = (select, options, none) => {
    const chosen = select.value;
    select.replaceChildren(el('option', { value: '' }, none), ...options.map(([value, text]) => el('option', { value }, text)));
    if (options.some(([value]) => value === chosen)) select.value = chosen;
  };
  fill($('audit-camera'), state.cameras.map((c) => [c.id, `${c.name} (${c.id})`]), 'any camera');
  const officers = state.accounts.filter((a) => a.role === 'officer');
  fill($('audit-officer'), officers.map((a) => [a.username, `${a.username}${a.agency ? ` (${a.agency})` : ''}`]), 'anyone');
}

/** Wire the audit viewer (once, after log-in). */
export function wireAudit() {
  const kinds = $('audit-kind');
  kinds.replaceChildren(
    el('option', { value: '' }, 'any kind'),
    el('optgroup', { label: 'Families' }, ...FAMILIES.map((f) => el('option', { value: `${f}.*` }, `${f}.* (every ${f} record)`))),
    el('optgroup', { label: 'Kinds' }, ...KINDS.map((k) => el('option', { value: k }, k))),
  );
  $('audit-form').addEventListener('submit', search);
  $('audit-more').addEventListener('click', more);
  $('audit-clear').addEventListener('click', () => {
    $('audit-form').reset();
    clearFieldErrors($('audit-form'));
  });
  document.addEventListener('admin:cameras', fillAuditChoices);
  document.addEventListener('admin:accounts', fillAuditChoices);
}

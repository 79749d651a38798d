// Checking the audit log in the browser, with WebCrypto only: the log's verifier key, its signed checkpoints
// (C2SP signed-note / tlog-checkpoint), each record's signature, and RFC 9162 inclusion proofs.
//
// A port of hub/audit/signing.py, hub/audit/checkpoint.py, hub/audit/merkle.py (verify_inclusion) and the
// canonical record encoding of hub/audit/record.py. Every check either returns normally or throws an error
// whose message says what did not match, in words a resident can read.

const ALG_ED25519 = 0x01;
const HASH_SIZE = 32;
const SIG_PREFIX = '\u2014 ';
const MAX_NOTE_BYTES = 16 * 1024;
const RECORD_CONTEXT = 'porchlight audit record v1\n';
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

const encoder = new TextEncoder();

/** A key's text is malformed, or its id does not match its name and bytes. */
export class KeyFormatError extends Error {
  name = 'KeyFormatError';
}

/** A checkpoint is malformed, or its signature does not verify with the key given. */
export class CheckpointError extends Error {
  name = 'CheckpointError';
}

/** An inclusion proof failed to verify (or its sizes, index or hashes are malformed). */
export class ProofError extends Error {
  name = 'ProofError';
}

// Bytes ------------------------------------------------------------------------------------------------------

/**
 * Strict base64 (standard alphabet, padded, no whitespace), as Python's b64decode(validate=True).
 * @param {string} text
 * @returns {Uint8Array}
 * @throws {TypeError} when the text is not base64
 */
export function fromBase64(text) {
  if (typeof text !== 'string' || !BASE64.test(text)) throw new TypeError('not base64');
  return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
}

/**
 * Lower-case hex of some bytes.
 * @param {Uint8Array} bytes
 * @returns {string}
 */
export function toHex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

/**
 * The bytes of each part, one after another (strings as UTF-8).
 * @param {...(Uint8Array|string|number[])} parts
 * @returns {Uint8Array}
 */
export function concat(...parts) {
  const arrays = parts.map((p) => (typeof p === 'string' ? encoder.encode(p) : Uint8Array.from(p)));
  const out = new Uint8Array(arrays.reduce((n, a) => n + a.length, 0));
  let at = 0;
  for (const a of arrays) {
    out.set(a, at);
    at += a.length;
  }
  return out;
}

/**
 * True when two byte arrays hold the same bytes.
 * @param {Uint8Array} a
 * @param {Uint8Array} b
 * @returns {boolean}
 */
export function equalBytes(a, b) {
  return a.length === b.length && a.every((value, i) => value === b[i]);
}

// Hashes -----------------------------------------------------------------------------------------------------

/**
 * SHA-256 of some bytes.
 * @param {Uint8Array} data
 * @returns {Promise<Uint8Array>}
 */
export async function sha256(data) {
  return new Uint8Array(await crypto.subtle.digest('SHA-256', data));
}

/**
 * The RFC 9162 hash of a leaf holding `data`: SHA-256(0x00 || data).
 * @param {Uint8Array|string} data the leaf's bytes (a string is taken as UTF-8)
 * @returns {Promise<Uint8Array>}
 */
export function leafHash(data) {
  return sha256(concat([0x00], data));
}

/**
 * The RFC 9162 hash of an interior node: SHA-256(0x01 || left || right).
 * @param {Uint8Array} left
 * @param {Uint8Array} right
 * @returns {Promise<Uint8Array>}
 */
export function nodeHash(left, right) {
  return sha256(concat([0x01], left, right));
}

// Inclusion proofs (RFC 9162 2.1.3.2) ------------------------------------------------------------------------
// BigInt arithmetic: JavaScript's bitwise operators work on 32 bits only.

function bitLength(n) {
  return n === 0n ? 0 : n.toString(2).length;
}

function bitCount(n) {
  return n.toString(2).split('1').length - 1;
}

/**
 * How many hashes the audit path of leaf `index` in a tree of `size` leaves has.
 * @param {number} index
 * @param {number} size
 * @returns {number}
 */
export function inclusionProofLength(index, size) {
  const i = BigInt(index);
  const inner = bitLength(i ^ (BigInt(size) - 1n));
  return inner + bitCount(i >> BigInt(inner));
}

/**
 * RFC 9162 2.1.3.2 steps 2 to 5: the root an audit path leads to.
 * @param {Uint8Array} leaf the leaf's hash
 * @param {number} index
 * @param {number} size
 * @param {Uint8Array[]} proof
 * @returns {Promise<Uint8Array>}
 * @throws {ProofError} when the proof goes past the root or stops short of it
 */
export async function rootFromInclusion(leaf, index, size, proof) {
  let fn = BigInt(index);
  let sn = BigInt(size) - 1n;
  let r = leaf;
  for (const p of proof) {
    if (sn === 0n) throw new ProofError('the inclusion proof goes on past the root');
    if (fn & 1n || fn === sn) {
      r = await nodeHash(p, r);
      while (fn !== 0n && (fn & 1n) === 0n) {
        fn >>= 1n;
        sn >>= 1n;
      }
    } else {
      r = await nodeHash(r, p);
    }
    fn >>= 1n;
    sn >>= 1n;
  }
  if (sn !== 0n) throw new ProofError('the inclusion proof stops short of the root');
  return r;
}

function checkHash(what, value) {
  if (!(value instanceof Uint8Array) || value.length !== HASH_SIZE) {
    throw new ProofError(`${what} is ${value?.length ?? 0} bytes, a hash is ${HASH_SIZE}`);
  }
}

/**
 * Check that the leaf with hash `leaf` is at `index` in the tree of `size` leaves whose hash is `root`.
 * @param {Uint8Array} leaf the leaf's hash (see leafHash)
 * @param {number} index
 * @param {number} size
 * @param {Uint8Array[]} proof the audit path, from the leaf's sibling up
 * @param {Uint8Array} root
 * @returns {Promise<void>}
 * @throws {ProofError} saying which check failed
 */
export async function verifyInclusion(leaf, index, size, proof, root) {
  if (!Number.isSafeInteger(index) || !Number.isSafeInteger(size) || index < 0 || size < 0) {
    throw new ProofError(`bad tree size ${size} or leaf index ${index}`);
  }
  if (index >= size) throw new ProofError(`leaf ${index} is outside a tree of ${size} records`);
  checkHash('the leaf hash', leaf);
  checkHash('the root', root);
  proof.forEach((value, position) => checkHash(`proof hash ${position}`, value));
  const want = inclusionProofLength(index, size);
  if (proof.length !== want) {
    throw new ProofError(`the inclusion proof has ${proof.length} hashes; leaf ${index} of ${size} needs ${want}`);
  }
  if (!equalBytes(await rootFromInclusion(leaf, index, size, proof), root)) {
    throw new ProofError(`the inclusion proof of record ${index} does not lead to the checkpoint's root`);
  }
}

// Keys and signatures ----------------------------------------------------------------------------------------

/**
 * The 4-byte C2SP signed-note id of an Ed25519 key: SHA-256(name || 0x0A || 0x01 || key)[:4].
 * @param {string} name
 * @param {Uint8Array} publicKey 32 bytes
 * @returns {Promise<Uint8Array>}
 */
export async function keyId(name, publicKey) {
  return (await sha256(concat(name, [0x0a, ALG_ED25519], publicKey))).slice(0, 4);
}

/**
 * @typedef {object} Verifier
 * @property {string} name the key's name
 * @property {Uint8Array} id its 4-byte key id
 * @property {string} idHex the key id as 8 hex digits
 * @property {Uint8Array} publicKey the 32-byte Ed25519 public key
 * @property {CryptoKey} key the key, imported for verifying
 */

/**
 * Read a verifier key `<name>+<8 hex key id>+<base64(0x01 || 32-byte Ed25519 public key)>`.
 * @param {string} text
 * @returns {Promise<Verifier>}
 * @throws {KeyFormatError} when malformed or when the id does not match; the browser's own error when it has
 *   no Ed25519 in WebCrypto
 */
export async function parseVerifierKey(text) {
  // The base64 key may itself hold '+': only the first two separate fields.
  const [name, hexId, ...rest] = String(text).trim().split('+');
  if (hexId === undefined || !rest.length) throw new KeyFormatError('a verifier key is <name>+<key id>+<base64 key>');
  const raw = rest.join('+');
  if (!name || /\s/.test(name)) throw new KeyFormatError(`the key name ${JSON.stringify(name)} is not valid`);
  let bytes;
  try {
    bytes = fromBase64(raw);
  } catch {
    throw new KeyFormatError('the verifier key is not base64');
  }
  if (bytes.length !== 33 || bytes[0] !== ALG_ED25519) throw new KeyFormatError('the verifier key is not Ed25519');
  const publicKey = bytes.slice(1);
  const id = await keyId(name, publicKey);
  if (toHex(id) !== hexId.toLowerCase()) {
    throw new KeyFormatError("the verifier key's id does not match its name and key");
  }
  const key = await crypto.subtle.importKey('raw', publicKey, { name: 'Ed25519' }, false, ['verify']);
  return { name, id, idHex: toHex(id), publicKey, key };
}

/**
 * True when `signature` is the key's Ed25519 signature of `message`.
 * @param {Verifier} verifier
 * @param {Uint8Array} message
 * @param {Uint8Array} signature
 * @returns {Promise<boolean>}
 */
export async function verifySignature(verifier, message, signature) {
  if (signature.length !== 64) return false;
  try {
    return await crypto.subtle.verify({ name: 'Ed25519' }, verifier.key, signature, message);
  } catch {
    return false;
  }
}

/**
 * True when `signatureB64` is the log's signature of the record with this exact text
 * (Ed25519 over "porchlight audit record v1\n" || the record's bytes).
 * @param {Verifier} verifier
 * @param {string} recordText the record's canonical JSON text, exactly as the log holds it
 * @param {string} signatureB64
 * @returns {Promise<boolean>}
 */
export async function verifyRecordSignature(verifier, recordText, signatureB64) {
  let signature;
  try {
    signature = fromBase64(signatureB64);
  } catch {
    return false;
  }
  return verifySignature(verifier, concat(RECORD_CONTEXT, recordText), signature);
}

// Checkpoints ------------------------------------------------------------------------------------------------

/**
 * @typedef {object} Checkpoint
 * @property {string} origin the log's name
 * @property {number} size how many records the tree holds
 * @property {Uint8Array} root the RFC 9162 root hash of those records
 * @property {string} note the signed note
 */

function splitNote(text) {
  if (encoder.encode(text).length > MAX_NOTE_BYTES) throw new CheckpointError('the checkpoint is too large');
  if (/[\u0000-\u0009\u000b-\u001f]/.test(text)) {
    throw new CheckpointError('a note may hold no control characters but newlines');
  }
  const cut = text.lastIndexOf('\n\n');
  if (cut < 0) throw new CheckpointError('no blank line between the checkpoint and its signatures');
  const signed = text.slice(0, cut + 1);
  const lines = signed.split('\n').slice(0, -1);
  if (lines.length < 3) throw new CheckpointError('a checkpoint has an origin, a size and a root hash line');
  const [origin, sizeText, rootText] = lines;
  if (!/^(0|[1-9][0-9]*)$/.test(sizeText) || !Number.isSafeInteger(Number(sizeText))) {
    throw new CheckpointError(`the tree size ${JSON.stringify(sizeText)} is not a decimal number`);
  }
  let root;
  try {
    root = fromBase64(rootText);
  } catch {
    throw new CheckpointError('the root hash is not base64');
  }
  if (root.length !== HASH_SIZE) throw new CheckpointError(`the root hash is ${root.length} bytes, not ${HASH_SIZE}`);
  return { signed, origin, size: Number(sizeText), root };
}

/**
 * Parse a C2SP checkpoint note and check its signature by `verifier` (and its origin, if given). Signature
 * lines by other keys (witnesses) are skipped; one by this key must verify.
 * @param {string} text the note: origin, size and base64 root lines, a blank line, `— <name> <base64>` lines
 * @param {Verifier} verifier
 * @param {string} [origin] the log's expected name
 * @returns {Promise<Checkpoint>}
 * @throws {CheckpointError} saying what is wrong
 */
export async function openCheckpoint(text, verifier, origin) {
  if (typeof text !== 'string') throw new CheckpointError('the checkpoint is missing');
  const { signed, origin: found, size, root } = splitNote(text);
  if (origin !== undefined && found !== origin) {
    throw new CheckpointError(`the checkpoint is for log ${JSON.stringify(found)}, not ${JSON.stringify(origin)}`);
  }
  for (const line of text.slice(signed.length + 1).split('\n')) {
    if (!line) continue;
    if (!line.startsWith(SIG_PREFIX)) throw new CheckpointError('a signature line starts with an em dash and a space');
    const rest = line.slice(SIG_PREFIX.length);
    const space = rest.indexOf(' ');
    const name = space < 0 ? rest : rest.slice(0, space);
    let raw;
    try {
      raw = fromBase64(space < 0 ? '' : rest.slice(space + 1));
    } catch {
      throw new CheckpointError('a signature is not base64');
    }
    if (name !== verifier.name || !equalBytes(raw.slice(0, 4), verifier.id)) continue; // another key's
    if (raw.length !== 4 + 64 || !(await verifySignature(verifier, encoder.encode(signed), raw.slice(4)))) {
      throw new CheckpointError("the checkpoint's signature does not verify");
    }
    return { origin: found, size, root, note: text };
  }
  throw new CheckpointError(`the checkpoint has no signature by ${verifier.name} (${verifier.idHex})`);
}

/**
 * Open the checkpoint of a records answer (`GET /api/audit/records`): its note must verify with the log's key, be
 * for the log's origin, and agree with the size and root given beside it. Never throws: a problem is said.
 * @param {any} answer the records answer
 * @param {{verifier: Verifier, origin: string}} log
 * @returns {Promise<{checkpoint: Checkpoint|null, problem: string|null}>}
 */
export async function openAnswerCheckpoint(answer, log) {
  const given = answer?.checkpoint ?? {};
  try {
    const checkpoint = await openCheckpoint(given.note, log.verifier, log.origin);
    if (checkpoint.size !== given.size || !equalBytes(checkpoint.root, fromBase64(String(given.root)))) {
      throw new CheckpointError('the size or root given differ from the signed note');
    }
    return { checkpoint, problem: null };
  } catch (err) {
    return { checkpoint: null, problem: err instanceof CheckpointError ? err.message : 'the checkpoint is malformed' };
  }
}

// Records ----------------------------------------------------------------------------------------------------

/**
 * A value's canonical record text, as hub/audit/record.py `encode` writes it: sorted keys, no spaces, every
 * character outside printable ASCII escaped as \uXXXX.
 * @param {unknown} value
 * @returns {string}
 */
export function canonicalJson(value) {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const keys = Object.keys(value).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${keys.map((k) => `${canonicalJson(k)}:${canonicalJson(value[k])}`).join(',')}}`;
  }
  if (typeof value === 'string') {
    return JSON.stringify(value).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  }
  return JSON.stringify(value);
}

/**
 * Parse a record's text, checking it is a JSON object in the canonical encoding (so it has one meaning).
 * @param {string} recordText
 * @returns {Record<string, unknown>}
 * @throws {TypeError} when it is not
 */
export function parseRecord(recordText) {
  const fields = JSON.parse(recordText);
  if (fields === null || typeof fields !== 'object' || Array.isArray(fields)) {
    throw new TypeError('the record is not a JSON object');
  }
  if (canonicalJson(fields) !== recordText) throw new TypeError('the record is not in the canonical encoding');
  return fields;
}

/**
 * @typedef {object} RecordCheck
 * @property {boolean} ok true only when every check passed
 * @property {string[]} problems what failed, in words (empty when ok)
 * @property {Record<string, unknown>|null} fields the record's fields, parsed from its signed text (for a
 *   redacted record, the hub's copy, which only its place in the log vouches for)
 * @property {boolean} redacted true when the hub gave only the record's leaf hash: its signed text holds a client
 *   address (records written before addresses left the log), so its text and signature cannot be checked here
 */

/**
 * Check a redacted item (`leaf`, `fields`, `redacted`; no `record`): its leaf is at its position in the tree the
 * checkpoint signs, it says it is that record, and it is about `camera` (if given).
 */
async function checkRedactedItem(checkpoint, item, camera) {
  const problems = [];
  const fields = item.fields !== null && typeof item.fields === 'object' && !Array.isArray(item.fields) ? item.fields : null;
  if (fields === null) problems.push("the record's fields are missing");
  if (fields !== null && fields.seq !== item.seq) {
    problems.push(`the record says it is number ${fields.seq}, the list says ${item.seq}`);
  }
  if (fields !== null && camera !== undefined && fields.camera !== camera) problems.push('the record is about another camera');
  if (checkpoint === null) {
    problems.push('no verified checkpoint to prove it against');
  } else {
    try {
      const proof = (Array.isArray(item.proof) ? item.proof : []).map((h) => fromBase64(h));
      await verifyInclusion(fromBase64(item.leaf), item.seq, checkpoint.size, proof, checkpoint.root);
    } catch (err) {
      problems.push(err instanceof ProofError ? err.message : 'the inclusion proof is malformed');
    }
  }
  return { ok: problems.length === 0, problems, fields, redacted: true };
}

/**
 * Check one item of `GET /api/audit/records`: the record's signature, that its `seq` field is the item's
 * position, that it is about `camera` (if given), and that its inclusion proof leads to the checkpoint's root.
 * The item's own `fields` are ignored: what counts is the signed text. A redacted item (its text withheld
 * because it holds a client address) is checked by its leaf hash: its place in the log, not its text.
 * @param {Verifier} verifier
 * @param {Checkpoint|null} checkpoint a checkpoint already opened with `verifier`; null when it did not verify
 * @param {{seq: number, record: string, signature: string, proof: string[]}} item
 * @param {string} [camera]
 * @returns {Promise<RecordCheck>}
 */
export async function checkRecordItem(verifier, checkpoint, item, camera) {
  if (typeof item?.record !== 'string' && typeof item?.leaf === 'string') return checkRedactedItem(checkpoint, item, camera);
  const problems = [];
  const text = typeof item?.record === 'string' ? item.record : '';
  let fields = null;
  try {
    fields = parseRecord(text);
  } catch (err) {
    problems.push(err instanceof SyntaxError ? 'the record is not JSON' : err.message);
  }
  if (!(await verifyRecordSignature(verifier, text, item?.signature))) {
    problems.push("the record's signature does not verify");
  }
  if (fields !== null && fields.seq !== item.seq) {
    problems.push(`the record says it is number ${fields.seq}, the list says ${item.seq}`);
  }
  if (fields !== null && camera !== undefined && fields.camera !== camera) {
    problems.push('the record is about another camera');
  }
  if (checkpoint === null) {
    problems.push('no verified checkpoint to prove it against');
  } else {
    try {
      const proof = (Array.isArray(item.proof) ? item.proof : []).map((h) => fromBase64(h));
      await verifyInclusion(await leafHash(text), item.seq, checkpoint.size, proof, checkpoint.root);
    } catch (err) {
      problems.push(err instanceof ProofError ? err.message : 'the inclusion proof is malformed');
    }
  }
  return { ok: problems.length === 0, problems, fields, redacted: false };
}

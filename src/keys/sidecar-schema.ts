// The sidecar `keys.json` (SPEC KM-5) and its validation (KM-6), as a typed value.
//
// Every u64 is a bigint in memory and a canonical decimal string in JSON (C-2), so values above
// 2^53 round-trip exactly; u32 key ids and u16 epochs are plain numbers. Validation runs on every
// read and every write, and names the first failing member.

import { KeyError, type KeyCode } from '../errors.js';
import { type KDF_ARGON2_VERSION, type KdfParams, kdfParamsProblem } from './kek-kdf.js';

export type Purpose = 'storage' | 'raft';
export const PURPOSES: readonly Purpose[] = ['storage', 'raft'];
/** Wire values of a purpose (glossary; FW-5). */
export const PURPOSE_WIRE: Readonly<Record<Purpose, 1 | 2>> = { storage: 1, raft: 2 };

export const SIDECAR_VERSION = 1;
export const U64_MAX = (1n << 64n) - 1n;
export const U32_MAX = 0xffffffff;
export const U16_MAX = 0xffff;

export interface SidecarKey {
  readonly purpose: Purpose;
  /** The KEK-wrapped DEK (KM-2 layout); never plaintext key material. */
  readonly wrapped: Uint8Array;
  /** RFC 3339 UTC timestamp, informational. */
  readonly created: string;
  readonly localEpoch: number;
}

export interface Sidecar {
  readonly version: 1;
  readonly raftAppliedIndex: bigint;
  readonly storageEnvelopeActive: boolean;
  readonly storageEnvelopeCutoverIndex: bigint;
  readonly raftEnvelopeCutoverIndex: bigint;
  /** Active key_id per purpose; 0 = none. */
  readonly active: Readonly<Record<Purpose, number>>;
  /** key_id → key; iteration order is not significant (serialisation sorts ascending). */
  readonly keys: ReadonlyMap<number, SidecarKey>;
  readonly kekKdf?: KdfParams;
}

/** A sidecar with no keys (what `kek-params --install` creates, and the state before bootstrap). */
export function emptySidecar(kekKdf?: KdfParams): Sidecar {
  const s: Sidecar = {
    version: 1,
    raftAppliedIndex: 0n,
    storageEnvelopeActive: false,
    storageEnvelopeCutoverIndex: 0n,
    raftEnvelopeCutoverIndex: 0n,
    active: { storage: 0, raft: 0 },
    keys: new Map(),
  };
  return kekKdf === undefined ? s : { ...s, kekKdf };
}

function fail(code: KeyCode, message: string): never {
  throw new KeyError(code, `sidecar: ${message}`);
}

const CANONICAL_DECIMAL = /^(0|[1-9][0-9]*)$/;
/** Canonical standard base64 (padded). */
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const RFC3339_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?Z$/;

/** C-2: a canonical decimal string ≤ 2^64−1; anything else (a JSON number, sign, leading zero) → SIDECAR_MALFORMED. */
export function parseU64(v: unknown, what: string): bigint {
  if (typeof v !== 'string') fail('SIDECAR_MALFORMED', `${what} must be a decimal string, got ${typeof v}`);
  if (v.length > 20 || !CANONICAL_DECIMAL.test(v)) fail('SIDECAR_MALFORMED', `${what} is not a canonical u64 decimal string`);
  const n = BigInt(v);
  if (n > U64_MAX) fail('SIDECAR_MALFORMED', `${what} is above 2^64-1`);
  return n;
}

function intIn(v: unknown, max: number, what: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > max) {
    fail('SIDECAR_MALFORMED', `${what} must be an integer in [0, ${max}]`);
  }
  return v;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function exactMembers(o: Record<string, unknown>, required: readonly string[], optional: readonly string[], what: string): void {
  for (const k of Object.keys(o)) {
    if (!required.includes(k) && !optional.includes(k)) fail('SIDECAR_MALFORMED', `${what} has unknown member "${k}"`);
  }
  for (const k of required) {
    if (!Object.hasOwn(o, k)) fail('SIDECAR_MALFORMED', `${what} is missing member "${k}"`);
  }
}

function parseBase64(v: unknown, what: string): Uint8Array {
  if (typeof v !== 'string' || v === '' || !BASE64.test(v)) fail('SIDECAR_MALFORMED', `${what} must be non-empty standard base64`);
  return new Uint8Array(Buffer.from(v, 'base64'));
}

function parseKeyId(name: string): number {
  if (name.length > 10 || !CANONICAL_DECIMAL.test(name) || Number(name) > U32_MAX) {
    fail('SIDECAR_KEY_ID_FORMAT', `keys member "${name}" is not a canonical decimal u32`);
  }
  const id = Number(name);
  if (id === 0) fail('SIDECAR_RESERVED_KEY_ID', 'keys member "0": key_id 0 is reserved');
  return id;
}

function parseKdf(v: unknown): KdfParams {
  if (!isObject(v)) fail('SIDECAR_MALFORMED', 'kek_kdf must be an object');
  exactMembers(v, ['algorithm', 'version', 'salt', 'iterations', 'memory_kib', 'parallelism'], [], 'kek_kdf');
  const p: KdfParams = {
    algorithm: v.algorithm as 'argon2id',
    version: v.version as typeof KDF_ARGON2_VERSION,
    salt: parseBase64(v.salt, 'kek_kdf.salt'),
    iterations: v.iterations as number,
    memoryKib: v.memory_kib as number,
    parallelism: v.parallelism as number,
  };
  const problem = kdfParamsProblem(p);
  if (problem !== null) fail('SIDECAR_MALFORMED', `kek_kdf: ${problem}`);
  return p;
}

/** Parses and validates the JSON value of a sidecar file (KM-6 order: version first). */
export function sidecarFromJson(doc: unknown): Sidecar {
  if (!isObject(doc)) fail('SIDECAR_MALFORMED', 'not a JSON object');
  if (!Object.hasOwn(doc, 'version')) fail('SIDECAR_VERSION', 'version is missing');
  if (doc.version !== SIDECAR_VERSION) fail('SIDECAR_VERSION', `version ${JSON.stringify(doc.version)} is not supported (expected 1)`);
  exactMembers(
    doc,
    ['version', 'raft_applied_index', 'storage_envelope_active', 'storage_envelope_cutover_index', 'raft_envelope_cutover_index', 'active', 'keys'],
    ['kek_kdf'],
    'the sidecar',
  );
  const raftAppliedIndex = parseU64(doc.raft_applied_index, 'raft_applied_index');
  if (typeof doc.storage_envelope_active !== 'boolean') fail('SIDECAR_MALFORMED', 'storage_envelope_active must be a boolean');
  const storageEnvelopeCutoverIndex = parseU64(doc.storage_envelope_cutover_index, 'storage_envelope_cutover_index');
  const raftEnvelopeCutoverIndex = parseU64(doc.raft_envelope_cutover_index, 'raft_envelope_cutover_index');
  if (!isObject(doc.active)) fail('SIDECAR_MALFORMED', 'active must be an object');
  exactMembers(doc.active, ['storage', 'raft'], [], 'active');
  const active = { storage: intIn(doc.active.storage, U32_MAX, 'active.storage'), raft: intIn(doc.active.raft, U32_MAX, 'active.raft') };
  if (!isObject(doc.keys)) fail('SIDECAR_MALFORMED', 'keys must be an object');
  const keys = new Map<number, SidecarKey>();
  for (const [name, entry] of Object.entries(doc.keys)) {
    const id = parseKeyId(name);
    const what = `keys["${name}"]`;
    if (!isObject(entry)) fail('SIDECAR_MALFORMED', `${what} must be an object`);
    exactMembers(entry, ['purpose', 'wrapped', 'created', 'local_epoch'], [], what);
    if (typeof entry.purpose !== 'string') fail('SIDECAR_MALFORMED', `${what}.purpose must be a string`);
    if (entry.purpose !== 'storage' && entry.purpose !== 'raft') {
      fail('SIDECAR_PURPOSE', `${what}.purpose "${entry.purpose}" is not "storage" or "raft"`);
    }
    const wrapped = parseBase64(entry.wrapped, `${what}.wrapped`);
    if (typeof entry.created !== 'string' || !RFC3339_UTC.test(entry.created) || Number.isNaN(Date.parse(entry.created))) {
      fail('SIDECAR_MALFORMED', `${what}.created must be an RFC 3339 UTC timestamp`);
    }
    keys.set(id, { purpose: entry.purpose, wrapped, created: entry.created, localEpoch: intIn(entry.local_epoch, U16_MAX, `${what}.local_epoch`) });
  }
  const base = {
    version: 1 as const,
    raftAppliedIndex,
    storageEnvelopeActive: doc.storage_envelope_active,
    storageEnvelopeCutoverIndex,
    raftEnvelopeCutoverIndex,
    active,
    keys,
  };
  const s: Sidecar = Object.hasOwn(doc, 'kek_kdf') ? { ...base, kekKdf: parseKdf(doc.kek_kdf) } : base;
  checkActive(s);
  return s;
}

/**
 * Only the `kek_kdf` object of a parsed sidecar document (version checked first): what the
 * passphrase source reads before the group A guards (KM-2). Undefined when there is none.
 */
export function kdfFromSidecarJson(doc: unknown): KdfParams | undefined {
  if (!isObject(doc)) fail('SIDECAR_MALFORMED', 'not a JSON object');
  if (!Object.hasOwn(doc, 'version')) fail('SIDECAR_VERSION', 'version is missing');
  if (doc.version !== SIDECAR_VERSION) fail('SIDECAR_VERSION', `version ${JSON.stringify(doc.version)} is not supported (expected 1)`);
  return Object.hasOwn(doc, 'kek_kdf') ? parseKdf(doc.kek_kdf) : undefined;
}

/** Parses the text of `keys.json`. */
export function parseSidecar(text: string): Sidecar {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new KeyError('SIDECAR_MALFORMED', `sidecar: not valid JSON (${(e as Error).message})`, { cause: e });
  }
  return sidecarFromJson(doc);
}

function checkActive(s: Sidecar): void {
  for (const p of PURPOSES) {
    const id = s.active[p];
    if (id === 0) continue;
    const k = s.keys.get(id);
    if (k === undefined) fail('SIDECAR_ACTIVE_KEY_MISSING', `active.${p} = ${id} has no entry in keys`);
    if (k.purpose !== p) fail('SIDECAR_ACTIVE_PURPOSE_MISMATCH', `active.${p} = ${id} names a ${k.purpose} key`);
  }
}

function checkU64(v: bigint, what: string): void {
  if (typeof v !== 'bigint' || v < 0n || v > U64_MAX) fail('SIDECAR_MALFORMED', `${what} is not a u64`);
}

/**
 * Validates an in-memory sidecar before it is written (KM-6 "on every write"): the same rules as
 * the reader, so whatever we write we can read back.
 */
export function validateSidecar(s: Sidecar): void {
  if (s.version !== SIDECAR_VERSION) fail('SIDECAR_VERSION', `version ${String(s.version)} is not supported (expected 1)`);
  checkU64(s.raftAppliedIndex, 'raft_applied_index');
  checkU64(s.storageEnvelopeCutoverIndex, 'storage_envelope_cutover_index');
  checkU64(s.raftEnvelopeCutoverIndex, 'raft_envelope_cutover_index');
  if (typeof s.storageEnvelopeActive !== 'boolean') fail('SIDECAR_MALFORMED', 'storage_envelope_active must be a boolean');
  intIn(s.active.storage, U32_MAX, 'active.storage');
  intIn(s.active.raft, U32_MAX, 'active.raft');
  for (const [id, k] of s.keys) {
    if (!Number.isInteger(id) || id < 0 || id > U32_MAX) fail('SIDECAR_KEY_ID_FORMAT', `key_id ${id} is not a u32`);
    if (id === 0) fail('SIDECAR_RESERVED_KEY_ID', 'key_id 0 is reserved');
    if (k.purpose !== 'storage' && k.purpose !== 'raft') fail('SIDECAR_PURPOSE', `keys["${id}"].purpose "${String(k.purpose)}"`);
    if (!(k.wrapped instanceof Uint8Array) || k.wrapped.length === 0) fail('SIDECAR_MALFORMED', `keys["${id}"].wrapped is empty`);
    if (!RFC3339_UTC.test(k.created) || Number.isNaN(Date.parse(k.created))) {
      fail('SIDECAR_MALFORMED', `keys["${id}"].created must be an RFC 3339 UTC timestamp`);
    }
    intIn(k.localEpoch, U16_MAX, `keys["${id}"].local_epoch`);
  }
  if (s.kekKdf !== undefined) {
    const problem = kdfParamsProblem(s.kekKdf);
    if (problem !== null) fail('SIDECAR_MALFORMED', `kek_kdf: ${problem}`);
  }
  checkActive(s);
}

const b64 = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64');

/** The JSON text of a validated sidecar: u64 as decimal strings, keys in ascending key_id order. */
export function serializeSidecar(s: Sidecar): string {
  validateSidecar(s);
  const keys: Record<string, unknown> = {};
  for (const id of [...s.keys.keys()].sort((a, b) => a - b)) {
    const k = s.keys.get(id)!;
    keys[String(id)] = { purpose: k.purpose, wrapped: b64(k.wrapped), created: k.created, local_epoch: k.localEpoch };
  }
  const doc: Record<string, unknown> = {
    version: SIDECAR_VERSION,
    raft_applied_index: s.raftAppliedIndex.toString(),
    storage_envelope_active: s.storageEnvelopeActive,
    storage_envelope_cutover_index: s.storageEnvelopeCutoverIndex.toString(),
    raft_envelope_cutover_index: s.raftEnvelopeCutoverIndex.toString(),
    active: { storage: s.active.storage, raft: s.active.raft },
    keys,
  };
  if (s.kekKdf !== undefined) {
    const p = s.kekKdf;
    doc.kek_kdf = { algorithm: p.algorithm, version: p.version, salt: b64(p.salt), iterations: p.iterations, memory_kib: p.memoryKib, parallelism: p.parallelism };
  }
  return `${JSON.stringify(doc, null, 2)}\n`;
}

/** KM-11: the applied index moves only forward, and only for a supplied (non-zero) index. */
export function advanceAppliedIndex(s: Sidecar, index: bigint): Sidecar {
  return index !== 0n && index > s.raftAppliedIndex ? { ...s, raftAppliedIndex: index } : s;
}

/** A copy of `s` with `keys` replaced by a copy that `mutate` may change. */
export function withKeys(s: Sidecar, mutate: (keys: Map<number, SidecarKey>) => void): Sidecar {
  const keys = new Map(s.keys);
  mutate(keys);
  return { ...s, keys };
}

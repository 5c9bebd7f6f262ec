// The sidecar state report (SPEC OP-2 `GET /v1/encryption/sidecar`, `POST …/resync-sidecar`): what
// a node tells an operator or a recovering peer about its sidecar. No `local_epoch` (epochs are
// per node, KM-13), u64 as decimal strings (C-2). Building and parsing are pure.

import { KeyError } from '../errors.js';
import { type Purpose, type Sidecar, U16_MAX, U32_MAX, U64_MAX } from './sidecar-schema.js';

export interface ReportKey {
  readonly purpose: Purpose;
  readonly wrapped: Uint8Array;
  readonly created: string;
}

export interface SidecarReport {
  readonly keys: ReadonlyMap<number, ReportKey>;
  readonly active: Readonly<Record<Purpose, number>>;
  readonly storageEnvelopeActive: boolean;
  readonly storageEnvelopeCutoverIndex: bigint;
  readonly raftEnvelopeCutoverIndex: bigint;
  /** The reporting node's state-machine applied index. */
  readonly latestAppliedIndex: bigint;
  /** key_id → last_seen_local_epoch of the asking node's rows; present only when asked for a node. */
  readonly writerRegistryForCaller?: ReadonlyMap<number, number>;
}

const b64 = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64');

/** The report of `sidecar` (JSON-ready object, OP-2 shape). */
export function buildSidecarReport(sidecar: Sidecar, latestAppliedIndex: bigint, writerRegistryForCaller?: ReadonlyMap<number, number>): Record<string, unknown> {
  const keys: Record<string, unknown> = {};
  for (const id of [...sidecar.keys.keys()].sort((a, b) => a - b)) {
    const k = sidecar.keys.get(id)!;
    keys[String(id)] = { purpose: k.purpose, wrapped: b64(k.wrapped), created: k.created };
  }
  const out: Record<string, unknown> = {
    keys,
    active: { storage: sidecar.active.storage, raft: sidecar.active.raft },
    storage_envelope_active: sidecar.storageEnvelopeActive,
    storage_envelope_cutover_index: sidecar.storageEnvelopeCutoverIndex.toString(),
    raft_envelope_cutover_index: sidecar.raftEnvelopeCutoverIndex.toString(),
    latest_applied_index: latestAppliedIndex.toString(),
  };
  if (writerRegistryForCaller !== undefined) {
    const w: Record<string, number> = {};
    for (const id of [...writerRegistryForCaller.keys()].sort((a, b) => a - b)) w[String(id)] = writerRegistryForCaller.get(id)!;
    out.writer_registry_for_caller = w;
  }
  return out;
}

function bad(message: string): never {
  throw new KeyError('INVALID_ARGUMENT', `sidecar report: ${message}`);
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const DECIMAL = /^(0|[1-9][0-9]*)$/;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function u64(v: unknown, what: string): bigint {
  if (typeof v !== 'string' || v.length > 20 || !DECIMAL.test(v) || BigInt(v) > U64_MAX) bad(`${what} must be a canonical u64 decimal string`);
  return BigInt(v);
}

function uint(v: unknown, max: number, what: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > max) bad(`${what} must be an integer in [0, ${max}]`);
  return v;
}

function keyId(name: string, what: string): number {
  if (name.length > 10 || !DECIMAL.test(name) || Number(name) > U32_MAX || name === '0') bad(`${what} "${name}" is not a non-zero u32`);
  return Number(name);
}

/** Parses a report (from the leader's admin API or a saved file); anything malformed is INVALID_ARGUMENT. */
export function parseSidecarReport(doc: unknown): SidecarReport {
  if (!isObject(doc)) bad('not a JSON object');
  const allowed = ['keys', 'active', 'storage_envelope_active', 'storage_envelope_cutover_index', 'raft_envelope_cutover_index', 'latest_applied_index', 'writer_registry_for_caller'];
  for (const k of Object.keys(doc)) if (!allowed.includes(k)) bad(`unknown member "${k}"`);
  if (!isObject(doc.keys)) bad('keys must be an object');
  const keys = new Map<number, ReportKey>();
  for (const [name, k] of Object.entries(doc.keys)) {
    const id = keyId(name, 'keys member');
    if (!isObject(k) || (k.purpose !== 'storage' && k.purpose !== 'raft')) bad(`keys["${name}"] needs purpose "storage" or "raft"`);
    if (typeof k.wrapped !== 'string' || k.wrapped === '' || !BASE64.test(k.wrapped)) bad(`keys["${name}"].wrapped must be non-empty base64`);
    if (typeof k.created !== 'string') bad(`keys["${name}"].created must be a string`);
    keys.set(id, { purpose: k.purpose, wrapped: new Uint8Array(Buffer.from(k.wrapped, 'base64')), created: k.created });
  }
  if (!isObject(doc.active)) bad('active must be an object');
  const active = { storage: uint(doc.active.storage, U32_MAX, 'active.storage'), raft: uint(doc.active.raft, U32_MAX, 'active.raft') };
  if (typeof doc.storage_envelope_active !== 'boolean') bad('storage_envelope_active must be a boolean');
  const report = {
    keys,
    active,
    storageEnvelopeActive: doc.storage_envelope_active,
    storageEnvelopeCutoverIndex: u64(doc.storage_envelope_cutover_index, 'storage_envelope_cutover_index'),
    raftEnvelopeCutoverIndex: u64(doc.raft_envelope_cutover_index, 'raft_envelope_cutover_index'),
    latestAppliedIndex: u64(doc.latest_applied_index, 'latest_applied_index'),
  };
  if (doc.writer_registry_for_caller === undefined) return report;
  if (!isObject(doc.writer_registry_for_caller)) bad('writer_registry_for_caller must be an object');
  const w = new Map<number, number>();
  for (const [name, e] of Object.entries(doc.writer_registry_for_caller)) {
    // OP-2: every epoch from the wire is range-checked before it is narrowed.
    if (typeof e !== 'number' || !Number.isInteger(e) || e < 0 || e > U16_MAX) {
      throw new KeyError('LOCAL_EPOCH_OUT_OF_RANGE', `sidecar report: writer_registry_for_caller["${name}"] = ${String(e)} is not an epoch`);
    }
    w.set(keyId(name, 'writer_registry_for_caller member'), e);
  }
  return { ...report, writerRegistryForCaller: w };
}

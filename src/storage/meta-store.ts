// Typed access to the `meta` table (DESIGN.md §3). Keys are ASCII names; values are binary,
// big-endian (C-1). Conf state is msgpackr-encoded: it is a small structured value (two lists
// of node ids) read only at start-up and on membership changes, and msgpackr is already the
// project's structured codec (transport frames), so a hand-rolled format would buy nothing.
//
// Layouts (all integers big-endian):
//   hard_state           term u64 ‖ commit u64 ‖ has_vote u8 (0|1) ‖ vote utf8 (rest; empty when has_vote = 0)
//   conf_state           msgpack { voters: string[], learners: string[] }
//   snapshot             index u64 ‖ term u64 ‖ cutover_recorded u8 (0|1) ‖ raft_envelope_cutover_index u64
//                        ‖ sidecar_applied_index u64 ‖ msgpack conf state (rest)
//   applied_index        u64            — state machine's durable applied index (PE-8)
//   raft_cutover_index   u64            — state machine's copy of the raft cutover (SH-1)
//   sidecar_applied_index u64           — state machine's copy of the sidecar's raft_applied_index (SH-1)
//   log_trunc            index u64 ‖ term u64 — last compacted entry; the log starts at index+1
//
// Getters read committed state (or through `txn`, a pinned read transaction); inside a
// write-transaction callback they see that transaction. `stage*` functions must run inside a
// write-transaction callback (CommitQueue.submitTxn); `op*` functions return a WriteOp for
// CommitQueue.submitOps.

import type { Transaction } from 'lmdb';
import { Packr } from 'msgpackr';
import type { ConfState, HardState } from '../raft/types.js';
import { readSafeU64, u64be, view } from './bytes.js';
import type { WriteOp } from './commit-queue.js';
import type { BinaryDb } from './env.js';
import { StorageError } from './errors.js';

const enc = new TextEncoder();
const dec = new TextDecoder('utf-8', { fatal: true });
// Plain maps/arrays, no record extension: the bytes stay decodable by any msgpack reader.
const packr = new Packr({ useRecords: false, moreTypes: false });

export const META_KEYS = {
  hardState: enc.encode('hard_state'),
  confState: enc.encode('conf_state'),
  snapshot: enc.encode('snapshot'),
  appliedIndex: enc.encode('applied_index'),
  raftCutoverIndex: enc.encode('raft_cutover_index'),
  sidecarAppliedIndex: enc.encode('sidecar_applied_index'),
  /** The replicated encryption state (snapshot-header.ts encoding), copied like the two above (SH-1). */
  encryptionState: enc.encode('encryption_state'),
  logTrunc: enc.encode('log_trunc'),
} as const;

/** Snapshot metadata as recorded in `meta` (SH-1 fields included). */
export interface StoredSnapshotMeta {
  index: number;
  term: number;
  conf: ConfState;
  /** null when the record carries no cutover (SH-5 treats that as "not recorded"). */
  raftEnvelopeCutoverIndex: bigint | null;
  sidecarAppliedIndex: bigint;
}

export interface LogTrunc {
  index: number;
  term: number;
}

export const EMPTY_HARD_STATE: HardState = Object.freeze({ term: 0, vote: null, commit: 0 });
export const EMPTY_CONF_STATE: ConfState = Object.freeze({ voters: [], learners: [] });
export const EMPTY_SNAPSHOT_META: StoredSnapshotMeta = Object.freeze({
  index: 0,
  term: 0,
  conf: EMPTY_CONF_STATE,
  raftEnvelopeCutoverIndex: null,
  sidecarAppliedIndex: 0n,
});

function malformed(name: string, cause?: unknown): StorageError {
  return new StorageError('META_MALFORMED', `meta value '${name}' does not decode`, cause === undefined ? {} : { cause });
}

// ---- codecs ---------------------------------------------------------------------------------

export function encodeHardState(hs: HardState): Uint8Array {
  const vote = hs.vote === null ? new Uint8Array(0) : enc.encode(hs.vote);
  const out = new Uint8Array(17 + vote.length);
  const dv = view(out);
  dv.setBigUint64(0, BigInt(hs.term));
  dv.setBigUint64(8, BigInt(hs.commit));
  out[16] = hs.vote === null ? 0 : 1;
  out.set(vote, 17);
  return out;
}

export function decodeHardState(b: Uint8Array): HardState {
  try {
    if (b.length < 17 || b[16] > 1 || (b[16] === 0 && b.length !== 17)) throw new Error('bad shape');
    const dv = view(b);
    return { term: readSafeU64(dv, 0), commit: readSafeU64(dv, 8), vote: b[16] === 0 ? null : dec.decode(b.subarray(17)) };
  } catch (e) {
    throw malformed('hard_state', e);
  }
}

export function encodeConfState(cs: ConfState): Uint8Array {
  return packr.pack({ voters: [...cs.voters], learners: [...cs.learners] });
}

function isStringArray(v: unknown): v is string[] {
  return Array.isArray(v) && v.every((x) => typeof x === 'string');
}

export function decodeConfState(b: Uint8Array, name = 'conf_state'): ConfState {
  let v: unknown;
  try {
    v = packr.unpack(b);
  } catch (e) {
    throw malformed(name, e);
  }
  if (typeof v !== 'object' || v === null) throw malformed(name);
  const o = v as { voters?: unknown; learners?: unknown };
  if (!isStringArray(o.voters) || !isStringArray(o.learners)) throw malformed(name);
  return { voters: o.voters, learners: o.learners };
}

export function encodeSnapshotMeta(m: StoredSnapshotMeta): Uint8Array {
  const conf = encodeConfState(m.conf);
  const out = new Uint8Array(33 + conf.length);
  const dv = view(out);
  dv.setBigUint64(0, BigInt(m.index));
  dv.setBigUint64(8, BigInt(m.term));
  out[16] = m.raftEnvelopeCutoverIndex === null ? 0 : 1;
  dv.setBigUint64(17, m.raftEnvelopeCutoverIndex ?? 0n);
  dv.setBigUint64(25, m.sidecarAppliedIndex);
  out.set(conf, 33);
  return out;
}

export function decodeSnapshotMeta(b: Uint8Array): StoredSnapshotMeta {
  if (b.length < 34 || b[16] > 1) throw malformed('snapshot');
  const dv = view(b);
  try {
    return {
      index: readSafeU64(dv, 0),
      term: readSafeU64(dv, 8),
      raftEnvelopeCutoverIndex: b[16] === 1 ? dv.getBigUint64(17) : null,
      sidecarAppliedIndex: dv.getBigUint64(25),
      conf: decodeConfState(b.subarray(33), 'snapshot'),
    };
  } catch (e) {
    if (e instanceof StorageError) throw e;
    throw malformed('snapshot', e);
  }
}

export function encodeLogTrunc(t: LogTrunc): Uint8Array {
  const out = new Uint8Array(16);
  const dv = view(out);
  dv.setBigUint64(0, BigInt(t.index));
  dv.setBigUint64(8, BigInt(t.term));
  return out;
}

export function decodeLogTrunc(b: Uint8Array): LogTrunc {
  if (b.length !== 16) throw malformed('log_trunc');
  const dv = view(b);
  try {
    return { index: readSafeU64(dv, 0), term: readSafeU64(dv, 8) };
  } catch (e) {
    throw malformed('log_trunc', e);
  }
}

export function decodeU64(b: Uint8Array, name: string): bigint {
  if (b.length !== 8) throw malformed(name);
  return view(b).getBigUint64(0);
}

// ---- typed get / stage helpers ----------------------------------------------------------------

/** Typed view of the `meta` table. */
export class MetaStore {
  constructor(private readonly db: BinaryDb) {}

  private raw(key: Uint8Array, txn?: Transaction): Buffer | undefined {
    return (txn === undefined ? this.db.get(key) : this.db.get(key, { transaction: txn })) as Buffer | undefined;
  }

  hardState(txn?: Transaction): HardState {
    const b = this.raw(META_KEYS.hardState, txn);
    return b === undefined ? { ...EMPTY_HARD_STATE } : decodeHardState(b);
  }

  confState(txn?: Transaction): ConfState {
    const b = this.raw(META_KEYS.confState, txn);
    return b === undefined ? { voters: [], learners: [] } : decodeConfState(b);
  }

  snapshotMeta(txn?: Transaction): StoredSnapshotMeta {
    const b = this.raw(META_KEYS.snapshot, txn);
    return b === undefined ? { ...EMPTY_SNAPSHOT_META } : decodeSnapshotMeta(b);
  }

  /** State machine's durable applied index (C-2: bigint). 0 when nothing was applied. */
  appliedIndex(txn?: Transaction): bigint {
    const b = this.raw(META_KEYS.appliedIndex, txn);
    return b === undefined ? 0n : decodeU64(b, 'applied_index');
  }

  /** The state machine's copy of the raft envelope cutover index (SH-1); 0 = not switched on. */
  raftCutoverIndex(txn?: Transaction): bigint {
    const b = this.raw(META_KEYS.raftCutoverIndex, txn);
    return b === undefined ? 0n : decodeU64(b, 'raft_cutover_index');
  }

  /** The state machine's copy of the sidecar's raft_applied_index (SH-1). */
  sidecarAppliedIndex(txn?: Transaction): bigint {
    const b = this.raw(META_KEYS.sidecarAppliedIndex, txn);
    return b === undefined ? 0n : decodeU64(b, 'sidecar_applied_index');
  }

  /**
   * The state machine's copy of the replicated encryption state as of the applied index, encoded
   * as the snapshot header's v2 section (empty: not bootstrapped). Raw bytes here; the snapshot
   * code decodes them.
   */
  encryptionStateBytes(txn?: Transaction): Uint8Array {
    const b = this.raw(META_KEYS.encryptionState, txn);
    return b === undefined ? new Uint8Array(0) : new Uint8Array(b);
  }

  logTrunc(txn?: Transaction): LogTrunc {
    const b = this.raw(META_KEYS.logTrunc, txn);
    return b === undefined ? { index: 0, term: 0 } : decodeLogTrunc(b);
  }

  opHardState(hs: HardState): WriteOp {
    return { db: this.db, key: META_KEYS.hardState, value: encodeHardState(hs) };
  }
  opConfState(cs: ConfState): WriteOp {
    return { db: this.db, key: META_KEYS.confState, value: encodeConfState(cs) };
  }
  opSnapshotMeta(m: StoredSnapshotMeta): WriteOp {
    return { db: this.db, key: META_KEYS.snapshot, value: encodeSnapshotMeta(m) };
  }
  opAppliedIndex(i: bigint): WriteOp {
    return { db: this.db, key: META_KEYS.appliedIndex, value: u64be(i) };
  }
  opRaftCutoverIndex(i: bigint): WriteOp {
    return { db: this.db, key: META_KEYS.raftCutoverIndex, value: u64be(i) };
  }
  opSidecarAppliedIndex(i: bigint): WriteOp {
    return { db: this.db, key: META_KEYS.sidecarAppliedIndex, value: u64be(i) };
  }
  opEncryptionState(b: Uint8Array): WriteOp {
    return { db: this.db, key: META_KEYS.encryptionState, value: b };
  }
  opLogTrunc(t: LogTrunc): WriteOp {
    return { db: this.db, key: META_KEYS.logTrunc, value: encodeLogTrunc(t) };
  }

  // Inside a write-transaction callback only.
  stageHardState(hs: HardState): void {
    this.db.putSync(META_KEYS.hardState, encodeHardState(hs));
  }
  stageConfState(cs: ConfState): void {
    this.db.putSync(META_KEYS.confState, encodeConfState(cs));
  }
  stageSnapshotMeta(m: StoredSnapshotMeta): void {
    this.db.putSync(META_KEYS.snapshot, encodeSnapshotMeta(m));
  }
  stageAppliedIndex(i: bigint): void {
    this.db.putSync(META_KEYS.appliedIndex, u64be(i));
  }
  stageRaftCutoverIndex(i: bigint): void {
    this.db.putSync(META_KEYS.raftCutoverIndex, u64be(i));
  }
  stageSidecarAppliedIndex(i: bigint): void {
    this.db.putSync(META_KEYS.sidecarAppliedIndex, u64be(i));
  }
  stageEncryptionState(b: Uint8Array): void {
    this.db.putSync(META_KEYS.encryptionState, b);
  }
  stageLogTrunc(t: LogTrunc): void {
    this.db.putSync(META_KEYS.logTrunc, encodeLogTrunc(t));
  }
}

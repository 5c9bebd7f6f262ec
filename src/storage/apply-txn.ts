// The apply pipeline's write primitive: the state-machine mutations of a batch of entries
// (kv and registry puts/deletes, meta copies) AND the new applied index, in ONE LMDB
// transaction that resolves when durable (PE-8, SH-1, DESIGN.md §2 step 4).
//
// Choice of lmdb-js mechanism (measured, src/bench/storage.ts): mutations are validated and
// buffered as WriteOps (no LMDB call, no promise per put) and committed with one lmdb-js
// `batch()` of write instructions through the shared CommitQueue. lmdb-js's write thread
// executes the puts, so the main thread pays only the encoding: ≈2–2.5 µs of event-loop time
// per 256 B put at scattered keys, against ≈6.5–9 µs for putSync inside a transaction callback,
// at similar or better wall time per commit (fsync and page writes dominate). One promise per
// batch; a log append and an apply batch may share one fsync. Everything that can throw (key
// checks, encoding) happens before the batch is queued, so a batch is never half-written.
//
// Read-your-writes: batches may be pipelined (batch n+1 is built while batch n commits), so
// `getKv`/`getRegistry` look through the batch being built, then every submitted batch not
// yet committed (newest first), then LMDB. Main-thread readers that must see applied state
// (GET after a ReadIndex) read through ApplyStore for the same reason. A batch's key index is
// built only when somebody reads through it, so write-only batches pay nothing for it.

import type { ConfState } from '../raft/types.js';
import type { WriteOp } from './commit-queue.js';
import type { StorageEnv } from './env.js';
import { StorageError } from './errors.js';
import { KvStore, isStorableKey } from './kv-store.js';
import { MetaStore } from './meta-store.js';
import {
  type RegistryRow,
  RegistryStore,
  decodeRegistryKey,
  decodeRegistryValue,
  encodeRegistryValue,
  registryKey,
} from './registry-store.js';
import { latin1 } from '../util/latin1.js';

/** A buffered write of the node's apply overlay (structurally node/write-overlay's BufferedWrite). */

/**
 * SH-1: what an applied encryption entry leaves in `meta`, committed in the same transaction as
 * its applied index: the raft cutover, the sidecar's raft_applied_index, and the replicated
 * encryption state (snapshot-header.ts v2 section encoding).
 */
export interface EncryptionCopies {
  raftCutoverIndex: bigint;
  sidecarAppliedIndex: bigint;
  state: Uint8Array;
}

export type StoreTable = 'kv' | 'registry' | 'kvmod';
export interface StoreWrite {
  table: StoreTable;
  key: Uint8Array;
  /** null deletes. */
  value: Uint8Array | null;
}

const KV = 0;
const REG = 1;
const MOD = 2;
type Table = typeof KV | typeof REG | typeof MOD;

/** Unsigned lexicographic byte order: LMDB's order of binary keys. */
function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const d = a[i]! - b[i]!;
    if (d !== 0) return d;
  }
  return a.length - b.length;
}

function mapKey(table: Table, key: Uint8Array): string {
  return String.fromCharCode(table) + latin1(key);
}

/**
 * Issue 13, lever 2: how often the state machine's LMDB transactions are committed when commits
 * do not wait for their fsync. Submitted batches are visible at once (overlay reads); their LMDB
 * commit is coalesced like etcd's backend batching: at most one commit per `intervalMs`, or at
 * once when `maxBatches` batches wait. Every LMDB commit costs page writes and one fsync (two
 * disk flushes on this VM), so fewer, larger commits cut the write path's CPU.
 */
export interface CommitCoalescing {
  /** Monotonic ms and a one-shot timer (the node's injectable Scheduler). */
  monotonic(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  intervalMs: number;
  maxBatches: number;
}

interface PendingCommit {
  ops: WriteOp[];
  resolve: () => void;
  reject: (e: unknown) => void;
}

export class ApplyStore {
  readonly kv: KvStore;
  readonly registry: RegistryStore;
  readonly meta: MetaStore;
  /** Submitted batches not yet durable, oldest first (their writes are not all in LMDB yet). */
  private inflight: ApplyBatch[] = [];
  private submittedApplied: bigint;
  private durableApplied: bigint;
  /** Applied index whose commit LMDB has flushed (fsynced): what survives a power cut. */
  private syncedApplied: bigint;
  private failed: unknown = null;
  /** Called when the synced applied index moves (metrics, crash-point tests). */
  onSynced: ((applied: bigint) => void) | null = null;
  /** Coalescing: batches submitted but not yet handed to the commit queue, oldest first. */
  private pending: PendingCommit[] = [];
  private flushArmed = false;
  /** Bumped by every flush, so a timer armed before an early flush does nothing. */
  private flushGen = 0;
  private lastFlushAt = Number.NEGATIVE_INFINITY;

  /**
   * `durableCommits: false` (the node's choice) resolves apply batches at commit instead of after
   * the fsync: the entries are durable in the Raft log, so after an OS crash apply resumes from
   * the last flushed applied index and replays the rest. Tests keep the default (true).
   */
  constructor(
    private readonly env: StorageEnv,
    private readonly durableCommits = true,
    private readonly coalescing: CommitCoalescing | null = null,
  ) {
    this.kv = new KvStore(env.kv);
    this.registry = new RegistryStore(env.registry);
    this.meta = new MetaStore(env.meta);
    this.durableApplied = this.meta.appliedIndex();
    this.submittedApplied = this.durableApplied;
    this.syncedApplied = this.durableApplied;
  }

  /** Applied index of the last batch submitted (what the state machine has applied). */
  appliedIndex(): bigint {
    return this.submittedApplied;
  }

  /**
   * Applied index of the last committed batch (visible to readers; with `durableCommits: false`
   * not necessarily fsynced yet — see `syncedAppliedIndex`).
   */
  durableAppliedIndex(): bigint {
    return this.durableApplied;
  }

  /**
   * Applied index that is fsynced: a crash of the machine leaves at least this state. The Raft
   * log must keep every entry after it (it is replayed from there), so the node never compacts
   * the log past it (issue 13).
   */
  syncedAppliedIndex(): bigint {
    return this.syncedApplied;
  }

  /**
   * Makes everything applied so far durable: waits for every submitted batch to commit, then for
   * LMDB's flush. For entries whose effect must be on disk before anything after them is
   * acknowledged (SPEC KM-7, sidecar-writing encryption entries). Resolves with the synced index.
   */
  async forceSync(): Promise<bigint> {
    const target = this.submittedApplied;
    this.flushPending();
    await this.env.writes.idle();
    if (this.failed !== null) throw new StorageError('STORAGE_IO', 'apply storage is halted after a failed commit', { cause: this.failed });
    await this.env.root.flushed;
    this.markSynced(target);
    return this.syncedApplied;
  }

  private markSynced(applied: bigint): void {
    if (applied <= this.syncedApplied) return;
    this.syncedApplied = applied;
    this.onSynced?.(applied);
  }

  /**
   * Re-reads the applied index from `meta`, e.g. after a snapshot install replaced the state.
   * Only call while no batch is committing.
   */
  reload(): void {
    if (this.inflight.length > 0) throw new StorageError('APPLY_ORDER', 'ApplyStore.reload while batches are committing');
    this.durableApplied = this.meta.appliedIndex();
    this.submittedApplied = this.durableApplied;
    this.syncedApplied = this.durableApplied;
  }

  begin(): ApplyBatch {
    if (this.failed !== null) throw new StorageError('STORAGE_IO', 'apply storage is halted after a failed commit', { cause: this.failed });
    return new ApplyBatch(this, this.env);
  }

  /** Raw kv bytes as applied so far (including batches still committing). */
  getKv(key: Uint8Array): Uint8Array | undefined {
    const o = this.lookupInflight(mapKey(KV, key));
    if (o !== undefined) return o ?? undefined;
    return this.kv.get(key);
  }

  getRegistry(dekId: number, nodeId16: number): RegistryRow | undefined {
    const o = this.lookupInflight(mapKey(REG, registryKey(dekId, nodeId16)));
    if (o !== undefined) return o === null ? undefined : decodeRegistryValue(o);
    return this.registry.get(dekId, nodeId16);
  }

  /** Newest in-flight write of `k`: bytes, null (deleted) or undefined (not written in flight). */
  private lookupInflight(k: string): Uint8Array | null | undefined {
    for (let i = this.inflight.length - 1; i >= 0; i--) {
      const o = this.inflight[i].written(k);
      if (o !== undefined) return o;
    }
    return undefined;
  }

  /**
   * The `kv` table as applied so far, in LMDB's key order, strictly after `after` when given:
   * LMDB's committed rows merged with the writes of batches still committing (newest wins, a
   * delete hides the row). Point reads and ranges thus see the same state, whether or not the
   * coalesced commit has reached LMDB yet.
   */
  *rangeKv(after?: Uint8Array): Generator<{ key: Uint8Array; value: Uint8Array }> {
    const over = new Map<string, { key: Uint8Array; value: Uint8Array | null }>();
    for (const b of this.inflight) {
      for (const op of b.ops) {
        if (op.db !== this.env.kv) continue;
        if (after !== undefined && compareBytes(op.key, after) <= 0) continue;
        over.set(latin1(op.key), { key: op.key, value: op.value });
      }
    }
    const lmdb = this.env.kv.getRange(after === undefined ? {} : { start: after, exclusiveStart: true });
    if (over.size === 0) {
      for (const { key, value } of lmdb) yield { key: key as Uint8Array, value: value as Uint8Array };
      return;
    }
    const writes = [...over.values()].sort((a, b) => compareBytes(a.key, b.key));
    let w = 0;
    for (const { key, value } of lmdb) {
      const k = key as Uint8Array;
      while (w < writes.length && compareBytes(writes[w]!.key, k) < 0) {
        const x = writes[w++]!;
        if (x.value !== null) yield { key: x.key, value: x.value };
      }
      if (w < writes.length && compareBytes(writes[w]!.key, k) === 0) {
        const x = writes[w++]!;
        if (x.value !== null) yield { key: x.key, value: x.value };
        continue;
      }
      yield { key: k, value: value as Uint8Array };
    }
    for (; w < writes.length; w++) {
      const x = writes[w]!;
      if (x.value !== null) yield { key: x.key, value: x.value };
    }
  }

  /** Overlay-aware read of either table (the node's CommittedReader shape). */
  get(table: StoreTable, key: Uint8Array): Uint8Array | undefined {
    if (table === 'kv') return this.getKv(key);
    if (table === 'kvmod') {
      const o = this.lookupInflight(mapKey(MOD, key));
      if (o !== undefined) return o ?? undefined;
      return this.env.kvmod.get(key) as Uint8Array | undefined;
    }
    decodeRegistryKey(key); // a wrong-size key is REGISTRY_KEY_MALFORMED, never "missing"
    const o = this.lookupInflight(mapKey(REG, key));
    if (o !== undefined) return o ?? undefined;
    return this.registry.getRaw(key);
  }

  /**
   * The apply pipeline's primitive in one call: `writes` (already merged, last write per key)
   * plus `appliedIndex` in ONE transaction, resolving when durable. Every write is validated
   * before anything is queued (KV_KEY_INVALID, REGISTRY_KEY_MALFORMED, REGISTRY_VALUE_MALFORMED),
   * so an invalid batch writes nothing. The buffers are not copied: they belong to the store
   * until the promise settles (lmdb-js reads them on its write thread).
   */
  commitBatch(writes: readonly StoreWrite[], appliedIndex: bigint, confState?: ConfState, encryption?: EncryptionCopies): Promise<void> {
    let batch: ApplyBatch;
    try {
      batch = this.begin();
      for (const w of writes) batch.addUnchecked(w);
      // A conf change applied in this batch: the membership is stored with its applied index.
      if (confState) batch.setConfState(confState);
      // SH-1: the copies of an encryption entry's effect, in the transaction of its applied index.
      if (encryption) batch.setEncryptionCopies(encryption);
    } catch (e) {
      return Promise.reject(e);
    }
    return batch.commit(appliedIndex);
  }

  /** Queues a batch's ops for the next coalesced commit (see CommitCoalescing). */
  private coalesce(ops: WriteOp[]): Promise<void> {
    const c = this.coalescing as CommitCoalescing;
    return new Promise<void>((resolve, reject) => {
      this.pending.push({ ops, resolve, reject });
      if (this.pending.length >= c.maxBatches) {
        this.flushPending();
        return;
      }
      if (this.flushArmed) return;
      this.flushArmed = true;
      const wait = this.lastFlushAt + c.intervalMs - c.monotonic();
      // Idle for a whole interval: commit right after this synchronous run (no added latency at
      // low load); otherwise at the interval's end.
      const gen = this.flushGen;
      const fire = (): void => {
        if (gen === this.flushGen) this.flushPending();
      };
      if (wait <= 0) queueMicrotask(fire);
      else c.setTimeout(fire, wait);
    });
  }

  /** Hands every pending batch to the commit queue as ONE transaction (ops in submission order). */
  private flushPending(): void {
    this.flushArmed = false;
    this.flushGen++;
    if (this.pending.length === 0) return;
    const group = this.pending;
    this.pending = [];
    this.lastFlushAt = (this.coalescing as CommitCoalescing).monotonic();
    // The applied-index puts of earlier batches are overwritten by the last one in the same
    // transaction; only the last is kept.
    const ops: WriteOp[] = [];
    for (let g = 0; g < group.length; g++) {
      const gops = group[g]!.ops;
      const n = g === group.length - 1 ? gops.length : gops.length - 1;
      for (let i = 0; i < n; i++) ops.push(gops[i]!);
    }
    this.env.writes.submitOps(ops, { durable: false }).then(
      () => {
        for (const p of group) p.resolve();
      },
      (e: unknown) => {
        for (const p of group) p.reject(e);
      },
    );
  }

  /** @internal used by ApplyBatch.commit */
  submit(batch: ApplyBatch, applied: bigint): Promise<void> {
    if (this.failed !== null) return Promise.reject(new StorageError('STORAGE_IO', 'apply storage is halted after a failed commit', { cause: this.failed }));
    if (applied < this.submittedApplied) {
      return Promise.reject(
        new StorageError('APPLY_ORDER', `applied index would move back from ${this.submittedApplied} to ${applied}`),
      );
    }
    this.inflight.push(batch);
    this.submittedApplied = applied;
    const done = (): void => {
      this.inflight = this.inflight.filter((b) => b !== batch);
    };
    batch.ops.push(this.meta.opAppliedIndex(applied));
    const committed =
      this.coalescing === null || this.durableCommits ? this.env.writes.submitOps(batch.ops, { durable: this.durableCommits }) : this.coalesce(batch.ops);
    return committed.then(
      () => {
        done();
        if (applied > this.durableApplied) this.durableApplied = applied;
        // Read after the commit, `flushed` resolves once this commit is fsynced (lmdb-js
        // coalesces: one sync covers every commit since the previous one).
        if (this.durableCommits || !this.env.overlappingSync) this.markSynced(applied);
        else
          this.env.root.flushed.then(
            () => this.markSynced(applied),
            () => undefined,
          );
      },
      (cause: unknown) => {
        done();
        this.failed ??= cause;
        throw new StorageError('STORAGE_IO', `apply commit up to index ${applied} failed`, { cause, index: applied });
      },
    );
  }
}

/**
 * Mutations of one apply batch. Nothing touches LMDB until `commit`; a batch that is dropped
 * without commit changes nothing.
 */
export class ApplyBatch {
  /** Every mutation, validated and encoded, in call order. */
  readonly ops: WriteOp[] = [];
  /** Key → newest value written by this batch (null = deleted); built on first read. */
  private index: Map<string, Uint8Array | null> | null = null;
  private committed = false;

  constructor(
    private readonly store: ApplyStore,
    private readonly env: StorageEnv,
  ) {}

  /** @internal What this batch wrote for `k` (see ApplyStore.lookupInflight). */
  written(k: string): Uint8Array | null | undefined {
    if (this.index === null) {
      this.index = new Map();
      for (const op of this.ops) {
        const t = op.db === this.env.kv ? KV : op.db === this.env.registry ? REG : op.db === this.env.kvmod ? MOD : -1;
        if (t >= 0) this.index.set(mapKey(t as Table, op.key), op.value);
      }
    }
    return this.index.get(k);
  }

  /** @internal commitBatch: validates, then queues without copying. */
  addUnchecked(w: StoreWrite): void {
    if (w.table === 'kv') {
      if (!isStorableKey(w.key)) throw new StorageError('KV_KEY_INVALID', `kv key of ${w.key.length} bytes cannot be stored`);
      this.record(KV, { db: this.env.kv, key: w.key, value: w.value });
      return;
    }
    if (w.table === 'kvmod') {
      if (!isStorableKey(w.key)) throw new StorageError('KV_KEY_INVALID', `kvmod key of ${w.key.length} bytes cannot be stored`);
      if (w.value !== null && w.value.length !== 8) throw new StorageError('KVMOD_VALUE_MALFORMED', `kvmod value of ${w.value.length} bytes (a u64 index)`);
      this.record(MOD, { db: this.env.kvmod, key: w.key, value: w.value });
      return;
    }
    decodeRegistryKey(w.key);
    if (w.value !== null) decodeRegistryValue(w.value);
    this.record(REG, { db: this.env.registry, key: w.key, value: w.value });
  }

  private record(table: Table, op: WriteOp): void {
    this.ops.push(op);
    this.index?.set(mapKey(table, op.key), op.value);
  }

  getKv(key: Uint8Array): Uint8Array | undefined {
    const o = this.written(mapKey(KV, key));
    if (o !== undefined) return o ?? undefined;
    return this.store.getKv(key);
  }

  putKv(key: Uint8Array, value: Uint8Array): this {
    if (!isStorableKey(key)) throw new StorageError('KV_KEY_INVALID', `kv key of ${key.length} bytes cannot be stored`);
    // Copy: the caller may reuse or transfer its buffers before the commit runs.
    this.record(KV, { db: this.env.kv, key: new Uint8Array(key), value: new Uint8Array(value) });
    return this;
  }

  deleteKv(key: Uint8Array): this {
    if (!isStorableKey(key)) return this; // such a key can never have been stored
    this.record(KV, { db: this.env.kv, key: new Uint8Array(key), value: null });
    return this;
  }

  getRegistry(dekId: number, nodeId16: number): RegistryRow | undefined {
    const o = this.written(mapKey(REG, registryKey(dekId, nodeId16)));
    if (o !== undefined) return o === null ? undefined : decodeRegistryValue(o);
    return this.store.getRegistry(dekId, nodeId16);
  }

  putRegistry(dekId: number, nodeId16: number, row: RegistryRow): this {
    this.record(REG, { db: this.env.registry, key: registryKey(dekId, nodeId16), value: encodeRegistryValue(row) });
    return this;
  }

  deleteRegistry(dekId: number, nodeId16: number): this {
    this.record(REG, { db: this.env.registry, key: registryKey(dekId, nodeId16), value: null });
    return this;
  }

  setConfState(cs: ConfState): this {
    this.ops.push(this.store.meta.opConfState(cs));
    return this;
  }

  /** SH-1: the state machine's copy of the raft cutover, committed with the applied index. */
  setRaftCutoverIndex(i: bigint): this {
    this.ops.push(this.store.meta.opRaftCutoverIndex(i));
    return this;
  }

  /** SH-1: the state machine's copy of the sidecar's raft_applied_index. */
  setSidecarAppliedIndex(i: bigint): this {
    this.ops.push(this.store.meta.opSidecarAppliedIndex(i));
    return this;
  }

  /** SH-1: all three copies of an encryption entry's effect (cutover, sidecar index, state). */
  setEncryptionCopies(c: EncryptionCopies): this {
    this.setRaftCutoverIndex(c.raftCutoverIndex);
    this.setSidecarAppliedIndex(c.sidecarAppliedIndex);
    this.ops.push(this.store.meta.opEncryptionState(c.state));
    return this;
  }

  /** Number of mutations so far. */
  get size(): number {
    return this.ops.length;
  }

  /**
   * Writes every mutation and `appliedIndex` in one transaction; resolves when durable.
   * `appliedIndex` may equal the previous one (WR-2: registry rows committed before the
   * entry's sidecar write) but never move back.
   */
  commit(appliedIndex: bigint): Promise<void> {
    if (this.committed) return Promise.reject(new Error('ApplyBatch committed twice'));
    this.committed = true;
    return this.store.submit(this, appliedIndex);
  }
}

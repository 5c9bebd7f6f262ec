// An in-memory stand-in for the node's LMDB environment (issue 14 item 2), so the real
// ApplyStore / KvStateMachine / snapshot code can run inside the whole-node simulator.
//
// Why not lmdb in a temp dir: a simulated crash must drop exactly what a power cut would drop,
// and the simulator must be deterministic. Real LMDB gives neither inside one process — its
// commits and fsyncs run on its own threads (timing outside the seed), and there is no way to
// "crash" an open environment: closing it flushes everything. This model is small because LMDB's
// crash semantics are simple: it is copy-on-write with an atomic meta-page switch, so after a
// crash the environment holds exactly a PREFIX of the committed transactions — everything
// flushed, plus possibly some committed-but-not-yet-flushed ones, never a torn transaction.
//
// Surface: what src/storage and src/node use of lmdb-js (get/doesExist/getRange/getKeys/
// putSync/removeSync/clearSync/put/remove/getStats/getCount on tables; batch/childTransaction/
// useReadTransaction/flushed/close on the root). Other calls throw, so a new use shows up at
// once in the simulator instead of silently misbehaving.
//
// Timing: `batch` and `childTransaction` commit in a later scheduler event (lmdb-js commits on
// its write thread; readers see the writes only after that), `flushed` resolves after a random
// sync latency. Injected failures: a commit may fail (`commitError`), a flush may fail
// (`flushError`) — lmdb-js reports both as rejected promises.

import type { RootDatabase } from 'lmdb';
import type { Scheduler } from '../node/scheduler.js';
import { CommitQueue } from '../storage/commit-queue.js';
import type { BinaryDb, StorageEnv } from '../storage/env.js';

type Rows = Map<string, Uint8Array>;
interface Op {
  table: string;
  key: string;
  /** null = delete; undefined = clear the table. */
  value: Uint8Array | null | undefined;
}

export interface LmdbFaults {
  commitError: number;
  flushError: number;
  minSyncMs: number;
  maxSyncMs: number;
  /**
   * Upper bound of the write thread's commit latency (ms, uniform from 0; commits stay in
   * submission order). 0 or absent: a commit lands in the next event.
   */
  maxCommitMs?: number;
}

export const RELIABLE_LMDB: LmdbFaults = { commitError: 0, flushError: 0, minSyncMs: 0, maxSyncMs: 2 };

export class SimLmdbError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(`${code}: ${message}`);
  }
}

/**
 * The durable medium of one simulated node's LMDB environment: survives `crash()` (with the
 * prefix rule above); `open()` gives a fresh environment over it, as a restarted process would.
 */
export class SimLmdb {
  /** The state as of the last flushed commit. */
  private durable = new Map<string, Rows>();
  /** Committed, not yet flushed, in commit order. */
  private unflushed: Op[][] = [];
  /** What readers of the live environment see. */
  live = new Map<string, Rows>();
  private generation = 0;
  private flushing: Promise<void> | null = null;
  faults: LmdbFaults;
  readonly counters = { commits: 0, flushes: 0, commitErrors: 0, flushErrors: 0, crashes: 0, commitsLost: 0 };

  constructor(
    readonly sched: Scheduler,
    private readonly random: () => number,
    faults: LmdbFaults = RELIABLE_LMDB,
  ) {
    this.faults = { ...faults };
  }

  /** Power loss: a random prefix of the unflushed commits survives; the live view is rebuilt. */
  crash(): void {
    this.counters.crashes++;
    const keep = Math.floor(this.random() * (this.unflushed.length + 1));
    for (const txn of this.unflushed.slice(0, keep)) applyOps(this.durable, txn);
    this.counters.commitsLost += this.unflushed.length - keep;
    this.unflushed = [];
    this.live = cloneAll(this.durable);
    this.flushing = null;
    this.generation++;
    this.pendingCommits = 0;
  }

  /**
   * The process exited without a power loss: its environment is dead, and what it committed stays
   * (in the page cache, still to be flushed by the next process's syncs).
   */
  exitProcess(): void {
    this.flushing = null;
    this.generation++;
    this.pendingCommits = 0;
  }

  /** Opens the environment (after a crash: over what survived). */
  open(path: string): StorageEnv {
    const root = new SimRoot(this, this.generation);
    const table = (name: string): BinaryDb => root.openDB(name) as unknown as BinaryDb;
    const rootDb = root as unknown as RootDatabase<Uint8Array, Uint8Array>;
    const env: StorageEnv = {
      path,
      root: rootDb,
      log: table('log'),
      meta: table('meta'),
      kv: table('kv'),
      registry: table('registry'),
      kvmod: table('kvmod'),
      staging: table('snapstage'),
      overlappingSync: true,
      writes: new CommitQueue({ root: rootDb, overlappingSync: true }),
      async durable<T>(commit: Promise<T>): Promise<T> {
        const r = await commit;
        await root.flushed;
        return r;
      },
      async close(): Promise<void> {
        await env.writes.idle();
        await root.flushed.catch(() => undefined);
        root.closed = true;
      },
    };
    return env;
  }

  /** Commits `ops` now (visible to readers at once) and queues them for the next flush. */
  commit(ops: Op[], gen: number): void {
    if (gen !== this.generation) throw new SimLmdbError('ENV_CLOSED', 'environment of a crashed process');
    if (this.random() < this.faults.commitError) {
      this.counters.commitErrors++;
      throw new SimLmdbError('EIO', 'injected LMDB commit failure');
    }
    this.counters.commits++;
    applyOps(this.live, ops);
    this.unflushed.push(ops);
  }

  /** Commits queued on the write thread and not yet run (diagnostics). */
  pendingCommits = 0;

  /** Last virtual time a delayed commit is due (the write thread commits in order). */
  private commitTail = 0;

  /** Delay (ms) of the next commit on the write thread, or null for "next event" (no latency set). */
  commitAt(): number | null {
    const max = this.faults.maxCommitMs ?? 0;
    if (max <= 0) return null;
    const now = this.sched.monotonic();
    const at = Math.max(now + this.random() * max, this.commitTail);
    this.commitTail = at;
    return at - now;
  }

  /** Resolves when every commit made so far is durable. */
  flushed(gen: number): Promise<void> {
    if (this.unflushed.length === 0) return this.flushing ?? Promise.resolve();
    const upTo = this.unflushed.length;
    const f = this.faults;
    const latency = f.minSyncMs + this.random() * Math.max(0, f.maxSyncMs - f.minSyncMs);
    const fail = this.random() < f.flushError;
    const p = new Promise<void>((resolve, reject) => {
      const run = (): void => {
        if (gen !== this.generation) return; // crashed meanwhile: nobody is waiting any more
        if (fail) {
          this.counters.flushErrors++;
          reject(new SimLmdbError('EIO', 'injected LMDB flush failure'));
          return;
        }
        // Commits since may have been flushed by an earlier call: take what is still there.
        const n = Math.min(upTo, this.unflushed.length);
        for (const txn of this.unflushed.splice(0, n)) applyOps(this.durable, txn);
        this.counters.flushes++;
        resolve();
      };
      if (latency <= 0) this.sched.defer(run);
      else this.sched.setTimeout(run, latency);
    });
    this.flushing = p.catch(() => undefined);
    return p;
  }

  /** The durable contents of `table` (latin1 key, see `rowKey` → value), for checks after a crash. */
  durableRows(table: string): ReadonlyMap<string, Uint8Array> {
    return this.durable.get(table) ?? new Map();
  }

  gen(): number {
    return this.generation;
  }
}

class SimRoot {
  closed = false;
  /** The write transaction being built by a callback (batch / childTransaction), if any. */
  active: Op[] | null = null;
  private readonly tables = new Map<string, SimTable>();

  constructor(
    readonly store: SimLmdb,
    readonly gen: number,
  ) {}

  openDB(name: string): SimTable {
    let t = this.tables.get(name);
    if (t === undefined) {
      t = new SimTable(this, name);
      this.tables.set(name, t);
    }
    return t;
  }

  get flushed(): Promise<void> {
    return this.store.flushed(this.gen);
  }

  /** Runs `fn` now collecting its puts/removes; commits them in a later event. */
  batch(fn: () => void): Promise<boolean> {
    const ops = this.collect(fn);
    return this.later(() => this.store.commit(ops, this.gen)).then(() => true);
  }

  /** Runs `fn` inside a write transaction at commit time; a throw aborts it. */
  childTransaction(fn: () => void): Promise<unknown> {
    return this.later(() => this.store.commit(this.collect(fn), this.gen));
  }

  /** A frozen view of every table (snapshot isolation for long reads). */
  useReadTransaction(): SimReadTxn {
    return new SimReadTxn(cloneAll(this.store.live));
  }

  transactionSync(): never {
    throw new SimLmdbError('UNSUPPORTED', 'transactionSync is not modelled by the simulator');
  }

  close(): Promise<void> {
    this.closed = true;
    return Promise.resolve();
  }

  /** A synchronous single write outside any callback (putSync & co. outside a transaction). */
  writeNow(op: Op): void {
    if (this.active !== null) {
      this.active.push(op);
      return;
    }
    this.check();
    this.store.commit([op], this.gen);
  }

  private collect(fn: () => void): Op[] {
    this.check();
    const outer = this.active;
    const ops: Op[] = [];
    this.active = ops;
    try {
      fn();
    } finally {
      this.active = outer;
    }
    return ops;
  }

  private later<T>(fn: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const gen = this.store.gen();
      if (gen === this.gen) this.store.pendingCommits++;
      const run = (): void => {
        if (gen === this.store.gen()) this.store.pendingCommits--;
        try {
          this.check();
          resolve(fn());
        } catch (e) {
          reject(e);
        }
      };
      const at = this.store.commitAt();
      if (at === null) this.store.sched.defer(run);
      else this.store.sched.setTimeout(run, at);
    });
  }

  check(): void {
    if (this.closed) throw new SimLmdbError('ENV_CLOSED', 'the environment is closed');
    if (this.gen !== this.store.gen()) throw new SimLmdbError('ENV_CLOSED', 'environment of a crashed process');
  }
}

class SimReadTxn {
  constructor(readonly view: Map<string, Rows>) {}
  done(): void {}
  abort(): void {}
}

interface RangeOptions {
  start?: Uint8Array;
  end?: Uint8Array;
  exclusiveStart?: boolean;
  limit?: number;
  reverse?: boolean;
  transaction?: SimReadTxn;
}

class SimTable {
  constructor(
    private readonly root: SimRoot,
    private readonly name: string,
  ) {}

  private rows(txn?: SimReadTxn): Rows {
    const all = txn?.view ?? this.root.store.live;
    let r = all.get(this.name);
    if (r === undefined) {
      r = new Map();
      all.set(this.name, r);
    }
    return r;
  }

  /** Reads see the enclosing write transaction's own writes (as inside an lmdb-js txn callback). */
  get(key: Uint8Array, opts: { transaction?: SimReadTxn } = {}): Buffer | undefined {
    const k = rowKey(key);
    const own = this.pendingOwn(k);
    if (own !== undefined) return own === null ? undefined : Buffer.from(own);
    const v = this.rows(opts.transaction).get(k);
    return v === undefined ? undefined : Buffer.from(v);
  }

  doesExist(key: Uint8Array): boolean {
    return this.get(key) !== undefined;
  }

  put(key: Uint8Array, value: Uint8Array): Promise<boolean> {
    this.root.writeNow({ table: this.name, key: rowKey(key), value: value.slice() });
    return Promise.resolve(true);
  }

  remove(key: Uint8Array): Promise<boolean> {
    this.root.writeNow({ table: this.name, key: rowKey(key), value: null });
    return Promise.resolve(true);
  }

  putSync(key: Uint8Array, value: Uint8Array): boolean {
    this.root.writeNow({ table: this.name, key: rowKey(key), value: value.slice() });
    return true;
  }

  removeSync(key: Uint8Array): boolean {
    const existed = this.get(key) !== undefined;
    this.root.writeNow({ table: this.name, key: rowKey(key), value: null });
    return existed;
  }

  clearSync(): void {
    this.root.writeNow({ table: this.name, key: '', value: undefined });
  }

  getCount(): number {
    return this.rows().size;
  }

  getStats(): { entryCount: number } {
    return { entryCount: this.rows().size };
  }

  *getRange(opts: RangeOptions = {}): Generator<{ key: Buffer; value: Buffer }> {
    if (this.root.active?.some((o) => o.table === this.name)) {
      // Reads inside a write callback after writing the same table are not needed by the node.
      throw new SimLmdbError('UNSUPPORTED', 'getRange over own uncommitted writes is not modelled');
    }
    const rows = this.rows(opts.transaction);
    let keys = [...rows.keys()].sort();
    if (opts.reverse) keys.reverse();
    const start = opts.start === undefined ? null : rowKey(opts.start);
    const end = opts.end === undefined ? null : rowKey(opts.end);
    keys = keys.filter((k) => {
      if (start !== null) {
        if (opts.reverse ? k > start : k < start) return false;
        if (opts.exclusiveStart && k === start) return false;
      }
      if (end !== null && (opts.reverse ? k <= end : k >= end)) return false;
      return true;
    });
    let n = 0;
    for (const k of keys) {
      if (opts.limit !== undefined && n++ >= opts.limit) return;
      const v = rows.get(k);
      if (v !== undefined) yield { key: unkey(k), value: Buffer.from(v) };
    }
  }

  *getKeys(opts: RangeOptions = {}): Generator<Buffer> {
    for (const { key } of this.getRange(opts)) yield key;
  }

  /** This write transaction's own latest write of `k`: value, null (deleted), or undefined. */
  private pendingOwn(k: string): Uint8Array | null | undefined {
    const ops = this.root.active;
    if (ops === null) return undefined;
    for (let i = ops.length - 1; i >= 0; i--) {
      const o = ops[i]!;
      if (o.table !== this.name) continue;
      if (o.value === undefined) return null; // cleared
      if (o.key === k) return o.value;
    }
    return undefined;
  }
}

/**
 * A row key as a Map key: one char per byte (latin1), which sorts as the bytes do, as LMDB's
 * keys do. Short keys (all of the node's) through `String.fromCharCode`, several times cheaper
 * than a Buffer decode for a few bytes; `unkey` turns it back.
 */
function rowKey(b: Uint8Array): string {
  if (b.length <= 64) return String.fromCharCode.apply(null, b as unknown as number[]);
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('latin1');
}

function unkey(k: string): Buffer {
  return Buffer.from(k, 'latin1');
}

function applyOps(tables: Map<string, Rows>, ops: readonly Op[]): void {
  for (const o of ops) {
    let t = tables.get(o.table);
    if (t === undefined) {
      t = new Map();
      tables.set(o.table, t);
    }
    if (o.value === undefined) t.clear();
    else if (o.value === null) t.delete(o.key);
    else t.set(o.key, o.value);
  }
}

function cloneAll(tables: Map<string, Rows>): Map<string, Rows> {
  return new Map([...tables].map(([n, rows]) => [n, new Map(rows)]));
}

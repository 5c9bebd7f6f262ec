// Group commit for every durable write of the node (log appends, hard state, apply batches,
// compaction, snapshot installs). Requests submitted while a group is being committed wait and
// form the next group, so under load one LMDB transaction and one fsync serve many requests,
// and no request waits behind more than one commit.
//
// Two kinds of request, because lmdb-js offers two very different write paths:
// - `submitOps(ops)`: a list of puts/deletes, replayed inside `root.batch()` as write
//   *instructions* that lmdb-js's write thread executes. The main thread only encodes them
//   (measured ≈2–2.5 µs of event-loop time per 256 B put at scattered keys, against ≈6.5–9 µs
//   for putSync in a transaction callback; src/bench/storage.ts). The list is built and validated before
//   the batch starts, so nothing can throw half-way through it (a throw inside lmdb-js's batch
//   callback would still commit the instructions queued before it).
// - `submitTxn(fn)`: a callback run on the main thread inside the write transaction, as an
//   lmdb-js *child* transaction: it can read its own writes, and if it throws only its own
//   writes are rolled back and only its promise rejects. Used where a write must read (snapshot
//   install, recording a snapshot point).
// A group holds requests of one kind (the longest run in submission order), so LMDB applies
// every request in submission order. A request's promise resolves once its group is committed
// and fsynced (see env.ts); with overlappingSync the next group starts as soon as this one is
// committed, so its writes overlap this group's fsync.

import type { Database, RootDatabase } from 'lmdb';

/** One put (value) or delete (value null) of a write batch. */
export interface WriteOp {
  db: Database<Uint8Array, Uint8Array>;
  key: Uint8Array;
  value: Uint8Array | null;
}

/** Writes run synchronously inside a write transaction (use putSync/removeSync; reads see them). */
export type TxnFn = () => void;

/** What the queue needs of the environment (kept narrow to avoid an import cycle with env.ts). */
export interface CommitTarget {
  readonly root: RootDatabase<Uint8Array, Uint8Array>;
  readonly overlappingSync: boolean;
}

interface Request {
  ops: readonly WriteOp[] | null;
  fn: TxnFn | null;
  /** false: resolve at commit, without waiting for the fsync (see submitOps). */
  durable: boolean;
  resolve: () => void;
  reject: (e: unknown) => void;
}

export class CommitQueue {
  private next: Request[] = [];
  private scheduled = false;
  private committing = false;
  private idleWaiters: Array<() => void> = [];
  /** Number of LMDB transactions committed through this queue (for tests and metrics). */
  groups = 0;

  constructor(private readonly target: CommitTarget) {}

  /**
   * Queues puts/deletes executed on lmdb-js's write thread; resolves when durable, or, with
   * `durable: false`, as soon as the transaction is committed (visible to readers, atomic, and
   * flushed by the next fsync in commit order). The apply pipeline uses that: its input is
   * already durable in the Raft log, so a crash only replays entries after the last flushed
   * applied index — one fsync less on the write path.
   */
  submitOps(ops: readonly WriteOp[], opts: { durable?: boolean } = {}): Promise<void> {
    return this.enqueue(ops, null, opts.durable ?? true);
  }

  /** Queues a transaction callback (child transaction); resolves when durable, rejects with what `fn` threw. */
  submitTxn(fn: TxnFn): Promise<void> {
    return this.enqueue(null, fn, true);
  }

  /** Resolves when nothing is queued or committing. */
  idle(): Promise<void> {
    if (!this.committing && !this.scheduled && this.next.length === 0) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  private enqueue(ops: readonly WriteOp[] | null, fn: TxnFn | null, durable: boolean): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.next.push({ ops, fn, durable, resolve, reject });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.scheduled || this.committing) return;
    this.scheduled = true;
    // A microtask, so every submit of the current synchronous run joins one group.
    queueMicrotask(() => {
      this.scheduled = false;
      void this.commitGroup();
    });
  }

  private takeGroup(): Request[] {
    const txnKind = this.next[0].fn !== null;
    let n = 1;
    while (n < this.next.length && (this.next[n].fn !== null) === txnKind) n++;
    return this.next.splice(0, n);
  }

  private async commitGroup(): Promise<void> {
    if (this.next.length === 0) {
      this.notifyIdle();
      return;
    }
    const group = this.takeGroup();
    this.committing = true;
    this.groups++;
    const root = this.target.root;
    // Everything issued in this one synchronous run lands in the same LMDB transaction.
    const commits = group.map((r): Promise<unknown> => {
      try {
        if (r.fn !== null) return root.childTransaction(r.fn);
        const ops = r.ops as readonly WriteOp[];
        return root.batch(() => {
          for (const op of ops) {
            if (op.value === null) void op.db.remove(op.key);
            else void op.db.put(op.key, op.value);
          }
        });
      } catch (e) {
        return Promise.reject(e); // e.g. the environment is closed
      }
    });
    const results = await Promise.allSettled(commits);
    this.committing = false;
    if (this.next.length > 0) this.schedule();
    let waitFlush = false;
    results.forEach((res, i) => {
      const r = group[i];
      if (r.durable) waitFlush = true;
      else if (res.status === 'rejected') r.reject(res.reason);
      else r.resolve();
    });
    let flushError: unknown = null;
    try {
      if (waitFlush && this.target.overlappingSync) await root.flushed;
    } catch (e) {
      flushError = e;
    }
    results.forEach((res, i) => {
      const r = group[i];
      if (!r.durable) return;
      if (flushError !== null) r.reject(flushError);
      else if (res.status === 'rejected') r.reject(res.reason);
      else r.resolve();
    });
    if (!this.committing && !this.scheduled && this.next.length === 0) this.notifyIdle();
  }

  private notifyIdle(): void {
    for (const w of this.idleWaiters.splice(0)) w();
  }
}

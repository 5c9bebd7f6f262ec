// The Raft log, hard state and log-compaction point on LMDB, behind the core's `LogStorage`.
//
// Reads are synchronous and served from memory where possible: the terms of the whole log
// live in a TermIndex (runs), and the most recent entries in an entry cache, so the hot paths
// (`term`, `entries` for replication) neither hit LMDB nor re-check CRCs. Older entries are
// read from LMDB and every record read is CRC-checked (LOG_CORRUPT with the index on failure).
// On open the whole log is scanned and checked once, so damage is found at restart, not when
// a follower first asks for the entry.
//
// Writes go through `persist`, which updates the in-memory view at once (so the view is always
// "every write accepted so far", the same order LMDB will commit them in) and returns a
// promise that resolves only when the write is committed and fsynced: the run loop may send a
// vote or an append acknowledgement only after that promise resolves. If a commit fails the
// store is poisoned: memory is ahead of disk, so every later write is refused with STORAGE_IO
// and the node must halt.
//
// Indexes and terms are numbers here, like in the core (raft/types.ts: proven < 2^53); the
// record layout stores them as u64 BE and decoding refuses values ≥ 2^53.

import type { ConfState, Entry, HardState, LogStorage, Snapshot, SnapshotMeta } from '../raft/types.js';
import type { WriteOp } from './commit-queue.js';
import type { StorageEnv } from './env.js';
import { StorageError } from './errors.js';
import { LogCorruptError } from '../errors.js';
import { CompactedError, UnavailableError } from '../raft/errors.js';
import { decodeLogRecord, encodeLogRecord, logKey, logKeyIndex } from './log-record.js';
import { type LogTrunc, MetaStore, type StoredSnapshotMeta } from './meta-store.js';
import { TermIndex } from './term-index.js';

/** Entries deleted per compaction transaction (see compact()). */
const COMPACT_CHUNK = 2048;

export interface PersistRequest {
  hardState?: HardState | null;
  /** Entries to append; those at index ≥ entries[0].index already in the log are replaced. */
  entries?: readonly Entry[];
  /** A snapshot the core accepted: the log is reset to start after it (see `persist`). */
  snapshot?: SnapshotMeta | null;
}

export interface LogStoreOptions {
  /** Upper bound of the entry cache in data bytes (default 32 MiB). */
  cacheMaxBytes?: number;
  /** Upper bound of the entry cache in entries (default 65536). */
  cacheMaxEntries?: number;
}

export class LmdbLogStorage implements LogStorage {
  private readonly meta: MetaStore;
  private trunc: LogTrunc;
  private last: number;
  private hs: HardState;
  private readonly terms = new TermIndex();
  // Entry cache: a contiguous suffix [cacheStart, last] of the log.
  private cache: Entry[] = [];
  private cacheStart: number;
  private cacheBytes = 0;
  private readonly cacheMaxBytes: number;
  private readonly cacheMaxEntries: number;
  // First index written by each request not yet committed: the cache never drops those,
  // since LMDB does not hold them yet.
  private readonly pendingLow = new Map<number, number>();
  private nextRequestId = 1;
  private failed: unknown = null;

  private constructor(
    private readonly env: StorageEnv,
    opts: LogStoreOptions,
  ) {
    this.meta = new MetaStore(env.meta);
    this.cacheMaxBytes = opts.cacheMaxBytes ?? 32 * 1024 * 1024;
    this.cacheMaxEntries = opts.cacheMaxEntries ?? 65536;
    this.trunc = this.meta.logTrunc();
    this.hs = this.meta.hardState();
    this.last = this.trunc.index;
    this.cacheStart = this.trunc.index + 1;
    this.load();
  }

  /** Opens the log of `env`, checking every stored record (LOG_CORRUPT with the index on damage). */
  static open(env: StorageEnv, opts: LogStoreOptions = {}): LmdbLogStorage {
    return new LmdbLogStorage(env, opts);
  }

  private load(): void {
    let expected = this.trunc.index + 1;
    let prevTerm = this.trunc.term;
    for (const { key, value } of this.env.log.getRange({})) {
      const index = logKeyIndex(key);
      if (index !== expected) {
        const why = index < expected ? `entry at or below the compaction point ${this.trunc.index}` : `missing (log jumps to ${index})`;
        throw new LogCorruptError(BigInt(Math.min(index, expected)), why);
      }
      const e = decodeLogRecord(index, value);
      if (e.term < prevTerm) throw new LogCorruptError(BigInt(index), `term ${e.term} below the previous term ${prevTerm}`);
      prevTerm = e.term;
      this.terms.push(index, e.term);
      this.cache.push(e);
      this.cacheBytes += e.data.length;
      this.trimCache();
      expected++;
    }
    this.last = expected - 1;
  }

  // ---- LogStorage (read side) ---------------------------------------------------------------

  initialState(): { hardState: HardState; confState: ConfState } {
    return { hardState: { ...this.hs }, confState: this.meta.confState() };
  }

  firstIndex(): number {
    return this.trunc.index + 1;
  }

  lastIndex(): number {
    return this.last;
  }

  /**
   * Term of entry `index`; also answers for the compaction point (firstIndex − 1). Out of range:
   * raft's CompactedError (RAFT_COMPACTED) / UnavailableError (RAFT_UNAVAILABLE), as LogStorage says.
   */
  term(index: number): number {
    if (index === this.trunc.index) return this.trunc.term;
    if (index < this.trunc.index) throw new CompactedError(index, this.firstIndex());
    if (index > this.last) throw new UnavailableError(index, this.last);
    return this.terms.termAt(index);
  }

  /**
   * Entries [lo, hi): at most `maxBytes` of entry data, but at least one entry when lo < hi.
   * The returned objects are shared with the cache: treat them (and their data) as immutable
   * and never transfer their buffers.
   */
  entries(lo: number, hi: number, maxBytes: number): Entry[] {
    if (lo < this.firstIndex()) throw new CompactedError(lo, this.firstIndex());
    if (hi > this.last + 1) throw new UnavailableError(hi - 1, this.last);
    const out: Entry[] = [];
    if (lo >= hi) return out;
    let bytes = 0;
    const take = (e: Entry): boolean => {
      if (out.length > 0 && bytes + e.data.length > maxBytes) return false;
      out.push(e);
      bytes += e.data.length;
      return true;
    };
    let i = lo;
    if (i < this.cacheStart) {
      const end = Math.min(hi, this.cacheStart);
      for (const { key, value } of this.env.log.getRange({ start: logKey(i), end: logKey(end) })) {
        const index = logKeyIndex(key);
        if (index !== i) throw new LogCorruptError(BigInt(i), 'missing from the log table');
        if (!take(decodeLogRecord(index, value))) return out;
        i++;
      }
      if (i < end) throw new LogCorruptError(BigInt(i), 'missing from the log table');
    }
    for (; i < hi; i++) {
      if (!take(this.cache[i - this.cacheStart])) break;
    }
    return out;
  }

  snapshot(): Snapshot {
    const m = this.meta.snapshotMeta();
    return { meta: { index: m.index, term: m.term, conf: m.conf }, data: new Uint8Array(0) };
  }

  /** The recorded snapshot metadata including the SH-1 fields. */
  snapshotMeta(): StoredSnapshotMeta {
    return this.meta.snapshotMeta();
  }

  hardState(): HardState {
    return { ...this.hs };
  }

  // ---- write side ----------------------------------------------------------------------------

  /**
   * Persists hard state, a snapshot reset and appended entries in ONE transaction; resolves
   * when durable (committed and fsynced). Calls made while a commit is in flight join the next
   * transaction (CommitQueue). Order within the request: snapshot, then entries, then hard state.
   *
   * Entries: contiguous, the first at most lastIndex + 1 (entries at or below the compaction
   * point are dropped); every stored entry at index ≥ the first new index is replaced or
   * deleted (the conflicting suffix).
   * Snapshot at (i, t): if the log holds entry i with term t, entries ≤ i are deleted and the
   * rest kept; otherwise the whole log is deleted. The compaction point becomes (i, t), and the
   * snapshot metadata record is written (keeping the SH-1 fields already recorded for i).
   */
  persist(req: PersistRequest): Promise<void> {
    if (this.failed !== null) return Promise.reject(this.poisoned());
    const ops: WriteOp[] = [];
    let low = Number.POSITIVE_INFINITY;
    try {
      if (req.snapshot) low = Math.min(low, this.applySnapshotReset(req.snapshot, ops));
      if (req.entries && req.entries.length > 0) {
        // Entries already covered by the compaction point are dropped (as MemoryStorage does).
        const skip = Math.max(0, Math.min(req.entries.length, this.trunc.index + 1 - req.entries[0].index));
        const entries = skip > 0 ? req.entries.slice(skip) : req.entries;
        if (entries.length > 0) low = Math.min(low, this.applyAppend(entries, ops));
      }
    } catch (e) {
      return Promise.reject(e);
    }
    if (req.hardState) {
      const hs = { ...req.hardState };
      this.hs = hs;
      ops.push(this.meta.opHardState(hs));
    }
    if (ops.length === 0) return Promise.resolve();
    return this.submit(ops, low);
  }

  /**
   * The log reset for a snapshot installed at `s`, as writes for the install's own transaction
   * (installSnapshot's `commitOps`), so the installed state and the log that starts after it are
   * durable together. Same reset as `persist({ snapshot })`, plus the hard state's commit raised
   * to the snapshot index (the state is applied up to it; applied ≤ commit must hold on disk).
   * Updates the in-memory view at once: if the transaction then fails, call `fail(cause)`.
   */
  snapshotResetOps(s: SnapshotMeta): WriteOp[] {
    if (this.failed !== null) throw this.poisoned();
    const ops: WriteOp[] = [];
    this.applySnapshotReset(s, ops);
    if (this.hs.commit < s.index) {
      this.hs = { ...this.hs, commit: s.index };
      ops.push(this.meta.opHardState(this.hs));
    }
    return ops;
  }

  /**
   * Start-up repair for a data dir left by a crash between a snapshot install and its log reset
   * (versions that did them in two transactions): the state is applied up to the snapshot, the
   * log and hard state are not reset. Finishes the reset (durably) and returns true; returns
   * false when there is nothing to repair. Without it such a node can never start (the core
   * refuses applied > commit).
   */
  async finishInterruptedInstall(appliedIndex: bigint): Promise<boolean> {
    if (appliedIndex <= BigInt(this.hs.commit)) return false;
    const snap = this.meta.snapshotMeta();
    if (BigInt(snap.index) !== appliedIndex) return false; // not an install: let the core refuse it
    await this.submit(this.snapshotResetOps({ index: snap.index, term: snap.term, conf: snap.conf }), Number.POSITIVE_INFINITY);
    return true;
  }

  /** A write this store's memory already reflects failed: refuse every later write (see `persist`). */
  fail(cause: unknown): void {
    this.failed ??= cause;
  }

  /**
   * Deletes entries ≤ upToIndex after a snapshot, recording (upToIndex, its term) as the
   * compaction point. Runs in chunks of COMPACT_CHUNK entries, one transaction each, yielding to
   * the event loop between them: deleting 100k entries in one go blocked the main thread for
   * ~250 ms (measured in the cluster benchmark's CPU profile). Every chunk records its own
   * compaction point, so a crash in between leaves a consistent, partly compacted log.
   */
  async compact(upToIndex: number): Promise<void> {
    if (this.failed !== null) throw this.poisoned();
    if (upToIndex <= this.trunc.index) return;
    if (upToIndex > this.last) {
      throw new StorageError('LOG_WRITE_INVALID', `cannot compact to ${upToIndex}: last index is ${this.last}`);
    }
    while (this.trunc.index < upToIndex) {
      const end = Math.min(upToIndex, this.firstIndex() + COMPACT_CHUNK - 1);
      await this.compactChunk(end);
      if (end < upToIndex) await new Promise((r) => setImmediate(r));
    }
  }

  private compactChunk(upToIndex: number): Promise<void> {
    if (this.failed !== null) return Promise.reject(this.poisoned());
    if (upToIndex <= this.trunc.index) return Promise.resolve();
    const from = this.firstIndex();
    const t: LogTrunc = { index: upToIndex, term: this.term(upToIndex) };
    this.trunc = t;
    this.terms.dropBefore(upToIndex + 1);
    if (upToIndex === this.last) this.terms.clear();
    this.dropCacheThrough(upToIndex);
    const ops: WriteOp[] = [];
    for (let i = from; i <= t.index; i++) ops.push({ db: this.env.log, key: logKey(i), value: null });
    ops.push(this.meta.opLogTrunc(t));
    return this.submit(ops, Number.POSITIVE_INFINITY);
  }

  /**
   * First start of a founding member (like MemoryStorage.bootstrap): the initial configuration
   * becomes a snapshot at index 1, term 1, with commit = applied = 1, all in one durable
   * transaction. Returns false and changes nothing when this storage already holds state.
   */
  async bootstrap(voters: string[], learners: string[] = []): Promise<boolean> {
    if (this.last > 0 || this.trunc.index > 0 || this.hs.term > 0 || this.meta.appliedIndex() > 0n) return false;
    const conf: ConfState = { voters: [...voters], learners: [...learners] };
    const ops: WriteOp[] = [];
    this.applySnapshotReset({ index: 1, term: 1, conf }, ops);
    this.hs = { term: 1, vote: null, commit: 1 };
    ops.push(this.meta.opHardState(this.hs), this.meta.opAppliedIndex(1n));
    await this.submit(ops, Number.POSITIVE_INFINITY);
    return true;
  }

  private applyAppend(entries: readonly Entry[], ops: WriteOp[]): number {
    const first = entries[0].index;
    if (first < this.firstIndex() || first > this.last + 1) {
      throw new StorageError('LOG_WRITE_INVALID', `append at ${first} outside [${this.firstIndex()}, ${this.last + 1}]`);
    }
    const records: Uint8Array[] = [];
    const cached: Entry[] = [];
    let prevTerm = first - 1 === this.trunc.index ? this.trunc.term : this.terms.termAt(first - 1);
    for (let k = 0; k < entries.length; k++) {
      const e = entries[k];
      if (e.index !== first + k) throw new StorageError('LOG_WRITE_INVALID', `entries not contiguous at ${first + k}`);
      if (e.term < prevTerm) throw new StorageError('LOG_WRITE_INVALID', `term ${e.term} at ${e.index} below ${prevTerm}`);
      prevTerm = e.term;
      const rec = encodeLogRecord(e);
      records.push(rec);
      // The cache holds a view into our own record, so it never aliases the caller's buffers.
      cached.push({ index: e.index, term: e.term, type: e.type, data: rec.subarray(9, rec.length - 4) });
    }
    const oldLast = this.last;
    // In-memory view first: truncate the conflicting suffix, then append.
    if (first <= oldLast) {
      this.terms.truncateFrom(first);
      this.truncateCacheFrom(first);
    }
    for (const e of cached) {
      this.terms.push(e.index, e.term);
      this.cache.push(e);
      this.cacheBytes += e.data.length;
    }
    this.last = first + entries.length - 1;
    const log = this.env.log;
    // Delete the stored conflicting suffix beyond the new last index; the rest is overwritten.
    for (let i = this.last + 1; i <= oldLast; i++) ops.push({ db: log, key: logKey(i), value: null });
    for (let k = 0; k < records.length; k++) ops.push({ db: log, key: logKey(first + k), value: records[k] });
    return first;
  }

  private applySnapshotReset(s: SnapshotMeta, ops: WriteOp[]): number {
    if (s.index < this.trunc.index) {
      throw new StorageError('LOG_WRITE_INVALID', `snapshot at ${s.index} is older than the compaction point ${this.trunc.index}`);
    }
    const from = this.firstIndex();
    const oldLast = this.last;
    const keepSuffix =
      (s.index === this.trunc.index && s.term === this.trunc.term) ||
      (s.index >= from && s.index <= this.last && this.terms.termAt(s.index) === s.term);
    const deleteTo = keepSuffix ? s.index : oldLast;
    const t: LogTrunc = { index: s.index, term: s.term };
    this.trunc = t;
    if (keepSuffix && s.index < oldLast) {
      // Entries after the snapshot match the leader's log: keep them.
      this.terms.dropBefore(s.index + 1);
      this.dropCacheThrough(s.index);
    } else {
      this.terms.clear();
      this.cache = [];
      this.cacheBytes = 0;
      this.cacheStart = s.index + 1;
      this.last = s.index;
    }
    const prev = this.meta.snapshotMeta();
    const rec: StoredSnapshotMeta =
      prev.index === s.index && prev.term === s.term
        ? { ...prev, conf: s.conf }
        : { index: s.index, term: s.term, conf: s.conf, raftEnvelopeCutoverIndex: null, sidecarAppliedIndex: 0n };
    for (let i = from; i <= deleteTo; i++) ops.push({ db: this.env.log, key: logKey(i), value: null });
    ops.push(this.meta.opLogTrunc(t), this.meta.opSnapshotMeta(rec), this.meta.opConfState(s.conf));
    return Number.POSITIVE_INFINITY;
  }

  private submit(ops: WriteOp[], low: number): Promise<void> {
    const id = this.nextRequestId++;
    if (low !== Number.POSITIVE_INFINITY) this.pendingLow.set(id, low);
    return this.env.writes.submitOps(ops).then(
      () => {
        this.pendingLow.delete(id);
        this.trimCache();
      },
      (cause: unknown) => {
        this.pendingLow.delete(id);
        this.failed ??= cause;
        throw new StorageError('STORAGE_IO', 'log write failed; the in-memory log is ahead of disk', { cause });
      },
    );
  }

  private poisoned(): StorageError {
    return new StorageError('STORAGE_IO', 'log storage is halted after a failed write', { cause: this.failed });
  }

  private truncateCacheFrom(i: number): void {
    if (i <= this.cacheStart) {
      this.cache = [];
      this.cacheBytes = 0;
      this.cacheStart = i;
      return;
    }
    const keep = i - this.cacheStart;
    for (let k = keep; k < this.cache.length; k++) this.cacheBytes -= this.cache[k].data.length;
    this.cache.length = keep;
  }

  private dropCacheThrough(i: number): void {
    if (i < this.cacheStart) return;
    const n = Math.min(i - this.cacheStart + 1, this.cache.length);
    for (let k = 0; k < n; k++) this.cacheBytes -= this.cache[k].data.length;
    this.cache.splice(0, n);
    this.cacheStart = i + 1;
  }

  /**
   * Drops the oldest cache entries once a limit is exceeded, down to 7/8 of the limits, so the
   * O(cache) splice runs once per ~1/8 of the cache rather than on every commit.
   */
  private trimCache(): void {
    if (this.cache.length <= this.cacheMaxEntries && this.cacheBytes <= this.cacheMaxBytes) return;
    const maxEntries = Math.floor((this.cacheMaxEntries * 7) / 8);
    const maxBytes = Math.floor((this.cacheMaxBytes * 7) / 8);
    let bound = Number.POSITIVE_INFINITY;
    for (const v of this.pendingLow.values()) if (v < bound) bound = v;
    let n = 0;
    let bytes = this.cacheBytes;
    while (n < this.cache.length && this.cacheStart + n < bound && (this.cache.length - n > maxEntries || bytes > maxBytes)) {
      bytes -= this.cache[n].data.length;
      n++;
    }
    if (n > 0) {
      this.cache.splice(0, n);
      this.cacheStart += n;
      this.cacheBytes = bytes;
    }
  }
}

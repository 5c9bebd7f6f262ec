// The Raft log and hard state in a dedicated append-only WAL: one durable write per group commit
// (docs/ARCHITECTURE.md, "Raft-log WAL").
//
// Reads are synchronous, like the core's LogStorage requires: terms from a TermIndex, recent
// entries from an in-memory cache, older ones with one pread per segment span (CRC-checked,
// LOG_CORRUPT on damage). Writes (`persist`, `compact`, `recordSnapshot`) update the in-memory
// view at once and queue their records; a single flush loop writes everything queued with one
// durable pwritev on the libuv threadpool (O_DSYNC, or pwritev + fdatasync), then resolves every
// request in that group.
// The caller acknowledges a vote or an append only after its promise resolves. A failed write
// poisons the log (memory is ahead of disk): every later write is refused with STORAGE_IO.
//
// Segments roll over at `segmentBytes`: the full segment gets a Seal record, the next one (a
// spare preallocated in the background) gets a header restating the log's state, so deleting
// every segment older than the one holding the first live entry loses nothing.

import { closeSync, existsSync, ftruncateSync, fdatasyncSync, constants as fsc, mkdirSync, openSync, unlinkSync } from './wal-fs.js';
import { dirname, join } from 'node:path';
import { CompactedError, UnavailableError } from '../../raft/errors.js';
import type { ConfState, Entry, HardState, Snapshot, SnapshotMeta } from '../../raft/types.js';
import { loadCrc32c } from '../crc32c.js';
import { StorageError } from '../errors.js';
import type { PersistRequest } from '../log-store.js';
import type { DurableLog } from './durable-log.js';
import { EntryCache } from './entry-cache.js';
import { LocationIndex } from './location-index.js';
import type { LogModel, SnapshotMode } from './log-model.js';
import { encodeSegmentStart, encodeSeq, encodeSnapshotPayload, encodeVote } from './payload.js';
import { MIN_FRAME, RecordType, frameSize, writeRecord } from './record.js';
import { recover } from './recovery.js';
import { SegmentReader } from './segment-reader.js';
import {
  type Preallocation,
  SEGMENT_MAGIC,
  SPARE_NAME,
  closeFd,
  createPreallocated,
  fdatasync,
  fsyncDir,
  renameFile,
  segmentName,
  segmentPath,
  unlinkFile,
  writeAt,
} from './segment-file.js';

export interface WalOptions {
  /** Size a segment is preallocated to and rolled over at (default 64 MiB). */
  segmentBytes?: number;
  /** How segment space is reserved (default 'zero'; see segment-file.ts and src/bench/wal.ts). */
  preallocate?: Preallocation;
  /**
   * How a group is made durable. 'fdatasync': pwritev, then fdatasync (two threadpool round
   * trips). 'odsync' (default): the tail segment is opened with O_DSYNC, so the one pwritev
   * returns only when the data is durable (POSIX synchronized I/O data integrity, the same
   * guarantee as write + fdatasync) — one syscall and one round trip per group.
   */
  sync?: 'fdatasync' | 'odsync';
  /** Upper bound of the entry cache in data bytes (default 32 MiB). */
  cacheMaxBytes?: number;
  /** Upper bound of the entry cache in entries (default 65536). */
  cacheMaxEntries?: number;
  /**
   * Source of the configuration for `initialState()`: the state machine's conf state at its
   * applied index. Without it the conf state of the latest snapshot point is returned.
   */
  confState?: () => ConfState;
}

export interface WalStats {
  /** Group commits written (each one write and one fdatasync). */
  groups: number;
  /** persist/compact/recordSnapshot requests carried by those groups. */
  requests: number;
  records: number;
  bytes: number;
  rollovers: number;
  segmentsDeleted: number;
  /**
   * Seconds from issuing a group's durable write to learning it completed (write + sync + the
   * threadpool round trip); persist latency minus this is encoding and queueing.
   */
  writeSeconds: number;
}

/** What a queued request does to the disk model once written, in record order. */
type DiskOp =
  /** Entries first, first + 1, …: their terms, and rels[k] = offset of entry k's record in the request's buffer (rels[n] = its end). */
  | { k: 'entries'; first: number; terms: Float64Array; rels: Uint32Array }
  | { k: 'truncate'; from: number }
  | { k: 'compact'; index: number; term: number }
  | { k: 'snapshot'; meta: SnapshotMeta; mode: SnapshotMode }
  | { k: 'hs'; hs: HardState };

interface Pending {
  buf: Uint8Array;
  ops: DiskOp[];
  records: number;
  /** Lowest entry index this request writes (the cache keeps it until written), or +∞. */
  low: number;
  resolve(): void;
  reject(e: unknown): void;
}

interface RecordSpec {
  type: RecordType;
  index: number;
  term: number;
  head?: number;
  payload: Uint8Array | null;
}

const DEFAULT_SEGMENT_BYTES = 64 * 1024 * 1024;
/** Offsets are kept as u32 (location-index.ts): never write a record past 4 GiB in a segment. */
const MAX_SEGMENT_OFFSET = 0xffff_0000;

type SpareResult = { fd: number } | { error: unknown };

export class WalLogStorage implements DurableLog {
  private readonly segmentBytes: number;
  private readonly prealloc: Preallocation;
  private readonly odsync: boolean;
  private readonly confSource: (() => ConfState) | undefined;
  /** Open fds by segment seq (the tail's is read-write; older ones open lazily for reads). */
  private readonly fds = new Map<number, number>();
  private seqs: number[];
  private tailSeq = 0;
  private tailOffset = 0;
  private tailHeaderEnd = 0;
  private spare: Promise<SpareResult> | null = null;
  private queue: Pending[] = [];
  private flushing = false;
  private idleWaiters: (() => void)[] = [];
  private failed: unknown = null;
  private closed = false;
  /** A suffix of the log in memory; the rest is read from the segments. */
  private readonly cache: EntryCache;
  private readonly reader: SegmentReader;
  /** First entry index of each queued request (its entries stay cached until written). */
  private readonly pendingLows = new Map<Pending, number>();
  private readonly counters: WalStats = { groups: 0, requests: 0, records: 0, bytes: 0, rollovers: 0, segmentsDeleted: 0, writeSeconds: 0 };

  private constructor(
    readonly dir: string,
    private readonly front: LogModel,
    private readonly disk: LogModel,
    private readonly locations: LocationIndex,
    seqs: number[],
    opts: WalOptions,
  ) {
    this.segmentBytes = opts.segmentBytes ?? DEFAULT_SEGMENT_BYTES;
    this.prealloc = opts.preallocate ?? 'zero';
    this.odsync = (opts.sync ?? 'odsync') === 'odsync';
    this.confSource = opts.confState;
    this.seqs = seqs;
    this.cache = new EntryCache(front.last + 1, opts.cacheMaxEntries ?? 65536, opts.cacheMaxBytes ?? 32 * 1024 * 1024);
    this.reader = new SegmentReader(dir, locations, this.fds);
  }

  /**
   * Opens (or creates) the WAL in `dir`: replays every segment, truncates a torn tail of the last
   * one to its last valid record, and refuses damage anywhere else (LOG_CORRUPT, WalCorruptError
   * with the segment and offset).
   */
  static async open(dir: string, opts: WalOptions = {}): Promise<WalLogStorage> {
    await loadCrc32c();
    // A new WAL directory's own entry must be durable too, or a crash could lose the whole log.
    if (!existsSync(dir)) {
      mkdirSync(dir, { recursive: true });
      await fsyncDir(dirname(dir));
    }
    const spare = join(dir, SPARE_NAME);
    if (existsSync(spare)) unlinkSync(spare);
    const locations = new LocationIndex();
    const rec = recover(dir, locations);
    const w = new WalLogStorage(dir, rec.front, rec.disk, locations, rec.seqs, opts);
    if (rec.tail === null) {
      await w.startSegment(1);
    } else {
      const t = rec.tail;
      const fd = openSync(segmentPath(dir, t.seq), w.writeFlags());
      w.fds.set(t.seq, fd);
      w.tailSeq = t.seq;
      w.tailOffset = t.offset;
      w.tailHeaderEnd = t.offset;
      if (t.dirty) {
        // Cut everything after the last valid record and extend the file again: the region
        // reads as zeros, so stale bytes can never be mistaken for records after later appends.
        ftruncateSync(fd, t.offset);
        if (w.prealloc !== 'none' && t.fileSize > t.offset) ftruncateSync(fd, t.fileSize);
        fdatasyncSync(fd);
      }
      if (t.sealed) await w.startSegment(t.seq + 1);
    }
    w.spare ??= w.prepareSpare();
    return w;
  }

  // ---- LogStorage (read side) ---------------------------------------------------------------

  initialState(): { hardState: HardState; confState: ConfState } {
    const conf = this.confSource ? this.confSource() : this.front.snapshot.conf;
    return { hardState: { ...this.front.hardState }, confState: { voters: [...conf.voters], learners: [...conf.learners] } };
  }

  firstIndex(): number {
    return this.front.firstIndex();
  }

  lastIndex(): number {
    return this.front.last;
  }

  term(index: number): number {
    const f = this.front;
    if (index < f.trunc.index) throw new CompactedError(index, f.firstIndex());
    if (index > f.last) throw new UnavailableError(index, f.last);
    return f.termOf(index);
  }

  /**
   * Entries [lo, hi): at most `maxBytes` of entry data, but at least one entry when lo < hi.
   * Cached entries are shared: treat them (and their data) as immutable.
   */
  entries(lo: number, hi: number, maxBytes: number): Entry[] {
    const f = this.front;
    if (lo < f.firstIndex()) throw new CompactedError(lo, f.firstIndex());
    if (hi > f.last + 1) throw new UnavailableError(hi - 1, f.last);
    const out: Entry[] = [];
    if (lo >= hi) return out;
    let bytes = 0;
    let i = lo;
    if (i < this.cache.start) {
      const end = Math.min(hi, this.cache.start);
      bytes = this.reader.read(i, end, maxBytes, out);
      i += out.length;
      if (i < end) return out;
    }
    for (; i < hi; i++) {
      const e = this.cache.at(i);
      if (out.length > 0 && bytes + e.data.length > maxBytes) break;
      out.push(e);
      bytes += e.data.length;
    }
    return out;
  }

  snapshot(): Snapshot {
    const m = this.front.snapshot;
    return { meta: { index: m.index, term: m.term, conf: { voters: [...m.conf.voters], learners: [...m.conf.learners] } }, data: new Uint8Array(0) };
  }

  hardState(): HardState {
    return { ...this.front.hardState };
  }

  stats(): WalStats {
    return { ...this.counters };
  }

  // ---- write side ----------------------------------------------------------------------------

  /**
   * Persists a snapshot reset, entries and the hard state (in that order, as records of one
   * group); resolves when durable. Entries at or below the compaction point are dropped; the
   * first must be at most lastIndex + 1, and an entry at i ≤ lastIndex replaces the suffix from i
   * (a Truncate record precedes it). Snapshot (i, t): if the log holds i with term t the entries
   * after it are kept, otherwise the log restarts empty after i.
   */
  persist(req: PersistRequest): Promise<void> {
    const refused = this.refusal();
    if (refused) return Promise.reject(refused);
    const f = this.front;
    const snap = req.snapshot ?? null;
    let entries = req.entries ?? [];
    // Validate everything before touching the view, so a refused request changes nothing.
    let truncIndex = f.trunc.index;
    let last = f.last;
    let termBefore = (i: number): number => f.termOf(i);
    const mode = snap ? f.installMode(snap.index, snap.term) : 'reset';
    if (snap) {
      if (snap.index < f.trunc.index) {
        return Promise.reject(invalid(`snapshot at ${snap.index} is older than the compaction point ${f.trunc.index}`));
      }
      truncIndex = snap.index;
      if (mode === 'reset') {
        last = snap.index;
        termBefore = () => snap.term;
      }
    }
    if (entries.length > 0) {
      const skip = Math.max(0, Math.min(entries.length, truncIndex + 1 - entries[0].index));
      if (skip > 0) entries = entries.slice(skip);
    }
    const first = entries.length > 0 ? entries[0].index : 0;
    if (entries.length > 0) {
      if (first > last + 1) return Promise.reject(invalid(`append at ${first} outside [${truncIndex + 1}, ${last + 1}]`));
      let prev = termBefore(first - 1);
      for (let k = 0; k < entries.length; k++) {
        const e = entries[k];
        if (e.index !== first + k) return Promise.reject(invalid(`entries not contiguous at ${first + k}`));
        if (e.term < prev) return Promise.reject(invalid(`term ${e.term} at ${e.index} below ${prev}`));
        prev = e.term;
      }
    }
    const pre: RecordSpec[] = [];
    const ops: DiskOp[] = [];
    let low = Number.POSITIVE_INFINITY;
    // Everything below was validated above; if the view still refuses a change, memory and the
    // file would disagree from here on, so the log halts instead of half-applying the request.
    try {
      if (snap) {
        f.snapshotPoint(snap, mode);
        if (mode === 'reset') this.cache.reset(snap.index + 1);
        else this.cache.dropThrough(snap.index);
        pre.push({ type: RecordType.Snapshot, index: snap.index, term: snap.term, payload: encodeSnapshotPayload(snap.conf, mode) });
        ops.push({ k: 'snapshot', meta: snap, mode });
      }
      if (entries.length > 0) {
        low = first;
        if (first <= f.last) {
          f.truncate(first);
          this.cache.truncateFrom(first);
          pre.push({ type: RecordType.Truncate, index: first, term: 0, payload: null });
          ops.push({ k: 'truncate', from: first });
        }
        for (const e of entries) f.entry(e.index, e.term, null);
      }
    } catch (cause) {
      this.failed ??= cause;
      return Promise.reject(new StorageError('STORAGE_IO', 'WAL view refused a validated write; the log is halted', { cause }));
    }
    const hs = req.hardState ?? null;
    let post: RecordSpec | null = null;
    if (hs) {
      f.setHardState(hs);
      post = { type: RecordType.HardState, index: hs.commit, term: hs.term, payload: encodeVote(hs.vote) };
    }
    const records = pre.length + entries.length + (post ? 1 : 0);
    if (records === 0) return Promise.resolve();
    const { buf, rels } = encodeGroup(pre, entries, post);
    if (entries.length > 0) {
      const terms = new Float64Array(entries.length);
      for (let k = 0; k < entries.length; k++) {
        const e = entries[k];
        terms[k] = e.term;
        // The cache holds a view into our own record, so it never aliases the caller's buffers.
        const at = rels[k] + MIN_FRAME + 1;
        this.cache.push({ index: e.index, term: e.term, type: e.type, data: new Uint8Array(buf.buffer, buf.byteOffset + at, rels[k + 1] - at) });
      }
      ops.push({ k: 'entries', first, terms, rels });
    }
    if (hs) ops.push({ k: 'hs', hs: { ...hs } });
    return this.enqueue(buf, ops, records, low);
  }

  /**
   * Drops entries ≤ upToIndex: a Compact record, then every segment older than the one that holds
   * entry upToIndex + 1 (or the tail) is deleted. The caller guarantees upToIndex is durably
   * applied (the state machine's synced applied index), so no replay will need those entries.
   */
  async compact(upToIndex: number): Promise<void> {
    const refused = this.refusal();
    if (refused) throw refused;
    const f = this.front;
    if (upToIndex <= f.trunc.index) return;
    if (upToIndex > f.last) throw invalid(`cannot compact to ${upToIndex}: last index is ${f.last}`);
    const term = f.termOf(upToIndex);
    f.compact(upToIndex, term);
    this.cache.dropThrough(upToIndex);
    const { buf } = encode([{ type: RecordType.Compact, index: upToIndex, term, payload: null }]);
    await this.enqueue(buf, [{ k: 'compact', index: upToIndex, term }], 1, Number.POSITIVE_INFINITY);
  }

  /** Records a local snapshot point (what `snapshot()` returns); the log itself is unchanged. */
  recordSnapshot(meta: SnapshotMeta): Promise<void> {
    const refused = this.refusal();
    if (refused) return Promise.reject(refused);
    if (meta.index < this.front.snapshot.index) {
      return Promise.reject(invalid(`snapshot point ${meta.index} is older than the recorded ${this.front.snapshot.index}`));
    }
    this.front.snapshotPoint(meta, 'record');
    const { buf } = encode([{ type: RecordType.Snapshot, index: meta.index, term: meta.term, payload: encodeSnapshotPayload(meta.conf, 'record') }]);
    return this.enqueue(buf, [{ k: 'snapshot', meta, mode: 'record' }], 1, Number.POSITIVE_INFINITY);
  }

  /** First start of a founding member: a snapshot point at (1, 1) and hard state (1, -, 1). */
  async bootstrap(voters: string[], learners: string[] = []): Promise<boolean> {
    const f = this.front;
    if (f.last > 0 || f.trunc.index > 0 || f.hardState.term > 0) return false;
    await this.persist({ snapshot: { index: 1, term: 1, conf: { voters: [...voters], learners: [...learners] } }, hardState: { term: 1, vote: null, commit: 1 } });
    return true;
  }

  /** Waits for queued writes, then closes every file. Later writes are refused. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.idle();
    const spare = await this.spare;
    this.spare = null;
    if (spare && 'fd' in spare) await closeFd(spare.fd).catch(() => undefined);
    for (const fd of this.fds.values()) closeSync(fd);
    this.fds.clear();
  }

  /** Where the next record goes (diagnostics and crash tests). */
  position(): { segment: string; offset: number } {
    return { segment: join(this.dir, segmentName(this.tailSeq)), offset: this.tailOffset };
  }

  /** Resolves when the next segment's preallocation (running in the background) is done. */
  async spareReady(): Promise<void> {
    await this.spare;
  }

  /** Resolves when nothing is queued or being written. */
  idle(): Promise<void> {
    if (!this.flushing && this.queue.length === 0) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  // ---- group commit --------------------------------------------------------------------------

  private refusal(): StorageError | null {
    if (this.failed !== null) return new StorageError('STORAGE_IO', 'the WAL is halted after a failed write', { cause: this.failed });
    if (this.closed) return new StorageError('STORAGE_IO', 'the WAL is closed');
    return null;
  }

  private enqueue(buf: Uint8Array, ops: DiskOp[], records: number, low: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const p: Pending = { buf, ops, records, low, resolve, reject };
      if (low !== Number.POSITIVE_INFINITY) this.pendingLows.set(p, low);
      this.queue.push(p);
      if (!this.flushing) void this.flushLoop();
    });
  }

  private async flushLoop(): Promise<void> {
    this.flushing = true;
    try {
      while (this.queue.length > 0) {
        const batch = this.queue;
        this.queue = [];
        if (this.failed !== null) {
          this.settle(batch, this.refusal());
          continue;
        }
        let err: StorageError | null = null;
        try {
          await this.writeGroup(batch);
        } catch (cause) {
          this.failed ??= cause;
          err = new StorageError('STORAGE_IO', 'WAL write failed; the in-memory log is ahead of disk', { cause });
        }
        this.settle(batch, err);
      }
    } finally {
      this.flushing = false;
      for (const w of this.idleWaiters.splice(0)) w();
    }
  }

  private settle(batch: Pending[], err: StorageError | null): void {
    for (const p of batch) {
      this.pendingLows.delete(p);
      if (err) p.reject(err);
      else p.resolve();
    }
    if (!err) {
      let keepFrom = Number.POSITIVE_INFINITY;
      for (const v of this.pendingLows.values()) if (v < keepFrom) keepFrom = v;
      this.cache.trim(keepFrom);
    }
  }

  private async writeGroup(batch: Pending[]): Promise<void> {
    let size = 0;
    let records = 0;
    for (const p of batch) {
      size += p.buf.length;
      records += p.records;
    }
    const full = this.tailOffset + size > this.segmentBytes || this.tailOffset + size > MAX_SEGMENT_OFFSET;
    if (full && this.tailOffset > this.tailHeaderEnd) await this.rollover();
    const base = this.tailOffset;
    const fd = this.tailFd();
    const bufs = batch.length === 1 ? [batch[0].buf] : batch.map((p) => p.buf);
    const t0 = performance.now();
    await writeAt(fd, bufs, base);
    if (!this.odsync) await fdatasync(fd);
    this.counters.writeSeconds += (performance.now() - t0) / 1000;
    this.tailOffset += size;
    // The disk model follows the file: locations become readable as soon as the bytes are written.
    let rel = base;
    let compacted = false;
    for (const p of batch) {
      for (const op of p.ops) compacted = this.applyDisk(op, rel) || compacted;
      rel += p.buf.length;
    }
    this.counters.groups++;
    this.counters.requests += batch.length;
    this.counters.records += records;
    this.counters.bytes += size;
    if (compacted) await this.dropSegments();
  }

  /** Applies one written op to the disk model; true when it may have freed segments. */
  private applyDisk(op: DiskOp, base: number): boolean {
    const d = this.disk;
    switch (op.k) {
      case 'entries':
        for (let k = 0; k < op.terms.length; k++) {
          d.entry(op.first + k, op.terms[k], { seq: this.tailSeq, offset: base + op.rels[k], len: op.rels[k + 1] - op.rels[k] });
        }
        return false;
      case 'truncate':
        d.truncate(op.from);
        return false;
      case 'compact':
        d.compact(op.index, op.term);
        return true;
      case 'snapshot':
        d.snapshotPoint(op.meta, op.mode);
        return op.mode !== 'record';
      case 'hs':
        d.setHardState(op.hs);
        return false;
    }
  }

  /** Deletes, oldest first, every segment before the one holding the first live entry (never the tail). */
  private async dropSegments(): Promise<void> {
    const keepFrom = Math.min(this.locations.minSeq(), this.tailSeq);
    const drop = this.seqs.filter((s) => s < keepFrom);
    if (drop.length === 0) return;
    for (const s of drop) {
      const fd = this.fds.get(s);
      if (fd !== undefined) {
        this.fds.delete(s);
        closeSync(fd);
      }
      await unlinkFile(segmentPath(this.dir, s));
      this.counters.segmentsDeleted++;
    }
    this.seqs = this.seqs.filter((s) => s >= keepFrom);
    await fsyncDir(this.dir);
  }

  /** Seals the tail segment and starts the next one from the spare. */
  private async rollover(): Promise<void> {
    const next = this.tailSeq + 1;
    const d = this.disk;
    const { buf } = encode([{ type: RecordType.Seal, index: d.last, term: d.lastTerm(), payload: encodeSeq(next) }]);
    const fd = this.tailFd();
    await writeAt(fd, [buf], this.tailOffset);
    this.tailOffset += buf.length;
    // The seal must be durable before the next segment exists: a sealed segment is complete.
    if (!this.odsync) await fdatasync(fd);
    await this.startSegment(next);
    this.counters.rollovers++;
  }

  /** Writes the header of segment `seq` into the spare, syncs it, and gives it its name. */
  private async startSegment(seq: number): Promise<void> {
    const spare = await (this.spare ?? this.prepareSpare());
    this.spare = null;
    if ('error' in spare) throw spare.error;
    const d = this.disk;
    const specs: RecordSpec[] = [
      { type: RecordType.SegmentStart, index: d.last, term: d.lastTerm(), payload: encodeSegmentStart(seq, d.trunc.index, d.trunc.term) },
      { type: RecordType.HardState, index: d.hardState.commit, term: d.hardState.term, payload: encodeVote(d.hardState.vote) },
    ];
    // Always restated: older segments that recorded it may be deleted.
    specs.push({ type: RecordType.Snapshot, index: d.snapshot.index, term: d.snapshot.term, payload: encodeSnapshotPayload(d.snapshot.conf, 'record') });
    const { buf } = encode(specs);
    await writeAt(spare.fd, [SEGMENT_MAGIC, buf], 0);
    await fdatasync(spare.fd);
    await renameFile(join(this.dir, SPARE_NAME), segmentPath(this.dir, seq));
    await fsyncDir(this.dir);
    let fd = spare.fd;
    if (this.odsync) {
      fd = openSync(segmentPath(this.dir, seq), this.writeFlags());
      await closeFd(spare.fd);
    }
    this.fds.set(seq, fd);
    this.seqs.push(seq);
    this.tailSeq = seq;
    this.tailOffset = SEGMENT_MAGIC.length + buf.length;
    this.tailHeaderEnd = this.tailOffset;
    if (!this.closed) this.spare = this.prepareSpare();
  }

  /** Preallocates the next segment in the background (off the write path, like etcd's pipeline). */
  private prepareSpare(): Promise<SpareResult> {
    const size = this.prealloc === 'none' ? 0 : this.segmentBytes;
    return createPreallocated(join(this.dir, SPARE_NAME), size, this.prealloc).then(
      (fd) => ({ fd }),
      (error: unknown) => ({ error }),
    );
  }

  private writeFlags(): number {
    return fsc.O_RDWR | (this.odsync ? fsc.O_DSYNC : 0);
  }

  private tailFd(): number {
    const fd = this.fds.get(this.tailSeq);
    if (fd === undefined) throw new StorageError('STORAGE_IO', 'WAL tail segment is not open');
    return fd;
  }
}

function invalid(msg: string): StorageError {
  return new StorageError('LOG_WRITE_INVALID', msg);
}

/**
 * Encodes `pre`, then one Entry record per entry, then `post`, back to back into one buffer;
 * rels[k] = offset of entry k's record (rels[n] = the end of the last entry record).
 */
function encodeGroup(pre: RecordSpec[], entries: readonly Entry[], post: RecordSpec | null): { buf: Uint8Array; rels: Uint32Array } {
  let size = 0;
  for (const s of pre) size += specSize(s);
  for (const e of entries) size += frameSize(1 + e.data.length);
  if (post) size += specSize(post);
  // allocUnsafe is safe here: writeRecord writes every byte of every frame.
  const buf = Buffer.allocUnsafe(size);
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let at = 0;
  for (const s of pre) at = writeRecord(buf, at, s.type, s.index, s.term, s.payload, s.head, dv);
  const rels = new Uint32Array(entries.length + 1);
  for (let k = 0; k < entries.length; k++) {
    const e = entries[k];
    rels[k] = at;
    at = writeRecord(buf, at, RecordType.Entry, e.index, e.term, e.data, e.type, dv);
  }
  rels[entries.length] = at;
  if (post) writeRecord(buf, at, post.type, post.index, post.term, post.payload, post.head, dv);
  return { buf, rels };
}

function specSize(s: RecordSpec): number {
  return frameSize((s.head === undefined ? 0 : 1) + (s.payload === null ? 0 : s.payload.length));
}

/** Encodes records back to back into one buffer; rels[k] = offset of record k (rels[n] = end). */
function encode(specs: RecordSpec[]): { buf: Uint8Array; rels: number[] } {
  let size = 0;
  for (const s of specs) size += frameSize((s.head === undefined ? 0 : 1) + (s.payload === null ? 0 : s.payload.length));
  // allocUnsafe is safe here: writeRecord writes every byte of every frame.
  const buf = Buffer.allocUnsafe(size);
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const rels: number[] = [];
  let at = 0;
  for (const s of specs) {
    rels.push(at);
    at = writeRecord(buf, at, s.type, s.index, s.term, s.payload, s.head, dv);
  }
  rels.push(at);
  return { buf, rels };
}

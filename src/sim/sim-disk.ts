// A simulated disk for the whole-node simulator (issue 14 item 2): an in-memory file system with
// the fd-level calls the node's file-backed stores make (the WAL's segment files, the sidecar,
// snapshot staging), and a crash model of what survives.
//
// Crash model (conservative, as a journaling file system in ordered mode permits):
// - file data reaches the platter only through fdatasync/fsync of that file. At a crash, every
//   write since the file's last sync is independently kept whole, lost, or torn: a random subset
//   of its 512-byte sectors persisted (sectors may land out of order);
// - a file's size change (append, ftruncate) since its last sync is lost unless kept with a
//   surviving write;
// - namespace changes (create, rename, unlink) become durable only through an fsync of their
//   directory; the file system journals them in order, so a crash keeps a random-length prefix
//   of the unsynced ones (fsync of one directory commits every earlier namespace change, as one
//   journal commit does). A file synced with fdatasync but whose name was never made durable is
//   gone after the crash — the classic missing-directory-fsync bug;
// - a failed fsync (injected EIO) makes no promise: the writes stay pending and may be lost.
//
// Faults: injected I/O errors (per call kind, by probability, from the seeded PRNG) and latency
// (every call completes after a random virtual delay). Errors are Node-style (`code: 'EIO'`).

import { dirname } from 'node:path/posix';
import type { Scheduler } from '../node/scheduler.js';

const SECTOR = 512;

export type DiskOp = 'open' | 'write' | 'sync' | 'read' | 'rename' | 'unlink' | 'truncate' | 'fsyncDir';

export interface DiskFaults {
  /** Probability that one call of each kind fails with EIO (absent: 0). */
  ioError: Partial<Record<DiskOp, number>>;
  /** Latency bounds of one call (virtual ms). */
  minLatencyMs: number;
  maxLatencyMs: number;
  /** At a crash, the probability that an unsynced write survives whole / is lost (else torn). */
  keepWrite: number;
  loseWrite: number;
}

export const RELIABLE_DISK: DiskFaults = { ioError: {}, minLatencyMs: 0, maxLatencyMs: 0, keepWrite: 0.34, loseWrite: 0.33 };

export interface DiskCounters {
  writes: number;
  syncs: number;
  ioErrors: number;
  crashes: number;
  writesLost: number;
  writesTorn: number;
  writesKept: number;
  namespaceOpsLost: number;
}

interface PendingWrite {
  pos: number;
  bytes: Uint8Array;
}

interface Inode {
  /** What a reader sees now (the page cache). */
  data: Uint8Array;
  /** What survives a crash as of the last sync. */
  durable: Uint8Array;
  pending: PendingWrite[];
  /** A size change (truncate) since the last sync, applied before the pending writes. */
  pendingSize: number | null;
}

type NsOp = { kind: 'link'; path: string; ino: Inode } | { kind: 'unlink'; path: string } | { kind: 'rename'; from: string; to: string };

interface Fd {
  ino: Inode;
  path: string;
  /** Opened O_DSYNC: each write is durable when it completes. */
  dsync: boolean;
}

export interface OpenOptions {
  create?: boolean;
  truncate?: boolean;
  /** O_DSYNC (the WAL's default write mode). */
  dsync?: boolean;
}

export class SimDiskError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(`${code}: ${message}`);
  }
}

export class SimDisk {
  /** The namespace as processes see it. */
  private names = new Map<string, Inode>();
  /** The namespace as of the last durable journal commit. */
  private durableNames = new Map<string, Inode>();
  /** Namespace changes not yet durable, in order. */
  private nsPending: NsOp[] = [];
  private dirs = new Set<string>(['/']);
  private fds = new Map<number, Fd>();
  private nextFd = 3;
  /** Incremented by every crash: callbacks of calls made before it never run. */
  private generation = 0;
  faults: DiskFaults;
  readonly counters: DiskCounters = { writes: 0, syncs: 0, ioErrors: 0, crashes: 0, writesLost: 0, writesTorn: 0, writesKept: 0, namespaceOpsLost: 0 };

  constructor(
    private readonly sched: Scheduler,
    private readonly random: () => number,
    faults: DiskFaults = RELIABLE_DISK,
  ) {
    this.faults = { ...faults, ioError: { ...faults.ioError } };
  }

  // ------------------------------------------------------------------ namespace

  /** Directories are durable at once (the simulator creates a node's tree before it starts). */
  mkdirp(dir: string): void {
    for (let d = dir; d !== '/' && d !== '.' && !this.dirs.has(d); d = dirname(d)) this.dirs.add(d);
  }

  exists(path: string): boolean {
    return this.names.has(path);
  }

  isDir(path: string): boolean {
    return this.dirs.has(path);
  }

  /** Runs `fn` after one call's latency (an adapter's calls that do nothing on the disk). */
  afterLatency(fn: () => void): void {
    void this.io('read', () => undefined).then(fn, fn);
  }

  readdir(dir: string): string[] {
    const prefix = dir.endsWith('/') ? dir : `${dir}/`;
    const out: string[] = [];
    for (const p of this.names.keys()) if (p.startsWith(prefix) && !p.slice(prefix.length).includes('/')) out.push(p.slice(prefix.length));
    return out.sort();
  }

  /** Opens `path`; `create` makes it (empty) when absent, `truncate` empties it. */
  open(path: string, opts: OpenOptions = {}): Promise<number> {
    return this.io('open', () => this.doOpen(path, opts));
  }

  private doOpen(path: string, opts: OpenOptions): number {
    let ino = this.names.get(path);
    if (ino === undefined) {
      if (!opts.create) throw new SimDiskError('ENOENT', `no such file: ${path}`);
      if (!this.dirs.has(dirname(path))) throw new SimDiskError('ENOENT', `no such directory: ${dirname(path)}`);
      ino = { data: new Uint8Array(0), durable: new Uint8Array(0), pending: [], pendingSize: null };
      this.names.set(path, ino);
      this.nsPending.push({ kind: 'link', path, ino });
    } else if (opts.truncate) {
      truncateTo(ino, 0);
    }
    const fd = this.nextFd++;
    this.fds.set(fd, { ino, path, dsync: opts.dsync ?? false });
    return fd;
  }

  rename(from: string, to: string): Promise<void> {
    return this.io('rename', () => this.doRename(from, to));
  }

  private doRename(from: string, to: string): void {
    const ino = this.names.get(from);
    if (ino === undefined) throw new SimDiskError('ENOENT', `no such file: ${from}`);
    this.names.delete(from);
    this.names.set(to, ino);
    this.nsPending.push({ kind: 'rename', from, to });
  }

  unlink(path: string): Promise<void> {
    return this.io('unlink', () => this.doUnlink(path));
  }

  private doUnlink(path: string): void {
    if (!this.names.delete(path)) throw new SimDiskError('ENOENT', `no such file: ${path}`);
    this.nsPending.push({ kind: 'unlink', path });
  }

  /** Makes every namespace change so far durable (one journal commit). */
  fsyncDir(dir: string): Promise<void> {
    return this.io('fsyncDir', () => this.doFsyncDir(dir));
  }

  private doFsyncDir(dir: string): void {
    if (!this.dirs.has(dir)) throw new SimDiskError('ENOENT', `no such directory: ${dir}`);
    for (const op of this.nsPending) applyNs(this.durableNames, op);
    this.nsPending = [];
  }

  // ------------------------------------------------------------------ file data

  writev(fd: number, bufs: readonly Uint8Array[], position: number): Promise<void> {
    // Copied at call time: the caller may reuse its buffers once the promise settles.
    const bytes = concat(bufs);
    return this.io('write', () => this.doWrite(fd, bytes, position));
  }

  private doWrite(fd: number, bytes: Uint8Array, position: number): void {
    const f = this.fd(fd);
    this.counters.writes++;
    writeInto(f.ino, position, bytes);
    // O_DSYNC: every sector of the write is durable (what `patch` with all sectors kept gives, in one copy).
    if (f.dsync) f.ino.durable = written(f.ino.durable, position, bytes);
    else f.ino.pending.push({ pos: position, bytes });
  }

  // Synchronous calls (the WAL's openSync/readSync paths, the address book): they block the
  // process, so they take no virtual time; injected errors apply as to the async ones.
  readonly sync = {
    open: (path: string, opts: OpenOptions = {}): number => this.now('open', () => this.doOpen(path, opts)),
    write: (fd: number, bufs: readonly Uint8Array[], position: number): void => this.now('write', () => this.doWrite(fd, concat(bufs), position)),
    fdatasync: (fd: number): void => this.now('sync', () => this.doSync(fd)),
    read: (fd: number, position: number, length: number): Uint8Array => this.now('read', () => this.fd(fd).ino.data.slice(position, position + length)),
    readFile: (path: string): Uint8Array => this.now('read', () => this.inode(path).data.slice()),
    ftruncate: (fd: number, size: number): void => this.now('truncate', () => truncateTo(this.fd(fd).ino, size)),
    fsyncDir: (dir: string): void => this.now('fsyncDir', () => this.doFsyncDir(dir)),
    unlink: (path: string): void => this.now('unlink', () => this.doUnlink(path)),
    rename: (from: string, to: string): void => this.now('rename', () => this.doRename(from, to)),
    close: (fd: number): void => {
      this.fds.delete(fd);
    },
  };

  ftruncate(fd: number, size: number): Promise<void> {
    return this.io('truncate', () => truncateTo(this.fd(fd).ino, size));
  }

  /** fdatasync and fsync alike: the file's data and size become durable (not its name). */
  fdatasync(fd: number): Promise<void> {
    return this.io('sync', () => this.doSync(fd));
  }

  private doSync(fd: number): void {
    const ino = this.fd(fd).ino;
    this.counters.syncs++;
    ino.durable = ino.data.slice();
    ino.pending = [];
    ino.pendingSize = null;
  }

  read(fd: number, position: number, length: number): Promise<Uint8Array> {
    return this.io('read', () => this.fd(fd).ino.data.slice(position, position + length));
  }

  size(path: string): number {
    const ino = this.names.get(path);
    if (ino === undefined) throw new SimDiskError('ENOENT', `no such file: ${path}`);
    return ino.data.length;
  }

  /** The whole file as a reader sees it now (start-up recovery reads). */
  readFile(path: string): Promise<Uint8Array> {
    return this.io('read', () => this.inode(path).data.slice());
  }

  private inode(path: string): Inode {
    const ino = this.names.get(path);
    if (ino === undefined) throw new SimDiskError('ENOENT', `no such file: ${path}`);
    return ino;
  }

  close(fd: number): Promise<void> {
    this.fds.delete(fd);
    return Promise.resolve();
  }

  /** Open descriptors (a leak check for the simulator). */
  openFds(): number {
    return this.fds.size;
  }

  // ------------------------------------------------------------------ crash

  /**
   * The machine loses power: every descriptor is gone, and the disk holds what the crash model
   * lets survive. Callbacks of calls still in flight never run (their process is dead): the
   * simulator drops the node's whole composition and starts a new one over this disk.
   */
  crash(): void {
    this.counters.crashes++;
    this.fds.clear();
    // Namespace: a random prefix of the unsynced journal survives.
    const keep = Math.floor(this.random() * (this.nsPending.length + 1));
    for (const op of this.nsPending.slice(0, keep)) applyNs(this.durableNames, op);
    this.counters.namespaceOpsLost += this.nsPending.length - keep;
    this.nsPending = [];
    // Data: every inode still reachable keeps its synced content plus a random fate per unsynced write.
    const seen = new Set<Inode>();
    for (const ino of this.durableNames.values()) {
      if (seen.has(ino)) continue;
      seen.add(ino);
      this.settle(ino);
    }
    this.names = new Map(this.durableNames);
    this.generation++;
  }

  /**
   * The process exited (or was killed) but the machine did not lose power: its descriptors are
   * gone and its calls in flight never complete, while everything written stays in the page cache.
   */
  exitProcess(): void {
    this.fds.clear();
    this.generation++;
  }

  private settle(ino: Inode): void {
    let data = ino.durable;
    // An unsynced size change (truncate) may or may not have reached the journal.
    if (ino.pendingSize !== null && this.random() < 0.5) data = resize(data, ino.pendingSize);
    for (const w of ino.pending) {
      const r = this.random();
      if (r < this.faults.keepWrite) {
        this.counters.writesKept++;
        data = patch(data, w.pos, w.bytes, () => true);
      } else if (r < this.faults.keepWrite + this.faults.loseWrite) {
        this.counters.writesLost++;
      } else {
        this.counters.writesTorn++;
        data = patch(data, w.pos, w.bytes, () => this.random() < 0.5);
      }
    }
    ino.data = data;
    ino.durable = data.slice();
    ino.pending = [];
    ino.pendingSize = null;
  }

  // ------------------------------------------------------------------ plumbing

  private fd(fd: number): Fd {
    const f = this.fds.get(fd);
    if (f === undefined) throw new SimDiskError('EBADF', `bad file descriptor ${fd}`);
    return f;
  }

  /** A synchronous call: fails by injection or runs at once. */
  private now<T>(op: DiskOp, fn: () => T): T {
    if (this.random() < (this.faults.ioError[op] ?? 0)) {
      this.counters.ioErrors++;
      throw new SimDiskError('EIO', `injected I/O error (${op})`);
    }
    return fn();
  }

  /** Runs `fn` after the call's latency, unless the call fails by injection or a crash came first. */
  private io<T>(op: DiskOp, fn: () => T): Promise<T> {
    const f = this.faults;
    const latency = f.minLatencyMs + this.random() * Math.max(0, f.maxLatencyMs - f.minLatencyMs);
    const fail = this.random() < (f.ioError[op] ?? 0);
    const gen = this.generation;
    return new Promise<T>((resolve, reject) => {
      const run = (): void => {
        if (gen !== this.generation) return; // the process that called died in a crash
        if (fail) {
          this.counters.ioErrors++;
          reject(new SimDiskError('EIO', `injected I/O error (${op})`));
          return;
        }
        try {
          resolve(fn());
        } catch (e) {
          reject(e);
        }
      };
      if (latency <= 0) this.sched.defer(run);
      else this.sched.setTimeout(run, latency);
    });
  }
}

function applyNs(names: Map<string, Inode>, op: NsOp): void {
  if (op.kind === 'link') names.set(op.path, op.ino);
  else if (op.kind === 'unlink') names.delete(op.path);
  else {
    const ino = names.get(op.from);
    names.delete(op.from);
    if (ino !== undefined) names.set(op.to, ino);
  }
}

function concat(bufs: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(bufs.reduce((n, b) => n + b.length, 0));
  let at = 0;
  for (const b of bufs) {
    out.set(b, at);
    at += b.length;
  }
  return out;
}

/**
 * `data` at `size` bytes, zero-filled past its old end. The result may be a view of the same
 * buffer (files grow with doubling capacity: a WAL append must not copy its whole segment), so
 * an array passed in is owned by the caller that replaces it with the result.
 */
function resize(data: Uint8Array, size: number): Uint8Array {
  if (size === data.length) return data;
  if (size < data.length) return data.subarray(0, size);
  if (data.byteOffset + size <= data.buffer.byteLength) {
    const out = new Uint8Array(data.buffer, data.byteOffset, size);
    out.fill(0, data.length); // a shrink left older bytes in the spare capacity
    return out;
  }
  const out = new Uint8Array(Math.max(size, 2 * data.length, 512)).subarray(0, size);
  out.set(data);
  return out;
}

function writeInto(ino: Inode, pos: number, bytes: Uint8Array): void {
  ino.data = written(ino.data, pos, bytes);
}

/** `data` with `bytes` written at `pos` (grown, zero-filled, as needed; may be the same array). */
function written(data: Uint8Array, pos: number, bytes: Uint8Array): Uint8Array {
  const out = pos + bytes.length > data.length ? resize(data, pos + bytes.length) : data;
  out.set(bytes, pos);
  return out;
}

function truncateTo(ino: Inode, size: number): void {
  ino.data = resize(ino.data, size);
  ino.pendingSize = size;
}

/**
 * `data` with the sectors of the write at `pos` for which `keep(sector)` holds applied. Patches
 * in place (every caller replaces the array it passes with the result, and no one else holds it).
 */
function patch(data: Uint8Array, pos: number, bytes: Uint8Array, keep: () => boolean): Uint8Array {
  let out = data;
  for (let off = 0; off < bytes.length; ) {
    // Sector boundaries are absolute on the device.
    const end = Math.min(bytes.length, (Math.floor((pos + off) / SECTOR) + 1) * SECTOR - pos);
    if (keep()) {
      if (pos + end > out.length) out = resize(out, pos + end);
      out.set(bytes.subarray(off, end), pos + off);
    }
    off = end;
  }
  return out;
}

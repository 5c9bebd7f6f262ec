// The sidecar file on disk (SPEC KM-5, KM-6, KM-7): read with validation, and the crash-durable
// write protocol — tmp file created exclusively with mode 0600, fsync, rename, directory fsync —
// so a crash at any point leaves `keys.json` holding either the old or the new contents.

import { closeSync, constants, fsync, mkdirSync, openSync, promises as fsp, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { KeyError } from '../errors.js';
import type { KdfParams } from './kek-kdf.js';
import { kdfFromSidecarJson, parseSidecar, type Sidecar, serializeSidecar } from './sidecar-schema.js';

export const SIDECAR_DIR = 'encryption';
export const SIDECAR_FILE = 'keys.json';

/** The steps of one write, in order (KM-7 steps 2–7). */
export type WriteStep = 'remove-stale-tmp' | 'create-tmp' | 'write' | 'fsync-file' | 'close' | 'rename' | 'fsync-dir';
export const WRITE_STEPS: readonly WriteStep[] = ['remove-stale-tmp', 'create-tmp', 'write', 'fsync-file', 'close', 'rename', 'fsync-dir'];

/**
 * Test seam: called before and after every step. A throw counts as that step failing; a hook
 * that kills the process simulates a crash there. Production passes none.
 */
export type WriteStepHook = (step: WriteStep, phase: 'before' | 'after') => void | Promise<void>;

export interface SidecarStoreOptions {
  /**
   * True when the path is the default `<data-dir>/encryption/keys.json`: its directory is then
   * created with mode 0700 when missing. With an explicit `--sidecar` the directory must exist.
   */
  defaultLocation?: boolean;
  onWriteStep?: WriteStepHook;
  /** Test seam: called before the probe's directory fsync; a throw counts as that fsync failing. */
  onProbeSync?: () => void | Promise<void>;
  /** The file system (default `node:fs`; the whole-node simulator passes its disk). */
  fs?: SidecarFs;
}

/** A file created for writing (the tmp file and the probe). */
export interface SidecarFile {
  writeFile(bytes: Uint8Array | string): Promise<void>;
  sync(): Promise<void>;
  close(): Promise<void>;
}

/**
 * The file-system calls of the sidecar store (issue 14): `node:fs` in production; the whole-node
 * simulator passes its simulated disk. Errors carry `code` as Node's do (ENOENT, EEXIST, …).
 */
export interface SidecarFs {
  stat(path: string): Promise<{ isFile(): boolean; isDirectory(): boolean }>;
  readFile(path: string): Promise<string>;
  /** Removes `path` if present. */
  rm(path: string): Promise<void>;
  mkdirp(dir: string): Promise<void>;
  /** O_WRONLY | O_CREAT | O_EXCL, mode 0600. */
  createExclusive(path: string): Promise<SidecarFile>;
  rename(from: string, to: string): Promise<void>;
  /** Opens the directory and fsyncs it (its entries become durable). */
  syncDir(dir: string): Promise<void>;
}

// The metadata steps (unlink, create, write of a few hundred bytes, close, rename) run
// synchronously: each is microseconds of syscall, while an async call costs a libuv thread-pool
// round trip, and a KM-7 write sits on the apply path of the raft-envelope marker, i.e. inside the
// cutover's write pause (PF-4). The two fsyncs, which wait for the disk, stay off the main thread.
function fsyncAsync(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fsync(fd, (e) => (e ? reject(e) : resolve())));
}

/** A failure of a synchronous call as a rejected promise, so callers see one error path. */
function attempt<T>(fn: () => T): Promise<T> {
  try {
    return Promise.resolve(fn());
  } catch (e) {
    return Promise.reject(e);
  }
}

function nodeSidecarFile(fd: number): SidecarFile {
  let open = true;
  return {
    writeFile: (bytes) =>
      attempt(() => {
        const buf = typeof bytes === 'string' ? Buffer.from(bytes, 'utf8') : bytes;
        let off = 0;
        while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
      }),
    sync: () => fsyncAsync(fd),
    close: () =>
      attempt(() => {
        if (!open) return;
        open = false;
        closeSync(fd);
      }),
  };
}

export const nodeSidecarFs: SidecarFs = {
  stat: (path) => fsp.stat(path),
  readFile: (path) => fsp.readFile(path, 'utf8'),
  rm: (path) => attempt(() => rmSync(path, { force: true })),
  mkdirp: (dir) =>
    attempt(() => {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
    }),
  createExclusive: (path) => attempt(() => nodeSidecarFile(openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600))),
  rename: (from, to) => attempt(() => renameSync(from, to)),
  syncDir: async (dir) => {
    const fd = openSync(dir, constants.O_RDONLY);
    try {
      await fsyncAsync(fd);
    } finally {
      closeSync(fd);
    }
  },
};

const errno = (e: unknown): string | undefined => (e as NodeJS.ErrnoException | null)?.code;

function io(message: string, cause: unknown): KeyError {
  return new KeyError('SIDECAR_IO', `${message}: ${errno(cause) ?? (cause as Error)?.message ?? String(cause)}`, { cause });
}

export class SidecarStore {
  readonly path: string;
  readonly tmpPath: string;
  readonly dir: string;
  private readonly defaultLocation: boolean;
  private readonly hook: WriteStepHook | undefined;
  private readonly probeHook: (() => void | Promise<void>) | undefined;
  private readonly fs: SidecarFs;
  /** KM-7: writes are serialised; each waits for the previous one. */
  private tail: Promise<void> = Promise.resolve();

  constructor(path: string, options: SidecarStoreOptions = {}) {
    this.path = path;
    this.dir = dirname(path);
    this.tmpPath = join(this.dir, `${basename(path)}.tmp`);
    this.defaultLocation = options.defaultLocation ?? false;
    this.hook = options.onWriteStep;
    this.probeHook = options.onProbeSync;
    this.fs = options.fs ?? nodeSidecarFs;
  }

  /** `<data-dir>/encryption/keys.json` (KM-5). */
  static defaultPath(dataDir: string): string {
    return join(dataDir, SIDECAR_DIR, SIDECAR_FILE);
  }

  /** The store for `--sidecar PATH`, or the default location under `dataDir`. */
  static open(dataDir: string, explicitPath?: string, options: Omit<SidecarStoreOptions, 'defaultLocation'> = {}): SidecarStore {
    return explicitPath === undefined
      ? new SidecarStore(SidecarStore.defaultPath(dataDir), { ...options, defaultLocation: true })
      : new SidecarStore(explicitPath, { ...options, defaultLocation: false });
  }

  /** OP-4 group A step 1: false when absent; any other stat failure is SIDECAR_IO. */
  async exists(): Promise<boolean> {
    try {
      const st = await this.fs.stat(this.path);
      if (!st.isFile()) throw new KeyError('SIDECAR_IO', `sidecar ${this.path} is not a regular file`);
      return true;
    } catch (e) {
      if (e instanceof KeyError) throw e;
      if (errno(e) === 'ENOENT') return false;
      throw io(`cannot stat sidecar ${this.path}`, e);
    }
  }

  /** The validated sidecar, or undefined when the file does not exist (KM-6). */
  async read(): Promise<Sidecar | undefined> {
    const text = await this.readText();
    return text === undefined ? undefined : parseSidecar(text);
  }

  /**
   * Only the `kek_kdf` object (KM-2: what the passphrase source reads before the group A guards);
   * undefined without a sidecar or without the object.
   */
  async readKdf(): Promise<KdfParams | undefined> {
    const text = await this.readText();
    if (text === undefined) return undefined;
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch (e) {
      throw new KeyError('SIDECAR_MALFORMED', `sidecar: not valid JSON (${(e as Error).message})`, { cause: e });
    }
    return kdfFromSidecarJson(doc);
  }

  private async readText(): Promise<string | undefined> {
    try {
      return await this.fs.readFile(this.path);
    } catch (e) {
      if (errno(e) === 'ENOENT') return undefined;
      throw io(`cannot read sidecar ${this.path}`, e);
    }
  }

  /**
   * Writes `next` durably (KM-7). Resolves only after the directory fsync, so a caller that
   * advances an applied index after this resolves never gets ahead of the file. Directory fsync
   * failure → UNSUPPORTED_FILESYSTEM; any other failure → SIDECAR_IO; validation errors as KM-6.
   * On failure the tmp file is removed and `keys.json` is untouched (or already complete).
   */
  write(next: Sidecar): Promise<void> {
    const run = this.tail.then(() => this.writeNow(next));
    this.tail = run.catch(() => {});
    return run;
  }

  private async step(name: WriteStep, fn: () => Promise<void>): Promise<void> {
    try {
      await this.hook?.(name, 'before');
      await fn();
      await this.hook?.(name, 'after');
    } catch (e) {
      if (e instanceof KeyError) throw e;
      if (name === 'fsync-dir') {
        throw new KeyError('UNSUPPORTED_FILESYSTEM', `fsync of directory ${this.dir} failed: ${errno(e) ?? (e as Error)?.message}`, { cause: e });
      }
      throw io(`sidecar write step ${name} (${this.path})`, e);
    }
  }

  private async writeNow(next: Sidecar): Promise<void> {
    // Step 1: validate and serialise; `next` itself is never mutated.
    const bytes = Buffer.from(serializeSidecar(next), 'utf8');
    if (this.defaultLocation) await this.ensureDefaultDir();
    let fh: SidecarFile | undefined;
    try {
      await this.step('remove-stale-tmp', async () => {
        await this.fs.rm(this.tmpPath);
      });
      await this.step('create-tmp', async () => {
        fh = await this.fs.createExclusive(this.tmpPath);
      });
      await this.step('write', async () => {
        await fh!.writeFile(bytes);
      });
      await this.step('fsync-file', async () => {
        await fh!.sync();
      });
      await this.step('close', async () => {
        const h = fh!;
        fh = undefined;
        await h.close();
      });
      await this.step('rename', () => this.fs.rename(this.tmpPath, this.path));
      await this.step('fsync-dir', () => this.fs.syncDir(this.dir));
    } catch (e) {
      // Step 8: leave no tmp file behind.
      await fh?.close().catch(() => {});
      await this.fs.rm(this.tmpPath).catch(() => {});
      throw e;
    }
  }

  /** KM-5: the default directory is created with mode 0700 when missing. */
  private async ensureDefaultDir(): Promise<void> {
    try {
      await this.fs.mkdirp(this.dir);
    } catch (e) {
      throw io(`cannot create sidecar directory ${this.dir}`, e);
    }
  }

  /**
   * OP-4 group A step 7: an explicit `--sidecar` whose directory is missing → SIDECAR_DIR_MISSING;
   * create, fsync, rename and directory-fsync a probe file, any failure → UNSUPPORTED_FILESYSTEM.
   * The default directory is created first (KM-5).
   */
  async probeDurability(): Promise<void> {
    if (this.defaultLocation) {
      await this.ensureDefaultDir();
    } else {
      try {
        const st = await this.fs.stat(this.dir);
        if (!st.isDirectory()) throw new Error('not a directory');
      } catch (e) {
        throw new KeyError('SIDECAR_DIR_MISSING', `--sidecar ${this.path}: directory ${this.dir} does not exist`, { cause: e });
      }
    }
    const a = join(this.dir, `.${basename(this.path)}.probe`);
    const b = `${a}.renamed`;
    try {
      await this.fs.rm(a);
      await this.fs.rm(b);
      const fh = await this.fs.createExclusive(a);
      try {
        await fh.writeFile('probe');
        await fh.sync();
      } finally {
        await fh.close();
      }
      await this.fs.rename(a, b);
      await this.probeHook?.();
      await this.fs.syncDir(this.dir);
    } catch (e) {
      throw new KeyError('UNSUPPORTED_FILESYSTEM', `durability probe in ${this.dir} failed: ${errno(e) ?? (e as Error)?.message}`, { cause: e });
    } finally {
      await this.fs.rm(a).catch(() => {});
      await this.fs.rm(b).catch(() => {});
    }
  }
}

// The node's one LMDB environment, `<data-dir>/db`, with the four tables of DESIGN.md §3
// plus an internal staging table for snapshot installs.
//
// lmdb-js semantics we rely on (lmdb 3.5):
// - Writes are asynchronous: `db.put`/`remove` (inside `batch()`) and `childTransaction`
//   callbacks are queued and committed by lmdb-js's own write thread; everything queued in one
//   event turn lands in one LMDB transaction. Puts are executed by the write thread; a
//   `childTransaction` callback runs on the main thread inside that write transaction and is
//   rolled back as a whole if it throws (a plain `transaction` callback that throws still
//   commits its partial writes, so we never use it). CommitQueue (commit-queue.ts) is the only
//   writer and picks between the two.
// - With `overlappingSync` (lmdb-js's default on Linux) the write promise resolves when the
//   transaction is *committed* (visible), and the fsync happens afterwards, outside the write
//   lock, overlapping the next transaction. `root.flushed` resolves once the last commit is
//   flushed. `durable()` below awaits both, so `await durable(p)` = committed AND fsynced.
//   With `overlappingSync: false` LMDB fsyncs inside the commit, and the promise alone suffices.
// - `noSync` stays false: commits are durable. Reads are synchronous and see committed data.
// - C-8: binary keys and values, no compression, so stored bytes are exactly the SPEC layouts.

import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { open, type Database, type RootDatabase } from 'lmdb';
import { CommitQueue } from './commit-queue.js';
import { loadCrc32c } from './crc32c.js';
import { StorageError } from './errors.js';

/** A table with binary keys and values: reads return Buffers, writes take any Uint8Array. */
export type BinaryDb = Database<Uint8Array, Uint8Array>;

export interface StorageEnvOptions {
  /** Initial map size in bytes (virtual address space; lmdb-js grows it when full). Default 1 GiB. */
  mapSize?: number;
  /** fsync outside the write lock (lmdb-js default on Linux). Default true. */
  overlappingSync?: boolean;
  /** Open an existing environment without write access (offline inspection of a stopped node). */
  readOnly?: boolean;
}

export interface StorageEnv {
  readonly path: string;
  readonly root: RootDatabase<Uint8Array, Uint8Array>;
  readonly log: BinaryDb;
  readonly meta: BinaryDb;
  readonly kv: BinaryDb;
  readonly registry: BinaryDb;
  /** Per-key modification index (u64 BE raft index of the last write) for WATCH (issue 12). */
  readonly kvmod: BinaryDb;
  /** Internal: records of a snapshot being received, before the atomic swap into kv/registry. */
  readonly staging: BinaryDb;
  readonly overlappingSync: boolean;
  /** The group-commit queue every durable write of this environment goes through. */
  readonly writes: CommitQueue;
  /** Resolves when the write behind `commit` is committed and fsynced (see module comment). */
  durable<T>(commit: Promise<T>): Promise<T>;
  close(): Promise<void>;
}

/** Largest key LMDB accepts with lmdb-js's default build (bytes); zero-length keys are refused too. */
export const MAX_KEY_BYTES = 1978;

const TABLE_OPTS = { keyEncoding: 'binary', encoding: 'binary', compression: false } as const;

/** Opens (creating if needed) `<dataDir>/db` and its named tables. */
export async function openStorageEnv(dataDir: string, opts: StorageEnvOptions = {}): Promise<StorageEnv> {
  await loadCrc32c();
  const path = join(dataDir, 'db');
  const overlappingSync = opts.overlappingSync ?? true;
  let root: RootDatabase<Uint8Array, Uint8Array>;
  try {
    if (!opts.readOnly) mkdirSync(path, { recursive: true });
    root = open<Uint8Array, Uint8Array>({
      readOnly: opts.readOnly ?? false,
      path,
      noSubdir: false,
      maxDbs: 8,
      mapSize: opts.mapSize ?? 1024 * 1024 * 1024,
      noSync: false,
      overlappingSync,
      ...TABLE_OPTS,
    });
  } catch (cause) {
    throw new StorageError('STORAGE_IO', `cannot open LMDB environment at ${path}`, { cause });
  }
  const table = (name: string): BinaryDb => root.openDB<Uint8Array, Uint8Array>(name, { ...TABLE_OPTS });
  const target = { root, overlappingSync };
  const env: StorageEnv = {
    path,
    root,
    log: table('log'),
    meta: table('meta'),
    kv: table('kv'),
    registry: table('registry'),
    kvmod: table('kvmod'),
    staging: table('snapstage'),
    overlappingSync,
    writes: new CommitQueue(target),
    async durable<T>(commit: Promise<T>): Promise<T> {
      const result = await commit;
      if (overlappingSync) await root.flushed;
      return result;
    },
    async close(): Promise<void> {
      await env.writes.idle();
      await root.flushed;
      await root.close();
    },
  };
  return env;
}

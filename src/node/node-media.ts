// What the node composition reads and writes outside its Raft core, behind one seam (issue 14
// item 3): the storage environment, the WAL's options, the peer transport, the small files of
// the data directory (cluster identity, address book), the snapshot receiver's staging area and
// the randomness of ids. Production passes `realMedia` (lmdb, node:fs, TCP, node:crypto); the
// whole-node simulator passes simulated disks, a simulated network and a seeded generator, so
// the real composition runs unchanged and a run is a function of its seed.

import { randomBytes, randomInt } from 'node:crypto';
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { openStorageEnv, type StorageEnv } from '../storage/index.js';
import type { WalOptions } from '../storage/wal/wal-log.js';
import { PeerTransport, type PeerTransportOptions } from '../transport/peer-transport.js';
import { fsStaging, type SnapshotStaging } from './snapshot-staging.js';

/** What the node composition uses of the peer transport (PeerTransport satisfies it; so does the simulator's). */
export type NodeTransport = Pick<PeerTransport, 'start' | 'onMessage' | 'onRequest' | 'send' | 'request' | 'updatePeers' | 'status' | 'close'>;

/** The data directory's small files (synchronous: they are written rarely and must be done before going on). */
export interface NodeFiles {
  mkdirp(dir: string): void;
  /** The file's text, or undefined when it does not exist (other errors throw). */
  readText(path: string): string | undefined;
  /** A plain write (mode 0600), as `writeFileSync`. */
  writeText(path: string, text: string): void;
  /** tmp + fsync + rename + directory fsync: after a crash the file holds the old text or the new. */
  replaceDurably(path: string, text: string): void;
}

export interface NodeMedia {
  openEnv(dataDir: string): Promise<StorageEnv>;
  /** Options of the node's WAL (the simulator shrinks segments; the WAL's fs is `setWalFs`). */
  wal?: WalOptions;
  files: NodeFiles;
  /** The snapshot receiver's staging area under `dir` (leftovers of a previous process are dropped). */
  staging(dir: string): SnapshotStaging;
  transport(opts: PeerTransportOptions): NodeTransport;
  /** A uniform integer in [0, n) (Raft's randomized election timeouts). */
  randomInt(n: number): number;
  /** A fresh random id of `bytes` bytes, hex (read-index context prefixes, snapshot stream ids). */
  randomHex(bytes: number): string;
}

export const realFiles: NodeFiles = {
  mkdirp: (dir) => {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  },
  readText: (path) => {
    try {
      return readFileSync(path, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw e;
    }
  },
  writeText: (path, text) => writeFileSync(path, text, { mode: 0o600 }),
  replaceDurably: (path, text) => {
    const tmp = `${path}.tmp`;
    writeFileSync(tmp, text, { mode: 0o600 });
    const fd = openSync(tmp, 'r');
    fsyncSync(fd);
    closeSync(fd);
    renameSync(tmp, path);
    const dfd = openSync(dirname(path), 'r');
    fsyncSync(dfd);
    closeSync(dfd);
  },
};

export const realMedia: NodeMedia = {
  openEnv: (dataDir) => openStorageEnv(dataDir),
  files: realFiles,
  staging: (dir) => fsStaging(dir),
  transport: (opts) => new PeerTransport(opts),
  randomInt: (n) => randomInt(n),
  randomHex: (bytes) => randomBytes(bytes).toString('hex'),
};

// The `NodeMedia` of one simulated node (issue 14): its LMDB environment on `SimLmdb`, its
// data-dir files on its `SimDisk`, an in-memory snapshot staging area, its `SimTransport`, and
// ids and election jitter from the run's seeded generator. The WAL reaches the same disk through
// `setWalFs(SimFs)`, installed by the runner for the length of a run.

import { dirname } from 'node:path';
import type { SidecarFs } from '../keys/sidecar-store.js';
import type { NodeFiles, NodeMedia, NodeTransport } from '../node/node-media.js';
import { memoryStaging } from '../node/snapshot-staging.js';
import { loadCrc32c } from '../storage/crc32c.js';
import type { WalOptions } from '../storage/wal/wal-log.js';
import { type SimDisk, SimDiskError } from './sim-disk.js';
import type { SimLmdb } from './sim-lmdb.js';

/** The data-dir files on a simulated disk (synchronous calls: no virtual time passes). */
export function simFiles(disk: SimDisk): NodeFiles {
  const enc = new TextEncoder();
  const write = (path: string, text: string, sync: boolean): void => {
    const fd = disk.sync.open(path, { create: true, truncate: true });
    try {
      disk.sync.write(fd, [enc.encode(text)], 0);
      if (sync) disk.sync.fdatasync(fd);
    } finally {
      disk.sync.close(fd);
    }
  };
  return {
    mkdirp: (dir) => disk.mkdirp(dir),
    readText: (path) => {
      if (!disk.exists(path)) return undefined;
      return new TextDecoder().decode(disk.sync.readFile(path));
    },
    writeText: (path, text) => write(path, text, false),
    replaceDurably: (path, text) => {
      const tmp = `${path}.tmp`;
      write(tmp, text, true);
      disk.sync.rename(tmp, path);
      disk.sync.fsyncDir(dirname(path));
    },
  };
}

export interface SimMediaParts {
  lmdb: SimLmdb;
  disk: SimDisk;
  transport: NodeTransport;
  random: () => number;
  wal?: WalOptions;
}

export function simMedia(p: SimMediaParts): NodeMedia {
  return {
    openEnv: async (dataDir) => {
      await loadCrc32c();
      return p.lmdb.open(`${dataDir}/db`);
    },
    ...(p.wal ? { wal: p.wal } : {}),
    files: simFiles(p.disk),
    staging: () => memoryStaging(),
    transport: (o) => {
      p.transport.updatePeers(o.peers);
      return p.transport;
    },
    randomInt: (n) => Math.floor(p.random() * n),
    randomHex: (bytes) => {
      let s = '';
      for (let i = 0; i < bytes; i++) s += Math.floor(p.random() * 256).toString(16).padStart(2, '0');
      return s;
    },
  };
}

export { SimDiskError };

/** The sidecar store's file system on a simulated disk (KM-7's tmp/fsync/rename/dir-fsync protocol runs unchanged). */
export function simSidecarFs(disk: SimDisk): SidecarFs {
  const enoent = (path: string): Error => Object.assign(new Error(`ENOENT: ${path}`), { code: 'ENOENT' });
  return {
    stat: async (path) => {
      if (disk.isDir(path)) return { isFile: () => false, isDirectory: () => true };
      if (disk.exists(path)) return { isFile: () => true, isDirectory: () => false };
      throw enoent(path);
    },
    readFile: async (path) => {
      if (!disk.exists(path)) throw enoent(path);
      return new TextDecoder().decode(await disk.readFile(path));
    },
    rm: async (path) => {
      if (disk.exists(path)) await disk.unlink(path);
    },
    mkdirp: async (dir) => disk.mkdirp(dir),
    createExclusive: async (path) => {
      if (disk.exists(path)) throw Object.assign(new Error(`EEXIST: ${path}`), { code: 'EEXIST' });
      const fd = await disk.open(path, { create: true });
      let at = 0;
      return {
        writeFile: async (bytes) => {
          const b = typeof bytes === 'string' ? new TextEncoder().encode(bytes) : bytes;
          await disk.writev(fd, [b], at);
          at += b.length;
        },
        sync: () => disk.fdatasync(fd),
        close: () => disk.close(fd),
      };
    },
    rename: (from, to) => disk.rename(from, to),
    syncDir: (dir) => disk.fsyncDir(dir),
  };
}

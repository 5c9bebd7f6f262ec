// The `NodeMedia` of one simulated node (issue 14): its LMDB environment on `SimLmdb`, its
// data-dir files on its `SimDisk`, an in-memory snapshot staging area, its `SimTransport`, and
// ids and election jitter from the run's seeded generator. The WAL reaches the same disk through
// `setWalFs(SimFs)`, installed by the runner for the length of a run.

import { dirname } from 'node:path';
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

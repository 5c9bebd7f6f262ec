// The data dir's cluster identity file (`<data-dir>/cluster.json`) is written durably on the first
// start (tmp + fsync + rename + directory fsync, cluster-node.ts `checkClusterIdentity` through
// `NodeFiles.replaceDurably`). Found by the whole-node simulator (issue 14): written with a plain
// write, a power loss right after the first start kept the file's NAME (a later directory fsync —
// the WAL's — committed it) but not its bytes, and every later start refused with CONFIG_INVALID.
//
// Here one REAL node (ClusterNode over the simulated media) starts on a disk whose crash loses
// every unsynced write, loses power once it is up, and must start again.
import { afterEach, describe, expect, it } from 'vitest';
import type { NodeConfig } from '../../src/node/config.js';
import { mulberry32 } from '../../src/prng.js';
import { loadCrc32c } from '../../src/storage/crc32c.js';
import { setWalFs } from '../../src/storage/wal/wal-fs.js';
import { runUntil, settle } from '../../src/sim/drive.js';
import { RELIABLE_DISK, SimDisk } from '../../src/sim/sim-disk.js';
import { SimFs } from '../../src/sim/sim-fs.js';
import { SimLmdb } from '../../src/sim/sim-lmdb.js';
import { SimMachine } from '../../src/sim/sim-machine.js';
import { SimNetwork } from '../../src/sim/sim-network.js';
import { simNodeConfig } from '../../src/sim/node-sim.js';
import { VirtualScheduler } from '../../src/sim/virtual-scheduler.js';

const ID = 'n1';
const DATA = `/${ID}/data`;

function config(): NodeConfig {
  return simNodeConfig(ID, [ID], 'durable-identity', 'js');
}

describe('cluster.json is written durably (issue 14 finding)', () => {
  afterEach(() => setWalFs(null));

  it('a power loss right after the first start (every unsynced write lost) leaves a cluster.json the next start accepts', async () => {
    await loadCrc32c();
    const base = new VirtualScheduler();
    const random = mulberry32(1);
    // keepWrite 0, loseWrite 1: a crash drops every byte not fsynced (names by the journal rule).
    const disk = new SimDisk(base, random, { ...RELIABLE_DISK, keepWrite: 0, loseWrite: 1 });
    disk.mkdirp(DATA);
    const fsys = new SimFs(new Map([[ID, disk]]));
    setWalFs(fsys.fs());
    const failures: unknown[] = [];
    let ups = 0;
    const m = new SimMachine(
      ID,
      config(),
      disk,
      new SimLmdb(base, random),
      base,
      fsys,
      new SimNetwork(base, random),
      random,
      {
        applied: () => undefined,
        halted: (_m, e) => failures.push(e),
        fatal: (_m, e) => failures.push(e),
        startFailed: (_m, e) => failures.push(e),
        up: () => {
          ups++;
        },
      },
      {},
    );
    try {
      m.boot();
      await runUntil(base, 2000, () => m.state === 'up');
      expect(failures).toEqual([]);
      expect(m.state).toBe('up');
      // The first start wrote the identity and went on (the WAL created and synced its files).
      expect(disk.exists(`${DATA}/cluster.json`)).toBe(true);

      m.stop(true); // power loss
      expect(disk.counters.crashes).toBe(1);
      // What the next start reads: the identity, not an empty or torn file.
      expect(disk.exists(`${DATA}/cluster.json`)).toBe(true);
      expect(JSON.parse(new TextDecoder().decode(disk.sync.readFile(`${DATA}/cluster.json`)))).toEqual({
        clusterId: 'durable-identity',
        nodeId: ID,
      });

      m.boot();
      await runUntil(base, 6000, () => m.state === 'up' || failures.length > 0);
      expect(failures.map((e) => String((e as Error).message))).toEqual([]);
      expect(m.state).toBe('up');
      expect(ups).toBe(2);
    } finally {
      m.stop(false);
      await settle();
    }
  });
});

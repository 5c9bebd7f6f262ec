// Issue 13 durability: the Raft log (WAL) and the state machine (LMDB, commits not waiting for
// their fsync) are separate stores now. Under a recorded load, nodes are kill -9'd at the named
// crash points around the log sync, the state commit and its sync, and the local snapshot
// (record, compact) — src/node/crash-points.ts — and restarted. No acknowledged write may be
// lost, every node must start again and catch up, and the history must be linearizable.

import { afterAll, expect, it } from 'vitest';
import type { Cluster } from '../integration/harness/cluster.js';
import { clusterForTest, destroyAllClusters, endpointsOf, newRecorder } from '../integration/harness/fixture.js';
import { verifyAfterFaults } from '../integration/harness/verify.js';
import { sleep, waitFor } from '../integration/harness/wait.js';
import { Workload } from '../integration/harness/workload.js';

afterAll(destroyAllClusters);

const KEYS = ['a', 'b', 'c', 'd'];
/** Every point is reached by any node under load (threshold 30: snapshots every few seconds). */
const POINTS = [
  'log-persist:before',
  'log-persist:synced',
  'state-sync:committed',
  'state-sync:synced',
  'snapshot:recorded',
  'snapshot:compacted',
];

async function leaderOf(c: Cluster, among: string[]): Promise<string> {
  return c.waitForLeader({ among, timeoutMs: 15_000 });
}

it('issue 13: kill -9 at the log-sync, state-sync and snapshot crash points loses no acknowledged write; linearizable', async () => {
  const c = await clusterForTest({ name: 'write-path-crash', snapshotThreshold: 30, compactionMargin: 2 });
  const members = c.ids();
  await c.waitForLeader({ quorum: 3, timeoutMs: 20_000 });
  let serving = [...members];
  const rec = newRecorder();
  const w = new Workload({
    recorder: rec,
    endpoints: endpointsOf(c, () => serving),
    clients: 6,
    keys: KEYS,
    maxOps: 40_000,
    durationMs: 60_000,
    opTimeoutMs: 4000,
    seed: 13,
  });
  await sleep(500);
  const done: string[] = [];
  for (let k = 0; k < POINTS.length; k++) {
    const point = POINTS[k]!;
    // Alternate: the leader (its crash can hit between its own log sync and the replies), then a follower.
    const leader = await leaderOf(c, members);
    const victim = k % 2 === 0 ? leader : members.find((id) => id !== leader)!;
    serving = serving.filter((id) => id !== victim);
    await c.kill(victim, 'SIGKILL');
    c.start(victim, false, { SEALKV_CRASH_POINTS: point });
    c.expectExit(victim);
    const exit = await c.waitExit(victim, 30_000);
    expect(exit.signal, `${victim} killed itself at ${point} (exit ${JSON.stringify(exit)})`).toBe('SIGKILL');
    done.push(`${victim}@${point}`);
    c.start(victim);
    await waitFor(
      `${victim} to restart after a crash at ${point}`,
      async () => {
        c.throwOnCrash([victim]);
        const s = await c.status(victim, 500);
        return s !== null && s.leader !== null ? true : undefined;
      },
      30_000,
    );
    serving = [...serving, victim];
    await sleep(300);
  }
  const okAtEnd = w.stats.ok;
  await sleep(1000);
  await w.stop();
  expect(w.stats.ok, 'the load still made progress after the last crash').toBeGreaterThan(okAtEnd);
  const report = await verifyAfterFaults(c, rec, w, KEYS, members);
  console.info(`[write-path-crash] ${done.join('; ')}\n[write-path-crash] ${report.text}; stats ${JSON.stringify(w.stats)}`);
  expect(report.ok, report.text).toBe(true);
  expect(c.unexpectedExits()).toEqual([]);
}, 150_000);

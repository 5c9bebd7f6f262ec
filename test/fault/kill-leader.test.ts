// Issue 4 acceptance: kill -9 of the leader under a write load. A new leader within 3 s, no
// acknowledged write lost, the old leader restarted rejoins and catches up, and the client
// history (kill included) is linearizable.

import { afterAll, expect, it } from 'vitest';
import { clusterForTest, destroyAllClusters, endpointsOf, newRecorder } from '../integration/harness/fixture.js';
import { verifyAfterFaults } from '../integration/harness/verify.js';
import { sleep, waitFor } from '../integration/harness/wait.js';
import { Workload } from '../integration/harness/workload.js';

afterAll(destroyAllClusters);

const KEYS = ['a', 'b', 'c', 'd', 'e'];

it('kill -9 of the leader under load, twice: new leader < 3 s, no acknowledged write lost, old leader catches up, linearizable', async () => {
  const c = await clusterForTest({ name: 'killleader' });
  await c.waitForLeader({ quorum: 3, timeoutMs: 20_000 });
  const rec = newRecorder();
  const w = new Workload({
    recorder: rec,
    endpoints: endpointsOf(c, () => c.ids()),
    clients: 6,
    keys: KEYS,
    maxOps: 20_000,
    durationMs: 40_000,
    opTimeoutMs: 4000,
    seed: 11,
  });
  await sleep(2000);
  expect(w.stats.ok, 'the load made progress before the kill').toBeGreaterThan(20);

  const failovers: number[] = [];
  for (let round = 1; round <= 2; round++) {
    const oldLeader = await c.waitForLeader({ quorum: 3, timeoutMs: 15_000 });
    const survivors = c.ids().filter((id) => id !== oldLeader);
    const t0 = performance.now();
    await c.kill(oldLeader, 'SIGKILL');
    // Measured from the kill to the first /v1/status (of a survivor) that shows a leader other than the old one.
    const newLeader = await waitFor(
      'a survivor to report a new leader',
      async () => {
        const st = await c.statuses(survivors, 500);
        for (const s of st.values()) {
          if (s.role === 'leader') return s.id;
          if (s.leader !== null && s.leader !== oldLeader && survivors.includes(s.leader)) return s.leader;
        }
        return undefined;
      },
      10_000,
      10,
    );
    const failoverMs = performance.now() - t0;
    failovers.push(failoverMs);
    console.info(`[kill-leader] round ${round}: killed ${oldLeader}, new leader ${newLeader}, failover ${(failoverMs / 1000).toFixed(3)} s`);
    expect(failoverMs, `failover took ${failoverMs.toFixed(0)} ms`).toBeLessThan(3000);

    // Writes go on with the new leader while the old one is down.
    const okAtFailover = w.stats.ok;
    await waitFor('writes to succeed under the new leader', () => w.stats.ok > okAtFailover + 50, 10_000);

    // The old leader restarted on its data dir rejoins and catches up: its appliedIndex reaches
    // the leader's commit index (taken while the load runs).
    c.start(oldLeader);
    const leader = await c.waitForLeader({ quorum: 3, timeoutMs: 15_000 });
    const target = BigInt((await c.status(leader))!.commitIndex);
    await c.waitApplied([oldLeader], target, 15_000);
    expect((await c.status(oldLeader))!.leader).toBe(leader);
    await sleep(500);
  }
  await w.stop();

  const report = await verifyAfterFaults(c, rec, w, KEYS);
  console.info(`[kill-leader] failover ms ${failovers.map((f) => f.toFixed(0)).join(', ')}; ${report.text}; stats ${JSON.stringify(w.stats)}`);
  expect(report.ok, report.text).toBe(true);
  expect(w.ackedUnique.size).toBeGreaterThan(10);
  expect(c.unexpectedExits()).toEqual([]);
}, 120_000);

it('kill -9 of every node at once under load: after a restart no acknowledged write is lost, linearizable', async () => {
  const c = await clusterForTest({ name: 'killall' });
  await c.waitForLeader({ quorum: 3, timeoutMs: 20_000 });
  const rec = newRecorder();
  const w = new Workload({
    recorder: rec,
    endpoints: endpointsOf(c, () => c.ids()),
    clients: 6,
    keys: KEYS,
    maxOps: 20_000,
    durationMs: 30_000,
    opTimeoutMs: 4000,
    seed: 13,
  });
  await sleep(2000);
  expect(w.stats.ok).toBeGreaterThan(20);
  // Simultaneous crash: every in-flight op is indeterminate, every acknowledged one must survive.
  await Promise.all(c.ids().map((id) => c.kill(id, 'SIGKILL')));
  const okAtCrash = w.stats.ok;
  for (const id of c.ids()) c.start(id);
  await c.waitForLeader({ quorum: 3, timeoutMs: 15_000 });
  await waitFor('writes to succeed after the restart', () => w.stats.ok > okAtCrash + 50, 15_000);
  await w.stop();

  const report = await verifyAfterFaults(c, rec, w, KEYS);
  console.info(`[kill-all] ${report.text}; acknowledged write-once keys ${w.ackedUnique.size}; stats ${JSON.stringify(w.stats)}`);
  expect(report.ok, report.text).toBe(true);
  expect(c.unexpectedExits()).toEqual([]);
}, 120_000);

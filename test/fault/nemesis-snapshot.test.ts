// Issue 9 acceptance: a nemesis that mixes kill -9 *during snapshot installs* with membership
// changes, on a cluster that snapshots and compacts every few entries (--snapshot-threshold 25,
// --compaction-margin 3), under a recorded load. Installs are made to crash with the crash points
// of src/node/crash-points.ts (SEALKV_CRASH_POINTS): a follower is killed, the log moves past it,
// and it is restarted with one install point armed; a node (re-)joining by snapshot is started
// with one armed too. Each crashed node is restarted and must start and catch up. Membership
// changes: remove a follower (then wipe it), add the spare node back (it joins by snapshot).
// Afterwards every member serves every acknowledged write and the history is linearizable.

import { afterAll, expect, it } from 'vitest';
import { mulberry32 } from '../../src/prng.js';
import type { Cluster } from '../integration/harness/cluster.js';
import { clusterForTest, destroyAllClusters, endpointsOf, newRecorder } from '../integration/harness/fixture.js';
import { verifyAfterFaults } from '../integration/harness/verify.js';
import { sleep, waitFor } from '../integration/harness/wait.js';
import { Workload } from '../integration/harness/workload.js';

afterAll(destroyAllClusters);

const KEYS = ['a', 'b', 'c', 'd'];
const POINTS = ['snapshot-install:start', 'snapshot-install:idle', 'snapshot-install:staged', 'snapshot-install:installed', 'snapshot-install:persisted'];

/**
 * `id` was just started with a crash point armed: resolves 'crashed' when it killed itself, or
 * 'caught-up' when it reached `target` without needing that install. Then it runs unarmed.
 */
async function crashOrCatchUp(c: Cluster, id: string, target: bigint): Promise<'crashed' | 'caught-up'> {
  c.expectExit(id);
  const outcome = await waitFor(
    `${id} to crash in the install or catch up to ${target}`,
    async () => {
      if (c.node(id).proc === null) return 'crashed' as const;
      const s = await c.status(id, 300);
      return s !== null && BigInt(s.appliedIndex) >= target ? ('caught-up' as const) : undefined;
    },
    20_000,
    20,
  );
  if (outcome === 'crashed') {
    expect(c.node(id).exits.at(-1)?.signal, `${id} died at its crash point`).toBe('SIGKILL');
  } else {
    await c.kill(id, 'SIGKILL'); // still a kill -9, just not inside an install
  }
  return outcome;
}

async function commitIndex(c: Cluster, among: string[]): Promise<bigint> {
  const leader = await c.waitForLeader({ among, timeoutMs: 15_000 });
  return BigInt((await c.status(leader))!.commitIndex);
}

it('nemesis: kill -9 during snapshot installs mixed with membership changes; linearizable', async () => {
  const seed = Number(process.env.SEALKV_NEMESIS_SEED ?? 20261203);
  const rand = mulberry32(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const c = await clusterForTest({ name: 'nemesis-snap', snapshotThreshold: 25, compactionMargin: 3 });
  await c.waitForLeader({ quorum: 3, timeoutMs: 20_000 });
  // Voters; `serving` = the ones clients use (running, not being removed).
  let members = ['n1', 'n2', 'n3'];
  let serving = [...members];
  let spare = 'n4';
  let spareAllocated = false;
  const rec = newRecorder();
  const w = new Workload({
    recorder: rec,
    endpoints: endpointsOf(c, () => serving),
    clients: 6,
    keys: KEYS,
    maxOps: 40_000,
    durationMs: 50_000,
    opTimeoutMs: 4000,
    seed,
  });
  await sleep(800);

  const done: string[] = [];
  let crashed = 0;
  // kill, add, kill, remove (each at least once), then on until the time is up.
  const end = performance.now() + 15_000;
  for (let step = 0; step < 4 || performance.now() < end; step++) {
    const leader = await c.waitForLeader({ among: members, timeoutMs: 15_000 });
    const point = pick(POINTS);
    if (step % 2 === 0) {
      // kill -9 a follower, let the log be compacted past it, restart it with an install point armed.
      const victim = pick(members.filter((id) => id !== leader));
      const at = BigInt((await c.status(victim))?.appliedIndex ?? '0');
      serving = serving.filter((id) => id !== victim);
      await c.kill(victim, 'SIGKILL');
      await c.waitCompactedPast(leader, at, 15_000).catch(() => undefined); // the load may be slow; a log catch-up is fine too
      c.start(victim, false, { SEALKV_CRASH_POINTS: point });
      const outcome = await crashOrCatchUp(c, victim, await commitIndex(c, members.filter((id) => id !== victim)));
      if (outcome === 'crashed') crashed++;
      done.push(`kill -9 ${victim}, restart: ${outcome === 'crashed' ? `crashed at ${point}` : 'caught up from the log'}`);
      c.start(victim);
      await c.waitApplied([victim], await commitIndex(c, members), 20_000);
      serving = [...serving, victim];
    } else if (members.length === 3) {
      // Add the spare: it joins empty, so it needs a snapshot; an install point is armed.
      const env = { SEALKV_CRASH_POINTS: point };
      let add: Awaited<ReturnType<Cluster['addMember']>>;
      if (spareAllocated) {
        c.start(spare, true, env);
        add = await c.addMember(spare, 'voter');
      } else {
        add = await c.addNode(spare, 'voter', { env });
      }
      spareAllocated = true;
      expect(add.status, JSON.stringify(add.body)).toBeLessThan(300);
      members = [...members, spare];
      const outcome = await crashOrCatchUp(c, spare, await commitIndex(c, members));
      if (outcome === 'crashed') crashed++;
      done.push(`add ${spare}: ${outcome === 'crashed' ? `crashed at ${point}` : 'caught up'}`);
      c.start(spare, true);
      await c.waitApplied([spare], await commitIndex(c, members), 20_000);
      serving = [...serving, spare];
    } else {
      // Remove a follower, stop and wipe it: it is the next spare.
      const victim = pick(members.filter((id) => id !== leader));
      serving = serving.filter((id) => id !== victim);
      const del = await c.removeMember(victim);
      expect(del.status, JSON.stringify(del.body)).toBeLessThan(300);
      members = members.filter((id) => id !== victim);
      await waitFor(`${victim} to leave`, async () => !(await c.members()).some((m) => m.id === victim), 15_000);
      await c.kill(victim, 'SIGTERM');
      c.wipe(victim);
      spare = victim;
      done.push(`remove ${victim}`);
    }
    await c.waitForLeader({ among: members, quorum: members.length, timeoutMs: 15_000 });
    await sleep(200 + rand() * 400);
  }
  const okAtEnd = w.stats.ok;
  await sleep(1000);
  await w.stop();
  expect(w.stats.ok, 'the load still made progress after the last fault').toBeGreaterThan(okAtEnd);
  expect(crashed, `no install was ever interrupted: ${done.join('; ')}`).toBeGreaterThan(0);
  expect(done.some((d) => d.startsWith('remove')) && done.some((d) => d.startsWith('add'))).toBe(true);

  const report = await verifyAfterFaults(c, rec, w, KEYS, members);
  console.info(`[nemesis-snapshot] seed ${seed}; ${done.join('; ')}\n[nemesis-snapshot] ${report.text}; stats ${JSON.stringify(w.stats)}`);
  expect(report.ok, report.text).toBe(true);
  expect(c.unexpectedExits()).toEqual([]);
  expect((await c.members()).map((m) => m.id).sort()).toEqual([...members].sort());
}, 120_000);

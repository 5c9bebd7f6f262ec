// Beyond the single-fault tests: a seeded sequence of mixed faults under load — kill -9 and
// restart, SIGTERM and restart, isolating a node, cutting one link only (a "bridge": both ends
// still reach the third node), leadership transfer — one at a time, each undone before the next.
// Afterwards: every node catches up, no acknowledged write is lost, the history is linearizable.

import { afterAll, expect, it } from 'vitest';
import { clusterForTest, destroyAllClusters, endpointsOf, newRecorder } from '../integration/harness/fixture.js';
import { verifyAfterFaults } from '../integration/harness/verify.js';
import { sleep } from '../integration/harness/wait.js';
import { Workload, xorshift32 } from '../integration/harness/workload.js';

afterAll(destroyAllClusters);

const KEYS = ['a', 'b', 'c', 'd'];
const FAULTS = ['kill9', 'sigterm', 'isolate', 'bridge', 'transfer'] as const;


it('a seeded sequence of mixed faults under load: no acknowledged write lost, linearizable', async () => {
  const seed = Number(process.env.SEALKV_NEMESIS_SEED ?? 20261123);
  const rand = xorshift32(seed, 1);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const c = await clusterForTest({ name: 'nemesis' });
  await c.waitForLeader({ quorum: 3, timeoutMs: 20_000 });
  const rec = newRecorder();
  const w = new Workload({
    recorder: rec,
    endpoints: endpointsOf(c, () => c.ids()),
    clients: 8,
    keys: KEYS,
    maxOps: 60_000,
    durationMs: 50_000,
    opTimeoutMs: 4000,
    seed,
  });
  await sleep(1000);

  const done: string[] = [];
  const end = performance.now() + 18_000;
  // Each fault type at least once, then random ones, until the time is up.
  const plan: (typeof FAULTS)[number][] = [...FAULTS].sort(() => rand() - 0.5);
  while (performance.now() < end) {
    const fault = plan.shift() ?? pick(FAULTS);
    const leader = await c.waitForLeader({ timeoutMs: 15_000 });
    const target = pick(c.ids());
    switch (fault) {
      case 'kill9':
      case 'sigterm':
        await c.kill(target, fault === 'kill9' ? 'SIGKILL' : 'SIGTERM');
        await sleep(500 + rand() * 1500);
        c.start(target);
        break;
      case 'isolate':
        c.isolate(target);
        await sleep(1000 + rand() * 1500);
        c.heal();
        break;
      case 'bridge': {
        const [a, b] = c.ids().filter((id) => id !== target);
        c.cut(a!, b!);
        await sleep(1000 + rand() * 1500);
        c.heal();
        break;
      }
      case 'transfer': {
        const to = pick(c.ids().filter((id) => id !== leader));
        const r = await c.node(leader).admin.request('POST', '/v1/transfer-leader', { id: to }, 5000).catch((e: Error) => e);
        done.push(`transfer ${leader}->${to}: ${r instanceof Error ? r.message : r.status}`);
        break;
      }
    }
    if (fault !== 'transfer') done.push(`${fault} ${fault === 'bridge' ? `(${c.ids().filter((id) => id !== target).join('-')})` : target} (leader was ${leader})`);
    // Let the cluster settle and serve before the next fault.
    await c.waitForLeader({ quorum: 3, timeoutMs: 15_000 });
    await sleep(300 + rand() * 700);
  }
  const okAtEnd = w.stats.ok;
  await sleep(1000);
  await w.stop();
  expect(w.stats.ok, 'the load still made progress after the last fault').toBeGreaterThan(okAtEnd);

  const report = await verifyAfterFaults(c, rec, w, KEYS);
  console.info(`[nemesis] seed ${seed}; faults: ${done.join('; ')}\n[nemesis] ${report.text}; stats ${JSON.stringify(w.stats)}`);
  expect(report.ok, report.text).toBe(true);
  expect(c.unexpectedExits()).toEqual([]);
  for (const id of c.ids()) {
    for (const e of c.node(id).exits) if (e.signal === null) expect(e.code, `${id} exit after SIGTERM`).toBe(0);
  }
}, 120_000);

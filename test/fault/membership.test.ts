// Issue 4 acceptance: add a node and remove a node while a write load runs; the new member
// catches up and serves, the removed one leaves, and the client history is linearizable.

import { afterAll, expect, it } from 'vitest';
import { clusterForTest, destroyAllClusters, endpointsOf, newRecorder } from '../integration/harness/fixture.js';
import { verifyAfterFaults } from '../integration/harness/verify.js';
import { sleep, waitFor } from '../integration/harness/wait.js';
import { Workload } from '../integration/harness/workload.js';

afterAll(destroyAllClusters);

const KEYS = ['a', 'b', 'c', 'd', 'e'];

it.each(['follower', 'leader'] as const)('adds a 4th node and removes the %s under load; history linearizable', async (which) => {
  const c = await clusterForTest({ name: `membership-${which}` });
  await c.waitForLeader({ quorum: 3, timeoutMs: 20_000 });
  // Clients follow `active`: the harness moves them off a node before it is removed.
  let active = c.ids();
  const rec = newRecorder();
  const w = new Workload({
    recorder: rec,
    endpoints: endpointsOf(c, () => active),
    clients: 6,
    keys: KEYS,
    maxOps: 20_000,
    durationMs: 15_000,
    opTimeoutMs: 4000,
    seed: 23,
  });
  await sleep(1500);

  // Add n4 under load: it joins as a learner and the leader promotes it once caught up (issue 9).
  const add = await c.addNode('n4');
  expect(add.status, JSON.stringify(add.body)).toBeLessThan(300);
  await waitFor(
    'n4 to be a voter',
    async () => (await c.members()).find((m) => m.id === 'n4')?.role === 'voter',
    15_000,
  );
  await c.waitCaughtUp(['n4'], 15_000);
  active = [...active, 'n4'];
  const okBeforeRemove = w.stats.ok;
  await waitFor('n4 to serve clients', () => (w.stats.repliesByNode.n4 ?? 0) > 20, 10_000);

  // Remove a follower of the original three, or the current leader, under load.
  const current = await c.waitForLeader({ timeoutMs: 15_000 });
  const victim = which === 'leader' ? current : c.ids().find((id) => id !== current && id !== 'n4')!;
  active = active.filter((id) => id !== victim);
  const del = await c.removeMember(victim);
  expect(del.status, JSON.stringify(del.body)).toBeLessThan(300);
  await waitFor(`${victim} to leave`, async () => !(await c.members()).some((m) => m.id === victim), 15_000);
  const members = (await c.members()).map((m) => `${m.id}:${m.role}`).sort();
  expect(members).toEqual(['n1', 'n2', 'n3', 'n4'].filter((id) => id !== victim).map((id) => `${id}:voter`));
  if (which === 'leader') {
    const next = await c.waitForLeader({ among: active, timeoutMs: 10_000 });
    expect(next).not.toBe(victim);
  }
  await c.kill(victim, 'SIGTERM');
  const exit = c.node(victim).exits.at(-1);
  expect(exit, 'SIGTERM: a clean shutdown exits 0').toMatchObject({ code: 0 });

  // The 3 remaining voters keep serving.
  const okAfterRemove = w.stats.ok;
  await waitFor('writes to succeed after the removal', () => w.stats.ok > okAfterRemove + 50, 10_000);
  await w.stop();
  expect(w.stats.ok).toBeGreaterThan(okBeforeRemove);

  const report = await verifyAfterFaults(c, rec, w, KEYS, active);
  console.info(`[membership] removed the ${which} ${victim}; ${report.text}; stats ${JSON.stringify(w.stats)}`);
  expect(report.ok, report.text).toBe(true);
  expect(c.unexpectedExits()).toEqual([]);
});

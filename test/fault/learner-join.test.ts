// Issue 9 defect 9: a new member joins as a learner (not counted in any quorum) and the leader
// promotes it to voter only once it has caught up; `role: voter` (`admin add-node --voter`) adds
// a voter directly. Real processes.
//
// n4 joins with every link to it cut, so it cannot catch up: it must stay a learner, and the
// cluster must keep its majority with one of the three voters stopped (had n4 been added as a
// voter, 2 of 4 would be no quorum). After the heal n4 catches up and is promoted on its own.

import { afterAll, expect, it } from 'vitest';
import type { Cluster } from '../integration/harness/cluster.js';
import { clusterForTest, destroyAllClusters } from '../integration/harness/fixture.js';
import { waitFor } from '../integration/harness/wait.js';

afterAll(destroyAllClusters);

async function roleOf(c: Cluster, id: string): Promise<string | undefined> {
  return (await c.members()).find((m) => m.id === id)?.role;
}

async function setVia(c: Cluster, id: string, key: string, value: string): Promise<string> {
  const conn = await c.resp(id);
  try {
    const r = await conn.call(['SET', key, value], 8000);
    return r.type === 'simple' ? r.value : r.type === 'error' ? `-${r.message}` : r.type;
  } finally {
    conn.close();
  }
}

it('defect 9.9 (learner join): a new node joins as a learner, is not counted in the quorum, is promoted only once caught up; role voter adds a voter directly', async () => {
  const c = await clusterForTest({ name: 'learner-join', requestTimeoutMs: 4000 });
  const leader = await c.waitForLeader({ quorum: 3, timeoutMs: 20_000 });
  for (let i = 0; i < 20; i++) expect(await setVia(c, leader, `k${i}`, `v${i}`)).toBe('OK');

  // Default add (no role), with n4 unreachable.
  const add = await c.addNode('n4', undefined, { isolated: true });
  expect(add.status, JSON.stringify(add.body)).toBeLessThan(300);
  expect(await roleOf(c, 'n4'), 'a new member must join as a learner').toBe('learner');

  // Not in the quorum: with one voter stopped, 2 of the 3 voters still commit writes.
  const stopped = c.ids().find((id) => id !== leader && id !== 'n4')!;
  await c.kill(stopped, 'SIGTERM');
  const leader2 = await c.waitForLeader({ quorum: 2, timeoutMs: 20_000 });
  for (let i = 0; i < 20; i++) expect(await setVia(c, leader2, `q${i}`, `v${i}`)).toBe('OK');
  // The leader ticked many times meanwhile and saw n4 behind every time: still a learner.
  expect(await roleOf(c, 'n4'), 'an unreachable learner must not be promoted').toBe('learner');

  // Reachable again: it catches up, then the leader promotes it without being asked.
  c.heal();
  await waitFor('n4 to be promoted to voter', async () => (await roleOf(c, 'n4')) === 'voter', 20_000);
  // Its own status reports the role it applied: learner until the promotion, then follower.
  await waitFor('n4 to report itself a follower', async () => (await c.status('n4'))?.role === 'follower', 10_000);
  // n4 now counts: 3 voters of 4 answer, writes go on.
  expect(await setVia(c, leader2, 'after', 'promotion')).toBe('OK');

  // Re-sending the default add for the promoted n4 is an idempotent no-op, not a demotion.
  const readd = await c.addMember('n4');
  expect(readd.body).toMatchObject({ was_already_member: true });
  expect(await roleOf(c, 'n4')).toBe('voter');

  // The explicit promote endpoint refuses a voter and a non-member.
  const again = await c.adminOnLeader('POST', '/v1/members/n4/promote', {});
  expect(again.status, JSON.stringify(again.body)).toBe(400);
  const none = await c.adminOnLeader('POST', '/v1/members/n9/promote', {});
  expect(none.status, JSON.stringify(none.body)).toBe(404);

  // The explicit path: role voter makes n5 a voter at once.
  const add5 = await c.addNode('n5', 'voter');
  expect(add5.status, JSON.stringify(add5.body)).toBeLessThan(300);
  expect(await roleOf(c, 'n5')).toBe('voter');
  expect(c.unexpectedExits()).toEqual([]);
}, 120_000);

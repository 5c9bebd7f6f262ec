// Issue 9, defect 2: a snapshot carries the address book. A follower that is down while n4 is
// added, and comes back only after the log is compacted past that change, learns n4's id from
// the snapshot's configuration; it must also learn n4's address, or it can never reach n4.
// Made to matter: the returning node becomes the leader and another voter is killed, so no write
// commits unless it replicates to n4.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { clusterForTest, destroyAllClusters } from '../integration/harness/fixture.js';
import type { Cluster } from '../integration/harness/cluster.js';
import { waitFor } from '../integration/harness/wait.js';

afterAll(destroyAllClusters);

/** SETs n keys through whichever node leads, retrying refused writes (leadership may move). */
async function setMany(c: Cluster, prefix: string, n: number): Promise<void> {
  let todo = Array.from({ length: n }, (_, i) => i);
  await waitFor(
    `${n} SETs to succeed`,
    async () => {
      const leader = await c.waitForLeader();
      const conn = await c.resp(leader);
      try {
        const replies = await Promise.all(todo.map((i) => conn.call(['SET', `${prefix}${i}`, `v${i}`], 5000)));
        todo = todo.filter((_, j) => !(replies[j]!.type === 'simple' && replies[j]!.value === 'OK'));
      } finally {
        conn.close();
      }
      return todo.length === 0;
    },
    30_000,
    100,
  );
}

it('defect 9.2: a node that catches up by snapshot past a membership change reaches the new member', async () => {
  const c = await clusterForTest({ name: 'snap-addrbook', snapshotThreshold: 40, compactionMargin: 5 });
  const leader = await c.waitForLeader({ quorum: 3, timeoutMs: 20_000 });
  const victim = c.ids().find((id) => id !== leader)!;

  const lastSeen = BigInt((await c.status(victim))!.commitIndex);
  await c.kill(victim, 'SIGTERM');
  const add = await c.addNode('n4', 'voter');
  expect(add.status, JSON.stringify(add.body)).toBeLessThan(300);
  await setMany(c, 'a', 200); // needs n4 (3 of 4 voters) and compacts past the add
  const now = await c.waitForLeader();
  await c.waitCompactedPast(now, lastSeen + 3n); // past the add too
  const s = (await c.status(now))!;
  c.start(victim);
  await c.waitApplied([victim], BigInt(s.commitIndex), 30_000);

  // The returning node knows n4's address (it was only in the compacted conf-change entry).
  const members = await c.node(victim).admin.members();
  expect(members.find((m) => m.id === 'n4')?.address ?? null, `${victim}'s members: ${JSON.stringify(members)}`).toBe(
    c.node('n4').memberAddress,
  );

  const peersJson = JSON.parse(readFileSync(join(c.node(victim).dataDir, 'peers.json'), 'utf8')) as Record<string, string>;
  expect(peersJson.n4, `${victim}'s peers.json`).toBe(c.node('n4').memberAddress);

  // Make it matter: the returning node leads, one other voter dies; 3 of 4 = victim, n4 + one.
  const cur = await c.waitForLeader();
  const r = await c.node(cur).admin.request('POST', '/v1/transfer-leader', { id: victim }, 10_000);
  expect(r.status, JSON.stringify(r.body)).toBeLessThan(300);
  await waitFor(`${victim} to lead`, async () => (await c.status(victim))?.role === 'leader', 10_000);
  // Any original voter but the victim: with it dead, no write commits without n4.
  const other = c.ids().find((id) => id !== victim && id !== 'n4' && id !== cur) ?? c.ids().find((id) => id !== victim && id !== 'n4')!;
  await c.kill(other, 'SIGKILL');
  const vc = await c.resp(victim);
  try {
    expect(await vc.call(['SET', 'after', 'n4-reached'], 10_000)).toEqual({ type: 'simple', value: 'OK' });
  } finally {
    vc.close();
  }
  const n4 = await c.resp('n4');
  try {
    await waitFor('n4 to serve the write', async () => {
      const g = await n4.call(['GET', 'after'], 5000);
      return g.type === 'bulk' && g.value === 'n4-reached';
    }, 10_000);
  } finally {
    n4.close();
  }
  expect(c.unexpectedExits()).toEqual([]);
}, 90_000);

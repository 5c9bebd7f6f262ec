// Issue 9 defect 8: after a leader change, a proposal that reached the old leader's log may still
// commit (or not), so its client must be told the outcome is unknown (UNKNOWN_OUTCOME), never
// NOT_LEADER, which promises "nothing happened, retry" and makes a retried INCR apply twice.
// NOT_LEADER stays for writes that certainly never reached a log.
//
// Four real processes: the leader is cut from two of the three followers, so it keeps one
// follower (F) and no quorum; writes sent to it directly and through F reach its log, cannot
// commit, and are answered when check-quorum makes it step down. A second round cuts the
// F-leader link while F's forwarded write is in flight (lost forward connection).

import { afterAll, expect, it } from 'vitest';
import type { Cluster } from '../integration/harness/cluster.js';
import { clusterForTest, destroyAllClusters } from '../integration/harness/fixture.js';
import type { RespReply } from '../integration/harness/resp-client.js';
import { waitFor } from '../integration/harness/wait.js';

afterAll(destroyAllClusters);

const show = (r: RespReply): string => (r.type === 'error' ? `-${r.message}` : JSON.stringify(r, (_k, v) => (typeof v === 'bigint' ? `${v}n` : v)));

async function lastIndex(c: Cluster, id: string): Promise<bigint> {
  const s = await c.status(id);
  if (!s?.lastIndex) throw new Error(`${id} stopped answering`);
  return BigInt(s.lastIndex);
}

async function incr(c: Cluster, id: string, key: string): Promise<RespReply> {
  const conn = await c.resp(id);
  try {
    return await conn.call(['INCR', key], 8000);
  } finally {
    conn.close();
  }
}

/** Cuts `leader` from every node except `keep`; returns the cut peers. */
function cutAllBut(c: Cluster, leader: string, keep: string): string[] {
  const cut = c.ids().filter((id) => id !== leader && id !== keep);
  for (const o of cut) c.cut(leader, o);
  return cut;
}

it('defect 9.8 (UNKNOWN_OUTCOME): proposals in the log of a leader that steps down get UNKNOWN_OUTCOME, directly and forwarded; writes that never reached a log get NOT_LEADER', async () => {
  // A long election timeout leaves the cut leader time to take the writes into its log before
  // check-quorum makes it step down.
  const c = await clusterForTest({ name: 'unknown-outcome', size: 4, electionTicks: 50, requestTimeoutMs: 6000 });
  const leader = await c.waitForLeader({ quorum: 4, timeoutMs: 30_000 });
  const f = c.ids().find((id) => id !== leader)!;
  const warm = await incr(c, leader, 'ctr');
  expect(warm, show(warm)).toEqual({ type: 'int', value: 1n });
  await c.waitCaughtUp(c.ids());

  // Round 1: the leader keeps F only (2 of 4: no quorum).
  const base = await lastIndex(c, leader);
  cutAllBut(c, leader, f);
  const direct = incr(c, leader, 'ctr');
  const forwarded = incr(c, f, 'ctr');
  const [d, fw] = await Promise.all([direct, forwarded]);
  console.info(`[unknown-outcome] leader ${leader}, follower ${f}: direct INCR -> ${show(d)}; forwarded INCR -> ${show(fw)}`);
  // Both were in the leader's log (the index moved by two) when it stepped down.
  expect(await lastIndex(c, leader)).toBeGreaterThanOrEqual(base + 2n);
  expect(d.type === 'error' ? d.message : show(d)).toMatch(/^ERR UNKNOWN_OUTCOME /);
  expect(fw.type === 'error' ? fw.message : show(fw)).toMatch(/^ERR UNKNOWN_OUTCOME /);

  // The old leader is now a follower that knows no leader: nothing reaches any log.
  await waitFor(`${leader} to step down`, async () => (await c.status(leader))?.role !== 'leader', 10_000);
  const after = await incr(c, leader, 'ctr');
  expect(after.type === 'error' ? after.message : show(after)).toMatch(/^ERR NOT_LEADER /);

  // Round 2: a forwarded write whose connection to the leader is lost after it was sent.
  c.heal();
  const leader2 = await c.waitForLeader({ quorum: 4, timeoutMs: 30_000 });
  await c.waitCaughtUp(c.ids());
  const f2 = c.ids().find((id) => id !== leader2)!;
  const base2 = await lastIndex(c, leader2);
  cutAllBut(c, leader2, f2);
  const lost = incr(c, f2, 'ctr');
  await waitFor(`the forwarded INCR in ${leader2}'s log`, async () => (await lastIndex(c, leader2)) > base2, 5000);
  c.cut(leader2, f2);
  const l = await lost;
  console.info(`[unknown-outcome] leader ${leader2}, follower ${f2}: forwarded INCR, link cut in flight -> ${show(l)}`);
  expect(l.type === 'error' ? l.message : show(l)).toMatch(/^ERR UNKNOWN_OUTCOME /);

  // After the heal the counter is 1 plus however many of the three unknown INCRs committed.
  c.heal();
  const leader3 = await c.waitForLeader({ quorum: 4, timeoutMs: 30_000 });
  const conn = await c.resp(leader3);
  const v = await conn.call(['GET', 'ctr']);
  conn.close();
  console.info(`[unknown-outcome] ctr after heal: ${show(v)}`);
  expect(v.type).toBe('bulk');
  expect(c.unexpectedExits()).toEqual([]);
}, 120_000);

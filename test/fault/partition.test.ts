// Issue 4 acceptance: a partitioned minority serves no linearizable read and no write; the
// majority keeps serving; after the heal the minority catches up; the client history through all
// nodes (probes into the minority included) is linearizable. Once with a follower in the
// minority, once with the leader.

import { afterAll, expect, it } from 'vitest';
import type { Cluster } from '../integration/harness/cluster.js';
import { clusterForTest, destroyAllClusters, endpointsOf, newRecorder } from '../integration/harness/fixture.js';
import { verifyAfterFaults } from '../integration/harness/verify.js';
import { sleep, waitFor } from '../integration/harness/wait.js';
import { type ProbeResult, recordedCall, showReply, Workload } from '../integration/harness/workload.js';
import type { HistoryRecorder } from '../lincheck/history.js';

afterAll(destroyAllClusters);

const KEYS = ['a', 'b', 'c', 'd', 'e'];
const PROBE_TIMEOUT_MS = 4000;

/** Proves the peer links of `id` ran through the proxies (else a cut would not isolate it). */
function expectLinksProxied(c: Cluster, id: string): void {
  const stats = c.proxyStats();
  for (const o of c.ids()) {
    if (o === id) continue;
    const used = (stats[`${id}>${o}`]?.accepted ?? 0) + (stats[`${o}>${id}`]?.accepted ?? 0);
    expect(used, `link ${id}-${o} never went through its proxy: ${JSON.stringify(stats)}`).toBeGreaterThan(0);
  }
}

/** After a cut: no live connection on any link of `id`. */
function expectLinksCut(c: Cluster, id: string): void {
  const stats = c.proxyStats();
  for (const o of c.ids()) {
    if (o === id) continue;
    for (const k of [`${id}>${o}`, `${o}>${id}`]) expect(stats[k]?.open ?? 0, `${k} still open`).toBe(0);
  }
}

/** A GET and a SET sent into the minority node: neither may return a value / OK. */
async function probeMinority(c: Cluster, rec: HistoryRecorder, id: string, round: number): Promise<{ get: ProbeResult; set: ProbeResult }> {
  const port = c.node(id).respPort;
  const t0 = performance.now();
  const [get, set] = await Promise.all([
    recordedCall(rec, `probe-get-${round}`, port, 'a', { kind: 'read' }, PROBE_TIMEOUT_MS),
    recordedCall(rec, `probe-set-${round}`, port, 'b', { kind: 'write', value: `minority-${round}` }, PROBE_TIMEOUT_MS),
  ]);
  console.info(
    `[probe ${id} #${round}] GET -> ${get.outcome} ${showReply(get.reply)}; SET -> ${set.outcome} ${showReply(set.reply)} (${(performance.now() - t0).toFixed(0)} ms)`,
  );
  expect(get.outcome, `linearizable GET via the minority ${id} answered ${showReply(get.reply)}`).not.toBe('ok');
  expect(set.outcome, `SET via the minority ${id} answered ${showReply(set.reply)}`).not.toBe('ok');
  return { get, set };
}

async function finish(c: Cluster, rec: HistoryRecorder, w: Workload, label: string): Promise<void> {
  await w.stop();
  const report = await verifyAfterFaults(c, rec, w, KEYS);
  console.info(`[${label}] ${report.text}; stats ${JSON.stringify(w.stats)}`);
  expect(report.ok, report.text).toBe(true);
  expect(c.unexpectedExits()).toEqual([]);
}

function startLoad(c: Cluster, rec: HistoryRecorder, seed: number): Workload {
  return new Workload({
    recorder: rec,
    endpoints: endpointsOf(c, () => c.ids()),
    clients: 6,
    keys: KEYS,
    maxOps: 20_000,
    durationMs: 20_000,
    opTimeoutMs: 4000,
    pauseAfterInfoMs: 300,
    seed,
  });
}

it('an isolated follower serves no linearizable read and no write; the majority serves; it catches up after the heal', async () => {
  const c = await clusterForTest({ name: 'partfollower' });
  const leader = await c.waitForLeader({ quorum: 3, timeoutMs: 20_000 });
  const minority = c.ids().find((id) => id !== leader)!;
  const majority = c.ids().filter((id) => id !== minority);
  const rec = newRecorder();
  const w = startLoad(c, rec, 31);
  await sleep(1500);

  expectLinksProxied(c, minority);
  c.isolate(minority);
  expectLinksCut(c, minority);
  const okAtCut = w.stats.ok;
  const majorityRepliesAtCut = majority.reduce((s, id) => s + (w.stats.repliesByNode[id] ?? 0), 0);
  const minorityRepliesAtCut = w.stats.repliesByNode[minority] ?? 0;
  const termAtCut = (await c.status(leader))!.term;
  // Probe early, then again after the isolated node has run through several election timeouts.
  await sleep(300);
  await probeMinority(c, rec, minority, 1);

  // The majority keeps its leader and keeps serving.
  expect(await c.waitForLeader({ among: majority, quorum: 2, timeoutMs: 5000 })).toBe(leader);
  await waitFor('the majority to keep serving', () => w.stats.ok > okAtCut + 100, 10_000);
  await sleep(1000);
  await probeMinority(c, rec, minority, 2);
  await probeMinority(c, rec, minority, 3);
  const majorityReplies = majority.reduce((s, id) => s + (w.stats.repliesByNode[id] ?? 0), 0);
  expect(majorityReplies).toBeGreaterThan(majorityRepliesAtCut + 100);

  c.heal();
  const st = await c.waitCaughtUp(c.ids(), 15_000);
  const ms = await c.status(minority);
  expect(BigInt(ms!.appliedIndex)).toBeGreaterThanOrEqual(st);
  // The healed node serves again.
  await waitFor('the healed node to serve clients again', () => (w.stats.repliesByNode[minority] ?? 0) > minorityRepliesAtCut + 20, 10_000);
  // Not an acceptance criterion, reported for the Raft owner: with PreVote + CheckQuorum the
  // rejoining follower should not have disturbed the leader.
  const after = (await c.status(leader))!;
  console.info(`[partition-follower] leader ${leader} term at cut ${termAtCut}, after heal: role ${after.role} term ${after.term}`);
  await finish(c, rec, w, 'partition-follower');
});

it('a leader partitioned into the minority serves nothing; the majority elects a new leader; linearizable', async () => {
  const c = await clusterForTest({ name: 'partleader' });
  const oldLeader = await c.waitForLeader({ quorum: 3, timeoutMs: 20_000 });
  const majority = c.ids().filter((id) => id !== oldLeader);
  const rec = newRecorder();
  const w = startLoad(c, rec, 37);
  await sleep(1500);

  expectLinksProxied(c, oldLeader);
  c.isolate(oldLeader);
  expectLinksCut(c, oldLeader);
  const t0 = performance.now();
  const newLeader = await c.waitForLeader({ among: majority, quorum: 2, not: oldLeader, timeoutMs: 10_000 });
  console.info(`[partition-leader] ${oldLeader} isolated; ${newLeader} leads the majority after ${((performance.now() - t0) / 1000).toFixed(3)} s`);
  const okAtElection = w.stats.ok;

  // The old leader, cut off, serves no write and no linearizable read.
  await probeMinority(c, rec, oldLeader, 1);
  await probeMinority(c, rec, oldLeader, 2);
  await waitFor('the majority to serve under the new leader', () => w.stats.ok > okAtElection + 100, 10_000);

  c.heal();
  // All three agree on one leader again (the old one rejoined as a follower of the new term).
  const leader = await c.waitForLeader({ quorum: 3, timeoutMs: 15_000 });
  const back = await c.status(oldLeader);
  expect(back!.leader).toBe(leader);
  await finish(c, rec, w, 'partition-leader');
});

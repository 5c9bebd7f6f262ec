// Issue 11 acceptance on real 3-node clusters, under a writer load:
// AS-7 — the raft cutover under write load (RO-7, RO-8, PF-4, PF-5): the barrier refuses user
//   writes with -TRYAGAIN for a moment, they succeed on retry, the log splits cleanly at N
//   (cleartext user commands below, raft envelopes above), proposals admitted before the barrier
//   land below N, and the history is linearizable.
// AS-9 — the ambiguous marker (RO-9): the leader is cut off from both followers right after it
//   hands the marker to the proposer (test-only hook SEALKV_TEST_PARTITION_AFTER_MARKER, which
//   partitions the node through its SEALKV_PEER_FAULTS layer before any message carries the
//   marker), for longer than the request deadline; the old leader's barrier stays up until it
//   restarts; the majority serves; a retry after the restart answers enabled or already-active.

import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { decodeProposal } from '../../src/crypto/envelope/proposal.js';
import { decodeCommand } from '../../src/node/fsm/command-codec.js';
import { EntryType } from '../../src/raft/index.js';
import type { Cluster } from './harness/cluster.js';
import { clusterForTest, destroyAllClusters, endpointsOf, newRecorder } from './harness/fixture.js';
import { readLogEntries } from './harness/offline.js';
import type { RespClient } from './harness/resp-client.js';
import { verifyAfterFaults } from './harness/verify.js';
import { sleep, waitFor } from './harness/wait.js';
import { Workload } from './harness/workload.js';

afterAll(destroyAllClusters);

const KEK = randomBytes(32).toString('base64');
const IDS = ['n1', 'n2', 'n3'];
const KEYS = ['a', 'b', 'c', 'd'];

async function phase1Cluster(name: string, env: Record<string, Record<string, string>> = {}): Promise<Cluster> {
  const all: Record<string, Record<string, string>> = {};
  for (const id of IDS) all[id] = { SEALKV_TEST_KEK: KEK, ...env[id] };
  const c = await clusterForTest({ name, extraArgs: ['--encryption', '--kek-env', 'SEALKV_TEST_KEK'], env: all, cipher: 'native' });
  await c.waitForLeader({ quorum: 3, timeoutMs: 20_000 });
  expect((await c.adminOnLeader('POST', '/v1/encryption/bootstrap', {})).status).toBe(200);
  expect((await c.adminOnLeader('POST', '/v1/encryption/enable-storage-envelope', {})).status).toBe(200);
  await c.waitCaughtUp();
  return c;
}

/** A SET of a fresh key retried on -TRYAGAIN; counts the writes that were refused and then acknowledged. */
class RetryWriters {
  retriedThenOk = 0;
  tryagain = 0;
  acked = 0;
  private running = true;
  readonly done: Promise<void>;
  constructor(c: Cluster, perNode: number) {
    this.done = Promise.all(
      IDS.flatMap((id, n) =>
        Array.from({ length: perNode }, async (_, j) => {
          const conn: RespClient = await c.resp(id);
          try {
            for (let i = 0; this.running; i++) {
              const k = `r:${n}:${j}:${i}`;
              let refused = false;
              for (;;) {
                const r = await conn.call(['SET', k, `rv-${n}-${j}-${i}`], 10_000);
                if (r.type === 'simple' && r.value === 'OK') break;
                if (r.type === 'error' && r.message.startsWith('TRYAGAIN')) {
                  refused = true;
                  this.tryagain++;
                  continue; // retried at once: the barrier is short
                }
                throw new Error(`SET ${k} via ${id}: ${JSON.stringify(r)}`);
              }
              this.acked++;
              if (refused) this.retriedThenOk++;
            }
          } finally {
            conn.close();
          }
        }),
      ),
    ).then(() => undefined);
  }
  async stop(): Promise<void> {
    this.running = false;
    await this.done;
  }
}

describe('raft cutover under load (issue 11 acceptance)', () => {
  it('AS-7, RO-7, RO-8, PF-5: the raft cutover under a full-speed writer load on all nodes: enabled applied_index=N, -TRYAGAIN then success on retry, cleartext user commands below N and wrapped entries above it, proposals admitted before the barrier below N, linearizable', async () => {
    const c = await phase1Cluster('enc-as7');
    const rec = newRecorder();
    const w = new Workload({
      recorder: rec,
      endpoints: endpointsOf(c, () => IDS),
      clients: 12,
      keys: KEYS,
      maxOps: 1_000_000,
      durationMs: 120_000,
      opTimeoutMs: 10_000,
      seed: 7,
    });
    const retry = new RetryWriters(c, 2);
    await waitFor('load running on every node', () => IDS.every((id) => (w.stats.repliesByNode[id] ?? 0) > 50) && retry.acked > 50, 30_000);

    const tSent = performance.now();
    const en = await c.adminOnLeader('POST', '/v1/encryption/enable-raft-envelope', {}, 60_000);
    const tAnswered = performance.now();
    expect(en.status, JSON.stringify(en.body)).toBe(200);
    const body = en.body as { applied_index: string; was_already_active: boolean };
    expect(body.was_already_active).toBe(false);
    const N = BigInt(body.applied_index);
    const okAtCutover = w.stats.ok;
    const ackedAtCutover = retry.acked;
    await waitFor('load after the cutover', () => w.stats.ok > okAtCutover + 300 && retry.acked > ackedAtCutover + 100, 60_000);
    await w.stop();
    await retry.stop();
    console.info(`[AS-7] N=${N}; barrier request ${(tAnswered - tSent).toFixed(0)} ms; -TRYAGAIN ${retry.tryagain} (retry writers) + ${w.stats.errors['TRYAGAIN ENVELOPE_CUTOVER_IN_PROGRESS'] ?? 0} (workload); retried then ok ${retry.retriedThenOk}; stats ${JSON.stringify(w.stats.errors)}`);
    // RO-7: the barrier refused some user writes, and they went through on retry.
    expect(retry.tryagain + (w.stats.errors['TRYAGAIN ENVELOPE_CUTOVER_IN_PROGRESS'] ?? 0), 'writes refused with -TRYAGAIN during the barrier').toBeGreaterThan(0);
    if (retry.tryagain > 0) expect(retry.retriedThenOk).toBeGreaterThan(0);
    for (const k of Object.keys(w.stats.errors)) expect(k, 'only retryable or indeterminate write errors').toMatch(/TRYAGAIN|client timeout/);

    const report = await verifyAfterFaults(c, rec, w, KEYS);
    expect(report.ok, report.text).toBe(true);
    expect(c.unexpectedExits()).toEqual([]);
    for (const id of IDS) await c.kill(id, 'SIGTERM');

    // Offline, every node's WAL: below N only cleartext (user commands decode as KV commands), the
    // marker at N, above N only raft envelopes; the write-once keys found below N.
    const ops = rec.history().filter((o) => o.key.startsWith('u:') && o.result !== null);
    const before = ops.filter((o) => o.invoke < tSent).map((o) => o.key);
    const after = ops.filter((o) => o.invoke > tAnswered).map((o) => o.key);
    expect(before.length).toBeGreaterThan(0);
    expect(after.length).toBeGreaterThan(0);
    for (const id of IDS) {
      const dir = c.node(id).dataDir;
      const entries = await readLogEntries(dir);
      expect(entries[0]!.index, `${id}: the log still holds the whole run`).toBeLessThanOrEqual(2);
      const clearKeys = new Set<string>();
      let userBelow = 0;
      let wrappedAbove = 0;
      for (const e of entries) {
        const i = e.index;
        if (e.type !== EntryType.Normal || e.data.length === 0) continue;
        const { payload } = decodeProposal(e.data);
        if (BigInt(i) < N) {
          // Not a raft envelope: a KV command or a cleartext encryption entry (0x04/0x05).
          if (payload[0] === 0x04 || payload[0] === 0x05) continue;
          const cmd = decodeCommand(payload);
          userBelow++;
          if ('key' in cmd) clearKeys.add(Buffer.from(cmd.key as Uint8Array).toString());
        } else if (BigInt(i) === N) {
          expect(payload[0], `${id} marker at N`).toBe(0x05);
        } else {
          expect([e.data[9], e.data[10]], `${id} log ${i}: raft envelope`).toEqual([0x01, 0x00]);
          expect(() => decodeCommand(payload), `${id} log ${i} must not decode as a cleartext command`).toThrow();
          wrappedAbove++;
        }
      }
      expect(userBelow, id).toBeGreaterThan(100);
      expect(wrappedAbove, id).toBeGreaterThan(100);
      // RO-8: what was admitted before the barrier began sits below N; what came after the answer, above.
      for (const k of before) expect(clearKeys.has(k), `${id}: ${k} (invoked before the request) below N`).toBe(true);
      for (const k of after) expect(clearKeys.has(k), `${id}: ${k} (invoked after the answer) not cleartext below N`).toBe(false);
    }
  }, 300_000);

  it('AS-9, RO-9: the leader partitioned right after it proposes the marker: 504/421, its barrier stays up (ENVELOPE_CUTOVER_IN_PROGRESS) until it restarts, the majority serves, nobody HALTs, a retry after the restart answers enabled or already-active', async () => {
    // The fault files must exist before the cluster (and its dir) does: one tmp file per node.
    const tmp = join(process.env.TMPDIR ?? '/tmp', `sealkv-as9-${randomBytes(4).toString('hex')}`);
    const files = Object.fromEntries(IDS.map((id) => [id, `${tmp}-${id}.json`]));
    for (const f of Object.values(files)) writeFileSync(f, '');
    const env = Object.fromEntries(IDS.map((id) => [id, { SEALKV_PEER_FAULTS: `@${files[id]}` }]));
    const c = await phase1Cluster('enc-as9', env);
    const L = await c.waitForLeader({ quorum: 3, timeoutMs: 20_000 });
    // Arm the hook on L only, and give it the leadership back.
    await c.kill(L, 'SIGTERM');
    c.start(L, false, { SEALKV_TEST_PARTITION_AFTER_MARKER: '1' });
    await waitFor(`${L} up`, () => c.status(L), 20_000);
    await c.leadOn(L, { quorum: 3 });
    await c.waitCaughtUp();
    const others = IDS.filter((id) => id !== L);

    const rec = newRecorder();
    const w = new Workload({ recorder: rec, endpoints: endpointsOf(c, () => IDS), clients: 6, keys: KEYS, maxOps: 1_000_000, durationMs: 180_000, opTimeoutMs: 6000, seed: 9 });
    await waitFor('load running', () => w.stats.ok > 200, 30_000);

    // The request with a 3 s deadline; the partition (armed by the hook) lasts 6 s.
    const t0 = performance.now();
    const en = await c.node(L).admin.request('POST', '/v1/encryption/enable-raft-envelope', { timeout_ms: 3000 }, 20_000);
    console.info(`[AS-9] answer after ${(performance.now() - t0).toFixed(0)} ms: ${en.status} ${JSON.stringify(en.body)}`);
    expect([504, 421], JSON.stringify(en.body)).toContain(en.status);
    expect(JSON.stringify(en.body)).toMatch(en.status === 504 ? /TIMEOUT/ : /NOT_LEADER/);
    // The majority elects a leader and serves while L is cut off.
    const next = await c.waitForLeader({ among: others, not: L, timeoutMs: 30_000 });
    const nconn = await c.resp(next);
    await waitFor('the majority serves writes', async () => {
      const r = await nconn.call(['SET', 'majority', 'yes'], 5000).catch(() => null);
      return r?.type === 'simple' ? true : undefined;
    }, 30_000);
    nconn.close();
    await sleep(Math.max(0, 6000 - (performance.now() - t0)));
    writeFileSync(files[L]!, '{"rules":[]}'); // heal
    // The hook really cut L off (the node writes its fault counters when the file changes).
    const counters = await waitFor('fault counters', () => {
      try {
        return JSON.parse(readFileSync(`${files[L]}.counters`, 'utf8')) as { partitioned: number };
      } catch {
        return undefined;
      }
    }, 10_000);
    expect(counters.partitioned, 'messages cut by the AS-9 partition').toBeGreaterThan(0);
    await c.waitForLeader({ quorum: 3, timeoutMs: 30_000 });
    await c.waitCaughtUp(IDS, 30_000);

    // RO-9: L's barrier is still up. As a follower it proposes nothing; given the leadership, it
    // refuses user writes with -TRYAGAIN ENVELOPE_CUTOVER_IN_PROGRESS (admin proposals would wait).
    await c.leadOn(L, { quorum: 3 });
    const lconn = await c.resp(L);
    const refused = await lconn.call(['SET', 'on-stuck-leader', 'x'], 5000);
    lconn.close();
    expect(refused.type === 'error' ? refused.message : JSON.stringify(refused)).toMatch(/^TRYAGAIN .*cutover/i);
    const s = (await c.status(L)) as unknown as { encryption?: { raftCutoverIndex?: string } } | null;
    console.info(`[AS-9] ${L} status encryption after heal: ${JSON.stringify(s?.encryption)}`);

    // Restart L (without the hook): the barrier is gone, the cluster serves, the retry succeeds.
    await c.kill(L, 'SIGTERM');
    c.start(L, false, { SEALKV_TEST_PARTITION_AFTER_MARKER: '0' });
    await c.waitForLeader({ quorum: 3, timeoutMs: 30_000 });
    await waitFor(`${L} knows the leader`, async () => (await c.status(L))?.leader ?? undefined, 20_000);
    const retry = await c.adminOnLeader('POST', '/v1/encryption/enable-raft-envelope', {}, 60_000);
    expect(retry.status, JSON.stringify(retry.body)).toBe(200);
    console.info(`[AS-9] retry: ${JSON.stringify(retry.body)}`);
    const N = BigInt((retry.body as { applied_index: string }).applied_index);
    expect(N > 0n).toBe(true);
    const okAt = w.stats.ok;
    await waitFor('writes after the retry', () => w.stats.ok > okAt + 100, 60_000);
    await w.stop();
    const lconn2 = await c.resp(L);
    await waitFor(`${L} serves writes after its restart`, async () => {
      const r = await lconn2.call(['SET', 'after-restart', 'x'], 5000).catch(() => null);
      return r?.type === 'simple' ? true : undefined;
    }, 30_000);
    lconn2.close();
    const report = await verifyAfterFaults(c, rec, w, KEYS);
    expect(report.ok, report.text).toBe(true);
    // No node HALTed: the only exits are the SIGTERMs above.
    expect(c.unexpectedExits()).toEqual([]);
    for (const [id, st] of await c.statuses()) {
      expect((st as unknown as { encryption: Record<string, unknown> }).encryption, id).toMatchObject({ raftCutoverIndex: String(N) });
    }
  }, 300_000);
});

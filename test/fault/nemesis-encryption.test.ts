// Issue 11 acceptance, AS-27 in full (PF-5, RS-1–RS-5) plus the verify-at-rest acceptance: a
// writer load from several clients on all nodes (SET/INCR/GET on a fixed key set, -TRYAGAIN
// recorded as a failed op and the client goes on) runs across the bootstrap, both cutovers, a
// raft and a storage rotation, while a nemesis kills (-9) and partitions nodes one fault at a
// time. Afterwards: the history is linearizable, no node HALTed, all nodes hold the same values,
// the same entry at every shared log index, the same sidecar state, and every log record above the
// raft cutover is sealed; `verify-at-rest` finds none of 1,000 random needles written as values
// after the cutovers on any node, and does find a control needle written before them.
//
// Runtime ~1.5–2 min. SEALKV_NEMESIS_SEED picks another fault schedule; SEALKV_AS27_SOAK_MS
// stretches the faulted run (e.g. 600000 for a 10-minute soak outside the suite).

import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { EntryType } from '../../src/raft/index.js';
import { MAIN_JS } from '../integration/harness/cluster.js';
import { clusterForTest, destroyAllClusters, endpointsOf, newRecorder } from '../integration/harness/fixture.js';
import { listRecords, readLogEntries, readSidecar } from '../integration/harness/offline.js';
import { verifyAfterFaults } from '../integration/harness/verify.js';
import { sleep, waitFor } from '../integration/harness/wait.js';
import { Workload, xorshift32 } from '../integration/harness/workload.js';

afterAll(destroyAllClusters);

const KEK = randomBytes(32).toString('base64');
const KEYS = ['a', 'b', 'c', 'd'];
const FAULTS = ['kill9', 'isolate', 'bridge', 'kill9-leader', 'isolate-leader'] as const;
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');


it('AS-27, PF-5, RS-1..RS-5: linearizable across bootstrap, both cutovers and both rotations under kill -9 and partitions; no HALT, identical state, every record above the cutover sealed; verify-at-rest finds no post-cutover needle and the pre-cutover control needle', async () => {
  const seed = Number(process.env.SEALKV_NEMESIS_SEED ?? 20261203);
  const soakMs = Number(process.env.SEALKV_AS27_SOAK_MS ?? 0);
  const rand = xorshift32(seed, 1);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const ids = ['n1', 'n2', 'n3'];
  const env: Record<string, Record<string, string>> = {};
  for (const id of ids) env[id] = { SEALKV_TEST_KEK: KEK };
  const c = await clusterForTest({ name: 'nemesis-enc', extraArgs: ['--encryption', '--kek-env', 'SEALKV_TEST_KEK'], env, cipher: 'native' });
  await c.waitForLeader({ quorum: 3, timeoutMs: 20_000 });

  // The control needle, written in cleartext before every cutover.
  const control = randomBytes(16);
  {
    const conn = await c.resp(await c.waitForLeader({ timeoutMs: 20_000 }));
    expect(await conn.call(['SET', 'control', Buffer.concat([randomBytes(5), control, randomBytes(5)])])).toEqual({ type: 'simple', value: 'OK' });
    conn.close();
  }

  const rec = newRecorder();
  const w = new Workload({ recorder: rec, endpoints: endpointsOf(c, () => ids), clients: 8, keys: KEYS, maxOps: 2_000_000, durationMs: 600_000 + soakMs, opTimeoutMs: 5000, seed });

  // One lifecycle action at a time (the nemesis and the RO-9 restart below share the nodes).
  let lock: Promise<void> = Promise.resolve();
  const exclusive = <T>(fn: () => Promise<T>): Promise<T> => {
    const run = lock.then(fn);
    lock = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  };
  const restart = async (id: string): Promise<void> => {
    await c.kill(id, 'SIGKILL');
    c.start(id);
  };

  // The nemesis: one fault at a time, each undone before the next.
  const done: string[] = [];
  let nemesisOn = true;
  const nemesis = (async () => {
    await sleep(1000);
    while (nemesisOn) {
      const fault = pick(FAULTS);
      await exclusive(async () => {
        const leader = await c.waitForLeader({ timeoutMs: 30_000 });
        const target = fault.endsWith('-leader') ? leader : pick(ids);
        switch (fault) {
          case 'kill9':
          case 'kill9-leader':
            await c.kill(target, 'SIGKILL');
            await sleep(300 + rand() * 1200);
            c.start(target);
            done.push(`kill9 ${target}`);
            break;
          case 'isolate':
          case 'isolate-leader':
            c.isolate(target);
            await sleep(500 + rand() * 1500);
            c.heal();
            done.push(`isolate ${target}`);
            break;
          case 'bridge': {
            const [a, b] = ids.filter((id) => id !== target);
            c.cut(a!, b!);
            await sleep(500 + rand() * 1500);
            c.heal();
            done.push(`cut ${a}-${b}`);
            break;
          }
        }
        await c.waitForLeader({ quorum: 3, timeoutMs: 30_000 });
      });
      await sleep(300 + rand() * 900);
    }
  })();

  // The admin steps, each retried until it answers 200 (a fault can answer 409/421/5xx). An
  // enable-raft-envelope that failed after its marker may leave its barrier up on that process
  // (RO-9): the operator's remedy is a restart of that node, done here under the lock.
  const adminLog: string[] = [];
  const step = async (path: string, body: Record<string, unknown> = {}, accept409?: string): Promise<Record<string, unknown>> => {
    for (let attempt = 0; attempt < 80; attempt++) {
      const leader = await c.waitForLeader({ timeoutMs: 30_000 }).catch(() => null);
      if (leader !== null) {
        const r = await c.node(leader).admin.request('POST', path, { timeout_ms: 8000, ...body }, 15_000).catch((e: Error) => e);
        const what = r instanceof Error ? r.message : `${r.status} ${JSON.stringify(r.body)}`;
        adminLog.push(`${path} via ${leader}: ${what.slice(0, 200)}`);
        if (!(r instanceof Error) && r.status === 200) return r.body as Record<string, unknown>;
        if (!(r instanceof Error) && r.status === 409 && accept409 !== undefined && JSON.stringify(r.body).includes(accept409)) return {};
        if (path.endsWith('enable-raft-envelope') && (r instanceof Error || r.status >= 500 || r.status === 421)) {
          await exclusive(async () => {
            if (c.node(leader).proc) await restart(leader);
            await c.waitForLeader({ quorum: 3, timeoutMs: 30_000 });
          });
        }
      }
      await sleep(500);
    }
    throw new Error(`${path} never succeeded:\n${adminLog.join('\n')}`);
  };
  const stepPause = () => sleep(5000 + soakMs / 5);
  await stepPause();
  await step('/v1/encryption/bootstrap', {}, 'ENCRYPTION_ALREADY_BOOTSTRAPPED');
  await stepPause();
  await step('/v1/encryption/enable-storage-envelope');
  await stepPause();
  const en = await step('/v1/encryption/enable-raft-envelope');
  const N = BigInt(en.applied_index as string);
  await stepPause();
  const raftRot = await step('/v1/encryption/rotate-dek', { purpose: 'raft' });
  await stepPause();
  const storRot = await step('/v1/encryption/rotate-dek', { purpose: 'storage' });
  await stepPause();
  nemesisOn = false;
  await nemesis;
  c.heal();
  for (const id of ids) if (!c.node(id).proc) c.start(id);
  await c.waitForLeader({ quorum: 3, timeoutMs: 30_000 });
  const okAtEnd = w.stats.ok;
  await waitFor('the load makes progress after the faults', () => w.stats.ok > okAtEnd + 200, 60_000);
  await w.stop();

  // 1,000 needles written as values after both cutovers and rotations.
  const needles = Array.from({ length: 1000 }, () => randomBytes(16));
  {
    const leader = await c.waitForLeader({ quorum: 3, timeoutMs: 30_000 });
    const conn = await c.resp(leader);
    for (let i = 0; i < needles.length; i += 100) {
      const replies = await Promise.all(needles.slice(i, i + 100).map((n, j) => conn.call(['SET', `needle-${i + j}`, n], 15_000)));
      for (const r of replies) expect(r).toEqual({ type: 'simple', value: 'OK' });
    }
    conn.close();
  }

  const report = await verifyAfterFaults(c, rec, w, KEYS);
  console.info(`[AS-27] seed ${seed}; N=${N}; raft rotation ${JSON.stringify(raftRot)}; storage rotation ${JSON.stringify(storRot)}\n[AS-27] faults (${done.length}): ${done.join('; ')}\n[AS-27] admin: ${adminLog.join(' | ')}\n[AS-27] ${report.text}; stats ${JSON.stringify(w.stats)}`);
  expect(report.ok, report.text).toBe(true);
  expect(done.length, 'faults injected during the run').toBeGreaterThanOrEqual(5);
  // No HALT: every exit was one the test caused.
  expect(c.unexpectedExits()).toEqual([]);
  // The same values through every node (the needles too).
  const values = new Map<string, string>();
  for (const id of ids) {
    const conn = await c.resp(id);
    for (const k of [...KEYS, 'control', 'needle-0', 'needle-999']) {
      const r = await conn.call(['GET', k]);
      const v = JSON.stringify(r, (_k, x) => (typeof x === 'bigint' ? x.toString() : x));
      if (values.has(k)) expect(v, `${id} ${k}`).toBe(values.get(k));
      else values.set(k, v);
    }
    conn.close();
  }
  const applied = await c.waitCaughtUp(ids, 30_000);
  for (const id of ids) await c.kill(id, 'SIGTERM');

  // Offline: sidecars agree; logs agree at every shared index; everything above N is sealed; the kv key sets agree.
  const sidecars = ids.map((id) => readSidecar(c.node(id).dataDir));
  for (const s of sidecars) {
    expect(s.raftEnvelopeCutoverIndex).toBe(N);
    expect(s.storageEnvelopeCutoverIndex).toBe(sidecars[0]!.storageEnvelopeCutoverIndex);
    expect(s.active).toEqual(sidecars[0]!.active);
  }
  const logs = await Promise.all(ids.map(async (id) => new Map((await readLogEntries(c.node(id).dataDir)).map((e) => [e.index, e] as const))));
  for (const [n, log] of logs.entries()) {
    let sealed = 0;
    for (const e of log.values()) {
      if (BigInt(e.index) <= N || e.type !== EntryType.Normal || e.data.length === 0) continue;
      expect([e.data[0], e.data[9], e.data[10]], `${ids[n]} log ${e.index}: a raft envelope`).toEqual([0x01, 0x01, 0x00]);
      sealed++;
    }
    expect(sealed, `${ids[n]}: sealed records above N`).toBeGreaterThan(1000);
    for (const e of log.values()) {
      if (BigInt(e.index) > applied) continue;
      const other = logs[0]!.get(e.index);
      if (other === undefined) continue;
      expect(other.term, `${ids[n]} term at ${e.index}`).toBe(e.term);
      expect(Buffer.from(other.data).equals(Buffer.from(e.data)), `${ids[n]} entry ${e.index} differs from ${ids[0]}'s`).toBe(true);
    }
  }
  const keySets = await Promise.all(ids.map(async (id) => (await listRecords(c.node(id).dataDir, 'kv')).map((r) => hex(r.key)).sort().join(',')));
  for (const ks of keySets) expect(ks === keySets[0]).toBe(true);

  // verify-at-rest: no needle on any node; the control needle is found (the verifier can fail).
  const needlesFile = join(c.dir, 'needles.txt');
  writeFileSync(needlesFile, [...needles, control].map(hex).join('\n'));
  for (const id of ids) {
    const r = spawnSync(process.execPath, [MAIN_JS, 'verify-at-rest', '--data-dir', c.node(id).dataDir, '--needles-file', needlesFile], { encoding: 'utf8', timeout: 120_000 });
    const found = new Set(r.stdout.split('\n').filter((l) => l.startsWith('FOUND ')).map((l) => l.split(' ')[1]));
    expect([...found], `${id}: needles found`).toEqual([hex(control)]);
    expect(r.status, `${id}: ${r.stderr}`).toBe(4);
  }
}, 420_000);

// Issue 10 acceptance on a real 3-node cluster: AS-15 (a crash between the registry commit and
// the sidecar write, for the bootstrap and the storage cutover; issue 11 adds the raft-marker
// run), AS-23 (capability fan-out
// refusal while a member is partitioned), AS-24 (KEK and sidecar start-up guards).

import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { openStorageEnv } from '../../src/storage/env.js';
import { readMeta, readSidecar } from './harness/offline.js';
import { type Cluster, MAIN_JS } from './harness/cluster.js';
import { clusterForTest, destroyAllClusters } from './harness/fixture.js';
import { waitFor } from './harness/wait.js';
import { onLeader } from './harness/on-leader.js';

afterAll(destroyAllClusters);

const run = promisify(execFile);
const KEK = randomBytes(32).toString('base64');

/** Makes sure `id` is not the leader (the crashing node must not be the one answering). */
async function leaderOtherThan(c: Cluster, id: string): Promise<string> {
  const l = await c.waitForLeader({ quorum: 3, timeoutMs: 20_000 });
  if (l !== id) return l;
  const to = c.ids().find((x) => x !== id)!;
  const r = await c.node(l).admin.request('POST', '/v1/transfer-leader', { id: to }, 15_000);
  expect(r.status).toBe(200);
  return c.waitForLeader({ not: id, timeoutMs: 20_000 });
}

async function registryRows(dataDir: string): Promise<string[]> {
  const env = await openStorageEnv(dataDir);
  try {
    const out: string[] = [];
    for (const { key, value } of env.registry.getRange({})) out.push(`${Buffer.from(key as Uint8Array).toString('hex')}=${Buffer.from(value as Uint8Array).toString('hex')}`);
    return out;
  } finally {
    await env.close();
  }
}

async function sidecarOf(c: Cluster, id: string): Promise<Record<string, unknown>> {
  const r = await c.node(id).admin.request('GET', '/v1/encryption/sidecar');
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  return r.body as Record<string, unknown>;
}

/** `sealkv start` for a stopped node with other options: it must refuse with `code`, exit 2. */
async function refusesToStart(c: Cluster, id: string, args: string[], env: Record<string, string>, code: string): Promise<void> {
  const n = c.node(id);
  const base = ['start', '--id', id, '--data-dir', n.dataDir, '--raft', `127.0.0.1:${n.raftPort}`, '--resp', `127.0.0.1:${n.respPort}`];
  const r = await run(process.execPath, [MAIN_JS, ...base, '--admin', `127.0.0.1:${n.adminPort}`, '--peers', n.peersArg, ...args], {
    env: { ...process.env, NODE_ENV: 'test', ...env },
    timeout: 20_000,
  }).then(
    () => ({ code: 0, stderr: '' }),
    (e: { code?: number; stderr?: string }) => ({ code: e.code ?? -1, stderr: e.stderr ?? '' }),
  );
  expect(r.code, r.stderr).toBe(2);
  expect(r.stderr.trim().split('\n')).toHaveLength(1);
  expect(r.stderr).toMatch(new RegExp(`^error: ${code}: `));
}

describe('encryption crash points and guards on a 3-node cluster', () => {
  it('AS-15, AS-23, AS-24: n2 killed after its registry commit replays bootstrap and cutover; a partitioned member fails the fan-out; KEK/sidecar start-up guards refuse with exit 2', async () => {
    const env: Record<string, Record<string, string>> = {};
    for (const id of ['n1', 'n2', 'n3']) env[id] = { SEALKV_TEST_KEK: KEK };
    env.n2!.SEALKV_CRASH_POINTS = 'after-registry-commit';
    const c = await clusterForTest({ name: 'enc-crash', extraArgs: ['--encryption', '--kek-env', 'SEALKV_TEST_KEK'], env, cipher: 'native' });
    await leaderOtherThan(c, 'n2');
    const restartN2 = async (crash: string) => {
      c.start('n2', false, { SEALKV_TEST_KEK: KEK, SEALKV_CRASH_POINTS: crash });
      await waitFor('n2 answers status', () => c.status('n2'), 20_000);
    };

    // AS-15 run 1: bootstrap. n2 dies between its registry commit and its sidecar write.
    c.expectExit('n2');
    const boot = await onLeader(c, 'POST', '/v1/encryption/bootstrap', {});
    expect(boot.status, JSON.stringify(boot.body)).toBe(200);
    const exit1 = await c.waitExit('n2');
    expect(exit1.signal).toBe('SIGKILL');
    await restartN2('');
    const bootIndex = BigInt((boot.body as { applied_index: string }).applied_index);
    await c.waitApplied(c.ids(), bootIndex);
    const l1 = await leaderOtherThan(c, 'n2');
    expect((await sidecarOf(c, 'n2')).active).toEqual((await sidecarOf(c, l1)).active);

    // AS-23: n3 partitioned away → the switch is refused naming n3, nothing proposed, writes go on.
    if (l1 === 'n3') await leaderOtherThan(c, 'n3');
    c.isolate('n3');
    const refused = await onLeader(c, 'POST', '/v1/encryption/enable-storage-envelope', {});
    expect(refused.status).toBe(409);
    expect(JSON.stringify(refused.body)).toContain('CAPABILITY_CHECK_FAILED');
    expect(JSON.stringify(refused.body)).toContain('n3');
    const w = await c.resp(await c.waitForLeader({ not: 'n3', timeoutMs: 20_000 }));
    expect(await w.call(['SET', 'during-partition', 'x'])).toEqual({ type: 'simple', value: 'OK' });
    w.close();
    for (const id of ['n1', 'n2']) expect((await sidecarOf(c, id)).storage_envelope_active).toBe(false);
    c.heal();

    // AS-15 run 2: the storage cutover, n2 killed at the same point.
    await leaderOtherThan(c, 'n2');
    await c.kill('n2', 'SIGTERM');
    // Before the storage cutover a restart registers no writer (WR-5 needs an active storage
    // envelope), so the first hit of the point is the cutover itself.
    await restartN2('after-registry-commit');
    await c.waitCaughtUp();
    c.expectExit('n2');
    const en = await c.adminOnLeader('POST', '/v1/encryption/enable-storage-envelope', {});
    expect(en.status, JSON.stringify(en.body)).toBe(200);
    expect((await c.waitExit('n2')).signal).toBe('SIGKILL');
    const cut = (en.body as { applied_index: string }).applied_index;
    // Killed between the cutover's registry commit and its sidecar write.
    expect((await readMeta(c.node('n2').dataDir)).appliedIndex).toBe(BigInt(cut) - 1n);
    expect(readSidecar(c.node('n2').dataDir).storageEnvelopeActive).toBe(false);
    await restartN2('');
    await c.waitApplied(c.ids(), BigInt(cut));
    for (const id of c.ids()) {
      const s = await sidecarOf(c, id);
      expect(s.storage_envelope_active, id).toBe(true);
      expect(s.storage_envelope_cutover_index, id).toBe(cut);
    }
    await waitFor('n2 knows the leader', async () => (await c.status('n2'))?.leader ?? undefined, 20_000);
    const r = await c.resp('n2');
    expect(await r.call(['SET', 'after-replay', 'sealed'])).toEqual({ type: 'simple', value: 'OK' });
    expect(await r.call(['GET', 'during-partition'])).toEqual({ type: 'bulk', value: 'x' });
    r.close();
    await c.waitCaughtUp();
    expect(c.unexpectedExits()).toEqual([]);

    // Registry rows are identical on every node (the replayed ones included).
    for (const id of c.ids()) await c.kill(id, 'SIGTERM');
    const rows = await Promise.all(c.ids().map((id) => registryRows(c.node(id).dataDir)));
    expect(rows[0]!.length).toBeGreaterThan(0);
    expect(rows[1]).toEqual(rows[0]);
    expect(rows[2]).toEqual(rows[0]);

    // AS-24: start-up guards on n2 (one line, exit 2), then its own configuration starts again.
    const enc = ['--cluster-id', 'ignored', '--encryption', '--kek-env', 'SEALKV_TEST_KEK'];
    await refusesToStart(c, 'n2', enc, { SEALKV_TEST_KEK: randomBytes(32).toString('base64') }, 'KEK_MISMATCH');
    await refusesToStart(c, 'n2', [], {}, 'SIDECAR_PRESENT_WITHOUT_FLAG');
    await refusesToStart(c, 'n2', ['--encryption'], {}, 'KEK_REQUIRED_WITH_FLAG');
    await refusesToStart(c, 'n2', enc, { SEALKV_TEST_KEK: 'not base64!' }, 'KEK_INVALID');
    for (const id of c.ids()) c.start(id, false, { SEALKV_TEST_KEK: KEK, SEALKV_CRASH_POINTS: '' });
    await c.waitForLeader({ quorum: 3, timeoutMs: 20_000 });
    await waitFor('n2 knows the leader', async () => (await c.status('n2'))?.leader ?? undefined, 20_000);
    const r2 = await waitFor('n2 RESP', () => c.resp('n2').catch(() => undefined), 20_000);
    expect(await r2.call(['GET', 'after-replay'])).toEqual({ type: 'bulk', value: 'sealed' });
    r2.close();
  }, 180_000);

  it('AS-15 (raft marker run), WI-7, RO-4, RO-5: n2 killed at after-registry-commit while it applies the raft marker replays it on restart; its registry rows equal the others\', its sidecar shows cutover N; nothing HALTs', async () => {
    const env: Record<string, Record<string, string>> = {};
    for (const id of ['n1', 'n2', 'n3']) env[id] = { SEALKV_TEST_KEK: KEK };
    const c = await clusterForTest({ name: 'enc-crash-marker', extraArgs: ['--encryption', '--kek-env', 'SEALKV_TEST_KEK'], env, cipher: 'native' });
    await leaderOtherThan(c, 'n2');
    expect((await c.adminOnLeader('POST', '/v1/encryption/bootstrap', {})).status).toBe(200);
    expect((await c.adminOnLeader('POST', '/v1/encryption/enable-storage-envelope', {})).status).toBe(200);
    await c.waitCaughtUp();
    await waitFor('n2 knows the leader', async () => (await c.status('n2'))?.leader ?? undefined, 20_000);
    const w = await c.resp('n2');
    await waitFor('SET via n2', async () => ((await w.call(['SET', 'phase1-n2', 'p'])).type === 'simple' ? true : undefined), 20_000);
    w.close();
    await c.waitCaughtUp();

    // n2 armed at after-registry-commit, then the raft marker. Every start bumps n2's local epoch
    // (KM-8), so its first encryption entry after the restart is its own WR-5 registration, which
    // passes the same point: the point is armed for the second hit, and a write through n2 (its
    // writer gate opens once that registration has applied) proves the first one is behind us.
    await c.kill('n2', 'SIGTERM');
    c.start('n2', false, { SEALKV_TEST_KEK: KEK, SEALKV_CRASH_POINTS: 'after-registry-commit@2' });
    await waitFor('n2 knows the leader', async () => (await c.status('n2'))?.leader ?? undefined, 20_000);
    const w2 = await c.resp('n2');
    await waitFor('SET via n2 (registered)', async () => ((await w2.call(['SET', 'n2-registered', 'r'])).type === 'simple' ? true : undefined), 30_000);
    w2.close();
    await c.waitCaughtUp();
    c.throwOnCrash(['n2']);
    await leaderOtherThan(c, 'n2');
    c.expectExit('n2');
    const en = await c.adminOnLeader('POST', '/v1/encryption/enable-raft-envelope', {}, 60_000);
    expect(en.status, JSON.stringify(en.body)).toBe(200);
    const N = BigInt((en.body as { applied_index: string }).applied_index);
    expect((await c.waitExit('n2')).signal).toBe('SIGKILL');
    // Killed between the marker's registry commit and its sidecar write.
    const n2 = c.node('n2').dataDir;
    expect(readSidecar(n2).raftEnvelopeCutoverIndex).toBe(0n);
    expect((await readMeta(n2)).appliedIndex).toBe(N - 1n);

    c.start('n2', false, { SEALKV_TEST_KEK: KEK, SEALKV_CRASH_POINTS: '' });
    await waitFor('n2 answers status', () => c.status('n2'), 20_000);
    await c.waitApplied(c.ids(), N, 30_000);
    for (const id of c.ids()) {
      const s = await sidecarOf(c, id);
      expect(s.raft_envelope_cutover_index, id).toBe(String(N));
    }
    // Every node writes (its WR-8 raft registration commits), then all registry rows settle.
    for (const id of c.ids()) {
      await waitFor(`${id} knows the leader`, async () => (await c.status(id))?.leader ?? undefined, 20_000);
      const r = await c.resp(id);
      await waitFor(`SET via ${id}`, async () => ((await r.call(['SET', `after-marker-${id}`, 'm'])).type === 'simple' ? true : undefined), 30_000);
      r.close();
    }
    await c.waitCaughtUp();
    expect(c.unexpectedExits()).toEqual([]);
    expect(c.log('n2')).not.toContain('halted: ');
    for (const id of c.ids()) await c.kill(id, 'SIGTERM');
    const rows = await Promise.all(c.ids().map((id) => registryRows(c.node(id).dataDir)));
    expect(rows[0]!.length).toBeGreaterThan(0);
    expect(rows[1]).toEqual(rows[0]);
    expect(rows[2]).toEqual(rows[0]);
    const sidecars = c.ids().map((id) => readSidecar(c.node(id).dataDir));
    for (const s of sidecars) {
      expect(s.raftEnvelopeCutoverIndex).toBe(N);
      expect(s.active).toEqual(sidecars[0]!.active);
    }
  }, 180_000);
});

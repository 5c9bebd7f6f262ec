// Issue 10 acceptance on real 3-node clusters: AS-19 (KM-12, KM-13) — a sidecar put back behind
// the log refuses SIDECAR_BEHIND_RAFT_LOG and `resync-sidecar` repairs it by local replay; the
// variant with the log compacted past the rotation needs the leader's report, after which every
// local_epoch is above both its old local value and the registry's. Also the OP-2 register-writer
// endpoint (WR-3 pre-check) on the same cluster, and the AS-17 variant (a whole data directory
// restored in place: the WR-11 peer check refuses, the leader's report repairs).

import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cpSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { deriveNodeIdentity } from '../../src/keys/node-identity.js';
import { parseSidecar, type Sidecar } from '../../src/keys/sidecar-schema.js';
import type { Cluster } from './harness/cluster.js';
import { clusterForTest, destroyAllClusters } from './harness/fixture.js';
import { readRegistry } from './harness/offline.js';
import { ANY_ERROR, setVia } from './harness/writes.js';

afterAll(destroyAllClusters);

/** Every error reply is retried until the SET lands, for up to 30 s. */
const UNTIL_OK = { retryOn: ANY_ERROR };

const MAIN = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));
const run = promisify(execFile);
const KEK = randomBytes(32).toString('base64');
const sidecarPath = (c: Cluster, id: string) => join(c.node(id).dataDir, 'encryption', 'keys.json');
const sidecarOf = (c: Cluster, id: string): Sidecar => parseSidecar(readFileSync(sidecarPath(c, id), 'utf8'));

async function resync(c: Cluster, id: string, ...extra: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const args = [MAIN, 'admin', 'encryption', 'resync-sidecar', '--data-dir', c.node(id).dataDir, '--kek-env', 'SEALKV_TEST_KEK', ...extra];
  return run(process.execPath, args, { env: { ...process.env, SEALKV_TEST_KEK: KEK } }).then(
    (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
    (e: { code?: number; stdout?: string; stderr?: string }) => ({ code: e.code ?? -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' }),
  );
}

async function expectReads(c: Cluster, id: string, pairs: ReadonlyArray<[string, string]>): Promise<void> {
  const conn = await c.resp(id);
  try {
    for (const [k, v] of pairs) expect(await conn.call(['GET', k]), `${id} GET ${k}`).toEqual({ type: 'bulk', value: v });
  } finally {
    conn.close();
  }
}

async function refuses(c: Cluster, id: string, code: string): Promise<void> {
  c.expectExit(id);
  c.start(id);
  const exit = await c.waitExit(id);
  expect(exit.code).toBe(2);
  expect(c.log(id).split('\n').filter((l) => l.startsWith('error: ')).at(-1)).toMatch(new RegExp(`^error: ${code}: `));
}

async function encryptedCluster(name: string, opts: { snapshotThreshold?: number; compactionMargin?: number } = {}): Promise<Cluster> {
  const env: Record<string, Record<string, string>> = {};
  for (const id of ['n1', 'n2', 'n3']) env[id] = { SEALKV_TEST_KEK: KEK };
  const c = await clusterForTest({ name, extraArgs: ['--encryption', '--kek-env', 'SEALKV_TEST_KEK'], env, cipher: 'native', ...opts });
  const leader = await c.waitForLeader({ quorum: 3, timeoutMs: 20_000 });
  await setVia(c, leader, 'pre', 'cleartext-before', UNTIL_OK);
  expect((await c.adminOnLeader('POST', '/v1/encryption/bootstrap', {})).status).toBe(200);
  expect((await c.adminOnLeader('POST', '/v1/encryption/enable-storage-envelope', {})).status).toBe(200);
  for (const k of ['k1', 'k2']) await setVia(c, leader, k, `old-${k}`, UNTIL_OK);
  return c;
}

/** Rotates the storage DEK and waits until every node has registered for it (a write through each passes its gate). */
async function rotateStorage(c: Cluster): Promise<number> {
  const r = await c.adminOnLeader('POST', '/v1/encryption/rotate-dek', { purpose: 'storage' });
  expect(r.status).toBe(200);
  await c.waitCaughtUp();
  for (const id of c.ids()) await setVia(c, id, `after-rotation-${id}`, 'r', UNTIL_OK);
  return (r.body as { key_id: number }).key_id;
}

describe('AS-19: sidecar behind the log, and resync-sidecar (KM-12, KM-13)', () => {
  it('AS-19 (base), KM-13 local replay: the old sidecar refuses SIDECAR_BEHIND_RAFT_LOG; resync by local replay repairs it; n2 reads values under the new DEK', async () => {
    const c = await encryptedCluster('enc-as19');
    const leader = await c.waitForLeader({ timeoutMs: 20_000 });
    const n2 = c.ids().find((id) => id !== leader)!;
    await c.waitCaughtUp();
    const before = readFileSync(sidecarPath(c, n2));
    const newKey = await rotateStorage(c);
    for (const k of ['k3', 'k4']) await setVia(c, leader, k, `new-${k}`, UNTIL_OK);
    await c.waitCaughtUp();
    await c.kill(n2, 'SIGTERM');
    const current = sidecarOf(c, n2);
    writeFileSync(sidecarPath(c, n2), before);
    await refuses(c, n2, 'SIDECAR_BEHIND_RAFT_LOG');

    const r = await resync(c, n2);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^resynced source=local-replay raft_applied_index=\d+ /);
    const repaired = sidecarOf(c, n2);
    expect(repaired.active.storage).toBe(newKey);
    expect(repaired.keys.has(newKey)).toBe(true);
    expect(repaired.raftAppliedIndex).toBe(current.raftAppliedIndex);
    expect(repaired.storageEnvelopeCutoverIndex).toBe(current.storageEnvelopeCutoverIndex);
    c.start(n2);
    await setVia(c, n2, 'after-as19', 'ok', UNTIL_OK);
    await c.waitCaughtUp();
    await expectReads(c, n2, [
      ['pre', 'cleartext-before'],
      ['k1', 'old-k1'],
      ['k3', 'new-k3'],
      ['k4', 'new-k4'],
      ['after-as19', 'ok'],
    ]);
  }, 240_000);

  it('AS-19 (variant), KM-13 leader report, OP-2 register-writer: with the log compacted past the rotation local replay fails; the leader report repairs; every local_epoch is above the old local and the registry value; n2 starts', async () => {
    const c = await encryptedCluster('enc-as19v', { snapshotThreshold: 40, compactionMargin: 0 });
    const leader = await c.waitForLeader({ timeoutMs: 20_000 });
    const n2 = c.ids().find((id) => id !== leader)!;
    const n2Id = deriveNodeIdentity(n2).fullNodeId;
    await c.waitCaughtUp();
    const before = readFileSync(sidecarPath(c, n2));
    const oldSidecar = sidecarOf(c, n2);
    const newKey = await rotateStorage(c);

    // OP-2 register-writer (WR-3 leader pre-check): an idempotent repeat of n2's row proposes
    // nothing; a lower epoch is 409 LOCAL_EPOCH_ROLLBACK; an epoch above 0xFFFF is 400.
    await c.waitCaughtUp();
    const rows = (await c.node(await c.waitForLeader({ timeoutMs: 20_000 })).admin.request('POST', '/v1/encryption/resync-sidecar', { full_node_id: n2Id.toString() })).body as {
      writer_registry_for_caller: Record<string, number>;
    };
    const registered = rows.writer_registry_for_caller[String(newKey)]!;
    expect(registered).toBeGreaterThanOrEqual(0);
    const same = await c.adminOnLeader('POST', '/v1/encryption/register-writer', { dek_id: newKey, full_node_id: n2Id.toString(), local_epoch: registered });
    expect(same.status).toBe(200);
    expect(same.body).toMatchObject({ proposed: false });
    const bumped = await c.adminOnLeader('POST', '/v1/encryption/register-writer', { dek_id: newKey, full_node_id: n2Id.toString(), local_epoch: registered + 1, timeout_ms: 20_000 });
    expect(bumped.status).toBe(200);
    expect(bumped.body).toMatchObject({ proposed: true });
    // adminOnLeader retries a 409 (it may be a leadership transfer): ask the leader directly.
    const direct = await c.waitForLeader({ timeoutMs: 20_000 });
    const back = await c.node(direct).admin.request('POST', '/v1/encryption/register-writer', { dek_id: newKey, full_node_id: n2Id.toString(), local_epoch: registered });
    expect(back.status).toBe(409);
    expect(JSON.stringify(back.body)).toContain('LOCAL_EPOCH_ROLLBACK');
    const wide = await c.adminOnLeader('POST', '/v1/encryption/register-writer', { dek_id: newKey, full_node_id: n2Id.toString(), local_epoch: 65536 });
    expect(wide.status).toBe(400);
    expect(JSON.stringify(wide.body)).toContain('LOCAL_EPOCH_OUT_OF_RANGE');

    // Enough writes for n2 to snapshot and compact its log past the rotation.
    const pastRotation = BigInt((await c.status(n2))!.appliedIndex);
    for (let i = 0; i < 120; i++) await setVia(c, leader, `bulk-${i}`, `v-${i}`, UNTIL_OK);
    await c.waitCaughtUp();
    await c.waitCompactedPast(n2, pastRotation, 60_000);
    await c.kill(n2, 'SIGTERM');
    const registryBefore = (await readRegistry(c.node(n2).dataDir)).filter((r) => r.fullNodeId === n2Id);
    writeFileSync(sidecarPath(c, n2), before);
    // KM-12 with SH-1: the snapshot record's sidecar_applied_index is past the restored sidecar,
    // so the start refuses even though the rotation is no longer in the log.
    // (The refused start has already made its KM-8 epoch bump, KM-14 step order: epochs only rise.)
    await refuses(c, n2, 'SIDECAR_BEHIND_RAFT_LOG');
    const refusedSidecar = readFileSync(sidecarPath(c, n2));

    const local = await resync(c, n2);
    expect(local.code).toBe(2);
    expect(local.stderr).toMatch(/^error: (SIDECAR_BEHIND_RAFT_LOG|LOG_COMPACTED_PAST_SIDECAR): .*--leader-admin/);
    expect(readFileSync(sidecarPath(c, n2))).toEqual(refusedSidecar); // nothing written

    const leaderNow = await c.waitForLeader({ timeoutMs: 20_000, among: c.running() });
    const r = await resync(c, n2, '--leader-admin', `127.0.0.1:${c.node(leaderNow).adminPort}`);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^resynced source=leader-report /);
    const repaired = sidecarOf(c, n2);
    expect(repaired.active.storage).toBe(newKey);
    for (const [id, k] of repaired.keys) {
      const oldLocal = oldSidecar.keys.get(id)?.localEpoch ?? 0;
      const reg = registryBefore.find((x) => x.dekId === id)?.lastSeenLocalEpoch ?? 0;
      expect(k.localEpoch, `key ${id}`).toBeGreaterThan(oldLocal);
      expect(k.localEpoch, `key ${id}`).toBeGreaterThan(reg);
    }
    c.start(n2);
    await setVia(c, n2, 'after-as19v', 'ok', UNTIL_OK);
    await c.waitCaughtUp();
    await expectReads(c, n2, [
      ['k1', 'old-k1'],
      ['bulk-119', 'v-119'],
      ['after-as19v', 'ok'],
    ]);
  }, 300_000);

  it('AS-17 (variant), WR-11, KM-13: a whole data directory put back in place refuses LOCAL_EPOCH_ROLLBACK (peer check); after resync-sidecar with the leader report it starts and catches up', async () => {
    const c = await encryptedCluster('enc-as17v');
    const leader = await c.waitForLeader({ timeoutMs: 20_000 });
    const n3 = c.ids().find((id) => id !== leader)!;
    await c.waitCaughtUp();
    const dir = c.node(n3).dataDir;
    const copy = `${dir}.copy`;
    await c.kill(n3, 'SIGTERM');
    cpSync(dir, copy, { recursive: true });
    for (let i = 0; i < 2; i++) {
      c.start(n3);
      await setVia(c, n3, `restart-${i}`, 'r', UNTIL_OK); // passes the gate: the new epoch is registered (WR-5)
      await c.waitCaughtUp();
      await c.kill(n3, 'SIGTERM');
    }
    rmSync(dir, { recursive: true, force: true });
    cpSync(copy, dir, { recursive: true });
    await refuses(c, n3, 'LOCAL_EPOCH_ROLLBACK');

    const leaderNow = await c.waitForLeader({ timeoutMs: 20_000, among: c.running() });
    const r = await resync(c, n3, '--leader-admin', `127.0.0.1:${c.node(leaderNow).adminPort}`);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    c.start(n3);
    // Raft assumes a durable log: the restored copy lost entries n3 had acknowledged, and the
    // current leader ignores n3's rejections at or below the match index it recorded (a stale
    // reject, as in etcd/raft), so it never backs off. A new leader probes from scratch: move
    // leadership to the third node. (Reported: the in-place restore of AS-17's variant needs this.)
    const current = await c.waitForLeader({ among: c.ids().filter((id) => id !== n3), timeoutMs: 20_000 });
    const third = c.ids().find((id) => id !== n3 && id !== current)!;
    const moved = await c.node(current).admin.request('POST', '/v1/transfer-leader', { id: third }, 15_000);
    expect(moved.status, JSON.stringify(moved.body)).toBe(200);
    await setVia(c, n3, 'after-as17v', 'ok', UNTIL_OK);
    await c.waitCaughtUp();
    await expectReads(c, n3, [
      ['k1', 'old-k1'],
      ['restart-1', 'r'],
      ['after-as17v', 'ok'],
    ]);
  }, 240_000);
});

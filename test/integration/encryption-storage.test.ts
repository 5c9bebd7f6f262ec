// Issue 10 acceptance on real 3-node clusters: bootstrap (RO-4), the Phase 1 storage envelope
// (RO-5, SE-1..SE-10) under a writer load, the needle search of every node's raw `kv` records,
// nonce uniqueness across kill -9 restarts, storage rotations and leader changes, and the typed
// refusals of the admin surface (AS-26 storage parts).

import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { openStorageEnv } from '../../src/storage/env.js';
import type { Cluster } from './harness/cluster.js';
import { clusterForTest, destroyAllClusters } from './harness/fixture.js';
import { waitFor } from './harness/wait.js';
import { onLeader } from './harness/on-leader.js';
import { setAll, setOn } from './harness/writes.js';

afterAll(destroyAllClusters);

const KEK = randomBytes(32).toString('base64');
const ENC_ARGS = ['--encryption', '--kek-env', 'SEALKV_TEST_KEK'];

async function encryptedCluster(name: string): Promise<Cluster> {
  const env: Record<string, Record<string, string>> = {};
  for (const id of ['n1', 'n2', 'n3']) env[id] = { SEALKV_TEST_KEK: KEK };
  return clusterForTest({ name, extraArgs: ENC_ARGS, env, cipher: 'native' });
}

interface RawRecord {
  key: Buffer;
  record: Buffer;
}

/** Every raw `kv` record of a stopped node, read offline from its LMDB environment. */
async function rawKv(dataDir: string): Promise<RawRecord[]> {
  const env = await openStorageEnv(dataDir);
  try {
    const out: RawRecord[] = [];
    for (const { key, value } of env.kv.getRange({})) out.push({ key: Buffer.from(key as Uint8Array), record: Buffer.from(value as Uint8Array) });
    return out;
  } finally {
    await env.close();
  }
}

const ok = { type: 'simple', value: 'OK' };

/** SE-4: encryption_state is bits 1–2 of the header's flags byte. */
const stateOf = (record: Buffer): number => (record[0]! >> 1) & 0b11;

describe('encryption part 1 on a 3-node cluster', () => {
  it('issue 10 needle + nonce acceptance, AS-26: bootstrap and the storage cutover under a writer load; no needle written after the switch is stored in cleartext on any node; every value reads back everywhere; nonces never repeat under one DEK across kill -9, rotation and leader change', async () => {
    const c = await encryptedCluster('enc-needle');
    const leader = await c.waitForLeader({ quorum: 3, timeoutMs: 20_000 });
    const conns = new Map(await Promise.all(c.ids().map(async (id) => [id, await c.resp(id)] as const)));
    const any = conns.get(leader)!;

    // Control value before anything: it must be found in cleartext later (the check can fail).
    const control = `CONTROL-${randomBytes(16).toString('hex')}`;
    await setAll(any, [['control', control]]);

    // Cutovers before bootstrap are refused and nothing is proposed (RO-4).
    const early = await onLeader(c, 'POST', '/v1/encryption/enable-storage-envelope', {});
    expect(early.status).toBe(409);
    expect(JSON.stringify(early.body)).toContain('ENCRYPTION_NOT_BOOTSTRAPPED');

    const boot = await c.adminOnLeader('POST', '/v1/encryption/bootstrap', {});
    expect(boot.status).toBe(200);
    const b = boot.body as { applied_index: string; storage_dek_id: number; raft_dek_id: number };
    expect(b.storage_dek_id).not.toBe(0);
    expect(b.raft_dek_id).not.toBe(b.storage_dek_id);
    // AS-26: a second bootstrap is a typed 409, nothing proposed.
    const again = await onLeader(c, 'POST', '/v1/encryption/bootstrap', {});
    expect(again.status).toBe(409);
    expect(JSON.stringify(again.body)).toContain('ENCRYPTION_ALREADY_BOOTSTRAPPED');
    // Malformed admin JSON: typed 400.
    const bad = await c.node(leader).admin.request('POST', '/v1/encryption/rotate-dek', { purpose: 'backups' });
    expect(bad.status).toBe(400);
    expect(JSON.stringify(bad.body)).toContain('INVALID_ARGUMENT');

    // A writer load runs across the switch.
    let loadN = 0;
    let loading = true;
    const load = (async () => {
      const ids = c.ids();
      while (loading) {
        const id = ids[loadN % ids.length]!;
        // Retryable refusals (a node's registration committing, a leader change) are retried.
        await setOn(conns.get(id)!, `load-${loadN}`, `v-${loadN}`);
        loadN++;
      }
    })();
    await waitFor('load before the switch', () => loadN > 20, 20_000);
    const en = await c.adminOnLeader('POST', '/v1/encryption/enable-storage-envelope', {});
    expect(en.status).toBe(200);
    const cut = (en.body as { applied_index: string; was_already_active: boolean });
    expect(cut.was_already_active).toBe(false);
    const cutover = BigInt(cut.applied_index);
    await waitFor('load after the switch', () => loadN > 60, 20_000);
    loading = false;
    await load;
    // AS-26: the second enable answers already-active with the ORIGINAL index.
    const en2 = await c.adminOnLeader('POST', '/v1/encryption/enable-storage-envelope', {});
    expect(en2.body).toMatchObject({ was_already_active: true, applied_index: cut.applied_index });

    // Every node publishes the same state.
    await c.waitCaughtUp();
    for (const [id, s] of await c.statuses()) {
      expect((s as unknown as { encryption: Record<string, unknown> }).encryption, id).toMatchObject({
        enabled: true,
        storageEnvelope: true,
        storageCutoverIndex: String(cutover),
        activeStorageDekId: String(b.storage_dek_id),
      });
    }

    // 1,000 needles after the switch, spread over the nodes.
    const needles = Array.from({ length: 1000 }, () => randomBytes(16).toString('hex'));
    const ids = c.ids();
    await Promise.all(
      ids.map((id, j) => setAll(conns.get(id)!, needles.flatMap((n, i) => (i % ids.length === j ? [[`needle-${i}`, n] as [string, string]] : [])))),
    );

    // The seals ran through the crypto pool (worker or inline batches), and the metrics say so.
    const metrics = String((await c.node(leader).admin.request('GET', '/metrics')).body);
    const batches = [...metrics.matchAll(/^sealkv_crypto_pool_batches\{where="(?:worker|inline)"\} (\d+)/gm)].reduce((n, m) => n + Number(m[1]), 0);
    expect(batches).toBeGreaterThan(0);
    expect(metrics).toContain(`sealkv_encryption_active_dek_id{purpose="storage"} ${b.storage_dek_id}`);
    expect(metrics).toMatch(new RegExp(`sealkv_encryption_writes_per_dek\\{dek_id="${b.storage_dek_id}"\\} [1-9]`));

    // Nonce history: kill -9 a follower, restart it, write more; rotate the storage DEK; move leadership.
    const follower = ids.find((id) => id !== leader)!;
    conns.get(follower)!.close();
    await c.kill(follower, 'SIGKILL');
    c.start(follower);
    await c.waitForLeader({ quorum: 3, timeoutMs: 20_000 });
    conns.set(follower, await waitFor('restarted follower accepts RESP', () => c.resp(follower).catch(() => undefined), 20_000));
    await setAll(conns.get(follower)!, Array.from({ length: 50 }, (_, i) => [`after-restart-${i}`, `r-${i}`] as [string, string]));
    const rot = await c.adminOnLeader('POST', '/v1/encryption/rotate-dek', { purpose: 'storage' });
    expect(rot.status).toBe(200);
    const rotated = (rot.body as { key_id: number }).key_id;
    await setAll(any, Array.from({ length: 50 }, (_, i) => [`after-rotate-${i}`, `q-${i}`] as [string, string]));
    const cur = await c.waitForLeader({ timeoutMs: 20_000 });
    const target = ids.find((id) => id !== cur)!;
    const tr = await c.node(cur).admin.request('POST', '/v1/transfer-leader', { id: target }, 15_000);
    expect(tr.status).toBe(200);
    await setAll(conns.get(target)!, Array.from({ length: 50 }, (_, i) => [`after-transfer-${i}`, `t-${i}`] as [string, string]));

    // Reads through every node: old (cleartext) and new (sealed) values.
    for (const [id, conn] of conns) {
      expect(await conn.call(['GET', 'control']), id).toEqual({ type: 'bulk', value: control });
      for (const i of [0, 1, 2, 499, 998, 999]) expect(await conn.call(['GET', `needle-${i}`]), id).toEqual({ type: 'bulk', value: needles[i] });
      expect(await conn.call(['GET', 'after-rotate-7']), id).toEqual({ type: 'bulk', value: 'q-7' });
      // Issue 10 item 4: a batched read (MGET of sealed values under two DEKs, plus a cleartext one)
      // opens in the crypto pool and answers exactly what the single GETs do.
      const mkeys = ['control', ...Array.from({ length: 40 }, (_, i) => `needle-${i * 25}`), 'after-rotate-7', 'no-such-key'];
      const mget = (await conn.call(['MGET', ...mkeys])) as { type: string; value: unknown[] };
      expect(mget.type, id).toBe('array');
      expect(mget.value, id).toEqual([
        { type: 'bulk', value: control },
        ...Array.from({ length: 40 }, (_, i) => ({ type: 'bulk', value: needles[i * 25] })),
        { type: 'bulk', value: 'q-7' },
        { type: 'bulk', value: null },
      ]);
    }
    await c.waitCaughtUp();
    // Each node's writes pass its gate once its WR-6 registration for the new DEK committed.
    for (const [id, conn] of conns) await setAll(conn, [[`registered-${id}`, 'r']]);
    await c.waitCaughtUp();
    for (const conn of conns.values()) conn.close();

    // Every node restarts after the rotation: the group B guards pass (each node's registry row for
    // the active storage DEK is below its new pinned epoch), each re-registers (WR-5) before its
    // client writes go through, and every value still reads back.
    for (const id of ids) await c.kill(id, 'SIGTERM');
    for (const id of ids) c.start(id);
    await c.waitForLeader({ quorum: 3, timeoutMs: 30_000 });
    for (const id of ids) {
      await waitFor(`${id} knows the leader`, async () => (await c.status(id))?.leader ?? undefined, 20_000);
      const conn = await c.resp(id);
      expect(await conn.call(['GET', 'needle-5']), id).toEqual({ type: 'bulk', value: needles[5] });
      expect(await conn.call(['GET', 'control']), id).toEqual({ type: 'bulk', value: control });
      expect(await conn.call(['SET', `after-full-restart-${id}`, 'z'])).toEqual(ok);
      conn.close();
    }
    await c.waitCaughtUp();
    expect(c.unexpectedExits()).toEqual([]);
    for (const id of ids) await c.kill(id, 'SIGTERM');

    const nonces = new Map<string, string>();
    const dekIds = new Set<number>();
    for (const id of ids) {
      const recs = await rawKv(c.node(id).dataDir);
      const blob = Buffer.concat(recs.map((r) => r.record));
      expect(blob.includes(Buffer.from(control)), `${id}: the control value is stored in cleartext`).toBe(true);
      const found = needles.filter((n) => blob.includes(Buffer.from(n)));
      expect(found, `${id}: needles stored in cleartext`).toEqual([]);
      for (const r of recs) {
        if (!r.key.toString().startsWith('needle-')) continue;
        expect(stateOf(r.record), `${id} ${r.key}: encryption_state`).toBe(0b01);
      }
      // Every sealed record of every node: a (DEK, nonce) pair never repeats across the cluster.
      for (const r of recs) {
        if (stateOf(r.record) !== 0b01) continue;
        const env = r.record.subarray(9);
        const keyId = env.readUInt32BE(2);
        dekIds.add(keyId);
        const nonce = env.subarray(6, 18).toString('hex');
        const k = `${keyId}/${nonce}`;
        expect(nonces.has(k), `${k} repeats (${nonces.get(k)} and ${r.key})`).toBe(false);
        nonces.set(k, r.key.toString());
      }
    }
    expect(dekIds).toEqual(new Set([b.storage_dek_id, rotated]));
    expect(nonces.size).toBeGreaterThan(3 * 1000);
  }, 180_000);
});

// Issue 10 acceptance on a real 3-node cluster: AS-19 (a sidecar put back behind the log refuses
// SIDECAR_BEHIND_RAFT_LOG), AS-17 (a sidecar restored from an older copy refuses
// LOCAL_EPOCH_ROLLBACK), AS-21 (stored values tampered offline read as typed errors, never as nil
// or raw bytes; the other nodes are unaffected; the decrypt-failure metric rises).

import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openStorageEnv } from '../../src/storage/env.js';
import type { Cluster } from './harness/cluster.js';
import { clusterForTest, destroyAllClusters } from './harness/fixture.js';
import { ANY_ERROR, setVia } from './harness/writes.js';

afterAll(destroyAllClusters);

/** Every error reply is retried until the SET lands, for up to 20 s. */
const UNTIL_OK = { timeoutMs: 20_000, retryOn: ANY_ERROR };

const KEK = randomBytes(32).toString('base64');
const sidecarPath = (c: Cluster, id: string) => join(c.node(id).dataDir, 'encryption', 'keys.json');

/** Starts `id` and expects it to refuse with `code` (exit 2). */
async function refuses(c: Cluster, id: string, code: string): Promise<void> {
  c.expectExit(id);
  c.start(id);
  const exit = await c.waitExit(id);
  expect(exit.code).toBe(2);
  expect(c.log(id).split('\n').filter((l) => l.startsWith('error: ')).at(-1)).toMatch(new RegExp(`^error: ${code}: `));
}

async function restart(c: Cluster, id: string): Promise<void> {
  await c.kill(id, 'SIGTERM');
  c.start(id);
  await setVia(c, id, `probe-${id}-${Date.now()}`, 'p', UNTIL_OK); // passes the writer gate: registered (WR-5)
}

describe('encryption guards and tampering on a 3-node cluster', () => {
  it('AS-19, AS-17, AS-21: sidecar behind the log and rolled-back epochs refuse to start; tampered values read as typed errors', async () => {
    const env: Record<string, Record<string, string>> = {};
    for (const id of ['n1', 'n2', 'n3']) env[id] = { SEALKV_TEST_KEK: KEK };
    const c = await clusterForTest({ name: 'enc-guards', extraArgs: ['--encryption', '--kek-env', 'SEALKV_TEST_KEK'], env, cipher: 'native' });
    let leader = await c.waitForLeader({ quorum: 3, timeoutMs: 20_000 });
    await setVia(c, leader, 'pre', '\x01abc', UNTIL_OK); // cleartext whose first byte is 0x01 (AS-21)
    expect((await c.adminOnLeader('POST', '/v1/encryption/bootstrap', {})).status).toBe(200);
    expect((await c.adminOnLeader('POST', '/v1/encryption/enable-storage-envelope', {})).status).toBe(200);
    for (const k of ['k1', 'k2', 'k3', 'k4']) await setVia(c, leader, k, `value-of-${k}`, UNTIL_OK);
    leader = await c.waitForLeader({ timeoutMs: 20_000 });
    const [f1, f2] = c.ids().filter((id) => id !== leader) as [string, string];

    // AS-19: f1's sidecar from before a storage rotation, put back after it.
    await c.waitCaughtUp();
    const before = readFileSync(sidecarPath(c, f1));
    expect((await c.adminOnLeader('POST', '/v1/encryption/rotate-dek', { purpose: 'storage' })).status).toBe(200);
    await c.waitCaughtUp();
    // A write through each node passes its writer gate only once its WR-6 registration for the
    // new DEK has committed: after this, every node can restart.
    for (const id of c.ids()) await setVia(c, id, `after-rotation-${id}`, 'r', UNTIL_OK);
    await c.waitCaughtUp();
    await c.kill(f1, 'SIGTERM');
    const current = readFileSync(sidecarPath(c, f1));
    writeFileSync(sidecarPath(c, f1), before);
    await refuses(c, f1, 'SIDECAR_BEHIND_RAFT_LOG');
    writeFileSync(sidecarPath(c, f1), current);
    c.start(f1);
    await setVia(c, f1, 'after-as19', 'ok', UNTIL_OK);

    // AS-17: f2's sidecar copied, f2 restarted twice (each start re-registers a higher epoch), the copy put back.
    const old = readFileSync(sidecarPath(c, f2));
    await restart(c, f2);
    await restart(c, f2);
    await c.waitCaughtUp();
    await c.kill(f2, 'SIGTERM');
    const now = readFileSync(sidecarPath(c, f2));
    writeFileSync(sidecarPath(c, f2), old);
    await refuses(c, f2, 'LOCAL_EPOCH_ROLLBACK');
    writeFileSync(sidecarPath(c, f2), now);
    c.start(f2);
    await setVia(c, f2, 'after-as17', 'ok', UNTIL_OK);

    // AS-21: tamper f2's sealed records offline.
    await c.waitCaughtUp();
    await c.kill(f2, 'SIGTERM');
    const db = await openStorageEnv(c.node(f2).dataDir);
    const get = (k: string) => Buffer.from(db.kv.get(Buffer.from(k)) as Uint8Array);
    const r1 = get('k1');
    const tomb = Buffer.from(r1);
    tomb[0]! |= 0x01; // (a) tombstone bit
    const flip = get('k3');
    flip[flip.length - 5]! ^= 0x01; // (e) one ciphertext/tag byte
    const reserved = get('k4');
    reserved[0] = 0x08; // (f) reserved header bit
    await db.kv.put(Buffer.from('k1'), tomb);
    await db.kv.put(Buffer.from('k2'), r1); // (c) k1's record copied onto k2
    await db.kv.put(Buffer.from('k3'), flip);
    await db.kv.put(Buffer.from('k4'), reserved);
    await db.close();
    c.start(f2);
    await setVia(c, f2, 'after-tamper', 'ok', UNTIL_OK);
    const conn = await c.resp(f2);
    for (const k of ['k1', 'k2', 'k3']) {
      const r = await conn.call(['GET', k]);
      expect(r.type, `${k}: ${JSON.stringify(r)}`).toBe('error');
      expect(String((r as { message?: string }).message)).toContain('ENCRYPTED_READ_INTEGRITY');
    }
    const r4 = await conn.call(['GET', 'k4']);
    expect(String((r4 as { message?: string }).message)).toContain('ENCRYPTED_VALUE_RESERVED_STATE');
    expect(await conn.call(['GET', 'pre'])).toEqual({ type: 'bulk', value: '\x01abc' });
    conn.close();
    const other = await c.resp(leader === f2 ? f1 : (c.ids().find((id) => id !== f2) as string));
    for (const k of ['k1', 'k2', 'k3', 'k4']) expect(await other.call(['GET', k])).toEqual({ type: 'bulk', value: `value-of-${k}` });
    other.close();
    const m = await c.node(f2).admin.request('GET', '/metrics');
    expect(String(m.body)).toMatch(/sealkv_encryption_decrypt_failures_total\{reason="ENCRYPTED_READ_INTEGRITY"\} [1-9]/);
  }, 180_000);
});

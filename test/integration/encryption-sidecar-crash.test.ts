// AS-16 on a real 3-node cluster: n2 killed at steps of the KM-7 sidecar write while it applies a
// storage rotation. After every kill its keys.json validates and holds the old contents (kills up
// to the rename) or the new ones (kills after the rename, before the applied index passes the
// entry); after the restart no tmp file remains, the rotation is in the sidecar and n2 catches up.
// The fsync-failure run: a failing directory fsync HALTs the apply with ENCRYPTION_APPLY, reason
// UNSUPPORTED_FILESYSTEM, and a restart on the same (still failing) filesystem refuses with
// UNSUPPORTED_FILESYSTEM.

import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseSidecar } from '../../src/keys/sidecar-schema.js';
import type { Cluster } from './harness/cluster.js';
import { clusterForTest, destroyAllClusters } from './harness/fixture.js';
import { waitFor } from './harness/wait.js';
import { ANY_ERROR, setVia } from './harness/writes.js';

afterAll(destroyAllClusters);

/** Every error reply is retried until the SET lands, for up to 20 s. */
const UNTIL_OK = { timeoutMs: 20_000, retryOn: ANY_ERROR };

const KEK = randomBytes(32).toString('base64');
const encDir = (c: Cluster, id: string) => join(c.node(id).dataDir, 'encryption');

/** A bootstrapped cluster with the storage envelope on, n2 not the leader. */
async function as16Cluster(name: string): Promise<Cluster> {
  const env: Record<string, Record<string, string>> = {};
  for (const id of ['n1', 'n2', 'n3']) env[id] = { SEALKV_TEST_KEK: KEK };
  const c = await clusterForTest({ name, extraArgs: ['--encryption', '--kek-env', 'SEALKV_TEST_KEK'], env, cipher: 'native' });
  const leader = await c.waitForLeader({ quorum: 3, timeoutMs: 20_000 });
  if (leader === 'n2') {
    expect((await c.node('n2').admin.request('POST', '/v1/transfer-leader', { id: 'n1' }, 15_000)).status).toBe(200);
    await c.waitForLeader({ not: 'n2', timeoutMs: 20_000 });
  }
  expect((await c.adminOnLeader('POST', '/v1/encryption/bootstrap', {})).status).toBe(200);
  expect((await c.adminOnLeader('POST', '/v1/encryption/enable-storage-envelope', {})).status).toBe(200);
  return c;
}

describe('AS-16 on a 3-node cluster', () => {
  it('AS-16: a kill at each KM-7 step up to the rename of a rotation sidecar write leaves the old keys.json valid; the restart replays and catches up', async () => {
    const env: Record<string, Record<string, string>> = {};
    for (const id of ['n1', 'n2', 'n3']) env[id] = { SEALKV_TEST_KEK: KEK };
    const c = await clusterForTest({ name: 'enc-as16', extraArgs: ['--encryption', '--kek-env', 'SEALKV_TEST_KEK'], env, cipher: 'native' });
    let leader = await c.waitForLeader({ quorum: 3, timeoutMs: 20_000 });
    if (leader === 'n2') {
      expect((await c.node('n2').admin.request('POST', '/v1/transfer-leader', { id: 'n1' }, 15_000)).status).toBe(200);
      leader = await c.waitForLeader({ not: 'n2', timeoutMs: 20_000 });
    }
    expect((await c.adminOnLeader('POST', '/v1/encryption/bootstrap', {})).status).toBe(200);
    expect((await c.adminOnLeader('POST', '/v1/encryption/enable-storage-envelope', {})).status).toBe(200);
    // Steps up to the rename: the old contents stay.
    for (const step of ['create-tmp', 'write', 'fsync-file', 'rename']) {
      await c.waitCaughtUp();
      await setVia(c, 'n2', `before-${step}`, 'v', UNTIL_OK); // n2 registered for the active DEK (restartable)
      const old = parseSidecar(readFileSync(join(encDir(c, 'n2'), 'keys.json'), 'utf8'));
      await c.kill('n2', 'SIGTERM');
      c.start('n2', false, { SEALKV_TEST_KEK: KEK, SEALKV_CRASH_POINTS: `sidecar-write:${step}:before` });
      await waitFor('n2 up', () => c.status('n2'), 20_000);
      await c.waitCaughtUp();
      c.expectExit('n2');
      const rot = await c.adminOnLeader('POST', '/v1/encryption/rotate-dek', { purpose: 'storage' });
      expect(rot.status, JSON.stringify(rot.body)).toBe(200);
      const newId = (rot.body as { key_id: number }).key_id;
      expect((await c.waitExit('n2')).signal, step).toBe('SIGKILL');
      const after = parseSidecar(readFileSync(join(encDir(c, 'n2'), 'keys.json'), 'utf8'));
      expect(after.active.storage, step).toBe(old.active.storage);
      expect(after.raftAppliedIndex, step).toBe(old.raftAppliedIndex);
      c.start('n2', false, { SEALKV_TEST_KEK: KEK, SEALKV_CRASH_POINTS: '' });
      await setVia(c, 'n2', `after-${step}`, 'v', UNTIL_OK);
      await c.waitCaughtUp();
      expect(readdirSync(encDir(c, 'n2')).filter((f) => f !== 'keys.json'), step).toEqual([]);
      const now = parseSidecar(readFileSync(join(encDir(c, 'n2'), 'keys.json'), 'utf8'));
      expect(now.active.storage, step).toBe(newId);
    }
    expect(c.unexpectedExits()).toEqual([]);
  }, 180_000);

  it('AS-16, KM-7, WR-10: a kill after the rename (rename:after, fsync-dir:before, fsync-dir:after) leaves the new keys.json valid; the node restarts (the active DEK\'s missing row is above the applied index), replays and catches up', async () => {
    const c = await as16Cluster('enc-as16b');
    for (const point of ['rename:after', 'fsync-dir:before', 'fsync-dir:after']) {
      await c.waitCaughtUp();
      await setVia(c, 'n2', `before-${point}`, 'v', UNTIL_OK);
      const old = parseSidecar(readFileSync(join(encDir(c, 'n2'), 'keys.json'), 'utf8'));
      await c.kill('n2', 'SIGTERM');
      c.start('n2', false, { SEALKV_TEST_KEK: KEK, SEALKV_CRASH_POINTS: `sidecar-write:${point}` });
      await waitFor('n2 up', () => c.status('n2'), 20_000);
      await c.waitCaughtUp();
      c.expectExit('n2');
      const rot = await c.adminOnLeader('POST', '/v1/encryption/rotate-dek', { purpose: 'storage' });
      expect(rot.status, JSON.stringify(rot.body)).toBe(200);
      const newId = (rot.body as { key_id: number }).key_id;
      expect((await c.waitExit('n2')).signal, point).toBe('SIGKILL');
      const after = parseSidecar(readFileSync(join(encDir(c, 'n2'), 'keys.json'), 'utf8'));
      expect(after.active.storage, point).toBe(newId);
      expect(after.raftAppliedIndex, point).toBeGreaterThan(old.raftAppliedIndex);
      c.start('n2', false, { SEALKV_TEST_KEK: KEK, SEALKV_CRASH_POINTS: '' });
      await setVia(c, 'n2', `after-${point}`, 'v', UNTIL_OK); // passes the gate: n2 registered for the new DEK (WR-6)
      await c.waitCaughtUp();
      expect(readdirSync(encDir(c, 'n2')).filter((f) => f !== 'keys.json'), point).toEqual([]);
      expect(c.log('n2')).toContain('sidecar ahead of the Raft log');
      const now = parseSidecar(readFileSync(join(encDir(c, 'n2'), 'keys.json'), 'utf8'));
      expect(now.active.storage, point).toBe(newId);
      const conn = await c.resp('n2');
      expect(await conn.call(['GET', `before-${point}`])).toEqual({ type: 'bulk', value: 'v' });
      conn.close();
    }
    expect(c.unexpectedExits()).toEqual([]);
  }, 180_000);

  it('AS-16, KM-7: a failing directory fsync HALTs the apply with ENCRYPTION_APPLY (reason UNSUPPORTED_FILESYSTEM); a restart on that filesystem refuses with UNSUPPORTED_FILESYSTEM', async () => {
    const c = await as16Cluster('enc-as16f');
    await c.waitCaughtUp();
    await setVia(c, 'n2', 'before-fsync-fault', 'v', UNTIL_OK);
    await c.kill('n2', 'SIGTERM');
    c.start('n2', false, { SEALKV_TEST_KEK: KEK, SEALKV_TEST_FAIL_DIR_FSYNC: 'apply' });
    await waitFor('n2 up', () => c.status('n2'), 20_000);
    await c.waitCaughtUp();
    c.expectExit('n2');
    expect((await c.adminOnLeader('POST', '/v1/encryption/rotate-dek', { purpose: 'storage' })).status).toBe(200);
    expect((await c.waitExit('n2')).code).toBe(3);
    expect(c.log('n2')).toMatch(/halted: ENCRYPTION_APPLY at index \d+ \(reason UNSUPPORTED_FILESYSTEM\)/);
    c.expectExit('n2');
    c.start('n2', false, { SEALKV_TEST_KEK: KEK, SEALKV_TEST_FAIL_DIR_FSYNC: 'all' });
    expect((await c.waitExit('n2')).code).toBe(2);
    expect(c.log('n2').split('\n').filter((l) => l.startsWith('error: ')).at(-1)).toMatch(/^error: UNSUPPORTED_FILESYSTEM: /);
    // On a filesystem that fsyncs again, n2 restarts and catches up.
    c.start('n2', false, { SEALKV_TEST_KEK: KEK });
    await setVia(c, 'n2', 'after-fsync-fault', 'v', UNTIL_OK);
    await c.waitCaughtUp();
  }, 180_000);
});

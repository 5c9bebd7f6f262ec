// AS-16 on a real 3-node cluster: n2 killed at steps of the KM-7 sidecar write while it applies a
// storage rotation. After every kill its keys.json validates and holds the old contents; after the restart no tmp file remains, the rotation is in the sidecar and n2 catches up.

import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseSidecar } from '../../src/keys/sidecar-schema.js';
import type { Cluster } from './harness/cluster.js';
import { clusterForTest, destroyAllClusters } from './harness/fixture.js';
import { waitFor } from './harness/wait.js';

afterAll(destroyAllClusters);

const KEK = randomBytes(32).toString('base64');
const encDir = (c: Cluster, id: string) => join(c.node(id).dataDir, 'encryption');

async function setVia(c: Cluster, id: string, key: string): Promise<void> {
  await waitFor(`${id} knows the leader`, async () => (await c.status(id))?.leader ?? undefined, 20_000);
  const conn = await c.resp(id);
  try {
    await waitFor(`SET via ${id}`, async () => ((await conn.call(['SET', key, 'v'])).type === 'simple' ? true : undefined), 20_000);
  } finally {
    conn.close();
  }
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
    // Steps up to the rename: the old contents stay. (A kill after the rename, before this node's
    // WR-6 registration for the new DEK commits, leaves it refusing LOCAL_EPOCH_ROLLBACK under
    // WR-10's "missing row" rule: reported as an open spec conflict, not covered here.)
    for (const step of ['create-tmp', 'write', 'fsync-file', 'rename']) {
      await c.waitCaughtUp();
      await setVia(c, 'n2', `before-${step}`); // n2 registered for the active DEK (restartable)
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
      await setVia(c, 'n2', `after-${step}`);
      await c.waitCaughtUp();
      expect(readdirSync(encDir(c, 'n2')).filter((f) => f !== 'keys.json'), step).toEqual([]);
      const now = parseSidecar(readFileSync(join(encDir(c, 'n2'), 'keys.json'), 'utf8'));
      expect(now.active.storage, step).toBe(newId);
    }
    expect(c.unexpectedExits()).toEqual([]);
  }, 180_000);
});

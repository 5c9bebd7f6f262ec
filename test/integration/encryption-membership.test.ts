// Issue 10 acceptance on real clusters: AS-18 (WR-7, WR-10, RO-14) — node_id16 collisions and
// incapable peers. (a) adding learner `node-3808` to a cluster with member `node-1` (same low 16
// bits of FNV-1a-64) → 409 NODE_ID_COLLISION, no conf-change entry; (b) a cluster whose membership
// holds both → every node refuses to start with NODE_ID_COLLISION; (c) after the storage cutover,
// adding a learner started without --encryption → 409 PEER_NOT_ENCRYPTION_CAPABLE, no conf-change
// entry. A capable learner is then added and registered at epoch 0 (WR-7) before its conf change.

import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { deriveNodeIdentity } from '../../src/keys/node-identity.js';
import { EntryType } from '../../src/raft/types.js';
import type { Cluster } from './harness/cluster.js';
import { clusterForTest, destroyAllClusters } from './harness/fixture.js';
import { logBounds, readLogEntry, readRegistry } from './harness/offline.js';
import { waitFor } from './harness/wait.js';
import { ANY_ERROR, setVia } from './harness/writes.js';

afterAll(destroyAllClusters);

/** Every error reply is retried until the SET lands, for up to 30 s. */
const UNTIL_OK = { retryOn: ANY_ERROR };

const KEK = randomBytes(32).toString('base64');
const ENC = ['--encryption', '--kek-env', 'SEALKV_TEST_KEK'];

function kekEnv(ids: string[]): Record<string, Record<string, string>> {
  const env: Record<string, Record<string, string>> = {};
  for (const id of ids) env[id] = { SEALKV_TEST_KEK: KEK };
  return env;
}

/** Conf-change entries of `dataDir`'s log (stopped node) whose data names `id`. */
async function confChangesNaming(dataDir: string, id: string): Promise<number> {
  const b = await logBounds(dataDir);
  if (b === null) return 0;
  let n = 0;
  for (let i = b.first; i <= b.last; i++) {
    const e = await readLogEntry(dataDir, i);
    if (e?.type === EntryType.ConfChange && Buffer.from(e.data).includes(Buffer.from(id))) n++;
  }
  return n;
}

async function postMember(c: Cluster, id: string, address: string): Promise<{ status: number; body: unknown }> {
  // Asked of the leader directly: adminOnLeader retries a 409.
  for (;;) {
    const leader = await c.waitForLeader({ among: ['node-1', 'node-2', 'node-3'], timeoutMs: 20_000 });
    const r = await c.node(leader).admin.request('POST', '/v1/members', { id, address, role: 'learner' }, 20_000);
    if (r.status !== 421) return r;
  }
}

describe('AS-18: node_id16 collisions and incapable peers (WR-7, WR-10, RO-14)', () => {
  it('the fixture: node-1 and node-3808 share node_id16 0x79c3', () => {
    const a = deriveNodeIdentity('node-1');
    const b = deriveNodeIdentity('node-3808');
    expect(a.nodeId16).toBe(0x79c3);
    expect(b.nodeId16).toBe(0x79c3);
    expect(b.fullNodeId).toBe(0x3d7d39905abb79c3n);
  });

  it('AS-18 (a), (c), WR-7: a colliding learner is 409 NODE_ID_COLLISION, an incapable learner after the cutover 409 PEER_NOT_ENCRYPTION_CAPABLE, neither writes a conf change; a capable one is registered at epoch 0 and joins', async () => {
    const ids = ['node-1', 'node-2', 'node-3'];
    const c = await clusterForTest({
      name: 'enc-as18',
      ids,
      extraArgs: ENC,
      env: kekEnv([...ids, 'node-3808', 'node-5']),
      argsFor: { 'node-4': [] },
      cipher: 'native',
    });
    const leader = await c.waitForLeader({ quorum: 3, timeoutMs: 20_000 });
    await setVia(c, leader, 'pre', 'v', UNTIL_OK);
    expect((await c.adminOnLeader('POST', '/v1/encryption/bootstrap', {})).status).toBe(200);
    expect((await c.adminOnLeader('POST', '/v1/encryption/enable-storage-envelope', {})).status).toBe(200);
    await setVia(c, leader, 'post', 'w', UNTIL_OK);

    // (a) node-3808 (encryption-capable, same KEK) collides with member node-1.
    await c.prepareNode('node-3808');
    const a = await postMember(c, 'node-3808', c.node('node-3808').memberAddress);
    expect(a.status).toBe(409);
    expect(JSON.stringify(a.body)).toContain('NODE_ID_COLLISION');

    // (c) node-4 runs without --encryption: not capable after the storage cutover.
    await c.prepareNode('node-4');
    await waitFor('node-4 answers', async () => ((await c.status('node-4')) !== null ? true : undefined), 20_000);
    const cRes = await postMember(c, 'node-4', c.node('node-4').memberAddress);
    expect(cRes.status).toBe(409);
    expect(JSON.stringify(cRes.body)).toContain('PEER_NOT_ENCRYPTION_CAPABLE');
    for (const m of (await c.members()).map((x) => x.id)) expect(['node-1', 'node-2', 'node-3']).toContain(m);

    // The refused candidates stop (the harness counts running processes when it looks for a leader).
    await c.kill('node-3808', 'SIGTERM');
    await c.kill('node-4', 'SIGTERM');

    // WR-7: a capable learner is registered for the active storage DEK at epoch 0 before its conf change.
    await c.prepareNode('node-5');
    await waitFor('node-5 answers', async () => ((await c.status('node-5')) !== null ? true : undefined), 20_000);
    const ok = await c.adminOnLeader('POST', '/v1/members', { id: 'node-5', address: c.node('node-5').memberAddress, role: 'learner' });
    expect(ok.status).toBe(200);
    await c.waitCaughtUp(['node-1', 'node-2', 'node-3']);

    const dir = c.node('node-2').dataDir;
    await c.kill('node-2', 'SIGTERM');
    expect(await confChangesNaming(dir, 'node-3808')).toBe(0);
    expect(await confChangesNaming(dir, 'node-4')).toBe(0);
    expect(await confChangesNaming(dir, 'node-5')).toBe(1);
    const n5 = deriveNodeIdentity('node-5');
    const rows = (await readRegistry(dir)).filter((r) => r.fullNodeId === n5.fullNodeId);
    expect(rows.length).toBeGreaterThanOrEqual(1);
    expect(rows.every((r) => r.firstSeenLocalEpoch === 0)).toBe(true);
  }, 240_000);

  it('AS-18 (b), WR-10: a cluster whose membership holds node-1 and node-3808 refuses to start on every node with NODE_ID_COLLISION', async () => {
    const ids = ['node-1', 'node-3808', 'node-3'];
    const c = await clusterForTest({ name: 'enc-as18b', ids, extraArgs: ENC, env: kekEnv(ids), cipher: 'native' });
    for (const id of ids) {
      const exit = await c.waitExit(id, 30_000);
      expect(exit.code, id).toBe(2);
      expect(c.log(id).split('\n').filter((l) => l.startsWith('error: ')).at(-1), id).toMatch(/^error: NODE_ID_COLLISION: /);
    }
  }, 120_000);
});

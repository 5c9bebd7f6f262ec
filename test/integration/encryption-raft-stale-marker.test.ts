// Issue 11 acceptance AS-10 and AS-13 on real 3-node clusters: markers that meet a raft rotation.
// AS-10: a test hook (SEALKV_TEST_ROTATE_BEFORE_MARKER) commits a raft rotate-dek between the
// barrier's drain and the marker, so the marker carries the old raft DEK: every node consumes it
// (cutover 0, no installer call), the request answers 409 CUTOVER_DEK_ID_STALE with the barrier
// lifted, and a retry cuts over with the new DEK (RO-9, WI-2, WI-3).
// AS-13: after the cutover (DEK A, index N) and a raft rotation to B, a second marker carrying A
// (the test-only propose-admin route) takes the already-active branch: the installer is called
// once with (N, B), the cutover stays N, the next proposal carries key_id B (WI-3, WI-4).
// Installer calls are counted from the test-only trace lines (SEALKV_TEST_TRACE_INSTALLER).

import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { ENV_KEY_ID_OFFSET } from '../../src/crypto/envelope/framing.js';
import { encodeRotation, SUBTAG_ENABLE_RAFT_ENVELOPE } from '../../src/keys/encryption-entries.js';
import { deriveNodeIdentity } from '../../src/keys/node-identity.js';
import { EntryType } from '../../src/raft/index.js';
import type { Cluster } from './harness/cluster.js';
import { clusterForTest, destroyAllClusters } from './harness/fixture.js';
import { readLogEntries, readSidecar } from './harness/offline.js';
import { onLeader } from './harness/on-leader.js';
import { waitFor } from './harness/wait.js';
import { setOn } from './harness/writes.js';

afterAll(destroyAllClusters);

const KEK = randomBytes(32).toString('base64');
const RAFT_ENV_OFFSET = 9;

async function encryptedCluster(name: string, extraEnv: Record<string, string>): Promise<Cluster> {
  const env: Record<string, Record<string, string>> = {};
  for (const id of ['n1', 'n2', 'n3']) env[id] = { SEALKV_TEST_KEK: KEK, SEALKV_TEST_TRACE_INSTALLER: '1', ...extraEnv };
  return clusterForTest({ name, extraArgs: ['--encryption', '--kek-env', 'SEALKV_TEST_KEK'], env, cipher: 'native' });
}

interface InstallerCall {
  index: bigint;
  branch: string;
  cutover: bigint;
  dek: number;
}

/** The installer trace lines of one node's log (every incarnation). */
function installerCalls(c: Cluster, id: string): InstallerCall[] {
  const out: InstallerCall[] = [];
  for (const m of c.log(id).matchAll(/^test-trace: installer index=(\d+) branch="([^"]+)" cutover=(\d+) dek=(\d+)$/gm)) {
    out.push({ index: BigInt(m[1]!), branch: m[2]!, cutover: BigInt(m[3]!), dek: Number(m[4]) });
  }
  return out;
}

async function encStatus(c: Cluster, id: string): Promise<{ raft: number; cutover: bigint }> {
  const r = await c.node(id).admin.request('GET', '/v1/encryption/status');
  const b = r.body as { active: { raft: { key_id: number } }; raft_envelope_cutover_index: string };
  return { raft: b.active.raft.key_id, cutover: BigInt(b.raft_envelope_cutover_index) };
}

/** key_id of the raft envelope of every non-empty normal entry in (after, last]. */
async function logKeyIds(dir: string, after: bigint): Promise<{ index: number; keyId: number }[]> {
  const out: { index: number; keyId: number }[] = [];
  for (const e of await readLogEntries(dir, Number(after) + 1)) {
    const i = e.index;
    if (e.type !== EntryType.Normal || e.data.length === 0) continue;
    expect(e.data[RAFT_ENV_OFFSET], `log ${i}: a raft envelope`).toBe(0x01);
    out.push({ index: i, keyId: Buffer.from(e.data.subarray(RAFT_ENV_OFFSET + ENV_KEY_ID_OFFSET, RAFT_ENV_OFFSET + ENV_KEY_ID_OFFSET + 4)).readUInt32BE(0) });
  }
  return out;
}

describe('markers meeting a raft rotation on a 3-node cluster', () => {
  it('AS-10, RO-9, WI-2, WI-3: a raft rotate-dek committed between the drain and the marker makes the marker stale: every node consumes it (cutover 0, installer not called), 409 CUTOVER_DEK_ID_STALE, the barrier is lifted, writes resume, a retry cuts over with the new raft DEK', async () => {
    const c = await encryptedCluster('enc-as10', { SEALKV_TEST_ROTATE_BEFORE_MARKER: '1' });
    await c.waitForLeader({ quorum: 3, timeoutMs: 20_000 });
    expect((await c.adminOnLeader('POST', '/v1/encryption/bootstrap', {})).status).toBe(200);
    expect((await c.adminOnLeader('POST', '/v1/encryption/enable-storage-envelope', {})).status).toBe(200);
    await c.waitCaughtUp();
    const leader = await c.waitForLeader({ quorum: 3, timeoutMs: 20_000 });
    const A = (await encStatus(c, leader)).raft;
    expect(A).not.toBe(0);
    const conns = new Map(await Promise.all(c.ids().map(async (id) => [id, await c.resp(id)] as const)));

    // A writer load across the (stale) cutover: only retryable refusals.
    let n = 0;
    let loading = true;
    const load = (async () => {
      const ids = c.ids();
      while (loading) {
        await setOn(conns.get(ids[n % ids.length]!)!, `load-${n}`, `v-${n}`);
        n++;
      }
    })();
    await waitFor('load before the cutover', () => (n > 20 ? true : undefined), 30_000);

    const stale = await onLeader(c, 'POST', '/v1/encryption/enable-raft-envelope', {});
    expect(stale.status, JSON.stringify(stale.body)).toBe(409);
    expect(JSON.stringify(stale.body)).toContain('CUTOVER_DEK_ID_STALE');
    // The barrier is lifted: writes through every node (the leader's own included) go on.
    const mark = n;
    await waitFor('writes resume after the stale marker', () => (n > mark + 30 ? true : undefined), 30_000);
    for (const [id, conn] of conns) await setOn(conn, `after-stale-${id}`, 's');
    await c.waitCaughtUp();
    let B = 0;
    for (const id of c.ids()) {
      const st = await encStatus(c, id);
      expect(st.cutover, `${id}: cutover after the stale marker`).toBe(0n);
      expect(st.raft, `${id}: the raft DEK rotated`).not.toBe(A);
      B ||= st.raft;
      expect(st.raft, id).toBe(B);
      expect(installerCalls(c, id), `${id}: installer not called for the stale marker`).toEqual([]);
    }

    // The retry succeeds with the new raft DEK (the hook fires once per process).
    const retry = await onLeader(c, 'POST', '/v1/encryption/enable-raft-envelope', {});
    expect(retry.status, JSON.stringify(retry.body)).toBe(200);
    expect(retry.body).toMatchObject({ was_already_active: false });
    const N = BigInt((retry.body as { applied_index: string }).applied_index);
    await waitFor('load after the cutover', () => (n > mark + 80 ? true : undefined), 60_000);
    loading = false;
    await load;
    for (const [id, conn] of conns) await setOn(conn, `after-cutover-${id}`, 'c');
    for (const conn of conns.values()) conn.close();
    await c.waitCaughtUp();
    for (const id of c.ids()) {
      expect(installerCalls(c, id), id).toEqual([{ index: N, branch: 'fresh cutover', cutover: N, dek: B }]);
    }
    expect(c.unexpectedExits()).toEqual([]);
    for (const id of c.ids()) await c.kill(id, 'SIGTERM');
    for (const id of c.ids()) {
      const dir = c.node(id).dataDir;
      const s = readSidecar(dir);
      expect(s.raftEnvelopeCutoverIndex, id).toBe(N);
      expect(s.active.raft, id).toBe(B);
      const above = await logKeyIds(dir, N);
      expect(above.length, id).toBeGreaterThan(10);
      for (const e of above) expect(e.keyId, `${id} log ${e.index}`).toBe(B);
    }
  }, 240_000);

  it('AS-13, WI-3, WI-4: after the cutover (A, N) and a raft rotation to B, a second marker carrying A takes the already-active branch: installer once with (N, B), the cutover stays N, the next proposal carries key_id B', async () => {
    const c = await encryptedCluster('enc-as13', { SEALKV_TEST_PROPOSE_ADMIN: '1' });
    await c.waitForLeader({ quorum: 3, timeoutMs: 20_000 });
    expect((await c.adminOnLeader('POST', '/v1/encryption/bootstrap', {})).status).toBe(200);
    expect((await c.adminOnLeader('POST', '/v1/encryption/enable-storage-envelope', {})).status).toBe(200);
    const en = await c.adminOnLeader('POST', '/v1/encryption/enable-raft-envelope', {}, 60_000);
    expect(en.status, JSON.stringify(en.body)).toBe(200);
    const N = BigInt((en.body as { applied_index: string }).applied_index);
    const leader = await c.waitForLeader({ quorum: 3, timeoutMs: 20_000 });
    const A = (await encStatus(c, leader)).raft;
    const rot = await c.adminOnLeader('POST', '/v1/encryption/rotate-dek', { purpose: 'raft' });
    expect(rot.status, JSON.stringify(rot.body)).toBe(200);
    const B = (rot.body as { key_id: number }).key_id;
    expect(B).not.toBe(A);
    await c.waitCaughtUp();

    // The delayed duplicate: a marker carrying A, committed through the test-only admin route.
    const L = await c.waitForLeader({ quorum: 3, timeoutMs: 20_000 });
    const marker = encodeRotation({
      subTag: SUBTAG_ENABLE_RAFT_ENVELOPE,
      dekId: A,
      purpose: 'raft',
      wrapped: new Uint8Array(0),
      proposer: { dekId: A, fullNodeId: deriveNodeIdentity(L).fullNodeId, localEpoch: 1 },
    });
    const dup = await c.node(L).admin.request('POST', '/v1/test/propose-admin', { hex: Buffer.from(marker).toString('hex') }, 20_000);
    expect(dup.status, JSON.stringify(dup.body)).toBe(200);
    const M = BigInt((dup.body as { applied_index: string }).applied_index);
    expect(M).toBeGreaterThan(N);
    // The next proposal after the duplicate, through every node.
    for (const id of c.ids()) {
      const conn = await c.resp(id);
      await setOn(conn, `after-dup-${id}`, 'd');
      conn.close();
    }
    await c.waitCaughtUp();
    for (const id of c.ids()) {
      const st = await encStatus(c, id);
      expect(st, id).toEqual({ raft: B, cutover: N });
      const atM = installerCalls(c, id).filter((x) => x.index === M);
      expect(atM, `${id}: installer calls of the duplicate marker`).toEqual([{ index: M, branch: 'already-active replay', cutover: N, dek: B }]);
    }
    expect(c.unexpectedExits()).toEqual([]);
    for (const id of c.ids()) await c.kill(id, 'SIGTERM');
    for (const id of c.ids()) {
      const dir = c.node(id).dataDir;
      const s = readSidecar(dir);
      expect(s.raftEnvelopeCutoverIndex, id).toBe(N);
      expect(s.active.raft, id).toBe(B);
      const after = await logKeyIds(dir, M);
      expect(after.length, id).toBeGreaterThanOrEqual(3);
      for (const e of after) expect(e.keyId, `${id} log ${e.index}`).toBe(B);
    }
  }, 180_000);
});

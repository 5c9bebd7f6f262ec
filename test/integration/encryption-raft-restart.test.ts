// Issue 11 acceptance AS-6 on a real 3-node cluster: a full SIGKILL restart in Phase 2 with the
// writer load. Every active epoch on disk rises by one per restart (KM-8, KM-9), each node
// re-registers (WR-5, WR-8) before its client writes pass while its reads never wait, the new
// leader (a former follower) wraps its first proposal (RO-11, EH-6), the registry shows the new
// epochs (WR-10), and across every nonce of every node's log and kv no (DEK, nonce) repeats.

import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { ENV_KEY_ID_OFFSET, ENV_NONCE_OFFSET } from '../../src/crypto/envelope/framing.js';
import { VALUE_HEADER_SIZE } from '../../src/crypto/envelope/value-header.js';
import { deriveNodeIdentity } from '../../src/keys/node-identity.js';
import type { Sidecar } from '../../src/keys/sidecar-schema.js';
import { EntryType } from '../../src/raft/index.js';
import type { Cluster } from './harness/cluster.js';
import { clusterForTest, destroyAllClusters, endpointsOf, newRecorder } from './harness/fixture.js';
import { listRecords, readLogEntries, readSidecar } from './harness/offline.js';
import { verifyAfterFaults } from './harness/verify.js';
import { waitFor } from './harness/wait.js';
import { Workload } from './harness/workload.js';
import { setOn } from './harness/writes.js';

afterAll(destroyAllClusters);

const KEK = randomBytes(32).toString('base64');
const KEYS = ['a', 'b', 'c', 'd'];
/** The raft envelope starts after the 9-byte proposal header (AS-1). */
const RAFT_ENV_OFFSET = 9;

async function encryptedCluster(name: string): Promise<Cluster> {
  const env: Record<string, Record<string, string>> = {};
  for (const id of ['n1', 'n2', 'n3']) env[id] = { SEALKV_TEST_KEK: KEK };
  return clusterForTest({ name, extraArgs: ['--encryption', '--kek-env', 'SEALKV_TEST_KEK'], env, cipher: 'native' });
}

/** The local epoch of each active key (storage, raft) of one sidecar. */
function activeEpochs(s: Sidecar): { storage: number; raft: number } {
  return { storage: s.keys.get(s.active.storage)!.localEpoch, raft: s.keys.get(s.active.raft)!.localEpoch };
}

async function restartAll(c: Cluster): Promise<string> {
  for (const id of c.ids()) await c.kill(id, 'SIGKILL');
  for (const id of c.ids()) c.start(id);
  return c.waitForLeader({ quorum: 3, timeoutMs: 30_000 });
}

describe('AS-6 on a 3-node cluster', () => {
  it('AS-6, RO-11, KM-8, KM-9, EH-6, WR-5, WR-8, WR-10: SIGKILL of all three nodes in Phase 2 under the writer load; epochs +1 per restart, writes wait for the registration, reads never wait, the new leader wraps its first proposal, the registry shows the new epochs, no (DEK, nonce) repeats in any log or kv', async () => {
    const c = await encryptedCluster('enc-as6');
    await c.waitForLeader({ quorum: 3, timeoutMs: 20_000 });
    expect((await c.adminOnLeader('POST', '/v1/encryption/bootstrap', {})).status).toBe(200);
    expect((await c.adminOnLeader('POST', '/v1/encryption/enable-storage-envelope', {})).status).toBe(200);
    const en = await c.adminOnLeader('POST', '/v1/encryption/enable-raft-envelope', {}, 60_000);
    expect(en.status, JSON.stringify(en.body)).toBe(200);
    const N = BigInt((en.body as { applied_index: string }).applied_index);
    await c.waitCaughtUp();

    const rec = newRecorder();
    const w = new Workload({
      recorder: rec,
      endpoints: endpointsOf(c, () => c.running()),
      clients: 4,
      keys: KEYS,
      maxOps: 1_000_000,
      durationMs: 180_000,
      opTimeoutMs: 4000,
      seed: 6,
    });
    await waitFor('the load before the first restart', () => (w.stats.ok > 40 ? true : undefined), 30_000);

    const firstProposals: { leader: string; term: bigint }[] = [];
    const epochsBefore = new Map(c.ids().map((id) => [id, activeEpochs(readSidecar(c.node(id).dataDir))]));
    for (let round = 1; round <= 2; round++) {
      const oldLeader = await c.waitForLeader({ quorum: 3, timeoutMs: 20_000 });
      const prev = new Map(c.ids().map((id) => [id, activeEpochs(readSidecar(c.node(id).dataDir))]));
      await restartAll(c);
      // KM-8/KM-9: each load pins epoch + 1 for every active key, durably, before serving.
      for (const id of c.ids()) {
        const now = activeEpochs(readSidecar(c.node(id).dataDir));
        expect(now, `${id} round ${round}`).toEqual({ storage: prev.get(id)!.storage + 1, raft: prev.get(id)!.raft + 1 });
      }
      // Reads never wait: a GET through every node answers a value or nil, never a refusal.
      for (const id of c.ids()) {
        await waitFor(`${id} knows the leader`, async () => (await c.status(id))?.leader ?? undefined, 20_000);
        const conn = await c.resp(id);
        const r = await conn.call(['GET', 'a'], 10_000);
        expect(r.type === 'bulk', `${id} GET after restart: ${JSON.stringify(r)}`).toBe(true);
        // Writes pass once this node's registration for the new epoch committed (WR-5, WR-8).
        await setOn(conn, `as6-${round}-${id}`, `w-${round}`);
        conn.close();
      }
      // Transfer leadership to a node that was a follower before the restart.
      const cur = await c.waitForLeader({ quorum: 3, timeoutMs: 20_000 });
      const target = c.ids().find((id) => id !== oldLeader && id !== cur) ?? c.ids().find((id) => id !== oldLeader)!;
      if (target !== cur) {
        await c.leadOn(target);
      }
      const term = BigInt((await c.status(target))!.term);
      const conn = await c.resp(target);
      await setOn(conn, `as6-first-${round}`, `f-${round}`);
      conn.close();
      await c.waitCaughtUp(c.ids(), 30_000);

      // WR-10: the leader's registry rows for each node carry that node's new epochs.
      const leader = await c.waitForLeader({ timeoutMs: 20_000 });
      for (const id of c.ids()) {
        const s = readSidecar(c.node(id).dataDir);
        const fid = deriveNodeIdentity(id).fullNodeId.toString();
        const rep = await c.node(leader).admin.request('POST', '/v1/encryption/resync-sidecar', { full_node_id: fid });
        expect(rep.status).toBe(200);
        const reg = (rep.body as { writer_registry_for_caller: Record<string, number> }).writer_registry_for_caller;
        expect(reg[String(s.active.storage)], `${id} storage row`).toBe(activeEpochs(s).storage);
        expect(reg[String(s.active.raft)], `${id} raft row`).toBe(activeEpochs(s).raft);
      }
      // Remember the new leader's term: its first non-empty proposal is checked offline below.
      firstProposals.push({ leader: target, term });
    }
    for (const id of c.ids()) {
      const e = activeEpochs(readSidecar(c.node(id).dataDir));
      expect(e, id).toEqual({ storage: epochsBefore.get(id)!.storage + 2, raft: epochsBefore.get(id)!.raft + 2 });
    }
    await waitFor('the load after the restarts', () => (w.stats.okByKind.write ?? 0) > 20 ? true : undefined, 30_000);
    await w.stop();
    const report = await verifyAfterFaults(c, rec, w, KEYS);
    expect(report.ok, report.text).toBe(true);
    expect(c.unexpectedExits()).toEqual([]);
    for (const id of c.ids()) await c.kill(id, 'SIGTERM');

    // EH-6 / RO-11: the first non-empty entry of each new leader's term is a raft envelope.
    for (const { leader, term } of firstProposals) {
      const first = (await readLogEntries(c.node(leader).dataDir)).find((e) => BigInt(e.term) === term && e.type === EntryType.Normal && e.data.length > 0);
      expect(first, `${leader}: a proposal in term ${term}`).toBeDefined();
      expect(BigInt(first!.index)).toBeGreaterThan(N);
      expect(first!.data[0], `${leader} term ${term} index ${first!.index}`).toBe(0x01);
      expect(first!.data[RAFT_ENV_OFFSET], `${leader} term ${term} index ${first!.index}: envelope version`).toBe(0x01);
    }

    // No (DEK, nonce) pair repeats across the log (WAL) and kv of all nodes. One log entry is the
    // same bytes on every replica, so a log nonce is keyed by its index; a kv record is sealed by
    // each node at its own apply, so every kv nonce must be distinct.
    const seen = new Map<string, string>();
    const note = (keyId: number, nonce: Uint8Array, what: string, sameAs?: string): void => {
      const k = `${keyId}/${Buffer.from(nonce).toString('hex')}`;
      const prev = seen.get(k);
      if (prev !== undefined && !(sameAs !== undefined && prev === sameAs)) expect.fail(`(DEK, nonce) ${k} repeats: ${prev} and ${what}`);
      seen.set(k, sameAs ?? what);
    };
    let logNonces = 0;
    let kvNonces = 0;
    for (const id of c.ids()) {
      const dir = c.node(id).dataDir;
      for (const e of await readLogEntries(dir, Number(N) + 1)) {
        const i = e.index;
        if (e.type !== EntryType.Normal || e.data.length === 0) continue;
        const env = e.data.subarray(RAFT_ENV_OFFSET);
        const keyId = Buffer.from(env.subarray(ENV_KEY_ID_OFFSET, ENV_KEY_ID_OFFSET + 4)).readUInt32BE(0);
        note(keyId, env.subarray(ENV_NONCE_OFFSET, ENV_NONCE_OFFSET + 12), `${id} log ${i}`, `log ${i} term ${e.term} ${Buffer.from(e.data).toString('base64')}`);
        logNonces++;
      }
      for (const r of await listRecords(dir, 'kv')) {
        if (((r.value[0]! >> 1) & 0b11) !== 0b01) continue;
        const env = r.value.subarray(VALUE_HEADER_SIZE);
        const keyId = Buffer.from(env.subarray(ENV_KEY_ID_OFFSET, ENV_KEY_ID_OFFSET + 4)).readUInt32BE(0);
        note(keyId, env.subarray(ENV_NONCE_OFFSET, ENV_NONCE_OFFSET + 12), `${id} kv ${Buffer.from(r.key).toString()}`);
        kvNonces++;
      }
    }
    expect(logNonces).toBeGreaterThan(30);
    expect(kvNonces).toBeGreaterThan(10);
  }, 420_000);
});

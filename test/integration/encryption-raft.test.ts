// Issue 11 acceptance on real 3-node clusters: the raft-envelope cutover (RO-6..RO-13) across
// both phases with a writer load, the gate boundary in every node's log (AS-2), a raft
// rotate-dek after the cutover (RO-12, WI-4), a full restart re-arming from the sidecar (RO-11),
// the idempotent retries (AS-26) and the kill switch (AS-11).

import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { decodeProposal } from '../../src/crypto/envelope/proposal.js';
import { EntryType } from '../../src/raft/index.js';
import type { Cluster } from './harness/cluster.js';
import { clusterForTest, destroyAllClusters } from './harness/fixture.js';
import { listRecords, logBounds, readLogEntry, readSidecar } from './harness/offline.js';
import { onLeader } from './harness/on-leader.js';
import { waitFor } from './harness/wait.js';
import { setOn } from './harness/writes.js';

afterAll(destroyAllClusters);

const KEK = randomBytes(32).toString('base64');

async function encryptedCluster(name: string, extra: string[] = []): Promise<Cluster> {
  const env: Record<string, Record<string, string>> = {};
  for (const id of ['n1', 'n2', 'n3']) env[id] = { SEALKV_TEST_KEK: KEK };
  return clusterForTest({ name, extraArgs: ['--encryption', '--kek-env', 'SEALKV_TEST_KEK', ...extra], env, cipher: 'native' });
}

const ok = { type: 'simple', value: 'OK' };
const stateOf = (record: Uint8Array): number => (record[0]! >> 1) & 0b11;

describe('raft envelope on a 3-node cluster', () => {
  it('AS-1, AS-2, AS-26, RO-12, RO-11: round trip across both cutovers under a writer load; the marker at N is cleartext and every record above N is a raft envelope; a raft rotate-dek lands wrapped; a full restart re-arms; retries answer already-active', async () => {
    const c = await encryptedCluster('enc-raft');
    const leader = await c.waitForLeader({ quorum: 3, timeoutMs: 20_000 });
    const conns = new Map(await Promise.all(c.ids().map(async (id) => [id, await c.resp(id)] as const)));
    const any = conns.get(leader)!;

    // RO-6: not bootstrapped → 409, nothing proposed.
    const early = await onLeader(c, 'POST', '/v1/encryption/enable-raft-envelope', {});
    expect(early.status).toBe(409);
    expect(JSON.stringify(early.body)).toContain('ENCRYPTION_NOT_BOOTSTRAPPED');

    await setOn(any, 'k0', 'v0-cleartext');
    expect((await c.adminOnLeader('POST', '/v1/encryption/bootstrap', {})).status).toBe(200);
    const boot2 = await onLeader(c, 'POST', '/v1/encryption/bootstrap', {});
    expect(boot2.status).toBe(409);
    expect(JSON.stringify(boot2.body)).toContain('ENCRYPTION_ALREADY_BOOTSTRAPPED');
    expect((await c.adminOnLeader('POST', '/v1/encryption/enable-storage-envelope', {})).status).toBe(200);
    await setOn(any, 'k1', 'v1-sealed');

    // A writer load runs across the raft cutover (retryable refusals during the barrier).
    let loadN = 0;
    let loading = true;
    const load = (async () => {
      const ids = c.ids();
      while (loading) {
        const id = ids[loadN % ids.length]!;
        await setOn(conns.get(id)!, `load-${loadN}`, `lv-${loadN}`);
        loadN++;
      }
    })();
    await waitFor('load before the raft cutover', () => loadN > 20, 30_000);
    const en = await c.adminOnLeader('POST', '/v1/encryption/enable-raft-envelope', {}, 60_000);
    expect(en.status, JSON.stringify(en.body)).toBe(200);
    const body = en.body as { applied_index: string; was_already_active: boolean; capability_summary: unknown[] };
    expect(body.was_already_active).toBe(false);
    expect(body.capability_summary).toHaveLength(3);
    const N = BigInt(body.applied_index);
    await waitFor('load after the raft cutover', () => loadN > 60, 30_000);
    loading = false;
    await load;
    const k2 = `K2-VALUE-${randomBytes(16).toString('hex')}`;
    // A long random key name: a 2-byte name could occur in ciphertext by chance.
    const k2Key = `k2-${randomBytes(12).toString('hex')}`;
    await setOn(any, 'k2', k2);
    await setOn(any, k2Key, k2);

    // AS-26: the second enable answers already-active with the original index.
    const en2 = await c.adminOnLeader('POST', '/v1/encryption/enable-raft-envelope', {});
    expect(en2.body).toMatchObject({ was_already_active: true, applied_index: String(N) });
    const dis = await onLeader(c, 'POST', '/v1/encryption/disable', {});
    expect(dis.status).toBe(409);
    expect(JSON.stringify(dis.body)).toContain('dump and reload');

    // RO-12 / WI-4: a raft rotate-dek after the cutover lands wrapped and applies everywhere.
    const rot = await c.adminOnLeader('POST', '/v1/encryption/rotate-dek', { purpose: 'raft' });
    expect(rot.status, JSON.stringify(rot.body)).toBe(200);
    const rotIndex = BigInt((rot.body as { applied_index: string }).applied_index);
    const newRaft = (rot.body as { key_id: number }).key_id;
    for (const [id, conn] of conns) await setOn(conn, `after-raft-rotate-${id}`, 'r');
    await c.waitCaughtUp();
    for (const [id, s] of await c.statuses()) {
      expect((s as unknown as { encryption: Record<string, unknown> }).encryption, id).toMatchObject({ raftCutoverIndex: String(N) });
    }

    // RO-11: a full restart re-arms wrap and cell from the sidecar; writes and reads go on.
    for (const conn of conns.values()) conn.close();
    for (const id of c.ids()) await c.kill(id, 'SIGTERM');
    for (const id of c.ids()) c.start(id);
    await c.waitForLeader({ quorum: 3, timeoutMs: 30_000 });
    for (const id of c.ids()) {
      await waitFor(`${id} knows the leader`, async () => (await c.status(id))?.leader ?? undefined, 20_000);
      const conn = await c.resp(id);
      expect(await conn.call(['GET', 'k2']), id).toEqual({ type: 'bulk', value: k2 });
      expect(await conn.call(['GET', 'k0']), id).toEqual({ type: 'bulk', value: 'v0-cleartext' });
      await setOn(conn, `after-restart-${id}`, 'z');
      conn.close();
    }
    await c.waitCaughtUp();
    expect(c.unexpectedExits()).toEqual([]);
    for (const id of c.ids()) await c.kill(id, 'SIGTERM');

    // Offline: every node's log, kv and sidecar.
    const sidecars = c.ids().map((id) => readSidecar(c.node(id).dataDir));
    for (const s of sidecars) {
      expect(s.raftEnvelopeCutoverIndex).toBe(N);
      expect(s.active.raft).toBe(newRaft);
      expect(s.active).toEqual(sidecars[0]!.active);
    }
    for (const id of c.ids()) {
      const dir = c.node(id).dataDir;
      const kv = new Map((await listRecords(dir, 'kv')).map((r) => [Buffer.from(r.key).toString(), r.value]));
      expect(stateOf(kv.get('k0')!), `${id} k0`).toBe(0b00);
      expect(stateOf(kv.get('k1')!), `${id} k1`).toBe(0b01);
      expect(stateOf(kv.get('k2')!), `${id} k2`).toBe(0b01);
      const bounds = (await logBounds(dir))!;
      // AS-2: the record at N is the cleartext marker (0x05/0x05).
      if (bounds.first <= Number(N)) {
        const marker = await readLogEntry(dir, Number(N));
        expect(decodeProposal(marker!.data).payload[0], `${id} marker`).toBe(0x05);
      }
      let wrapped = 0;
      const rawAbove: Buffer[] = [];
      for (let i = Math.max(bounds.first, Number(N) + 1); i <= bounds.last; i++) {
        const e = (await readLogEntry(dir, i))!;
        if (e.type !== EntryType.Normal || e.data.length === 0) continue;
        // AS-1: data[0] == 0x01 and a raft envelope (version 0x01, flag 0x00) after byte 9.
        expect(e.data[0], `${id} log ${i}`).toBe(0x01);
        expect(e.data[9], `${id} log ${i} envelope version`).toBe(0x01);
        expect(e.data[10], `${id} log ${i} envelope flag`).toBe(0x00);
        const keyId = Buffer.from(e.data.subarray(11, 15)).readUInt32BE(0);
        // WI-4: entries after the raft rotation's apply carry the new key_id.
        if (BigInt(i) > rotIndex + 5n) expect(keyId, `${id} log ${i} key_id`).toBe(newRaft);
        rawAbove.push(Buffer.from(e.data));
        wrapped++;
      }
      expect(wrapped, `${id}: wrapped records above N`).toBeGreaterThan(0);
      const blob = Buffer.concat(rawAbove);
      expect(blob.includes(Buffer.from(k2)), `${id}: k2's value in the log`).toBe(false);
      expect(blob.includes(Buffer.from(k2Key)), `${id}: k2's key in the log`).toBe(false);
    }
  }, 300_000);

  it('AS-11: with the kill switch closed the raft cutover answers 409 RAFT_ENVELOPE_GATED, nothing changes and no write is refused', async () => {
    const c = await encryptedCluster('enc-raft-gate', ['--raft-envelope-gate', 'closed']);
    const leader = await c.waitForLeader({ quorum: 3, timeoutMs: 20_000 });
    expect((await c.adminOnLeader('POST', '/v1/encryption/bootstrap', {})).status).toBe(200);
    await c.waitCaughtUp();
    const r = await onLeader(c, 'POST', '/v1/encryption/enable-raft-envelope', {});
    expect(r.status).toBe(409);
    expect(JSON.stringify(r.body)).toContain('RAFT_ENVELOPE_GATED');
    const conn = await c.resp(leader);
    expect(await conn.call(['SET', 'after-gated', 'x'])).toEqual(ok);
    conn.close();
    await c.waitCaughtUp();
    for (const id of c.ids()) await c.kill(id, 'SIGTERM');
    for (const id of c.ids()) expect(readSidecar(c.node(id).dataDir).raftEnvelopeCutoverIndex, id).toBe(0n);
  }, 120_000);

  it('AS-12/RO-8/RO-16/WI-1: the leader killed at after-marker-commit (before barrier step 5): a follower takes over and wraps its first proposals, the killed node rejoins with the wrap from its sidecar, a retry answers already-active', async () => {
    const c = await encryptedCluster('enc-raft-as12');
    const L = await c.waitForLeader({ quorum: 3, timeoutMs: 20_000 });
    expect((await c.adminOnLeader('POST', '/v1/encryption/bootstrap', {})).status).toBe(200);
    await c.waitCaughtUp();
    // Restart L with the crash point armed and give it the leadership back.
    await c.kill(L, 'SIGTERM');
    c.start(L, false, { SEALKV_TEST_KEK: KEK, SEALKV_CRASH_POINTS: 'after-marker-commit' });
    await waitFor(`${L} up`, () => c.status(L), 20_000);
    await c.waitForLeader({ quorum: 3, timeoutMs: 20_000 });
    await waitFor(`${L} leads`, async () => {
      const cur = await c.waitForLeader({ timeoutMs: 20_000 });
      if (cur === L) return true;
      await c.node(cur).admin.request('POST', '/v1/transfer-leader', { id: L }, 15_000).catch(() => undefined);
      return undefined;
    }, 60_000);
    await c.waitCaughtUp();
    c.expectExit(L);
    await c.node(L).admin.request('POST', '/v1/encryption/enable-raft-envelope', {}, 20_000).catch(() => undefined);
    expect((await c.waitExit(L)).signal).toBe('SIGKILL');
    const others = c.ids().filter((id) => id !== L);
    const next = await c.waitForLeader({ among: others, not: L, timeoutMs: 30_000 });
    const conn = await c.resp(next);
    for (let i = 0; i < 10; i++) await setOn(conn, `after-failover-${i}`, `f-${i}`);
    conn.close();
    // The killed node restarts (wrap and cell from its sidecar, or from the marker's apply) and rejoins.
    c.start(L, false, { SEALKV_TEST_KEK: KEK, SEALKV_CRASH_POINTS: '' });
    await waitFor(`${L} up again`, () => c.status(L), 20_000);
    await c.waitCaughtUp(c.ids(), 30_000);
    const retry = await c.adminOnLeader('POST', '/v1/encryption/enable-raft-envelope', {});
    expect(retry.status, JSON.stringify(retry.body)).toBe(200);
    const N = BigInt((retry.body as { applied_index: string }).applied_index);
    expect(retry.body).toMatchObject({ was_already_active: true });
    for (const id of c.ids()) {
      const cn = await c.resp(id);
      await setOn(cn, `rejoined-${id}`, 'x');
      cn.close();
    }
    await c.waitCaughtUp();
    expect(c.unexpectedExits()).toEqual([]);
    for (const id of c.ids()) await c.kill(id, 'SIGTERM');
    for (const id of c.ids()) {
      const dir = c.node(id).dataDir;
      expect(readSidecar(dir).raftEnvelopeCutoverIndex, id).toBe(N);
      const bounds = (await logBounds(dir))!;
      let wrapped = 0;
      for (let i = Math.max(bounds.first, Number(N) + 1); i <= bounds.last; i++) {
        const e = (await readLogEntry(dir, i))!;
        if (e.type !== EntryType.Normal || e.data.length === 0) continue;
        expect(e.data[9], `${id} log ${i}`).toBe(0x01);
        wrapped++;
      }
      expect(wrapped, id).toBeGreaterThanOrEqual(10);
    }
  }, 240_000);
});

// Issue 10 acceptance on a real 3-node cluster: the storage part of AS-25 (RT-1, WR-6, SE-6) —
// rotate the storage DEK under a writer load through every node. No write fails except with
// retryable replies; kv records written after the rotation carry the new key_id, those written
// before keep the old one and still read back; the non-proposing nodes register for the new DEK
// without restarting (WR-6); restarting each node afterwards passes the rollback guard (WR-10).
// The raft part (issue 11): in Phase 2 with the lincheck writer load, rotate the storage DEK and
// then the raft DEK; new log entries carry the new raft key_id, every node registers for both new
// DEKs without restarting (WR-6, WI-4), each restart passes the rollback guard, and the history
// is linearizable (RO-12, PF-5).

import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { ENV_KEY_ID_OFFSET, readU32 } from '../../src/crypto/envelope/framing.js';
import { STATE_ENCRYPTED, VALUE_HEADER_SIZE } from '../../src/crypto/envelope/value-header.js';
import { deriveNodeIdentity } from '../../src/keys/node-identity.js';
import { EntryType } from '../../src/raft/index.js';
import { clusterForTest, destroyAllClusters, endpointsOf, newRecorder } from './harness/fixture.js';
import { listRecords, readLogEntries } from './harness/offline.js';
import { verifyAfterFaults } from './harness/verify.js';
import { waitFor } from './harness/wait.js';
import { Workload } from './harness/workload.js';
import { setOn } from './harness/writes.js';

afterAll(destroyAllClusters);

const KEK = randomBytes(32).toString('base64');

const keyIdOf = (record: Uint8Array): number | null =>
  ((record[0]! >> 1) & 0b11) === STATE_ENCRYPTED ? readU32(record, VALUE_HEADER_SIZE + ENV_KEY_ID_OFFSET) : null;

describe('AS-25 (storage part): rotation under load', () => {
  it('AS-25, RT-1, WR-6: the storage DEK rotates under a writer load through every node; new records carry the new key_id, old values read back, followers register without restarting, every node restarts past the rollback guard', async () => {
    const ids = ['n1', 'n2', 'n3'];
    const env: Record<string, Record<string, string>> = {};
    for (const id of ids) env[id] = { SEALKV_TEST_KEK: KEK };
    const c = await clusterForTest({ name: 'enc-as25', extraArgs: ['--encryption', '--kek-env', 'SEALKV_TEST_KEK'], env, cipher: 'native' });
    await c.waitForLeader({ quorum: 3, timeoutMs: 20_000 });
    expect((await c.adminOnLeader('POST', '/v1/encryption/bootstrap', {})).status).toBe(200);
    const boot = await c.adminOnLeader('POST', '/v1/encryption/enable-storage-envelope', {});
    expect(boot.status).toBe(200);
    const conns = new Map(await Promise.all(ids.map(async (id) => [id, await c.resp(id)] as const)));

    // Phase marks: a key's phase is the phase in which its SET was issued.
    type Phase = 'before' | 'during' | 'after';
    let phase = 'before' as Phase;
    const written = new Map<string, { v: string; phase: Phase }>();
    let running = true;
    const writers = ids.map(async (id, j) => {
      for (let i = 0; running; i++) {
        const k = `w${j}-${i}`;
        const p = phase;
        const v = `${p}-${randomBytes(6).toString('hex')}`;
        await setOn(conns.get(id)!, k, v);
        written.set(k, { v, phase: p });
      }
    });
    await waitFor('load before the rotation', () => written.size > 60, 30_000);
    phase = 'during';
    const rot = await c.adminOnLeader('POST', '/v1/encryption/rotate-dek', { purpose: 'storage' });
    expect(rot.status, JSON.stringify(rot.body)).toBe(200);
    const newKey = (rot.body as { key_id: number }).key_id;
    phase = 'after';
    const mark = written.size;
    await waitFor('load after the rotation', () => written.size > mark + 90, 60_000);
    running = false;
    await Promise.all(writers);
    expect([...written.values()].filter((w) => w.phase === 'after').length).toBeGreaterThan(30);

    // WR-6: every node (the leader proposed the rotation with its own row) has a row for the new
    // DEK, without any restart; the leader's KM-13 report shows each node's row.
    await c.waitCaughtUp();
    const leader = await c.waitForLeader({ timeoutMs: 20_000 });
    for (const id of ids) {
      const fid = deriveNodeIdentity(id).fullNodeId.toString();
      const rep = await c.node(leader).admin.request('POST', '/v1/encryption/resync-sidecar', { full_node_id: fid });
      expect(rep.status).toBe(200);
      expect((rep.body as { writer_registry_for_caller: Record<string, number> }).writer_registry_for_caller, id).toHaveProperty(String(newKey));
    }

    // Every value, old and new, reads back through every node.
    for (const id of ids) {
      const conn = conns.get(id)!;
      for (const [k, w] of written) expect(await conn.call(['GET', k]), `${id} ${k}`).toEqual({ type: 'bulk', value: w.v });
    }
    for (const conn of conns.values()) conn.close();

    // Restarting each node passes the rollback guard (and the node writes again).
    for (const id of ids) {
      await c.kill(id, 'SIGTERM');
      c.start(id);
      await waitFor(`${id} back`, async () => ((await c.status(id))?.leader ? true : undefined), 30_000);
      const conn = await c.resp(id);
      await setOn(conn, `restart-${id}`, 'ok');
      conn.close();
      await c.waitCaughtUp();
    }

    // Offline: records of keys written after the rotation carry the new key_id; before it, the old.
    for (const id of ids) await c.kill(id, 'SIGTERM');
    for (const id of ids) {
      const recs = new Map((await listRecords(c.node(id).dataDir, 'kv')).map((r) => [Buffer.from(r.key).toString(), r.value]));
      const beforeIds = new Set<number | null>();
      for (const [k, w] of written) {
        const kid = keyIdOf(recs.get(k)!);
        if (w.phase === 'after') expect(kid, `${id} ${k}`).toBe(newKey);
        if (w.phase === 'before') beforeIds.add(kid);
      }
      expect([...beforeIds].length, id).toBe(1);
      expect([...beforeIds][0], id).not.toBe(newKey);
      expect([...beforeIds][0], id).not.toBeNull();
    }
  }, 240_000);

  it('AS-25, RT-1, WR-6, WI-4, RO-12, SE-6: in Phase 2 under the lincheck writer load the storage DEK and then the raft DEK rotate; new log entries carry the new raft key_id, new kv records the new storage key_id, every node registers for both new DEKs without restarting, each restart passes the rollback guard, the history is linearizable', async () => {
    const ids = ['n1', 'n2', 'n3'];
    const KEYS = ['a', 'b', 'c', 'd'];
    const env: Record<string, Record<string, string>> = {};
    for (const id of ids) env[id] = { SEALKV_TEST_KEK: KEK };
    const c = await clusterForTest({ name: 'enc-as25-raft', extraArgs: ['--encryption', '--kek-env', 'SEALKV_TEST_KEK'], env, cipher: 'native' });
    await c.waitForLeader({ quorum: 3, timeoutMs: 20_000 });
    expect((await c.adminOnLeader('POST', '/v1/encryption/bootstrap', {})).status).toBe(200);
    expect((await c.adminOnLeader('POST', '/v1/encryption/enable-storage-envelope', {})).status).toBe(200);
    const en = await c.adminOnLeader('POST', '/v1/encryption/enable-raft-envelope', {}, 60_000);
    expect(en.status, JSON.stringify(en.body)).toBe(200);
    await c.waitCaughtUp();

    const rec = newRecorder();
    const w = new Workload({
      recorder: rec,
      endpoints: endpointsOf(c, () => c.running()),
      clients: 6,
      keys: KEYS,
      maxOps: 1_000_000,
      durationMs: 120_000,
      opTimeoutMs: 4000,
      seed: 25,
    });
    await waitFor('load before the rotations', () => (w.stats.ok > 60 ? true : undefined), 30_000);
    const rs = await c.adminOnLeader('POST', '/v1/encryption/rotate-dek', { purpose: 'storage' });
    expect(rs.status, JSON.stringify(rs.body)).toBe(200);
    const newStorage = (rs.body as { key_id: number }).key_id;
    const okMid = w.stats.ok;
    await waitFor('load between the rotations', () => (w.stats.ok > okMid + 60 ? true : undefined), 30_000);
    const rr = await c.adminOnLeader('POST', '/v1/encryption/rotate-dek', { purpose: 'raft' });
    expect(rr.status, JSON.stringify(rr.body)).toBe(200);
    const newRaft = (rr.body as { key_id: number }).key_id;
    const rotIndex = BigInt((rr.body as { applied_index: string }).applied_index);
    const okAfter = w.stats.ok;
    await waitFor('load after the raft rotation', () => ((w.stats.okByKind.write ?? 0) > 0 && w.stats.ok > okAfter + 120 ? true : undefined), 60_000);

    // WR-6 / WI-4: every node has a row for both new DEKs, no restart in between; each node's
    // own client writes pass (they wait for its raft registration under the new DEK).
    await c.waitCaughtUp();
    const leader = await c.waitForLeader({ timeoutMs: 20_000 });
    for (const id of ids) {
      const fid = deriveNodeIdentity(id).fullNodeId.toString();
      const rep = await c.node(leader).admin.request('POST', '/v1/encryption/resync-sidecar', { full_node_id: fid });
      const rows = (rep.body as { writer_registry_for_caller: Record<string, number> }).writer_registry_for_caller;
      expect(rows, id).toHaveProperty(String(newStorage));
      expect(rows, id).toHaveProperty(String(newRaft));
    }
    const marks = new Map<string, string>();
    for (const id of ids) {
      const conn = await c.resp(id);
      const v = `mark-${randomBytes(6).toString('hex')}`;
      await setOn(conn, `as25-mark-${id}`, v);
      marks.set(`as25-mark-${id}`, v);
      conn.close();
    }

    // Restarting each node passes the rollback guard; the load goes on meanwhile.
    for (const id of ids) {
      await c.kill(id, 'SIGTERM');
      c.start(id);
      await waitFor(`${id} back`, async () => ((await c.status(id))?.leader ? true : undefined), 30_000);
      const conn = await c.resp(id);
      await setOn(conn, `restart-${id}`, 'ok');
      conn.close();
      await c.waitCaughtUp(ids, 30_000);
    }
    await w.stop();
    // Only retryable refusals or indeterminate outcomes (client timeouts across the restarts).
    for (const [what, sample] of Object.entries(w.stats.errors).map(([k]) => [k, w.stats.errorSamples[k]] as const)) {
      expect(`${what}: ${sample}`).toMatch(/TRYAGAIN|NOT_LEADER|UNKNOWN_OUTCOME|TIMEOUT|UNAVAILABLE|client timeout|connection lost|WRITER_NOT_REGISTERED/);
    }
    const report = await verifyAfterFaults(c, rec, w, KEYS);
    expect(report.ok, report.text).toBe(true);
    for (const id of ids) {
      const conn = await c.resp(id);
      for (const [k, v] of marks) expect(await conn.call(['GET', k]), `${id} ${k}`).toEqual({ type: 'bulk', value: v });
      conn.close();
    }
    expect(c.unexpectedExits()).toEqual([]);
    for (const id of ids) await c.kill(id, 'SIGTERM');

    // Offline: log entries proposed after the raft rotation applied carry the new raft key_id
    // (a margin of a few entries: proposals already in flight when it applied keep the old one);
    // the marks, written after the storage rotation, carry the new storage key_id.
    for (const id of ids) {
      const dir = c.node(id).dataDir;
      let checked = 0;
      for (const e of await readLogEntries(dir, Number(rotIndex) + 50)) {
        if (e.type !== EntryType.Normal || e.data.length === 0) continue;
        expect(e.data[9], `${id} log ${e.index}: a raft envelope`).toBe(0x01);
        expect(readU32(e.data, 9 + ENV_KEY_ID_OFFSET), `${id} log ${e.index} key_id`).toBe(newRaft);
        checked++;
      }
      expect(checked, id).toBeGreaterThan(20);
      const recs = new Map((await listRecords(dir, 'kv')).map((r) => [Buffer.from(r.key).toString(), r.value]));
      for (const k of marks.keys()) expect(keyIdOf(recs.get(k)!), `${id} ${k}`).toBe(newStorage);
    }
  }, 300_000);
});

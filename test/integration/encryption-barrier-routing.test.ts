// Issue 11 acceptance AS-8 and AS-28 on real 3-node clusters, with the peer-fault layer
// (SEALKV_PEER_FAULTS=@file, rewritten while the nodes run).
// AS-8: the followers' acknowledgements (AppResp) are delayed so the marker takes seconds to
// commit; during the barrier a register-writer with timeout_ms 500 fails 503
// ENVELOPE_CUTOVER_IN_PROGRESS and appends nothing, one with 10000 is admitted after the barrier
// and lands wrapped above N (RO-7, RO-12, WR-3).
// AS-28: the leader's entries are held off the followers (App dropped), the leader is SIGKILLed
// and restarted — its proposal-id counter starts at 1 again — and wins the next term with those
// old entries in its log, which then commit under it; new commands take the same ids in the new
// term. Every client gets the response of its own command (PE-3, PE-4): SET answers only +OK, so
// the commands are INCRBY on fresh keys, whose replies carry a value unique to each command.

import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { decodeProposal } from '../../src/crypto/envelope/proposal.js';
import { deriveNodeIdentity } from '../../src/keys/node-identity.js';
import { EntryType } from '../../src/raft/index.js';
import type { Cluster } from './harness/cluster.js';
import { clusterForTest, destroyAllClusters } from './harness/fixture.js';
import { readLogEntries, readLogEntry } from './harness/offline.js';
import type { RespClient } from './harness/resp-client.js';
import { sleep, waitFor } from './harness/wait.js';

afterAll(destroyAllClusters);

const KEK = randomBytes(32).toString('base64');
const IDS = ['n1', 'n2', 'n3'];
const NOT_PROPOSED = /^TRYAGAIN|^ERR NOT_LEADER/;
const RAFT_ENV_OFFSET = 9;
const APP = 5;
const APP_RESP = 6;

interface FaultedCluster {
  c: Cluster;
  /** Rewrites one node's fault file (the node polls it every 100 ms); no rules = no faults. */
  faults(id: string, rules: unknown[]): void;
}

async function faultedCluster(name: string): Promise<FaultedCluster> {
  const dir = mkdtempSync(join(tmpdir(), `${name}-faults-`));
  const file = (id: string): string => join(dir, `${id}.json`);
  const env: Record<string, Record<string, string>> = {};
  for (const id of IDS) {
    writeFileSync(file(id), '');
    env[id] = { SEALKV_TEST_KEK: KEK, SEALKV_PEER_FAULTS: `@${file(id)}` };
  }
  const c = await clusterForTest({ name, extraArgs: ['--encryption', '--kek-env', 'SEALKV_TEST_KEK'], env, cipher: 'native' });
  return { c, faults: (id, rules) => writeFileSync(file(id), rules.length === 0 ? '' : JSON.stringify({ seed: 1, rules })) };
}

/** Retries only refusals that certainly proposed nothing (an INCRBY must not run twice). */
async function call(conn: RespClient, cmd: string[]): Promise<unknown> {
  for (let i = 0; ; i++) {
    const r = await conn.call(cmd, 15_000);
    if (r.type !== 'error') return r;
    if (!NOT_PROPOSED.test(String(r.message)) || i >= 400) throw new Error(`${cmd.join(' ')}: ${JSON.stringify(r)}`);
    await sleep(50);
  }
}

describe('barrier and response routing on a 3-node cluster', () => {
  it('AS-8, RO-7, RO-12, WR-3: with the followers\' acknowledgements delayed, a register-writer during the barrier with timeout_ms 500 fails 503 ENVELOPE_CUTOVER_IN_PROGRESS and appends nothing; one with timeout_ms 10000 is admitted after the barrier and lands wrapped above N', async () => {
    const { c, faults } = await faultedCluster('enc-as8');
    await c.waitForLeader({ quorum: 3, timeoutMs: 20_000 });
    expect((await c.adminOnLeader('POST', '/v1/encryption/bootstrap', {})).status).toBe(200);
    expect((await c.adminOnLeader('POST', '/v1/encryption/enable-storage-envelope', {})).status).toBe(200);
    await c.waitCaughtUp();
    const L = await c.waitForLeader({ quorum: 3, timeoutMs: 20_000 });
    const status = (await c.node(L).admin.request('GET', '/v1/encryption/status')).body as { active: { storage: { key_id: number } } };
    const dekId = status.active.storage.key_id;
    // Two writers that are not members: valid bodies whose registration the leader would propose.
    const early = deriveNodeIdentity('as8-writer-early').fullNodeId;
    const late = deriveNodeIdentity('as8-writer-late').fullNodeId;
    for (const f of [early, late]) for (const id of IDS) expect(Number(f & 0xffffn), id).not.toBe(Number(deriveNodeIdentity(id).fullNodeId & 0xffffn));

    // Phase 1 → the followers' AppResp to the leader are delayed 2.5 s (heartbeats, and so the
    // read-index rounds, are not): the marker takes that long to commit.
    for (const id of IDS.filter((x) => x !== L)) faults(id, [{ peer: L, dir: 'out', types: [APP_RESP], delayMs: 2500 }]);
    await sleep(500);
    const leaderConn = await c.resp(L);
    const enable = c.node(L).admin.request('POST', '/v1/encryption/enable-raft-envelope', { timeout_ms: 30_000 }, 40_000);
    // The barrier is up once a user write on the leader is refused with ENVELOPE_CUTOVER_IN_PROGRESS.
    await waitFor('the barrier is up', async () => {
      const r = await leaderConn.call(['SET', 'probe', 'p'], 15_000);
      return r.type === 'error' && String(r.message).includes('ENVELOPE_CUTOVER_IN_PROGRESS') ? true : undefined;
    }, 30_000, 10);
    const body = (f: bigint, t: number) => ({ dek_id: dekId, full_node_id: f.toString(), local_epoch: 1, timeout_ms: t });
    const [r500, r10k] = await Promise.all([
      c.node(L).admin.request('POST', '/v1/encryption/register-writer', body(early, 500), 5_000),
      c.node(L).admin.request('POST', '/v1/encryption/register-writer', body(late, 10_000), 20_000),
    ]);
    const en = await enable;
    expect(en.status, JSON.stringify(en.body)).toBe(200);
    const N = BigInt((en.body as { applied_index: string }).applied_index);
    expect(r500.status, JSON.stringify(r500.body)).toBe(503);
    expect(JSON.stringify(r500.body)).toContain('ENVELOPE_CUTOVER_IN_PROGRESS');
    expect(r10k.status, JSON.stringify(r10k.body)).toBe(200);
    const M = BigInt((r10k.body as { applied_index: string }).applied_index);
    expect(M).toBeGreaterThan(N);
    expect(r10k.body).toMatchObject({ proposed: true });
    leaderConn.close();
    for (const id of IDS) faults(id, []);
    await c.waitCaughtUp(IDS, 30_000);

    // The registry: a row for the late writer, none for the early one.
    const rows = async (f: bigint): Promise<Record<string, number>> =>
      ((await c.node(L).admin.request('POST', '/v1/encryption/resync-sidecar', { full_node_id: f.toString() })).body as { writer_registry_for_caller: Record<string, number> })
        .writer_registry_for_caller;
    expect(await rows(late)).toEqual({ [String(dekId)]: 1 });
    expect(await rows(early)).toEqual({});
    expect(c.unexpectedExits()).toEqual([]);
    for (const id of IDS) await c.kill(id, 'SIGTERM');

    // Offline: the admitted registration's entry at M is a raft envelope on every node.
    for (const id of IDS) {
      const e = (await readLogEntry(c.node(id).dataDir, Number(M)))!;
      expect(e.data[0], `${id} log ${M}`).toBe(0x01);
      expect(e.data[RAFT_ENV_OFFSET], `${id} log ${M}: a raft envelope`).toBe(0x01);
    }
  }, 180_000);

  it('AS-28, PE-3, PE-4: old entries of a restarted leader (ids from its previous process) commit under it in a later term next to new proposals with the same ids; every client gets its own reply', async () => {
    const { c, faults } = await faultedCluster('enc-as28');
    await c.waitForLeader({ quorum: 3, timeoutMs: 20_000 });
    expect((await c.adminOnLeader('POST', '/v1/encryption/bootstrap', {})).status).toBe(200);
    expect((await c.adminOnLeader('POST', '/v1/encryption/enable-storage-envelope', {})).status).toBe(200);
    expect((await c.adminOnLeader('POST', '/v1/encryption/enable-raft-envelope', {}, 60_000)).status).toBe(200);
    await c.waitCaughtUp();
    // A fresh leader process: restart the leader and hand it the leadership back, so its id
    // counter is near 1 when it proposes the old entries.
    const L = await c.waitForLeader({ quorum: 3, timeoutMs: 20_000 });
    const [F1, F2] = IDS.filter((x) => x !== L) as [string, string];
    await c.kill(L, 'SIGKILL');
    c.start(L);
    await c.leadOn(L, { quorum: 3 });
    // Warm-up writes push the id counter of L's process to about WARM, so the held entries carry
    // ids the new process reaches again once it has proposed WARM + NEW commands (ids that the
    // new process spends on proposals that never reach the log — its registration retries — make
    // gaps, hence the margin).
    const WARM = 150;
    const warm = await c.resp(L);
    for (let i = 0; i < WARM; i++) await call(warm, ['SET', `warm-${i}`, 'w']);
    warm.close();
    await c.waitCaughtUp();

    // Hold L's entries off the followers (App dropped; heartbeats pass, so nobody campaigns) and
    // cut F1 from F2, so neither can be elected while L is down.
    faults(F1, [{ peer: L, dir: 'in', types: [APP], drop: 1 }, { peer: F2, dir: 'both', partition: true }]);
    faults(F2, [{ peer: L, dir: 'in', types: [APP], drop: 1 }, { peer: F1, dir: 'both', partition: true }]);
    await sleep(500);
    const before = (await c.status(L))!;
    const oldConn = await c.resp(L);
    const OLD = 5;
    const oldCalls = Array.from({ length: OLD }, (_, i) => oldConn.call(['INCRBY', `old-${i}`, String(100 + i)], 60_000).catch((e: unknown) => e));
    await waitFor('the old entries are in L\'s log', async () => {
      const s = await c.status(L);
      return s && BigInt(s.lastIndex ?? '0') >= BigInt(before.lastIndex ?? before.commitIndex) + BigInt(OLD) ? true : undefined;
    }, 20_000);
    // The status shows appended entries; give the WAL a moment to make them durable before the kill.
    await sleep(1000);
    const held = (await c.status(L))!;
    expect(BigInt(held.commitIndex)).toBeLessThan(BigInt(held.lastIndex!));
    await c.kill(L, 'SIGKILL');
    for (const r of await Promise.all(oldCalls)) expect(r, 'an old caller gets no reply (its connection died)').toBeInstanceOf(Error);
    // L restarts (a new process: ids from 1) while F1 and F2 still cannot elect each other; the
    // App drop is lifted so the old entries reach them once L leads.
    faults(F1, [{ peer: F2, dir: 'both', partition: true }]);
    faults(F2, [{ peer: F1, dir: 'both', partition: true }]);
    await sleep(300);
    c.start(L);
    await waitFor(`${L} leads a new term`, async () => ((await c.status(L))?.role === 'leader' ? true : undefined), 60_000);
    for (const id of IDS) faults(id, []);
    // Until L's own registrations (WR-5, WR-8) commit, its wrap refuses user proposals after they
    // took an id (clients retry -TRYAGAIN, each retry a new id): wait for them first, so the new
    // commands take the ids around those of the held entries instead of far above them.
    const fid = deriveNodeIdentity(L).fullNodeId.toString();
    await waitFor(`${L} registered for this load`, async () => {
      const st = (await c.node(L).admin.request('GET', '/v1/encryption/status')).body as {
        active: { storage: { key_id: number }; raft: { key_id: number } };
        pinned_epochs: { storage: number; raft: number };
      };
      const rep = await c.node(L).admin.request('POST', '/v1/encryption/resync-sidecar', { full_node_id: fid });
      const rows = (rep.body as { writer_registry_for_caller?: Record<string, number> }).writer_registry_for_caller ?? {};
      return rows[String(st.active.storage.key_id)] === st.pinned_epochs.storage && rows[String(st.active.raft.key_id)] === st.pinned_epochs.raft ? true : undefined;
    }, 30_000);

    // New commands through every node, concurrently: each reply must be its own command's value.
    const NEW = 300;
    const conns = await Promise.all(IDS.map((id) => c.resp(id)));
    const replies = await Promise.all(
      Array.from({ length: NEW }, (_, j) => call(conns[j % conns.length]!, ['INCRBY', `new-${j}`, String(7000 + j)])),
    );
    for (const [j, r] of replies.entries()) expect(r, `new-${j}`).toEqual({ type: 'int', value: BigInt(7000 + j) });
    await c.waitCaughtUp(IDS, 30_000);
    // The held entries that were durable in L's log committed under the new leader (delivered
    // late), each once with its own value; one that was not durable at the kill is simply absent.
    let committedOld = 0;
    for (let i = 0; i < OLD; i++) {
      const r = await conns[0]!.call(['GET', `old-${i}`]);
      if (r.type === 'bulk' && r.value === null) continue;
      expect(r, `old-${i}`).toEqual({ type: 'bulk', value: String(100 + i) });
      committedOld++;
    }
    expect(committedOld, 'held entries committed under the new leader').toBeGreaterThan(0);
    for (const conn of conns) conn.close();
    expect(c.unexpectedExits()).toEqual([]);
    for (const id of IDS) await c.kill(id, 'SIGTERM');

    // Offline: the old entries (term T) and the new ones (term T' > T) share proposal ids.
    const dir = c.node(F1).dataDir;
    const oldTerm = Number(held.term);
    const oldIds = new Set<bigint>();
    const newIds = new Set<bigint>();
    for (const e of await readLogEntries(dir)) {
      if (e.type !== EntryType.Normal || e.data.length < 9) continue;
      if (e.term === oldTerm && e.index > Number(before.lastIndex ?? before.commitIndex)) oldIds.add(decodeProposal(e.data).id);
      if (e.term > oldTerm) newIds.add(decodeProposal(e.data).id);
    }
    expect(oldIds.size, 'the held entries committed').toBeGreaterThanOrEqual(committedOld);
    const shared = [...oldIds].filter((id) => newIds.has(id));
    const sorted = [...newIds].sort((x, y) => (x < y ? -1 : 1));
    expect(shared.length, `held ids ${[...oldIds]} reused by the new process (its ids: ${sorted.length}, ${sorted.slice(0, 40)} … ${sorted.slice(-5)})`).toBeGreaterThan(0);
  }, 240_000);
});

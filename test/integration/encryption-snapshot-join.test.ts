// Issue 11 item 7 on a real cluster (SPEC SH-1, SH-5, SH-6 as changed by the issue, AS-20 fault 2
// with the snapshot rebuilding the sidecar): in Phase 2 (bootstrap, storage cutover, raft cutover
// at N), a node added after the leader compacted its log past the bootstrap and the marker learns
// the encryption state from the snapshot — no resync-sidecar — with the header cutover N, reads
// every value, stores new values encrypted, keeps its log above N sealed, restarts through the
// start-up guards and wraps its proposals once it becomes leader; a node with another KEK refuses
// the snapshot with KEK_MISMATCH and installs nothing. AS-20 fault 1: a node whose snapshot lies
// above the cutover, with its sidecar's raft cutover edited larger, refuses to start with
// ENVELOPE_CUTOVER_DIVERGENCE (SH-5, OP-4 row 11); `resync-sidecar` with the leader's report
// repairs the sidecar and the node catches up.
//
// SPEC AS-20 expect 2 still reads "n4 HALTs with SIDECAR_BEHIND_RAFT_LOG … after resync-sidecar";
// issue 11 item 7 changed that: the snapshot now rebuilds the lagging sidecar.

import { randomBytes } from 'node:crypto';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { EntryType } from '../../src/raft/index.js';
import { type Cluster, MAIN_JS } from './harness/cluster.js';
import { clusterForTest, destroyAllClusters } from './harness/fixture.js';
import { editSidecar, listRecords, readLogEntries, readMeta, readSidecar } from './harness/offline.js';
import { waitFor } from './harness/wait.js';
import { callRetrying, setAll } from './harness/writes.js';

afterAll(destroyAllClusters);

const KEK = randomBytes(32).toString('base64');
const OTHER_KEK = randomBytes(32).toString('base64');
const ENC_ARGS = ['--encryption', '--kek-env', 'SEALKV_TEST_KEK'];
const run = promisify(execFile);

/** Every non-empty normal record of `dataDir`'s log above `N` is a raft envelope; returns how many per term. */
async function sealedAbove(dataDir: string, N: bigint): Promise<Map<string, number>> {
  const perTerm = new Map<string, number>();
  for (const e of await readLogEntries(dataDir, Number(N) + 1)) {
    const i = e.index;
    if (e.type !== EntryType.Normal || e.data.length === 0) continue;
    expect(e.data[0], `${dataDir} log ${i}`).toBe(0x01);
    expect(e.data[9], `${dataDir} log ${i} envelope version`).toBe(0x01);
    expect(e.data[10], `${dataDir} log ${i} envelope flag`).toBe(0x00);
    perTerm.set(String(e.term), (perTerm.get(String(e.term)) ?? 0) + 1);
  }
  return perTerm;
}

/** SE-4: encryption_state is bits 1–2 of the header's flags byte. */
const stateOf = (record: Uint8Array): number => (record[0]! >> 1) & 0b11;

async function encryptedCluster(name: string): Promise<Cluster> {
  const env: Record<string, Record<string, string>> = {};
  for (const id of ['n1', 'n2', 'n3']) env[id] = { SEALKV_TEST_KEK: KEK };
  // Small snapshot threshold and margin: the log is compacted past the bootstrap quickly.
  return clusterForTest({ name, extraArgs: ENC_ARGS, env, cipher: 'native', snapshotThreshold: 40, compactionMargin: 2 });
}

describe('snapshots carry the encryption state in Phase 2 (issue 11 item 7, AS-20)', () => {
  it('AS-20 (fault 2 in Phase 2, the snapshot rebuilding the sidecar; fault 1), SH-1, SH-2, SH-5, SH-6, WR-7: a node added after the log was compacted past the bootstrap and the raft marker installs the snapshot with header cutover N, rebuilds its sidecar, reads every value, stores new values encrypted, keeps its log above N sealed, restarts, and wraps its proposals as leader; another KEK refuses with KEK_MISMATCH; a sidecar raft cutover edited larger than the snapshot\'s refuses ENVELOPE_CUTOVER_DIVERGENCE and resync-sidecar with the leader report repairs it', async () => {
    const c = await encryptedCluster('enc-snap-join');
    const leader = await c.waitForLeader({ quorum: 3, timeoutMs: 20_000 });
    const conn = await c.resp(leader);

    const before: [string, string][] = Array.from({ length: 20 }, (_, i) => [`pre-${i}`, `clear-${i}`]);
    await setAll(conn, before);
    const boot = await c.adminOnLeader('POST', '/v1/encryption/bootstrap', {});
    expect(boot.status).toBe(200);
    const b = boot.body as { applied_index: string; storage_dek_id: number; raft_dek_id: number };
    const en = await c.adminOnLeader('POST', '/v1/encryption/enable-storage-envelope', {});
    expect(en.status).toBe(200);
    const storageCutover = BigInt((en.body as { applied_index: string }).applied_index);

    // Phase 2: the raft cutover at N.
    const raft = await c.adminOnLeader('POST', '/v1/encryption/enable-raft-envelope', {}, 60_000);
    expect(raft.status, JSON.stringify(raft.body)).toBe(200);
    const N = BigInt((raft.body as { applied_index: string }).applied_index);

    const after: [string, string][] = Array.from({ length: 120 }, (_, i) => [`post-${i}`, `sealed-${i}-${randomBytes(4).toString('hex')}`]);
    await setAll(conn, after);
    const target = await c.waitCaughtUp(['n1', 'n2', 'n3'], 30_000);
    const now = await c.waitForLeader();
    // The leader's log no longer holds the bootstrap, the storage cutover or the raft marker.
    await c.waitCompactedPast(now, N, 60_000);

    // n4 joins with the same KEK and no sidecar: only a snapshot can bring it up to date.
    const add = await c.addNode('n4', undefined, { env: { SEALKV_TEST_KEK: KEK } });
    expect(add.status).toBe(200);
    await c.waitApplied(['n4'], target, 60_000);
    const s4 = await c.status('n4');
    expect((s4 as unknown as { halted: string | null }).halted).toBeNull();
    expect(BigInt(s4?.snapshotIndex ?? '0')).toBeGreaterThan(N);
    expect((s4 as unknown as { encryption: Record<string, unknown> }).encryption).toMatchObject({
      enabled: true,
      storageEnvelope: true,
      storageCutoverIndex: String(storageCutover),
      activeStorageDekId: String(b.storage_dek_id),
      activeRaftDekId: String(b.raft_dek_id),
      raftCutoverIndex: String(N),
    });
    // The sidecar was rebuilt from the snapshot (KM-7 write), with the snapshot's keys.
    const sidecar = JSON.parse(readFileSync(join(c.node('n4').dataDir, 'encryption', 'keys.json'), 'utf8')) as {
      storage_envelope_active: boolean;
      raft_envelope_cutover_index: string;
      active: { storage: number; raft: number };
      keys: Record<string, { local_epoch: number }>;
    };
    expect(sidecar.storage_envelope_active).toBe(true);
    expect(sidecar.raft_envelope_cutover_index).toBe(String(N));
    expect(sidecar.active).toEqual({ storage: b.storage_dek_id, raft: b.raft_dek_id });
    // KM-8/WR-1: local_epoch is this node's own (the leader's is not copied). The add-node
    // pre-step registers n4 at epoch 0 (WR-7); when the snapshot n4 installs covers that row the
    // rebuilt value is row + 1, otherwise its pinned epoch 0. Never the leader's. The restart
    // below bumps it and passes the WR-10 rollback guard against the registry.
    const epochAtRebuild = sidecar.keys[String(b.storage_dek_id)]!.local_epoch;
    expect([0, 1]).toContain(epochAtRebuild);

    // Every value reads back through n4 (decrypted with the keys the snapshot brought).
    const c4 = await c.resp('n4');
    for (const [k, v] of [...before, ...after]) expect(await callRetrying(c4, ['GET', k]), k).toEqual({ type: 'bulk', value: v });
    // New values written through n4 are stored encrypted on n4.
    const fresh: [string, string][] = Array.from({ length: 10 }, (_, i) => [`n4-${i}`, `from-n4-${i}`]);
    await setAll(c4, fresh);
    const t2 = await c.waitCaughtUp(['n1', 'n2', 'n3', 'n4'], 30_000);
    c4.close();

    // A clean restart of n4 passes the start-up guards with the rebuilt sidecar and the SH-1
    // record of the installed snapshot (KM-12 L, OP-4 row 11), and still reads everything.
    await c.kill('n4', 'SIGTERM');
    const meta = await readMeta(c.node('n4').dataDir);
    expect(meta.snapshot.index).toBeGreaterThan(Number(N));
    // SH-2: the installed snapshot's header cutover is N.
    expect(meta.snapshot.raftEnvelopeCutoverIndex).toBe(N);
    expect(meta.raftCutoverIndex).toBe(N);
    // SH-1: the last entry inside the snapshot that wrote the sidecar is at or after the marker
    // (later ones: the members' WR-8 raft registrations).
    expect(meta.snapshot.sidecarAppliedIndex).toBeGreaterThanOrEqual(N);
    // n4's log above N (what it received after the snapshot, its own writes included) is sealed.
    const sealed4 = await sealedAbove(c.node('n4').dataDir, N);
    expect([...sealed4.values()].reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(fresh.length);
    const raw = await listRecords(c.node('n4').dataDir, 'kv');
    for (const [k] of [...after, ...fresh]) {
      const r = raw.find((x) => Buffer.from(x.key).toString() === k);
      expect(r, k).toBeDefined();
      expect(stateOf(r!.value), `${k}: encryption_state`).toBe(0b01);
    }
    c.start('n4', false, { SEALKV_TEST_KEK: KEK });
    await c.waitApplied(['n4'], t2, 60_000);
    const bumped = JSON.parse(readFileSync(join(c.node('n4').dataDir, 'encryption', 'keys.json'), 'utf8')) as typeof sidecar;
    expect(bumped.keys[String(b.storage_dek_id)]!.local_epoch).toBe(epochAtRebuild + 1);
    const c4b = await c.resp('n4');
    for (const [k, v] of [...after.slice(0, 10), ...fresh]) expect(await callRetrying(c4b, ['GET', k]), k).toEqual({ type: 'bulk', value: v });
    await setAll(c4b, [['after-restart', 'x']]);
    c4b.close();

    // n4 made leader wraps what it proposes (its term's records in its log are raft envelopes).
    await waitFor('n4 leads', async () => {
      const cur = await c.waitForLeader({ timeoutMs: 20_000 });
      if (cur === 'n4') return true;
      await c.node(cur).admin.request('POST', '/v1/transfer-leader', { id: 'n4' }, 15_000).catch(() => undefined);
      return undefined;
    }, 60_000);
    const term4 = String((await c.status('n4'))!.term);
    const c4c = await c.resp('n4');
    await setAll(c4c, Array.from({ length: 5 }, (_, i): [string, string] => [`led-by-n4-${i}`, `l-${i}`]));
    c4c.close();
    await c.waitCaughtUp(['n1', 'n2', 'n3', 'n4'], 30_000);

    // n5 with another KEK: the snapshot's DEKs do not unwrap; it refuses with KEK_MISMATCH (a
    // HALT, exit 3) and installs nothing.
    await c.addNode('n5', undefined, { env: { SEALKV_TEST_KEK: OTHER_KEK } });
    c.expectExit('n5');
    const exit = await c.waitExit('n5', 60_000);
    expect(exit.code).toBe(3);
    expect(c.log('n5')).toContain('KEK_MISMATCH');
    const m5 = await readMeta(c.node('n5').dataDir);
    expect(m5.appliedIndex).toBe(0n);
    await waitFor('the 4 healthy members still serve', async () => (await c.statuses(['n1', 'n2', 'n3', 'n4'])).size === 4, 20_000);
    conn.close();

    // AS-20 fault 1 (SH-5, OP-4 row 11): n3 has a snapshot above the cutover; its sidecar's raft
    // cutover edited larger refuses the start with ENVELOPE_CUTOVER_DIVERGENCE (exit 2);
    // resync-sidecar with the leader's report repairs it and n3 catches up.
    const n3 = c.node('n3').dataDir;
    await c.kill('n3', 'SIGTERM');
    expect((await readMeta(n3)).snapshot.index).toBeGreaterThan(Number(N));
    expect((await readMeta(n3)).snapshot.raftEnvelopeCutoverIndex).toBe(N);
    editSidecar(n3, (sc) => ({ ...sc, raftEnvelopeCutoverIndex: N + 7n }));
    c.start('n3');
    c.expectExit('n3');
    const refused = await c.waitExit('n3', 60_000);
    expect(refused.code).toBe(2);
    expect(c.log('n3').split('\n').filter((l) => l.startsWith('error: ')).at(-1)).toMatch(/^error: ENVELOPE_CUTOVER_DIVERGENCE: /);
    const leaderNow = await c.waitForLeader({ among: ['n1', 'n2', 'n4'], timeoutMs: 20_000 });
    const r = await run(
      process.execPath,
      [MAIN_JS, 'admin', 'encryption', 'resync-sidecar', '--data-dir', n3, '--kek-env', 'SEALKV_TEST_KEK', '--leader-admin', `127.0.0.1:${c.node(leaderNow).adminPort}`],
      { env: { ...process.env, SEALKV_TEST_KEK: KEK } },
    ).then(
      (x) => ({ code: 0, stdout: x.stdout, stderr: x.stderr }),
      (e: { code?: number; stdout?: string; stderr?: string }) => ({ code: e.code ?? -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' }),
    );
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^resynced source=leader-report /);
    expect(readSidecar(n3).raftEnvelopeCutoverIndex).toBe(N);
    c.start('n3');
    await c.waitCaughtUp(['n1', 'n2', 'n3', 'n4'], 60_000);
    const c3 = await c.resp('n3');
    expect(await callRetrying(c3, ['GET', 'led-by-n4-4'])).toEqual({ type: 'bulk', value: 'l-4' });
    await setAll(c3, [['n3-after-resync', 'y']]);
    c3.close();
    await c.waitCaughtUp(['n1', 'n2', 'n3', 'n4'], 60_000);

    // n4's log: every record above N sealed, and those of the term it led are its own proposals.
    await c.kill('n4', 'SIGTERM');
    const sealedLed = await sealedAbove(c.node('n4').dataDir, N);
    expect(sealedLed.get(term4) ?? 0, `records of n4's term ${term4}`).toBeGreaterThanOrEqual(5);
  }, 300_000);
});

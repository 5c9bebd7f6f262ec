// Issue 11 acceptance on real 3-node clusters in Phase 2 (both cutovers): the fail-closed raft
// unwrap. AS-3: one ciphertext byte of a persisted, unapplied wrapped entry flipped offline (WAL
// checksum recomputed, so the AEAD is what notices) HALTs only that replica at exactly that index,
// again on an unchanged restart, and the restored record lets it catch up. AS-22 (RE-7): a `kv`
// storage envelope put into a wrapped entry's envelope slot HALTs RAFT_UNWRAP_FAILED / INTEGRITY;
// a raft envelope put into an encrypted `kv` record reads as ENCRYPTED_READ_INTEGRITY. AS-4: an
// active cutover with the cipher withheld from the engine HALTs NO_CIPHER at the first unapplied
// entry above N; a normal restart unwraps, applies and converges.

import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { loadAead } from '../../src/crypto/index.js';
import { unwrapRaft } from '../../src/crypto/envelope/raft.js';
import { PROPOSAL_HEADER_SIZE } from '../../src/crypto/envelope/proposal.js';
import { Keystore } from '../../src/crypto/keystore.js';
import { Kek } from '../../src/keys/kek-provider.js';
import { EntryType } from '../../src/raft/index.js';
import type { Entry } from '../../src/raft/types.js';
import type { Cluster } from './harness/cluster.js';
import { clusterForTest, destroyAllClusters } from './harness/fixture.js';
import {
  corruptLogEntry,
  editLogEntryData,
  logBounds,
  readKv,
  readLogEntries,
  readMeta,
  readSidecar,
  restoreLogRecord,
  type StoredLogRecord,
  writeKv,
} from './harness/offline.js';
import { setOn, setVia } from './harness/writes.js';

afterAll(destroyAllClusters);

const KEK_BYTES = randomBytes(32);
const KEK = KEK_BYTES.toString('base64');
/** Raft envelope: version, flag, key_id u32, nonce 12, then ciphertext ‖ tag. */
const RAFT_CIPHERTEXT_AT = PROPOSAL_HEADER_SIZE + 18;
/** SE-4: the value header before a `kv` record's body. */
const VALUE_HEADER = 9;

/** n1..n3 in Phase 2 (bootstrap, storage cutover, raft cutover at N); the leader is not `avoid`. */
async function phase2(name: string, avoid: string): Promise<{ c: Cluster; N: bigint }> {
  const env: Record<string, Record<string, string>> = {};
  for (const id of ['n1', 'n2', 'n3']) env[id] = { SEALKV_TEST_KEK: KEK };
  const c = await clusterForTest({ name, extraArgs: ['--encryption', '--kek-env', 'SEALKV_TEST_KEK'], env, cipher: 'native' });
  const l = await c.waitForLeader({ quorum: 3, timeoutMs: 20_000 });
  if (l === avoid) {
    expect((await c.node(l).admin.request('POST', '/v1/transfer-leader', { id: c.ids().find((x) => x !== avoid) }, 15_000)).status).toBe(200);
    await c.waitForLeader({ not: avoid, timeoutMs: 20_000 });
  }
  expect((await c.adminOnLeader('POST', '/v1/encryption/bootstrap', {})).status).toBe(200);
  expect((await c.adminOnLeader('POST', '/v1/encryption/enable-storage-envelope', {})).status).toBe(200);
  const en = await c.adminOnLeader('POST', '/v1/encryption/enable-raft-envelope', {}, 60_000);
  expect(en.status, JSON.stringify(en.body)).toBe(200);
  const N = BigInt((en.body as { applied_index: string }).applied_index);
  // Every node passes its writer gates (WR-5, WR-8) before a node is stopped: restartable.
  for (const id of c.ids()) await setVia(c, id, `warm-${id}`, 'w');
  await c.waitCaughtUp(c.ids(), 30_000);
  return { c, N };
}

/** The plaintext of a wrapped entry of a stopped node, opened with the node's raft DEK (test oracle). */
async function openWrapped(dataDir: string, e: Entry): Promise<Uint8Array> {
  const s = readSidecar(dataDir);
  const kek = Kek.fromBytes('env', new Uint8Array(KEK_BYTES));
  const ks = new Keystore();
  for (const [id, k] of s.keys) if (k.purpose === 'raft') ks.set(id, kek.unwrapSync(k.wrapped));
  return unwrapRaft(await loadAead('node'), ks, e.data.subarray(PROPOSAL_HEADER_SIZE));
}

/** Wrapped (non-empty normal) entries of a stopped node above its applied index and above N. */
async function unappliedWrapped(dataDir: string, N: bigint): Promise<{ applied: bigint; entries: Entry[] }> {
  const applied = (await readMeta(dataDir)).appliedIndex;
  const all = await readLogEntries(dataDir, Math.max(Number(applied), Number(N)) + 1);
  return { applied, entries: all.filter((e) => e.type === EntryType.Normal && e.data.length > 0) };
}

/**
 * Restarts `id` armed at `after-log-persist` while a writer loads the leader until `id` dies
 * there (its last Ready's entries durable, nothing of them applied). Writes `prefix-<i>` keys.
 */
async function killAfterLogPersist(c: Cluster, id: string, prefix: string): Promise<void> {
  await c.kill(id, 'SIGTERM');
  let writing = true;
  const leader = await c.waitForLeader({ not: id, timeoutMs: 20_000 });
  const conn = await c.resp(leader);
  const load = (async () => {
    for (let i = 0; writing; i++) await setOn(conn, `${prefix}-${i}`, `${prefix}-value-${i}`);
  })();
  c.start(id, false, { SEALKV_CRASH_POINTS: 'after-log-persist' });
  c.expectExit(id); // after the start: a spawn resets the mark
  try {
    expect((await c.waitExit(id, 60_000)).signal).toBe('SIGKILL');
  } finally {
    writing = false;
    await load;
    conn.close();
  }
}

const haltLine = (c: Cluster, id: string): string | undefined =>
  c.log(id).split('\n').filter((l) => l.startsWith('halted: ')).at(-1);

/** Starts `id` on its data dir and expects the HALT (exit 3) `code` / `reason` at `index`. */
async function haltsAt(c: Cluster, id: string, code: string, reason: string, index: bigint): Promise<void> {
  c.start(id, false, { SEALKV_CRASH_POINTS: '' });
  c.expectExit(id);
  const exit = await c.waitExit(id, 60_000);
  expect(exit.code, c.log(id).split('\n').slice(-10).join('\n')).toBe(3);
  expect(haltLine(c, id)).toMatch(new RegExp(`^halted: ${code} at index ${index} \\(reason ${reason}\\)`));
}

describe('fail-closed raft unwrap on a 3-node cluster (Phase 2)', () => {
  it('AS-3, AS-22: a flipped ciphertext byte of an unapplied entry k > N HALTs only that replica at k (RAFT_UNWRAP_FAILED, INTEGRITY; applied k−1, nothing of k in kv), again unchanged, and the restored record catches up; a kv envelope in a log entry\'s slot HALTs INTEGRITY, a raft envelope in a kv record reads ENCRYPTED_READ_INTEGRITY', async () => {
    const { c, N } = await phase2('enc-as3', 'n3');
    // Pad values of every length, stored encrypted: AS-22 needs a kv body exactly as long as a
    // log entry's envelope slot (a WAL record is edited in place, same length only).
    const leader = await c.waitForLeader({ timeoutMs: 20_000 });
    const pads = await c.resp(leader);
    for (let len = 1; len <= 160; len++) await setOn(pads, `pad-${len}`, 'p'.repeat(len));
    pads.close();
    await c.waitCaughtUp(c.ids(), 30_000);

    // ---- AS-3 ----
    const n3 = c.node('n3').dataDir;
    await killAfterLogPersist(c, 'n3', 'as3');
    const { applied, entries } = await unappliedWrapped(n3, N);
    expect(entries.length, 'wrapped entries persisted but not applied on n3').toBeGreaterThan(0);
    // k: the first unapplied wrapped entry that carries one of the test's SETs (the entries below
    // it apply; k is where n3 stops). Its key is read from the plaintext (the test's oracle).
    let target: Entry | undefined;
    let asKey: string | undefined;
    for (const e of entries) {
      asKey = /as3-\d+/.exec(Buffer.from(await openWrapped(n3, e)).toString('latin1'))?.[0];
      if (asKey !== undefined) {
        target = e;
        break;
      }
    }
    expect(target, 'an unapplied SET among the persisted entries').toBeDefined();
    const k = BigInt(target!.index);
    expect(k).toBeGreaterThan(N);
    expect(k).toBeGreaterThan(applied);
    const saved: StoredLogRecord = await corruptLogEntry(n3, target!.index, { dataOffset: RAFT_CIPHERTEXT_AT, mask: 0x01, recomputeChecksum: true });
    await haltsAt(c, 'n3', 'RAFT_UNWRAP_FAILED', 'INTEGRITY', k);
    expect((await readMeta(n3)).appliedIndex).toBe(k - 1n);
    // Entry k's write left nothing in kv.
    expect(await readKv(n3, asKey!), asKey).toBeUndefined();
    // n1 and n2 keep serving.
    for (const id of ['n1', 'n2']) await setVia(c, id, `as3-while-halted-${id}`, 'h');
    // Restarted unchanged: the same HALT at k.
    await haltsAt(c, 'n3', 'RAFT_UNWRAP_FAILED', 'INTEGRITY', k);
    expect((await readMeta(n3)).appliedIndex).toBe(k - 1n);
    // The record restored: n3 unwraps k, catches up and serves.
    restoreLogRecord(saved);
    c.start('n3', false, { SEALKV_CRASH_POINTS: '' });
    await c.waitCaughtUp(c.ids(), 60_000);
    await setVia(c, 'n3', 'as3-after-restore', 'r');
    const r3 = await c.resp('n3');
    expect(await r3.call(['GET', 'as3-while-halted-n1'])).toEqual({ type: 'bulk', value: 'h' });
    expect(await r3.call(['GET', asKey!])).toEqual({ type: 'bulk', value: asKey!.replace('as3-', 'as3-value-') });
    r3.close();

    // ---- AS-22, run 1: a kv storage envelope in a wrapped log entry's envelope slot ----
    await killAfterLogPersist(c, 'n3', 'as22');
    const run1 = await unappliedWrapped(n3, N);
    expect(run1.entries.length).toBeGreaterThan(0);
    const slotEntry = run1.entries[0]!;
    const slot = slotEntry.data.length - PROPOSAL_HEADER_SIZE;
    const padLen = slot - 34; // storage envelope = 18-byte header ‖ ciphertext ‖ tag 16
    expect(padLen, `slot of ${slot} bytes`).toBeGreaterThanOrEqual(1);
    expect(padLen, `slot of ${slot} bytes`).toBeLessThanOrEqual(160);
    const record = (await readKv(n3, `pad-${padLen}`))!;
    const body = record.subarray(VALUE_HEADER);
    expect(body.length).toBe(slot);
    const saved22 = await editLogEntryData(n3, slotEntry.index, (d) => {
      d.set(body, PROPOSAL_HEADER_SIZE);
      return d;
    });
    await haltsAt(c, 'n3', 'RAFT_UNWRAP_FAILED', 'INTEGRITY', BigInt(slotEntry.index));
    restoreLogRecord(saved22);
    c.start('n3', false, { SEALKV_CRASH_POINTS: '' });
    await c.waitCaughtUp(c.ids(), 60_000);

    // ---- AS-22, run 2: a raft envelope in an encrypted kv record's body (on n2, a follower) ----
    const follower = (await c.waitForLeader({ timeoutMs: 20_000 })) === 'n2' ? 'n3' : 'n2';
    const fdir = c.node(follower).dataDir;
    await c.kill(follower, 'SIGTERM');
    const fb = (await logBounds(fdir))!;
    const lastWrapped = (await readLogEntries(fdir, Math.max(Number(N) + 1, fb.last - 20))).filter((e) => e.type === EntryType.Normal && e.data.length > 0).at(-1);
    const raftEnv = lastWrapped?.data.subarray(PROPOSAL_HEADER_SIZE);
    expect(raftEnv).toBeDefined();
    const victim = 'pad-20';
    const orig = (await readKv(fdir, victim))!;
    expect((orig[0]! >> 1) & 0b11, 'encrypted record').toBe(0b01);
    await writeKv(fdir, victim, Buffer.concat([orig.subarray(0, VALUE_HEADER), raftEnv!]));
    c.start(follower, false, { SEALKV_CRASH_POINTS: '' });
    await setVia(c, follower, 'as22-after-edit', 'x');
    const rf = await c.resp(follower);
    const bad = await rf.call(['GET', victim]);
    expect(bad.type, JSON.stringify(bad)).toBe('error');
    expect(String((bad as { message?: string }).message)).toContain('ENCRYPTED_READ_INTEGRITY');
    expect(await rf.call(['GET', 'pad-21'])).toEqual({ type: 'bulk', value: 'p'.repeat(21) });
    rf.close();
    const other = await c.resp(c.ids().find((id) => id !== follower)!);
    expect(await other.call(['GET', victim])).toEqual({ type: 'bulk', value: 'p'.repeat(20) });
    other.close();
    expect(c.unexpectedExits()).toEqual([]);
  }, 300_000);

  it('AS-4: n2 stopped at after-log-persist and restarted with the cipher withheld from the engine HALTs at the first unapplied entry above N (RAFT_UNWRAP_FAILED, NO_CIPHER); restarted normally it unwraps, applies and converges', async () => {
    const { c, N } = await phase2('enc-as4', 'n2');
    const n2 = c.node('n2').dataDir;
    await killAfterLogPersist(c, 'n2', 'as4');
    const { applied, entries } = await unappliedWrapped(n2, N);
    expect(entries.length).toBeGreaterThan(0);
    const first = BigInt(entries[0]!.index);
    expect(first).toBeGreaterThan(N);
    c.start('n2', false, { SEALKV_CRASH_POINTS: '', SEALKV_TEST_WITHHOLD_RAFT_CIPHER: '1' });
    c.expectExit('n2');
    expect((await c.waitExit('n2', 60_000)).code).toBe(3);
    expect(haltLine(c, 'n2')).toMatch(new RegExp(`^halted: RAFT_UNWRAP_FAILED at index ${first} \\(reason NO_CIPHER\\)`));
    const m = await readMeta(n2);
    expect(m.appliedIndex).toBe(first - 1n);
    expect(m.appliedIndex).toBeGreaterThanOrEqual(applied);
    // The other two keep serving.
    for (const id of ['n1', 'n3']) await setVia(c, id, `as4-while-halted-${id}`, 'h');
    // Restarted normally: unwraps and applies those entries and converges.
    c.start('n2', false, { SEALKV_CRASH_POINTS: '', SEALKV_TEST_WITHHOLD_RAFT_CIPHER: '' });
    const t = await c.waitCaughtUp(c.ids(), 60_000);
    expect(t).toBeGreaterThan(first);
    await setVia(c, 'n2', 'as4-after', 'a');
    const r2 = await c.resp('n2');
    expect(await r2.call(['GET', 'as4-while-halted-n3'])).toEqual({ type: 'bulk', value: 'h' });
    expect(await r2.call(['GET', 'as4-0'])).toEqual({ type: 'bulk', value: 'as4-value-0' });
    r2.close();
    await c.waitCaughtUp(c.ids(), 30_000);
    for (const id of c.ids()) await c.kill(id, 'SIGTERM');
    const cut = c.ids().map((id) => readSidecar(c.node(id).dataDir));
    for (const s of cut) {
      expect(s.raftEnvelopeCutoverIndex).toBe(N);
      expect(s.active).toEqual(cut[0]!.active);
    }
  }, 240_000);
});

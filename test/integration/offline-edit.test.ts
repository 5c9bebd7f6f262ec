// The offline editing helpers (harness/offline.ts) and the crash points placed in the run loop and
// the apply pipeline (issue 10 item 8, SPEC §17 harness), against a real node's data directory.
// A one-node cluster: every write commits locally, so the checks are about storage, not Raft.

import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { LogCorruptError } from '../../src/errors.js';
import { emptySidecar, serializeSidecar, withKeys } from '../../src/keys/sidecar-schema.js';
import { CrashPoints } from '../../src/node/crash-points.js';
import { EntryType } from '../../src/raft/types.js';
import type { Cluster } from './harness/cluster.js';
import { clusterForTest, destroyAllClusters } from './harness/fixture.js';
import {
  copySidecar,
  corruptLogEntry,
  deleteKv,
  deleteRegistryRow,
  editLogEntryData,
  editSidecar,
  editSidecarJson,
  flipFileByte,
  listRecords,
  logBounds,
  readKv,
  readLogEntry,
  readMeta,
  readRawLogRecord,
  restoreLogRecord,
  rewriteMeta,
  readRegistry,
  readSidecar,
  readSidecarText,
  restoreSidecar,
  sidecarPath,
  truncateFile,
  writeKv,
  writeRegistryRow,
  writeSidecarText,
} from './harness/offline.js';
import type { RespReply } from './harness/resp-client.js';

afterAll(destroyAllClusters);

async function call(c: Cluster, ...args: string[]): Promise<RespReply> {
  const conn = await c.resp('n1');
  try {
    return await conn.call(args);
  } finally {
    conn.close();
  }
}

it('offline helpers read and edit a stopped node’s log, meta, kv, registry and sidecar; the crash points sit after the log persist and after the apply commit', async () => {
  const c = await clusterForTest({ name: 'offline', size: 1 });
  await c.waitForLeader({ quorum: 1, timeoutMs: 20_000 });
  expect(await call(c, 'SET', 'a', 'alpha')).toEqual({ type: 'simple', value: 'OK' });
  expect(await call(c, 'SET', 'b', 'bravo')).toEqual({ type: 'simple', value: 'OK' });
  expect(await call(c, 'INCR', 'n')).toEqual({ type: 'int', value: 1n });
  await c.kill('n1', 'SIGTERM');
  const dir = c.node('n1').dataDir;

  // meta and log: decoded with the node's own decoders (hard state from the WAL, applied from LMDB).
  const meta = await readMeta(dir);
  const bounds = await logBounds(dir);
  expect(bounds).not.toBeNull();
  expect(meta.appliedIndex).toBe(BigInt(bounds!.last));
  expect(meta.hardState.commit).toBe(bounds!.last);
  expect(meta.logTrunc.index).toBe(bounds!.first - 1);
  const last = await readLogEntry(dir, bounds!.last);
  expect(last?.type).toBe(EntryType.Normal);
  expect(last!.data.length).toBeGreaterThan(0);

  // corruptLogEntry without the CRC: the WAL's recovery finds it, offline and in the node, which
  // refuses to start with LOG_CORRUPT naming the index. Restoring the saved frame undoes it.
  const saved = await corruptLogEntry(dir, bounds!.last);
  const err = await readLogEntry(dir, bounds!.last).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(LogCorruptError);
  expect((err as Error).message).toContain(`log entry ${bounds!.last}:`);
  c.start('n1');
  c.expectExit('n1');
  expect((await c.waitExit('n1')).code).not.toBe(0);
  const startLog = readFileSync(c.node('n1').logFile, 'utf8').split('=== ').at(-2) ?? '';
  expect(startLog).toContain('LOG_CORRUPT');
  expect(startLog).toContain(`log entry ${bounds!.last}:`);
  restoreLogRecord(saved);
  expect(await readLogEntry(dir, bounds!.last)).toEqual(last);
  expect((await readRawLogRecord(dir, bounds!.last))!.frame).toEqual(saved.frame);

  // With the CRC recomputed the record check passes and only the data differs.
  await corruptLogEntry(dir, bounds!.last, { dataOffset: 0, mask: 0x01, recomputeChecksum: true });
  const flipped = await readLogEntry(dir, bounds!.last);
  expect(flipped!.data[0]).toBe(last!.data[0] ^ 0x01);
  expect(flipped!.data.subarray(1)).toEqual(last!.data.subarray(1));
  await editLogEntryData(dir, bounds!.last, () => last!.data);
  expect((await readRawLogRecord(dir, bounds!.last))!.frame).toEqual(saved.frame);

  // editLogEntryData is what a restarted node reads: rewrite SET b's value in place (same length;
  // another length is refused), rewind the applied index so the node applies it again, restart.
  let setB = 0;
  for (let i = bounds!.first; i <= bounds!.last; i++) if (Buffer.from((await readLogEntry(dir, i))!.data).includes('bravo')) setB = i;
  expect(setB).toBeGreaterThan(0);
  await expect(editLogEntryData(dir, setB, (d) => new Uint8Array([...d, 0]))).rejects.toThrow(/same-length/);
  await editLogEntryData(dir, setB, (d) => {
    const at = Buffer.from(d).indexOf('bravo');
    d.set(new TextEncoder().encode('BRAVO'), at);
    return d;
  });
  await rewriteMeta(dir, { appliedIndex: BigInt(setB - 1) });
  c.start('n1');
  await c.waitForLeader({ quorum: 1, timeoutMs: 20_000 });
  expect(await call(c, 'GET', 'b')).toEqual({ type: 'bulk', value: 'BRAVO' });
  await c.kill('n1', 'SIGTERM');

  // rewriteMeta's hard state is a record appended to the WAL, and what readMeta (the recovery) sees.
  const hs = (await readMeta(dir)).hardState;
  expect(hs.vote).toBe('n1');
  await rewriteMeta(dir, { hardState: { ...hs, vote: null } });
  expect((await readMeta(dir)).hardState).toEqual({ ...hs, vote: null });

  // kv: raw values; an offline copy of a's record onto b, and a deletion, are what the node serves.
  const aRec = await readKv(dir, 'a');
  expect(aRec && Buffer.from(aRec).includes('alpha')).toBe(true);
  await writeKv(dir, 'b', aRec!);
  await deleteKv(dir, 'n');
  expect((await listRecords(dir, 'kv')).map((r) => Buffer.from(r.key).toString())).toEqual(['a', 'b']);

  // registry rows round-trip (no encryption yet: the table starts empty).
  expect(await readRegistry(dir)).toEqual([]);
  await writeRegistryRow(dir, 7, 0x0ed0, { fullNodeId: 0x1234_5678_9abc_def0n, firstSeenLocalEpoch: 1, lastSeenLocalEpoch: 3 });
  expect(await readRegistry(dir)).toEqual([{ dekId: 7, nodeId16: 0x0ed0, fullNodeId: 0x1234_5678_9abc_def0n, firstSeenLocalEpoch: 1, lastSeenLocalEpoch: 3 }]);
  await deleteRegistryRow(dir, 7, 0x0ed0);
  expect(await readRegistry(dir)).toEqual([]);

  // sidecar: validated and raw edits, copy/restore, truncation and a flipped byte.
  mkdirSync(join(dir, 'encryption'), { recursive: true, mode: 0o700 });
  const base = withKeys(emptySidecar(), (k) => k.set(5, { purpose: 'storage', wrapped: new Uint8Array([1, 2, 3]), created: '2026-01-01T00:00:00Z', localEpoch: 4 }));
  writeSidecarText(dir, serializeSidecar({ ...base, active: { storage: 5, raft: 0 } }));
  const copy = join(c.dir, 'keys.json.copy');
  copySidecar(dir, copy);
  editSidecar(dir, (s) => ({ ...withKeys(s, (k) => k.set(5, { ...k.get(5)!, localEpoch: 0xffff })), raftAppliedIndex: 2n ** 63n + 1n }));
  expect(readSidecar(dir).keys.get(5)?.localEpoch).toBe(0xffff);
  expect(readSidecar(dir).raftAppliedIndex).toBe(2n ** 63n + 1n); // lossless 64-bit
  editSidecarJson(dir, (doc) => {
    doc.version = 2;
  });
  expect(() => readSidecar(dir)).toThrow(/version/);
  restoreSidecar(dir, copy);
  expect(readSidecar(dir).keys.get(5)?.localEpoch).toBe(4);
  const size = readSidecarText(dir).length;
  expect(truncateFile(sidecarPath(dir), { by: 10 })).toBe(size - 10);
  expect(() => readSidecar(dir)).toThrow();
  restoreSidecar(dir, copy);
  flipFileByte(sidecarPath(dir), 0);
  expect(() => readSidecar(dir)).toThrow();
  restoreSidecar(dir, copy);

  // The node restarts on the edited directory and serves the offline edits (without --encryption
  // a sidecar would make it refuse to start: SIDECAR_PRESENT_WITHOUT_FLAG).
  rmSync(join(dir, 'encryption'), { recursive: true });
  c.start('n1');
  await c.waitForLeader({ quorum: 1, timeoutMs: 20_000 });
  expect(await call(c, 'GET', 'b')).toEqual({ type: 'bulk', value: 'alpha' });
  expect(await call(c, 'GET', 'n')).toEqual({ type: 'bulk', value: null });
  await c.kill('n1', 'SIGTERM');

  // after-log-persist: a restarted single node persists its election entry and dies before applying it.
  const before = await readMeta(dir);
  c.start('n1', false, { SEALKV_CRASH_POINTS: CrashPoints.AFTER_LOG_PERSIST });
  c.expectExit('n1');
  expect((await c.waitExit('n1')).signal).toBe('SIGKILL');
  const afterPersist = await logBounds(dir);
  const metaPersist = await readMeta(dir);
  expect(afterPersist!.last).toBeGreaterThan(Number(before.appliedIndex));
  expect(metaPersist.appliedIndex).toBe(before.appliedIndex);

  // after-apply-commit: the next run applies what is durable, commits it, and dies right after.
  c.start('n1', false, { SEALKV_CRASH_POINTS: CrashPoints.AFTER_APPLY_COMMIT });
  c.expectExit('n1');
  expect((await c.waitExit('n1')).signal).toBe('SIGKILL');
  expect((await readMeta(dir)).appliedIndex).toBeGreaterThan(before.appliedIndex);

  c.start('n1');
  await c.waitForLeader({ quorum: 1, timeoutMs: 20_000 });
  expect(await call(c, 'GET', 'a')).toEqual({ type: 'bulk', value: 'alpha' });
}, 60_000);

import { describe, expect, it } from 'vitest';
import { ApplyStore } from '../../src/storage/apply-txn.js';
import type { StorageEnv } from '../../src/storage/env.js';
import { LmdbLogStorage } from '../../src/storage/log-store.js';
import { MetaStore } from '../../src/storage/meta-store.js';
import { RegistryStore } from '../../src/storage/registry-store.js';
import { decodeSnapshotHeader, encodeSnapshotHeader } from '../../src/storage/snapshot-header.js';
import { createSnapshotStream, installSnapshot, recordLocalSnapshot } from '../../src/storage/snapshot.js';
import { bytes, range, testEnvs } from './helpers.js';

const { env } = testEnvs();

const CONF = { voters: ['n1', 'n2', 'n3'], learners: ['n4'] };

/** A source env with a log up to 12 (term 3), applied 12, cutover 5, sidecar 9, N kv records. */
async function source(n = 200, valueBytes = 100): Promise<StorageEnv> {
  const e = await env();
  const log = LmdbLogStorage.open(e);
  await log.persist({ entries: range(1, 12, 3) });
  const store = new ApplyStore(e);
  const b = store.begin();
  for (let i = 0; i < n; i++) b.putKv(bytes(`user:${String(i).padStart(5, '0')}`), new Uint8Array(valueBytes).fill(i & 0xff));
  b.putRegistry(0x01020304, 0xabcd, { fullNodeId: 77n, firstSeenLocalEpoch: 1, lastSeenLocalEpoch: 2 });
  b.setRaftCutoverIndex(5n).setSidecarAppliedIndex(9n).setConfState(CONF);
  await b.commit(12n);
  return e;
}

async function collect(it: AsyncIterable<Uint8Array>): Promise<Uint8Array[]> {
  const out: Uint8Array[] = [];
  for await (const c of it) out.push(new Uint8Array(c));
  return out;
}

function concat(chunks: Uint8Array[]): Uint8Array {
  return new Uint8Array(Buffer.concat(chunks));
}

async function* once(b: Uint8Array, chunk = 1000): AsyncGenerator<Uint8Array> {
  for (let o = 0; o < b.length; o += chunk) yield b.subarray(o, o + chunk);
}

/** Fingerprint of kv + registry + meta, to prove "nothing changed". */
function state(e: StorageEnv): string {
  const parts: string[] = [];
  for (const db of [e.kv, e.registry, e.meta]) {
    for (const { key, value } of db.getRange({})) parts.push(`${Buffer.from(key).toString('hex')}=${Buffer.from(value).toString('hex')}`);
    parts.push('|');
  }
  return parts.join(',');
}

async function target(): Promise<StorageEnv> {
  const e = await env();
  const store = new ApplyStore(e);
  await store.begin().putKv(bytes('stale'), bytes('x')).setConfState({ voters: ['z'], learners: [] }).commit(3n);
  return e;
}

describe('snapshot header (SH-1, SH-3)', () => {
  const h = { raftEnvelopeCutoverIndex: 5n, sidecarAppliedIndex: 9n, lastIndex: 12n, lastTerm: 3n, conf: CONF };

  it('SH-1: carries format_version 1, cutover, sidecar_applied_index, last index/term and membership, big-endian', () => {
    const b = encodeSnapshotHeader(h);
    expect(Buffer.from(b.subarray(0, 2)).toString('hex')).toBe('0001');
    expect(Buffer.from(b).readUInt32BE(2)).toBe(b.length);
    expect(Buffer.from(b.subarray(6, 14)).toString('hex')).toBe('0000000000000005');
    expect(decodeSnapshotHeader(b)).toEqual({ formatVersion: 1, ...h });
  });

  it('SH-3: version 2 fails with SNAPSHOT_HEADER_VERSION', async () => {
    const b = encodeSnapshotHeader(h);
    b[1] = 2;
    expect(() => decodeSnapshotHeader(b)).toThrow(expect.objectContaining({ code: 'SNAPSHOT_HEADER_VERSION' }));
    const t = await target();
    const before = state(t);
    await expect(installSnapshot(t, once(b))).rejects.toMatchObject({ code: 'SNAPSHOT_HEADER_VERSION' });
    expect(state(t)).toBe(before);
  });

  it('SH-3: a header cut short by one byte fails with SNAPSHOT_HEADER_MALFORMED (and changes nothing)', async () => {
    const b = encodeSnapshotHeader(h);
    const short = b.subarray(0, b.length - 1);
    expect(() => decodeSnapshotHeader(short)).toThrow(expect.objectContaining({ code: 'SNAPSHOT_HEADER_MALFORMED' }));
    const t = await target();
    const before = state(t);
    await expect(installSnapshot(t, once(short))).rejects.toMatchObject({ code: 'SNAPSHOT_HEADER_MALFORMED' });
    expect(state(t)).toBe(before);
  });

  it('SH-3: a declared length out of bounds or a conf state overrunning it is SNAPSHOT_HEADER_MALFORMED', () => {
    const b = encodeSnapshotHeader(h);
    const small = new Uint8Array(b);
    Buffer.from(small.buffer).writeUInt32BE(10, 2);
    expect(() => decodeSnapshotHeader(small)).toThrow(expect.objectContaining({ code: 'SNAPSHOT_HEADER_MALFORMED' }));
    const huge = new Uint8Array(b);
    Buffer.from(huge.buffer).writeUInt32BE(0x7fffffff, 2);
    expect(() => decodeSnapshotHeader(huge)).toThrow(expect.objectContaining({ code: 'SNAPSHOT_HEADER_MALFORMED' }));
    const conf = new Uint8Array(b);
    Buffer.from(conf.buffer).writeUInt32BE(b.length, 38);
    expect(() => decodeSnapshotHeader(conf)).toThrow(expect.objectContaining({ code: 'SNAPSHOT_HEADER_MALFORMED' }));
  });

  it('SH-3: a version-1 header with extra advisory bytes is accepted', () => {
    const b = encodeSnapshotHeader(h, bytes('future advisory field'));
    expect(decodeSnapshotHeader(b)).toEqual({ formatVersion: 1, ...h });
  });
});

describe('snapshot stream', () => {
  it('round-trips kv + registry + SH-1 meta into a fresh env, in chunks ≤ chunkBytes', async () => {
    const src = await source(300, 1000);
    const s = createSnapshotStream(src, { chunkBytes: 16 * 1024 });
    expect(s.header).toMatchObject({ lastIndex: 12n, lastTerm: 3n, raftEnvelopeCutoverIndex: 5n, sidecarAppliedIndex: 9n, conf: CONF });
    const chunks = await collect(s.chunks);
    expect(chunks.length).toBeGreaterThan(10);
    for (const c of chunks) expect(c.length).toBeLessThanOrEqual(16 * 1024);

    const dst = await target();
    const h = await installSnapshot(dst, once(concat(chunks), 7777));
    expect(h.lastIndex).toBe(12n);
    expect(dst.kv.get(bytes('stale'))).toBeUndefined();
    expect(dst.kv.getCount()).toBe(300);
    for (const { key, value } of src.kv.getRange({})) expect(Buffer.compare(dst.kv.get(key) as Buffer, value)).toBe(0);
    expect(new RegistryStore(dst.registry).get(0x01020304, 0xabcd)).toEqual({ fullNodeId: 77n, firstSeenLocalEpoch: 1, lastSeenLocalEpoch: 2 });
    const meta = new MetaStore(dst.meta);
    expect(meta.appliedIndex()).toBe(12n);
    expect(meta.raftCutoverIndex()).toBe(5n);
    expect(meta.sidecarAppliedIndex()).toBe(9n);
    expect(meta.confState()).toEqual(CONF);
    expect(meta.snapshotMeta()).toEqual({ index: 12, term: 3, conf: CONF, raftEnvelopeCutoverIndex: 5n, sidecarAppliedIndex: 9n });
    expect(dst.staging.getCount()).toBe(0);

    // The log store then resets its log to the snapshot and keeps the SH-1 fields.
    const log = LmdbLogStorage.open(dst);
    await log.persist({ snapshot: { index: 12, term: 3, conf: CONF } });
    expect([log.firstIndex(), log.lastIndex(), log.term(12)]).toEqual([13, 12, 3]);
    expect(log.snapshotMeta().raftEnvelopeCutoverIndex).toBe(5n);
  });

  it('is a point-in-time view: writes after the stream opened are not in it', async () => {
    const src = await source(10);
    const s = createSnapshotStream(src);
    await new ApplyStore(src).begin().putKv(bytes('later'), bytes('x')).commit(13n);
    const chunks = await collect(s.chunks);
    const dst = await env();
    const h = await installSnapshot(dst, once(concat(chunks)));
    expect(h.lastIndex).toBe(12n);
    expect(dst.kv.get(bytes('later'))).toBeUndefined();
    expect(dst.kv.getCount()).toBe(10);
  });

  it('a damaged body, a bad checksum, trailing bytes or a truncated stream change nothing', async () => {
    const src = await source(50);
    const good = concat(await collect(createSnapshotStream(src).chunks));
    const t = await target();
    const before = state(t);
    const flipped = new Uint8Array(good);
    flipped[good.length - 200] ^= 1;
    const trailing = concat([good, new Uint8Array([0])]);
    for (const bad of [flipped, good.subarray(0, good.length - 1), good.subarray(0, good.length - 300), trailing]) {
      await expect(installSnapshot(t, once(bad))).rejects.toMatchObject({ code: 'SNAPSHOT_CORRUPT' });
      expect(state(t)).toBe(before);
      expect(t.staging.getCount()).toBe(0);
    }
  });

  it('the check hook sees the header first; refusing there changes nothing', async () => {
    const src = await source(5);
    const good = concat(await collect(createSnapshotStream(src).chunks));
    const t = await target();
    const before = state(t);
    const refusal = Object.assign(new Error('sidecar behind'), { code: 'SIDECAR_BEHIND_RAFT_LOG' });
    await expect(
      installSnapshot(t, once(good), {
        check: (h) => {
          expect(h.sidecarAppliedIndex).toBe(9n);
          throw refusal;
        },
      }),
    ).rejects.toBe(refusal);
    expect(state(t)).toBe(before);
  });

  it('recordLocalSnapshot records applied index, its term and the SH-1 copies', async () => {
    const src = await source(3);
    const m = await recordLocalSnapshot(src);
    expect(m).toEqual({ index: 12, term: 3, conf: CONF, raftEnvelopeCutoverIndex: 5n, sidecarAppliedIndex: 9n });
    const log = LmdbLogStorage.open(src);
    await log.compact(12);
    expect(log.snapshot().meta).toEqual({ index: 12, term: 3, conf: CONF });
    // After compaction the stream still finds the applied term (from the snapshot point).
    const s = createSnapshotStream(src);
    expect(s.header.lastTerm).toBe(3n);
    s.close();
  });
});

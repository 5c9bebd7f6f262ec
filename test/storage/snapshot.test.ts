import { describe, expect, it } from 'vitest';
import { ApplyStore } from '../../src/storage/apply-txn.js';
import type { StorageEnv } from '../../src/storage/env.js';
import { LmdbLogStorage } from '../../src/storage/log-store.js';
import { MetaStore } from '../../src/storage/meta-store.js';
import { RegistryStore } from '../../src/storage/registry-store.js';
import {
  decodeSnapshotHeader,
  encodeEncryptionState,
  encodeSnapshotHeader,
  type SnapshotEncryptionState,
} from '../../src/storage/snapshot-header.js';
import { chooseHeaderCutover, createSnapshotStream, installSnapshot, recordLocalSnapshot, stagedRegistryRow } from '../../src/storage/snapshot.js';
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

const ENC: SnapshotEncryptionState = {
  storageEnvelopeActive: true,
  storageEnvelopeCutoverIndex: 7n,
  activeStorage: 11,
  activeRaft: 12,
  keys: [
    { keyId: 3, purpose: 1, wrapped: new Uint8Array(60).fill(3) },
    { keyId: 11, purpose: 1, wrapped: new Uint8Array(60).fill(11) },
    { keyId: 12, purpose: 2, wrapped: new Uint8Array(60).fill(12) },
  ],
};

type HeaderFields = Parameters<typeof encodeSnapshotHeader>[0];

/** The same header as an older (v1) writer wrote it: no encryption section. */
function v1Header(h: HeaderFields): Uint8Array {
  const b = encodeSnapshotHeader(h);
  const confLen = Buffer.from(b).readUInt32BE(38);
  const out = new Uint8Array(b.length - 4);
  out.set(b.subarray(0, 42 + confLen), 0);
  out.set(b.subarray(42 + confLen + 4), 42 + confLen);
  Buffer.from(out.buffer).writeUInt16BE(1, 0);
  Buffer.from(out.buffer).writeUInt32BE(out.length, 2);
  return out;
}

/** A v2 header whose encryption section is `section` (raw bytes). */
function withSection(h: HeaderFields, section: Uint8Array): Uint8Array {
  const b = encodeSnapshotHeader(h);
  const confLen = Buffer.from(b).readUInt32BE(38);
  const out = new Uint8Array(b.length + section.length);
  out.set(b.subarray(0, 42 + confLen), 0);
  Buffer.from(out.buffer).writeUInt32BE(section.length, 42 + confLen);
  out.set(section, 42 + confLen + 4);
  Buffer.from(out.buffer).writeUInt32BE(out.length, 2);
  return out;
}

function mutateSection(section: Uint8Array, f: (s: Uint8Array) => void): Uint8Array {
  const c = new Uint8Array(section);
  f(c);
  return c;
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

  it('SH-1: carries format_version 2, cutover, sidecar_applied_index, last index/term and membership, big-endian', () => {
    const b = encodeSnapshotHeader(h);
    expect(Buffer.from(b.subarray(0, 2)).toString('hex')).toBe('0002');
    expect(Buffer.from(b).readUInt32BE(2)).toBe(b.length);
    expect(Buffer.from(b.subarray(6, 14)).toString('hex')).toBe('0000000000000005');
    expect(Buffer.from(b.subarray(14, 22)).toString('hex')).toBe('0000000000000009');
    expect(decodeSnapshotHeader(b)).toEqual({ formatVersion: 2, encryption: null, ...h });
  });

  it('SH-3: version 3 fails with SNAPSHOT_HEADER_VERSION (and changes nothing)', async () => {
    const b = encodeSnapshotHeader(h);
    b[1] = 3;
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

  it('SH-3: a version-2 header with extra advisory bytes is accepted', () => {
    const b = encodeSnapshotHeader(h, bytes('future advisory field'));
    expect(decodeSnapshotHeader(b)).toEqual({ formatVersion: 2, encryption: null, ...h });
    const withState = encodeSnapshotHeader({ ...h, encryption: ENC }, bytes('future advisory field'));
    expect(decodeSnapshotHeader(withState).encryption).toEqual(ENC);
  });

  it('SH-3: a version-1 header (no encryption section) is still read, and says nothing of the state', () => {
    expect(decodeSnapshotHeader(v1Header(h))).toEqual({ formatVersion: 1, ...h });
    expect(decodeSnapshotHeader(v1Header(h)).encryption).toBeUndefined();
  });

  it('issue 11 item 7: the v2 encryption section round-trips the wrapped DEKs, active ids and flags', () => {
    const b = encodeSnapshotHeader({ ...h, encryption: ENC });
    const d = decodeSnapshotHeader(b);
    expect(d.encryption).toEqual(ENC);
    expect(d.raftEnvelopeCutoverIndex).toBe(5n);
  });

  it('SH-3: a v2 header without its required encryption section, or with a malformed one, is SNAPSHOT_HEADER_MALFORMED', async () => {
    // The section length field cut off: the header ends right after the conf state.
    const full = encodeSnapshotHeader(h);
    const noSection = new Uint8Array(full.subarray(0, full.length - 4));
    Buffer.from(noSection.buffer).writeUInt32BE(noSection.length, 2);
    expect(() => decodeSnapshotHeader(noSection)).toThrow(expect.objectContaining({ code: 'SNAPSHOT_HEADER_MALFORMED' }));
    const t = await target();
    const before = state(t);
    await expect(installSnapshot(t, once(noSection))).rejects.toMatchObject({ code: 'SNAPSHOT_HEADER_MALFORMED' });
    expect(state(t)).toBe(before);
    const section = encodeEncryptionState(ENC);
    for (const bad of [
      mutateSection(section, (s) => {
        s[0] = 2; // unknown flag bit
      }),
      mutateSection(section, (s) => {
        s[21 + 4] = 3; // purpose of the first key
      }),
      mutateSection(section, (s) => {
        Buffer.from(s.buffer, s.byteOffset).writeUInt32BE(99, 9); // active storage names no key
      }),
      section.subarray(0, section.length - 1), // truncated key
      section.subarray(0, 10),
    ]) {
      expect(() => decodeSnapshotHeader(withSection(h, bad))).toThrow(expect.objectContaining({ code: 'SNAPSHOT_HEADER_MALFORMED' }));
    }
    // A section declared longer than the header.
    const over = encodeSnapshotHeader({ ...h, encryption: ENC });
    const confLen = Buffer.from(over).readUInt32BE(38);
    Buffer.from(over.buffer).writeUInt32BE(over.length, 42 + confLen);
    expect(() => decodeSnapshotHeader(over)).toThrow(expect.objectContaining({ code: 'SNAPSHOT_HEADER_MALFORMED' }));
  });
});

describe('SH-1: the encryption state travels from meta through the stream into meta', () => {
  it('SH-1: the header takes the meta copies from the read transaction; install stores them and the staged registry rows are readable before the swap', async () => {
    const src = await source(20);
    await src.writes.submitOps([new MetaStore(src.meta).opEncryptionState(encodeEncryptionState(ENC))]);
    const s = createSnapshotStream(src);
    expect(s.header).toMatchObject({ formatVersion: 2, raftEnvelopeCutoverIndex: 5n, sidecarAppliedIndex: 9n, encryption: ENC });
    const chunks = await collect(s.chunks);
    const dst = await target();
    const seen: (Uint8Array | undefined)[] = [];
    const h = await installSnapshot(dst, once(concat(chunks)), {
      staged: async () => {
        seen.push(stagedRegistryRow(dst, 0x01020304, 0xabcd), stagedRegistryRow(dst, 0x01020304, 0x0001));
      },
    });
    expect(h.encryption).toEqual(ENC);
    expect(seen[0]).toBeDefined();
    expect(new RegistryStore(dst.registry).get(0x01020304, 0xabcd)).toEqual({ fullNodeId: 77n, firstSeenLocalEpoch: 1, lastSeenLocalEpoch: 2 });
    expect(seen[1]).toBeUndefined();
    const meta = new MetaStore(dst.meta);
    expect(Buffer.from(meta.encryptionStateBytes()).equals(Buffer.from(encodeEncryptionState(ENC)))).toBe(true);
    expect(meta.snapshotMeta()).toMatchObject({ index: 12, raftEnvelopeCutoverIndex: 5n, sidecarAppliedIndex: 9n });
  });

  it('SH-1: a throwing staged hook (the sidecar rebuild refused) installs nothing', async () => {
    const src = await source(20);
    const chunks = await collect(createSnapshotStream(src).chunks);
    const dst = await target();
    const before = state(dst);
    await expect(
      installSnapshot(dst, once(concat(chunks)), {
        staged: async () => {
          throw new Error('KEK_MISMATCH');
        },
      }),
    ).rejects.toThrow('KEK_MISMATCH');
    expect(state(dst)).toBe(before);
  });

  it('SH-1: the apply store commits the encryption copies with the applied index', async () => {
    const e = await env();
    const store = new ApplyStore(e);
    await store.commitBatch([], 4n, undefined, { raftCutoverIndex: 0n, sidecarAppliedIndex: 4n, state: encodeEncryptionState(ENC) });
    const meta = new MetaStore(e.meta);
    expect([meta.appliedIndex(), meta.sidecarAppliedIndex(), meta.raftCutoverIndex()]).toEqual([4n, 4n, 0n]);
    expect(createSnapshotStream(e, { termOf: () => 1 }).header.encryption).toEqual(ENC);
  });
});

describe('SH-4: the header never downgrades the cutover', () => {
  it('SH-4: a snapshot with cutover 5 carries 5; with meta at 0 after the process saw 5 it still carries 5 and an error is logged', async () => {
    expect(chooseHeaderCutover(5n, 5n, 5n)).toEqual({ cutover: 5n, error: null });
    expect(chooseHeaderCutover(0n, 0n, 0n)).toEqual({ cutover: 0n, error: null });
    const dropped = chooseHeaderCutover(0n, 5n, 0n);
    expect(dropped.cutover).toBe(5n);
    expect(dropped.error).toMatch(/SH-4/);
    // A cutover seen after the snapshot's last index is not part of its state (issue 14, node-sim seed 64).
    expect(chooseHeaderCutover(0n, 5n, 5n, 4n)).toEqual({ cutover: 0n, error: null });
    expect(chooseHeaderCutover(0n, 5n, 0n, 5n).cutover).toBe(5n);
    const src = await source();
    const errors: string[] = [];
    const s = createSnapshotStream(src, { cutoverSeen: () => ({ seen: 5n, sidecar: 5n }), onCutoverError: (m) => errors.push(m) });
    expect(s.header.raftEnvelopeCutoverIndex).toBe(5n);
    s.close();
    expect(errors).toEqual([]);
  });

  it('SH-4: force the sidecar to 0 and snapshot again: the header still carries 5 and an error is logged', async () => {
    const src = await source();
    const errors: string[] = [];
    const s = createSnapshotStream(src, { cutoverSeen: () => ({ seen: 5n, sidecar: 0n }), onCutoverError: (m) => errors.push(m) });
    expect(s.header.raftEnvelopeCutoverIndex).toBe(5n);
    const chunks = await collect(s.chunks);
    expect(decodeSnapshotHeader(concat(chunks)).raftEnvelopeCutoverIndex).toBe(5n);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/sidecar's raft cutover reads 0/);
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

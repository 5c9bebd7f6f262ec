import { afterEach, describe, expect, it } from 'vitest';
import { type StorageEnv, openStorageEnv } from '../../src/storage/env.js';
import { KvStore } from '../../src/storage/kv-store.js';
import {
  MetaStore,
  decodeHardState,
  decodeSnapshotMeta,
  encodeHardState,
  encodeSnapshotMeta,
} from '../../src/storage/meta-store.js';
import {
  RegistryStore,
  decodeRegistryKey,
  decodeRegistryValue,
  encodeRegistryValue,
  registryKey,
} from '../../src/storage/registry-store.js';
import { bytes, tempDirs, text } from './helpers.js';

const dirs = tempDirs();
const envs: StorageEnv[] = [];
async function env(): Promise<StorageEnv> {
  const e = await openStorageEnv(dirs.make());
  envs.push(e);
  return e;
}
afterEach(async () => {
  for (const e of envs.splice(0)) await e.close().catch(() => undefined);
  dirs.cleanup();
});
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

describe('registry rows (WR-2)', () => {
  it('WR-2: registryKey(0x01020304, 0xABCD) is 01 02 03 04 AB CD', () => {
    expect(hex(registryKey(0x01020304, 0xabcd))).toBe('01020304abcd');
    expect(decodeRegistryKey(registryKey(0x01020304, 0xabcd))).toEqual({ dekId: 0x01020304, nodeId16: 0xabcd });
  });

  it('WR-2: value is full_node_id u64 BE ‖ first u16 BE ‖ last u16 BE (12 bytes)', () => {
    const row = { fullNodeId: 0x3d7d39905abb79c3n, firstSeenLocalEpoch: 2, lastSeenLocalEpoch: 0xfffe };
    const v = encodeRegistryValue(row);
    expect(hex(v)).toBe('3d7d39905abb79c30002fffe');
    expect(decodeRegistryValue(v)).toEqual(row);
  });

  it('WR-2: keys of other sizes → REGISTRY_KEY_MALFORMED; values of other sizes → REGISTRY_VALUE_MALFORMED', () => {
    expect(() => decodeRegistryKey(new Uint8Array(5))).toThrow(expect.objectContaining({ code: 'REGISTRY_KEY_MALFORMED' }));
    expect(() => decodeRegistryKey(new Uint8Array(7))).toThrow(expect.objectContaining({ code: 'REGISTRY_KEY_MALFORMED' }));
    expect(() => decodeRegistryValue(new Uint8Array(11))).toThrow(expect.objectContaining({ code: 'REGISTRY_VALUE_MALFORMED' }));
    expect(() => decodeRegistryValue(new Uint8Array(13))).toThrow(expect.objectContaining({ code: 'REGISTRY_VALUE_MALFORMED' }));
  });

  it('WR-2: reading a stored row whose value is 11 bytes fails (never "missing")', async () => {
    const e = await env();
    await e.durable(e.registry.put(registryKey(7, 0x79c3), new Uint8Array(11)));
    const reg = new RegistryStore(e.registry);
    expect(() => reg.get(7, 0x79c3)).toThrow(expect.objectContaining({ code: 'REGISTRY_VALUE_MALFORMED' }));
    expect(reg.get(7, 0x79c4)).toBeUndefined();
  });

  it('stores rows and lists the rows of one DEK by prefix', async () => {
    const e = await env();
    const reg = new RegistryStore(e.registry);
    const row = (n: bigint) => ({ fullNodeId: n, firstSeenLocalEpoch: 1, lastSeenLocalEpoch: 3 });
    await e.writes.submitTxn(() => {
      reg.stagePut(5, 2, row(2n));
      reg.stagePut(5, 1, row(1n));
      reg.stagePut(6, 0, row(9n));
      reg.stagePut(4, 0xffff, row(8n));
    });
    expect(reg.get(5, 1)).toEqual(row(1n));
    expect(reg.rowsForDek(5).map((r) => [r.dekId, r.nodeId16, r.fullNodeId])).toEqual([
      [5, 1, 1n],
      [5, 2, 2n],
    ]);
    expect(reg.all().length).toBe(4);
  });
});

describe('kv table accessors', () => {
  it('get/put/delete raw bytes, scan pages with a key cursor, count', async () => {
    const e = await env();
    const kv = new KvStore(e.kv);
    await e.writes.submitTxn(() => {
      for (let i = 0; i < 25; i++) kv.stagePut(bytes(`k${String(i).padStart(2, '0')}`), new Uint8Array([i, 0xff]));
    });
    expect(Array.from(kv.get(bytes('k03')) as Uint8Array)).toEqual([3, 0xff]);
    expect(kv.get(bytes('nope'))).toBeUndefined();
    expect(kv.count()).toBe(25);
    const seen: string[] = [];
    let start: Uint8Array | undefined;
    for (;;) {
      const page = kv.scan({ start, limit: 10 });
      seen.push(...page.records.map((r) => text(r.key)));
      if (page.next === null) break;
      start = page.next;
    }
    expect(seen.length).toBe(25);
    expect(seen[0]).toBe('k00');
    expect(seen[24]).toBe('k24');
    await e.writes.submitTxn(() => {
      expect(kv.stageDelete(bytes('k00'))).toBe(true);
      expect(kv.stageDelete(bytes('k00'))).toBe(false);
    });
    expect(kv.count()).toBe(24);
    expect(() => kv.stagePut(new Uint8Array(0), new Uint8Array(1))).toThrow(expect.objectContaining({ code: 'KV_KEY_INVALID' }));
  });
});

describe('meta codecs', () => {
  it('hard state round-trips, big-endian, with and without a vote', () => {
    const hs = { term: 0x0102, vote: 'n1', commit: 5 };
    const b = encodeHardState(hs);
    expect(hex(b.subarray(0, 17))).toBe('0000000000000102000000000000000501');
    expect(decodeHardState(b)).toEqual(hs);
    expect(decodeHardState(encodeHardState({ term: 1, vote: null, commit: 0 }))).toEqual({ term: 1, vote: null, commit: 0 });
    expect(() => decodeHardState(new Uint8Array(16))).toThrow(expect.objectContaining({ code: 'META_MALFORMED' }));
  });

  it('snapshot meta keeps the SH-1 fields; a missing cutover stays distinguishable from 0', () => {
    const m = {
      index: 9,
      term: 2,
      conf: { voters: ['a', 'b'], learners: ['c'] },
      raftEnvelopeCutoverIndex: 5n,
      sidecarAppliedIndex: 18446744073709551615n,
    };
    expect(decodeSnapshotMeta(encodeSnapshotMeta(m))).toEqual(m);
    const none = { ...m, raftEnvelopeCutoverIndex: null };
    expect(decodeSnapshotMeta(encodeSnapshotMeta(none)).raftEnvelopeCutoverIndex).toBeNull();
  });

  it('applied index is a bigint at the API and defaults to 0n', async () => {
    const e = await env();
    const meta = new MetaStore(e.meta);
    expect(meta.appliedIndex()).toBe(0n);
    await e.writes.submitTxn(() => meta.stageAppliedIndex(2n ** 60n));
    expect(meta.appliedIndex()).toBe(2n ** 60n);
  });
});

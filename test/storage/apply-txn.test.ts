import { describe, expect, it } from 'vitest';
import { ApplyStore } from '../../src/storage/apply-txn.js';
import { MetaStore } from '../../src/storage/meta-store.js';
import { encodeRegistryValue, registryKey } from '../../src/storage/registry-store.js';
import { bytes, testEnvs, text } from './helpers.js';

const { dirs, envs, env } = testEnvs();

describe('ApplyStore / ApplyBatch', () => {
  it('commits kv + registry + meta copies + applied index in one transaction, durable across reopen', async () => {
    const dir = dirs.make();
    const e = await env(dir);
    const store = new ApplyStore(e);
    const b = store.begin();
    for (let i = 0; i < 100; i++) b.putKv(bytes(`key${i}`), bytes(`val${i}`));
    b.putRegistry(1, 2, { fullNodeId: 3n, firstSeenLocalEpoch: 1, lastSeenLocalEpoch: 1 });
    b.setRaftCutoverIndex(5n).setSidecarAppliedIndex(4n).setConfState({ voters: ['n1'], learners: [] });
    const before = e.writes.groups;
    await b.commit(7n);
    expect(e.writes.groups - before).toBe(1);
    expect(store.durableAppliedIndex()).toBe(7n);
    await e.close();
    envs.splice(0);
    const e2 = await env(dir);
    const meta = new MetaStore(e2.meta);
    expect([meta.appliedIndex(), meta.raftCutoverIndex(), meta.sidecarAppliedIndex()]).toEqual([7n, 5n, 4n]);
    expect(meta.confState()).toEqual({ voters: ['n1'], learners: [] });
    const s2 = new ApplyStore(e2);
    expect(s2.appliedIndex()).toBe(7n);
    expect(text(s2.getKv(bytes('key42')) as Uint8Array)).toBe('val42');
    expect(s2.getRegistry(1, 2)).toEqual({ fullNodeId: 3n, firstSeenLocalEpoch: 1, lastSeenLocalEpoch: 1 });
  });

  it('read-your-writes inside a batch and across batches still committing', async () => {
    const e = await env();
    const store = new ApplyStore(e);
    const b1 = store.begin().putKv(bytes('a'), bytes('1'));
    expect(text(b1.getKv(bytes('a')) as Uint8Array)).toBe('1');
    const p1 = b1.commit(1n);
    // b1 is not committed yet; b2 must still see its write, and its delete.
    const b2 = store.begin();
    expect(text(b2.getKv(bytes('a')) as Uint8Array)).toBe('1');
    b2.deleteKv(bytes('a')).putKv(bytes('b'), bytes('2'));
    expect(b2.getKv(bytes('a'))).toBeUndefined();
    const p2 = b2.commit(2n);
    expect(store.getKv(bytes('a'))).toBeUndefined();
    expect(store.appliedIndex()).toBe(2n);
    await Promise.all([p1, p2]);
    expect(store.durableAppliedIndex()).toBe(2n);
    expect(e.kv.get(bytes('a'))).toBeUndefined();
    expect(text(store.getKv(bytes('b')) as Uint8Array)).toBe('2');
  });

  it('copies caller buffers at put time', async () => {
    const e = await env();
    const store = new ApplyStore(e);
    const v = bytes('orig');
    const b = store.begin().putKv(bytes('k'), v);
    v.fill(0);
    await b.commit(1n);
    expect(text(e.kv.get(bytes('k')) as Uint8Array)).toBe('orig');
  });

  it('a failed commit halts further applies (the in-memory view is ahead of disk)', async () => {
    const e = await env();
    const store = new ApplyStore(e);
    await store.begin().putKv(bytes('x'), bytes('old')).commit(1n);
    const b = store.begin().putKv(bytes('x'), bytes('new'));
    // Inject a write failure: the environment's batch refuses (as on a closed or broken env).
    const realBatch = e.root.batch.bind(e.root);
    e.root.batch = (() => Promise.reject(new Error('injected disk failure'))) as typeof e.root.batch;
    await expect(b.commit(2n)).rejects.toMatchObject({ code: 'STORAGE_IO', index: 2n });
    e.root.batch = realBatch;
    expect(text(e.kv.get(bytes('x')) as Uint8Array)).toBe('old');
    expect(new MetaStore(e.meta).appliedIndex()).toBe(1n);
    expect(store.durableAppliedIndex()).toBe(1n);
    expect(() => store.begin()).toThrow(expect.objectContaining({ code: 'STORAGE_IO' }));
  });

  it('an invalid key is refused when it is added, before anything is queued', async () => {
    const e = await env();
    const store = new ApplyStore(e);
    const b = store.begin().putKv(bytes('ok'), bytes('1'));
    expect(() => b.putKv(new Uint8Array(2000), bytes('v'))).toThrow(expect.objectContaining({ code: 'KV_KEY_INVALID' }));
    await b.commit(1n);
    expect(e.kv.getCount()).toBe(1);
  });

  it('the applied index never moves back; equal is allowed (WR-2 early registry commit)', async () => {
    const e = await env();
    const store = new ApplyStore(e);
    await store.begin().commit(5n);
    await store.begin().putRegistry(1, 1, { fullNodeId: 1n, firstSeenLocalEpoch: 0, lastSeenLocalEpoch: 0 }).commit(5n);
    await expect(store.begin().commit(4n)).rejects.toMatchObject({ code: 'APPLY_ORDER' });
    expect(() => store.begin().putKv(new Uint8Array(0), bytes('v'))).toThrow(expect.objectContaining({ code: 'KV_KEY_INVALID' }));
  });

  it('commitBatch: the node pipeline shape (table/key/value writes + applied index) in one durable transaction', async () => {
    const e = await env();
    const store = new ApplyStore(e);
    const rk = registryKey(9, 0x79c3);
    const rv = encodeRegistryValue({ fullNodeId: 5n, firstSeenLocalEpoch: 0, lastSeenLocalEpoch: 1 });
    const before = e.writes.groups;
    await store.commitBatch(
      [
        { table: 'kv', key: bytes('a'), value: bytes('1') },
        { table: 'kv', key: bytes('gone'), value: null },
        { table: 'registry', key: rk, value: rv },
      ],
      10n,
    );
    expect(e.writes.groups - before).toBe(1);
    expect(text(store.get('kv', bytes('a')) as Uint8Array)).toBe('1');
    expect(Buffer.from(store.get('registry', rk) as Uint8Array).equals(Buffer.from(rv))).toBe(true);
    expect(new MetaStore(e.meta).appliedIndex()).toBe(10n);
    expect(() => store.get('registry', new Uint8Array(5))).toThrow(expect.objectContaining({ code: 'REGISTRY_KEY_MALFORMED' }));
  });

  it('commitBatch validates every write first: one bad write and nothing of the batch is stored', async () => {
    const e = await env();
    const store = new ApplyStore(e);
    const bad = [
      { table: 'registry' as const, key: registryKey(1, 1), value: new Uint8Array(11) },
      { table: 'registry' as const, key: new Uint8Array(7), value: new Uint8Array(12) },
      { table: 'kv' as const, key: new Uint8Array(0), value: bytes('v') },
    ];
    const codes = ['REGISTRY_VALUE_MALFORMED', 'REGISTRY_KEY_MALFORMED', 'KV_KEY_INVALID'];
    for (let i = 0; i < bad.length; i++) {
      await expect(store.commitBatch([{ table: 'kv', key: bytes('first'), value: bytes('x') }, bad[i]], 1n)).rejects.toMatchObject({
        code: codes[i],
      });
    }
    await e.writes.idle();
    expect(e.kv.getCount()).toBe(0);
    expect(new MetaStore(e.meta).appliedIndex()).toBe(0n);
    expect(store.appliedIndex()).toBe(0n);
  });
});

// KM-8 epoch bump before any nonce, KM-10 exhaustion, KM-14 (no nonce before the bumped sidecar is fsynced).
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { NonceFactory, parseNonce } from '../../src/crypto/envelope/nonce.js';
import { testNonceFactory } from '../crypto/helpers/nonce-factory.js';
import { bumpAndPinEpochs, checkEpochExhaustion, isPersistedEpoch, planEpochBump } from '../../src/keys/epochs.js';
import { emptySidecar, type Sidecar } from '../../src/keys/sidecar-schema.js';
import { SidecarStore } from '../../src/keys/sidecar-store.js';
import { bootstrappedSidecar, codeOf, codeOfSync, testKek, tmp } from './helpers.js';

const kek = testKek();

function withEpoch(s: Sidecar, keyId: number, localEpoch: number): Sidecar {
  const keys = new Map(s.keys);
  keys.set(keyId, { ...keys.get(keyId)!, localEpoch });
  return { ...s, keys };
}

describe('KM-8 local_epoch bump', () => {
  it('KM-8: two consecutive starts leave the active epochs at n+1 then n+2 on disk, and the first nonces of the two loads differ in bytes 2–3', async () => {
    const d = tmp();
    const path = join(d, 'keys.json');
    await new SidecarStore(path).write(bootstrappedSidecar(kek, { epoch: 7 }));
    const firstNonces: Uint8Array[] = [];
    for (const expected of [8, 9]) {
      const store = new SidecarStore(path); // a new process load
      const r = await bumpAndPinEpochs(store, await store.read(), 0x79c3);
      const onDisk = (await new SidecarStore(path).read())!;
      expect(onDisk.keys.get(onDisk.active.storage)!.localEpoch).toBe(expected);
      expect(onDisk.keys.get(onDisk.active.raft)!.localEpoch).toBe(expected);
      expect(r.pinned.storage).toEqual({ purpose: 'storage', nodeId16: 0x79c3, localEpoch: expected, keyId: onDisk.active.storage });
      expect(r.pinned.raft).toEqual({ purpose: 'raft', nodeId16: 0x79c3, localEpoch: expected, keyId: onDisk.active.raft });
      firstNonces.push(testNonceFactory(r.pinned.storage.nodeId16, r.pinned.storage.localEpoch).next());
      expect(r.tokens.storage).toMatchObject({ purpose: 'storage', nodeId16: 0x79c3, localEpoch: expected });
    }
    expect(parseNonce(firstNonces[0]!).epoch).toBe(8);
    expect(parseNonce(firstNonces[1]!).epoch).toBe(9);
    expect(Buffer.from(firstNonces[0]!.subarray(2, 4)).equals(Buffer.from(firstNonces[1]!.subarray(2, 4)))).toBe(false);
  });

  it('KM-8: only active keys are bumped; inactive (rotated-out) keys keep their epoch', async () => {
    const s = bootstrappedSidecar(kek, { epoch: 3, extra: [[555, 'storage']] });
    const plan = planEpochBump(s, 1);
    expect(plan.sidecar!.keys.get(555)!.localEpoch).toBe(3);
    expect(plan.sidecar!.keys.get(s.active.storage)!.localEpoch).toBe(4);
    // The input is not mutated.
    expect(s.keys.get(s.active.storage)!.localEpoch).toBe(3);
  });

  it('KM-8: a purpose with no active DEK (before bootstrap) is pinned at epoch 0 and nothing is written', async () => {
    const d = tmp();
    const steps: string[] = [];
    const store = new SidecarStore(join(d, 'keys.json'), { onWriteStep: (s) => void steps.push(s) });
    const none = await bumpAndPinEpochs(store, undefined, 5);
    expect(none.pinned.storage).toEqual({ purpose: 'storage', nodeId16: 5, localEpoch: 0, keyId: 0 });
    expect(none.pinned.raft.localEpoch).toBe(0);
    const store2 = new SidecarStore(join(d, 'keys.json'), { onWriteStep: (s) => void steps.push(s) });
    const empty = await bumpAndPinEpochs(store2, emptySidecar(), 5);
    expect(empty.pinned.raft).toEqual({ purpose: 'raft', nodeId16: 5, localEpoch: 0, keyId: 0 });
    expect(steps).toEqual([]);
  });

  it('KM-14: the bumped sidecar is durable (directory fsync done) before the pinned epochs are returned, so no nonce can precede it', async () => {
    const d = tmp();
    const path = join(d, 'keys.json');
    await new SidecarStore(path).write(bootstrappedSidecar(kek, { epoch: 1 }));
    const events: string[] = [];
    const store = new SidecarStore(path, { onWriteStep: (step, phase) => void (phase === 'after' && events.push(step)) });
    const pending = bumpAndPinEpochs(store, await store.read(), 9).then((r) => {
      events.push('pinned');
      // The factory is built from the returned token only (KM-8: minted after the fsync).
      const f = NonceFactory.fromPersistedEpoch(r.tokens.raft);
      expect(f.epoch).toBe(r.pinned.raft.localEpoch);
      f.next();
      events.push('first-nonce');
      return r;
    });
    await pending;
    expect(events.indexOf('fsync-file')).toBeLessThan(events.indexOf('fsync-dir'));
    expect(events.indexOf('fsync-dir')).toBeLessThan(events.indexOf('pinned'));
    expect(events.slice(-2)).toEqual(['pinned', 'first-nonce']);
  });

  it('KM-8/KM-14: only records returned by bumpAndPinEpochs count as persisted (the single source of nonce-factory seeds)', async () => {
    const d = tmp();
    const path = join(d, 'keys.json');
    const s = bootstrappedSidecar(kek, { epoch: 1 });
    await new SidecarStore(path).write(s);
    const planned = planEpochBump(s, 9);
    expect(isPersistedEpoch(planned.pinned.storage)).toBe(false);
    expect(isPersistedEpoch({ purpose: 'raft', nodeId16: 9, localEpoch: 2, keyId: s.active.raft })).toBe(false);
    const store = new SidecarStore(path);
    const r = await bumpAndPinEpochs(store, await store.read(), 9);
    expect(isPersistedEpoch(r.pinned.storage)).toBe(true);
    expect(isPersistedEpoch(r.pinned.raft)).toBe(true);
    expect(Object.isFrozen(r.pinned.raft)).toBe(true);
  });

  it('KM-8: a failed persist pins nothing (the promise rejects with the sidecar code)', async () => {
    const d = tmp();
    const path = join(d, 'keys.json');
    await new SidecarStore(path).write(bootstrappedSidecar(kek, { epoch: 1 }));
    const store = new SidecarStore(path, { onWriteStep: (step) => { if (step === 'fsync-file') throw new Error('EIO'); } });
    expect(await codeOf(() => bumpAndPinEpochs(store, bootstrappedSidecar(kek, { epoch: 1 }), 9))).toBe('SIDECAR_IO');
  });

  it('KM-8: a factory never changes its epoch within a load — a second bump on the same store is refused', async () => {
    const d = tmp();
    const store = new SidecarStore(join(d, 'keys.json'));
    await bumpAndPinEpochs(store, undefined, 1);
    await expect(bumpAndPinEpochs(store, undefined, 1)).rejects.toThrow(/already bumped/);
  });
});

describe('KM-10 local_epoch exhaustion', () => {
  it('KM-10: an active raft DEK at 0xFFFF refuses to start with LOCAL_EPOCH_EXHAUSTED; the same epoch on an inactive key does not', () => {
    const s = bootstrappedSidecar(kek, { epoch: 5, extra: [[777, 'raft']] });
    expect(codeOfSync(() => checkEpochExhaustion(withEpoch(s, s.active.raft, 0xffff)))).toBe('LOCAL_EPOCH_EXHAUSTED');
    expect(codeOfSync(() => planEpochBump(withEpoch(s, s.active.storage, 0xffff), 1))).toBe('LOCAL_EPOCH_EXHAUSTED');
    expect(codeOfSync(() => checkEpochExhaustion(withEpoch(s, 777, 0xffff)))).toBe('no error');
    expect(codeOfSync(() => checkEpochExhaustion(withEpoch(s, s.active.raft, 0xfffe)))).toBe('no error');
  });

  it('KM-10: an active key at 0xFF01 starts and logs a warning naming key_id, purpose and epoch', () => {
    const s = withEpoch(bootstrappedSidecar(kek, { epoch: 5 }), 19088743, 0xff00);
    const plan = planEpochBump(s, 1);
    expect(plan.pinned.raft.localEpoch).toBe(0xff01);
    expect(plan.warnings).toHaveLength(1);
    expect(plan.warnings[0]).toMatch(/raft DEK key_id 19088743 is at local_epoch 65281/);
    expect(planEpochBump(bootstrappedSidecar(kek, { epoch: 0xfeff }), 1).warnings).toEqual([]);
  });
});

// The packed envelope paths of a node (issue 11 throughput): storage seals collected per apply
// batch, raft wraps and raft unwraps built in the cipher's packed layout and run through the
// crypto pool inline (one backend call) or in a worker. Both pool paths must give exactly the bytes
// of the per-item reference functions for the same nonces (CK-4), and fail with the same typed
// errors.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Aead } from '../../src/crypto/aead.js';
import { decodeProposal } from '../../src/crypto/envelope/proposal.js';
import { unwrapRaft, wrapRaft, wrapRaftBatch } from '../../src/crypto/envelope/raft.js';
import { openValue, sealValue } from '../../src/crypto/envelope/storage.js';
import { loadAead } from '../../src/crypto/index.js';
import { Keystore } from '../../src/crypto/keystore.js';
import { PoolRaftUnwrapper } from '../../src/encryption/pool-raft-unwrapper.js';
import { PackScratch } from '../../src/encryption/pack-scratch.js';
import { buildRaftWrap } from '../../src/encryption/raft-wrap.js';
import { EncryptionStateCell } from '../../src/encryption/state-cell.js';
import { SealingValueCodec } from '../../src/encryption/value-codec.js';
import { IntegrityError, SealkvError } from '../../src/errors.js';
import { emptySidecar } from '../../src/keys/sidecar-schema.js';
import { InlineRaftUnwrapper } from '../../src/node/raft-unwrapper.js';
import { CryptoPool } from '../../src/pool/index.js';
import { testNonceFactory } from '../crypto/helpers/nonce-factory.js';

const STORAGE = 7;
const RAFT = 12;
let aead: Aead;
let keystore: Keystore;
const pools: Record<'inline' | 'worker', CryptoPool | null> = { inline: null, worker: null };

beforeAll(async () => {
  aead = await loadAead('native');
  keystore = new Keystore();
  keystore.set(STORAGE, new Uint8Array(32).fill(3));
  keystore.set(RAFT, new Uint8Array(32).fill(9));
  pools.inline = await CryptoPool.create({ backend: 'native', workers: 1, inlineThreshold: Number.POSITIVE_INFINITY });
  pools.worker = await CryptoPool.create({ backend: 'native', workers: 1, inlineThreshold: 0 });
  pools.inline.followKeystore(keystore);
  pools.worker.followKeystore(keystore);
});
afterAll(async () => {
  await Promise.all([pools.inline?.close(), pools.worker?.close()]);
});

const enc = new TextEncoder();
/** Values of awkward sizes: empty, one byte, around a block, the slab limit and above it. */
const SIZES = [0, 1, 15, 16, 17, 256, 4000, 4097, 70000];
const bytesFor = (i: number, n: number) => Uint8Array.from({ length: n }, (_, k) => (i * 31 + k) & 0xff);

function activeState(): EncryptionStateCell {
  return new EncryptionStateCell({ ...emptySidecar(), storageEnvelopeActive: true, storageEnvelopeCutoverIndex: 1n, active: { storage: STORAGE, raft: RAFT } });
}

describe.each(['inline', 'worker'] as const)('packed paths through the pool (%s)', (where) => {
  it('SE-1/SE-2/SE-6/KM-9: a batch of storage seals (its nonces reserved in one step, in item order) equals sealValue record for record, reads back inside the batch, and opens after finishBatch', async () => {
    const pool = pools[where]!;
    const codec = new SealingValueCodec(aead, keystore, activeState(), testNonceFactory(0x0102, 3), pool);
    const reference = testNonceFactory(0x0102, 3);
    const keys = SIZES.map((_, i) => enc.encode(`key:${i}`));
    const values = SIZES.map((n, i) => bytesFor(i, n));
    const records = SIZES.map((_, i) => codec.encodeRecord(keys[i]!, { tombstone: false, expireAt: BigInt(i) }, values[i]!));
    // The caller's buffers may change right after encodeRecord: the batch holds its own copies.
    for (const v of values) v.reverse();
    for (const v of values) v.reverse();
    // Read-your-writes before the seal (SE-6: the batch's own writes are visible to later commands).
    records.forEach((r, i) => {
      expect(codec.decodeFromStore(keys[i]!, r).value).toEqual(values[i]);
    });
    await codec.finishBatch();
    records.forEach((r, i) => {
      const ref = sealValue(aead, keystore, STORAGE, reference.next(), keys[i]!, values[i]!, BigInt(i));
      expect(Buffer.from(r).equals(Buffer.from(ref))).toBe(true);
      expect(openValue(aead, keystore, keys[i]!, r).value).toEqual(values[i]);
      expect(codec.decodeFromStore(keys[i]!, r).value).toEqual(values[i]);
    });
  });

  it('SE-6: a batch the pool cannot seal rejects; no record holds the cleartext and none opens', async () => {
    const pool = pools[where]!;
    const ks = new Keystore();
    ks.set(STORAGE + 100, new Uint8Array(32).fill(5)); // never installed in the pool
    const state = new EncryptionStateCell({ ...emptySidecar(), storageEnvelopeActive: true, storageEnvelopeCutoverIndex: 1n, active: { storage: STORAGE + 100, raft: RAFT } });
    const codec = new SealingValueCodec(aead, ks, state, testNonceFactory(0x0103, 1), pool);
    const secret = enc.encode('cleartext-needle-0123456789');
    const rec = codec.encodeRecord(enc.encode('k'), { tombstone: false, expireAt: 0n }, secret);
    await expect(codec.finishBatch()).rejects.toMatchObject({ code: 'UNKNOWN_KEY_ID' });
    expect(Buffer.from(rec).includes(Buffer.from(secret))).toBe(false);
    expect(() => openValue(aead, ks, enc.encode('k'), rec)).toThrow(SealkvError);
  });

  it('RE-1/RE-2/RE-4/PF-2: the wrap of a proposal batch equals wrapRaftBatch for the same nonces; envelopes are views of one buffer; a wrong-typed payload is BAD_INPUT_TYPE', async () => {
    const pool = pools[where]!;
    const wrap = buildRaftWrap({ aead, keystore, nonces: testNonceFactory(0x0a0b, 2), sealer: pool, registered: () => true, scratch: new PackScratch() }, RAFT);
    const reference = testNonceFactory(0x0a0b, 2);
    const payloads = SIZES.map((n, i) => bytesFor(i + 7, n));
    const envs = await wrap(payloads, 'user');
    const ref = wrapRaftBatch(aead, keystore, RAFT, payloads.map((payload) => ({ nonce: reference.next(), payload })));
    envs.forEach((e, i) => {
      expect(Buffer.from(e).equals(Buffer.from(ref[i]!))).toBe(true);
      expect(unwrapRaft(aead, keystore, e)).toEqual(payloads[i]);
      expect(e.buffer).toBe(envs[0]!.buffer);
    });
    await expect(wrap([enc.encode('ok'), 'not bytes' as unknown as Uint8Array], 'user')).rejects.toMatchObject({ code: 'BAD_INPUT_TYPE' });
    // The proposer's header is not part of the envelope; a wrapped proposal still decodes (PE-5).
    expect(decodeProposal(Uint8Array.of(1, 0, 0, 0, 0, 0, 0, 0, 1, ...envs[1]!)).payload).toEqual(envs[1]);
  });

  it('EH-8/RE-6/CK-3: the unwrap of a mixed batch equals the inline opener item by item; a failed tag carries the backend cause; plaintexts never alias the envelopes', async () => {
    const pool = pools[where]!;
    const nonces = testNonceFactory(0x0c0d, 1);
    const envs = SIZES.map((n, i) => wrapRaft(aead, keystore, RAFT, nonces.next(), bytesFor(i, n)));
    envs[1] = envs[1]!.slice();
    envs[1]![envs[1]!.length - 1]! ^= 1; // tag flip → INTEGRITY
    envs[3] = envs[3]!.slice();
    envs[3]![5] = 99; // key_id → UNKNOWN_KEY_ID
    envs[5] = envs[5]!.subarray(0, 20); // ENVELOPE_SHORT
    envs[6] = envs[6]!.slice();
    envs[6]![0] = 2; // ENVELOPE_VERSION
    const got = await new PoolRaftUnwrapper(aead, keystore, pool).unwrapBatch(envs);
    const want = await new InlineRaftUnwrapper(aead, keystore).unwrapBatch(envs);
    const show = (r: unknown) => (r instanceof SealkvError ? r.code : Buffer.from((r as { payload: Uint8Array }).payload).toString('hex'));
    expect(got.map(show)).toEqual(want.map(show));
    expect(got.map((r) => (r instanceof SealkvError ? r.code : 'ok'))).toEqual(['ok', 'INTEGRITY', 'ok', 'UNKNOWN_KEY_ID', 'ok', 'ENVELOPE_SHORT', 'ENVELOPE_VERSION', 'ok', 'ok']);
    expect(got[1]).toBeInstanceOf(IntegrityError);
    expect((got[1] as IntegrityError).cause).toBeInstanceOf(Error);
    for (const r of got) if (!(r instanceof SealkvError)) for (const e of envs) expect(r.payload.buffer).not.toBe(e.buffer);
  });
});

describe('pool metrics', () => {
  it('the inline pool ran its batches inline and the worker pool in workers', () => {
    expect(pools.inline!.metrics.inlineBatches).toBeGreaterThan(0);
    expect(pools.inline!.metrics.poolBatches).toBe(0);
    expect(pools.worker!.metrics.poolBatches).toBeGreaterThan(0);
  });
});

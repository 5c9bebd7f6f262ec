// SE-5/SE-6/SE-8/SE-9/SE-10 for the node's sealing codec: cleartext until the published switch,
// sealed after it (key- and header-bound), old values readable, tampering a typed error (never
// the raw bytes), decrypt failures counted.
import { describe, expect, it } from 'vitest';
import { loadAead } from '../../src/crypto/index.js';
import { Keystore } from '../../src/crypto/keystore.js';
import { SealingValueCodec } from '../../src/encryption/value-codec.js';
import { EncryptionStateCell } from '../../src/encryption/state-cell.js';
import { emptySidecar } from '../../src/keys/sidecar-schema.js';
import { joinRecord } from '../../src/node/fsm/value-codec.js';
import { testNonceFactory } from '../crypto/helpers/nonce-factory.js';

const b = (s: string) => new Uint8Array(Buffer.from(s));

async function setup() {
  const aead = await loadAead('node');
  const ks = new Keystore();
  ks.set(7, new Uint8Array(32).fill(3));
  const state = new EncryptionStateCell({ ...emptySidecar(), active: { storage: 7, raft: 8 } });
  const codec = new SealingValueCodec(aead, ks, state, testNonceFactory(0x1234, 1));
  const store = (key: string, value: string, expireAt = 0n) => {
    const { header, body } = codec.encodeForStore(b(key), { tombstone: false, expireAt }, b(value));
    return joinRecord(header, body);
  };
  return { codec, state, store };
}

describe('SealingValueCodec', () => {
  it('SE-10: cleartext before the published switch; sealed with the active storage DEK after it; both read back', async () => {
    const { codec, state, store } = await setup();
    const before = store('k', 'old-value');
    expect(Buffer.from(before).includes(Buffer.from('old-value'))).toBe(true);
    state.publish({ ...state.sidecar()!, storageEnvelopeActive: true, storageEnvelopeCutoverIndex: 5n });
    const after = store('k2', 'new-value', 99n);
    expect(Buffer.from(after).includes(Buffer.from('new-value'))).toBe(false);
    expect((after[0]! >> 1) & 0b11).toBe(0b01);
    expect(Buffer.from(after).readUInt32BE(9 + 2)).toBe(7);
    expect(Buffer.from(codec.decodeFromStore(b('k'), before).value).toString()).toBe('old-value');
    const d = codec.decodeFromStore(b('k2'), after);
    expect(Buffer.from(d.value).toString()).toBe('new-value');
    expect(d.header.expireAt).toBe(99n);
    expect(codec.counters.writesPerDek.get(7)).toBe(1);
  });

  it('SE-8/AS-21: a record moved to another key, an edited header or a flipped ciphertext byte is ENCRYPTED_READ_INTEGRITY, counted', async () => {
    const { codec, state, store } = await setup();
    state.publish({ ...state.sidecar()!, storageEnvelopeActive: true, storageEnvelopeCutoverIndex: 5n });
    const rec = store('k1', 'secret');
    expect(() => codec.decodeFromStore(b('k2'), rec)).toThrow(expect.objectContaining({ code: 'ENCRYPTED_READ_INTEGRITY' }));
    const expiry = rec.slice();
    expiry[8] ^= 1;
    expect(() => codec.decodeFromStore(b('k1'), expiry)).toThrow(expect.objectContaining({ code: 'ENCRYPTED_READ_INTEGRITY' }));
    const flipped = rec.slice();
    flipped[flipped.length - 20] ^= 0x40;
    expect(() => codec.decodeFromStore(b('k1'), flipped)).toThrow(expect.objectContaining({ code: 'ENCRYPTED_READ_INTEGRITY' }));
    const reserved = rec.slice();
    reserved[0] = 0x08;
    expect(() => codec.decodeFromStore(b('k1'), reserved)).toThrow(expect.objectContaining({ code: 'ENCRYPTED_VALUE_RESERVED_STATE' }));
    expect(codec.counters.decryptFailures.get('ENCRYPTED_READ_INTEGRITY')).toBe(3);
    expect(codec.counters.decryptFailures.get('ENCRYPTED_VALUE_RESERVED_STATE')).toBe(1);
  });

  it('SE-9: a sealed record relabelled as cleartext (state 01 → 00) is refused, not returned raw', async () => {
    const { codec, state, store } = await setup();
    state.publish({ ...state.sidecar()!, storageEnvelopeActive: true, storageEnvelopeCutoverIndex: 5n });
    const rec = store('k1', 'secret');
    const relabelled = rec.slice();
    relabelled[0] = 0x00;
    expect(() => codec.decodeFromStore(b('k1'), relabelled)).toThrow(expect.objectContaining({ code: 'ENCRYPTED_READ_INTEGRITY' }));
  });
});

describe('SealingValueCodec with the crypto pool (one round trip per apply batch)', () => {
  it('SE-6/DESIGN §2: records of a batch read back inside the batch before sealing, are sealed by finishBatch in the pool, and open afterwards', async () => {
    const { CryptoPool } = await import('../../src/pool/index.js');
    const aead = await loadAead('node');
    const ks = new Keystore();
    ks.set(7, new Uint8Array(32).fill(3));
    const pool = await CryptoPool.create({ backend: 'node', workers: 1, inlineThreshold: 0 });
    try {
      pool.followKeystore(ks);
      const state = new EncryptionStateCell({ ...emptySidecar(), active: { storage: 7, raft: 8 }, storageEnvelopeActive: true, storageEnvelopeCutoverIndex: 3n });
      const codec = new SealingValueCodec(aead, ks, state, testNonceFactory(0x1234, 1), pool);
      const recs = ['a', 'b', 'c'].map((k) => codec.encodeRecord(b(k), { tombstone: false, expireAt: 0n }, b(`value-${k}-0123456789`)));
      // Read-your-writes inside the batch, before the seal.
      expect(Buffer.from(codec.decodeFromStore(b('b'), recs[1]!).value).toString()).toBe('value-b-0123456789');
      await codec.finishBatch();
      expect(pool.metrics.poolBatches).toBe(1);
      for (const [i, k] of ['a', 'b', 'c'].entries()) {
        expect(Buffer.from(recs[i]!).includes(Buffer.from(`value-${k}`))).toBe(false);
        expect(Buffer.from(codec.decodeFromStore(b(k), recs[i]!).value).toString()).toBe(`value-${k}-0123456789`);
      }
      expect(() => codec.decodeFromStore(b('a'), recs[1]!)).toThrow(expect.objectContaining({ code: 'ENCRYPTED_READ_INTEGRITY' }));
    } finally {
      await pool.close();
    }
  });

  it('SE-5/SE-8 (issue 10 item 4): MGET-sized and large reads open in the pool; a tampered record still fails with its typed error; small single reads stay inline', async () => {
    const { CryptoPool } = await import('../../src/pool/index.js');
    const aead = await loadAead('node');
    const ks = new Keystore();
    ks.set(7, new Uint8Array(32).fill(3));
    const pool = await CryptoPool.create({ backend: 'node', workers: 1, inlineThreshold: 0 });
    try {
      pool.followKeystore(ks);
      const state = new EncryptionStateCell({ ...emptySidecar(), active: { storage: 7, raft: 8 }, storageEnvelopeActive: true, storageEnvelopeCutoverIndex: 3n });
      const codec = new SealingValueCodec(aead, ks, state, testNonceFactory(0x1234, 1), pool);
      const seal = (k: string, v: Uint8Array) => {
        const { header, body } = codec.encodeForStore(b(k), { tombstone: false, expireAt: 0n }, v);
        return joinRecord(header, body);
      };
      const keys = Array.from({ length: 10 }, (_, i) => `key-${i}`);
      const recs = keys.map((k) => seal(k, b(`value of ${k}`)));
      const tampered = recs[3]!.slice();
      tampered[tampered.length - 1]! ^= 1;
      const items = keys.map((k, i) => ({ key: b(k), record: i === 3 ? tampered : recs[i]! }));
      const before = pool.metrics.poolBatches;
      await codec.preopen(items);
      expect(pool.metrics.poolBatches).toBe(before + 1);
      for (const [i, k] of keys.entries()) {
        if (i === 3) expect(() => codec.decodeFromStore(b(k), tampered)).toThrow(expect.objectContaining({ code: 'ENCRYPTED_READ_INTEGRITY' }));
        else expect(Buffer.from(codec.decodeFromStore(b(k), recs[i]!).value).toString()).toBe(`value of ${k}`);
      }
      // One large value goes to the pool on its own; a small single read does not.
      const big = new Uint8Array(64 * 1024).fill(0x61);
      const bigRec = seal('big', big);
      await codec.preopen([{ key: b('big'), record: bigRec }]);
      expect(pool.metrics.poolBatches).toBe(before + 2);
      expect(Buffer.from(codec.decodeFromStore(b('big'), bigRec).value).equals(Buffer.from(big))).toBe(true);
      await codec.preopen([{ key: b('key-0'), record: recs[0]! }]);
      expect(pool.metrics.poolBatches).toBe(before + 2);
    } finally {
      await pool.close();
    }
  });
});

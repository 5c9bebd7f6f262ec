// EH-8 / RE-6 in the crypto pool: a batch of raft envelopes under two DEKs, with a corrupted, an
// unknown-key and a bad-flag item, opens in worker threads with the same per-item results as the
// inline opener; plaintexts are fresh buffers.
import { afterAll, describe, expect, it } from 'vitest';
import { NonceFactory } from '../../src/crypto/envelope/nonce.js';
import { TEST_ONLY_ACCESS } from '../../src/crypto/envelope/nonce-internal.js';
import { wrapRaft } from '../../src/crypto/envelope/raft.js';
import { loadAead } from '../../src/crypto/index.js';
import { Keystore } from '../../src/crypto/keystore.js';
import { PoolRaftUnwrapper } from '../../src/encryption/pool-raft-unwrapper.js';
import { SealkvError } from '../../src/errors.js';
import { generateDek } from '../../src/keys/dek-wrap.js';
import { InlineRaftUnwrapper } from '../../src/node/raft-unwrapper.js';
import { CryptoPool } from '../../src/pool/index.js';

let pool: CryptoPool | null = null;
afterAll(async () => {
  await pool?.close();
});

describe('PoolRaftUnwrapper', () => {
  it('EH-8/RE-6: worker-pool unwrap of a mixed batch equals the inline results item by item', async () => {
    const aead = await loadAead('node');
    const keystore = new Keystore();
    keystore.set(12, generateDek());
    keystore.set(13, generateDek());
    pool = await CryptoPool.create({ backend: 'node', workers: 1, inlineThreshold: 0 });
    const unfollow = pool.followKeystore(keystore);
    const nonces = NonceFactory[TEST_ONLY_ACCESS](0x0101, 1);
    const enc = new TextEncoder();
    const envs = Array.from({ length: 8 }, (_, i) => wrapRaft(aead, keystore, i % 2 === 0 ? 12 : 13, nonces.next(), enc.encode(`payload-${i}`)));
    envs[2] = envs[2]!.slice();
    envs[2]![25]! ^= 1; // ciphertext flip → INTEGRITY
    envs[4] = envs[4]!.slice();
    envs[4]![5] = 99; // key_id 12 → 99 → UNKNOWN_KEY_ID
    envs[6] = envs[6]!.slice();
    envs[6]![1] = 1; // flag → ENVELOPE_FLAG
    const viaPool = await new PoolRaftUnwrapper(aead, keystore, pool).unwrapBatch(envs);
    const inline = await new InlineRaftUnwrapper(aead, keystore).unwrapBatch(envs);
    const show = (r: unknown) => (r instanceof SealkvError ? r.code : new TextDecoder().decode((r as { payload: Uint8Array }).payload));
    expect(viaPool.map(show)).toEqual(inline.map(show));
    expect(viaPool.map(show)).toEqual(['payload-0', 'payload-1', 'INTEGRITY', 'payload-3', 'UNKNOWN_KEY_ID', 'payload-5', 'ENVELOPE_FLAG', 'payload-7']);
    const p0 = (viaPool[0] as { payload: Uint8Array }).payload;
    expect(p0.buffer).not.toBe(envs[0]!.buffer);
    expect(pool.metrics.poolBatches).toBeGreaterThan(0);
    unfollow();
  });
});

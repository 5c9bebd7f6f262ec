// Property tests of the pool's task format and executor, run inline (no worker needed): the
// packed path must agree byte for byte with the crypto-core envelope functions (PF-5, CK-4).
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { unwrapRaftBatch, wrapRaft } from '../../src/crypto/envelope/raft.js';
import { sealValue } from '../../src/crypto/envelope/storage.js';
import { loadAead } from '../../src/crypto/index.js';
import { Keystore } from '../../src/crypto/keystore.js';
import { type ExecutorKeys, executeTask } from '../../src/pool/execute.js';
import {
  H_BATCH_STATUS,
  OP_OPEN,
  OP_SEAL,
  packReseal,
  packSealOpen,
  RS_ENV_LEN,
  RS_FIELDS,
  RS_PLAIN,
  RS_STORE,
  ST_ENVELOPE_FLAG,
  ST_ENVELOPE_SHORT,
  ST_ENVELOPE_VERSION,
  ST_INTEGRITY,
  ST_OK,
  ST_UNKNOWN_KEY_ID,
  sealOpenViews,
  viewTask,
} from '../../src/pool/task-format.js';
import { testNonceFactory } from '../crypto/helpers/nonce-factory.js';

const ks = new Keystore();
ks.set(1, randomBytes(32));
ks.set(2, randomBytes(32));
ks.set(3, randomBytes(32));
const keys: ExecutorKeys = { refresh: () => 0, get: (id) => ks.get(id), loadedKeyIds: () => ks.loadedKeyIds() };

const STATUS_CODE: Record<number, string> = {
  [ST_INTEGRITY]: 'INTEGRITY',
  [ST_ENVELOPE_SHORT]: 'ENVELOPE_SHORT',
  [ST_ENVELOPE_VERSION]: 'ENVELOPE_VERSION',
  [ST_ENVELOPE_FLAG]: 'ENVELOPE_FLAG',
  [ST_UNKNOWN_KEY_ID]: 'UNKNOWN_KEY_ID',
};

const item = fc.record({
  nonce: fc.uint8Array({ minLength: 12, maxLength: 12 }),
  aad: fc.uint8Array({ maxLength: 40 }),
  data: fc.uint8Array({ maxLength: 300 }),
});

describe('pool executor (inline)', () => {
  it('seal then open through task buffers equals per-item seal/open, in order', async () => {
    const aead = await loadAead('node');
    const key = ks.get(1)!;
    fc.assert(
      fc.property(fc.array(item, { maxLength: 20 }), (items) => {
        const t = packSealOpen(OP_SEAL, 1, 0, items);
        const out = executeTask(t.buffer, aead, keys);
        expect(t.header[H_BATCH_STATUS]).toBe(0);
        const sealed = sealOpenViews(t, out);
        sealed.forEach((s, i) => {
          const it = items[i]!;
          expect(Buffer.from(s)).toEqual(Buffer.from(aead.seal(key, it.nonce, it.aad, it.data)));
        });
        // The plaintext copy in the (recyclable) task buffer was wiped.
        expect(t.input.every((b) => b === 0)).toBe(true);
        const o = packSealOpen(OP_OPEN, 1, 0, items.map((it, i) => ({ ...it, data: sealed[i]! })));
        const oout = executeTask(o.buffer, aead, keys);
        const opened = sealOpenViews(o, oout);
        opened.forEach((p, i) => {
          expect(o.status[i]).toBe(ST_OK);
          expect(Buffer.from(p)).toEqual(Buffer.from(items[i]!.data));
        });
      }),
      { numRuns: 60 },
    );
  });

  it('reseal agrees with unwrapRaftBatch and sealValue, including mutated envelopes', async () => {
    const aead = await loadAead('node');
    const raftNonces = testNonceFactory(7, 1);
    const entry = fc.record({
      payload: fc.uint8Array({ maxLength: 200 }),
      raftKey: fc.constantFrom(1, 2),
      storageKey: fc.uint8Array({ maxLength: 24 }),
      expireAt: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
      // Optional mutation: byte position (mod length) and xor mask, or truncation.
      mutate: fc.option(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 }), fc.boolean())),
    });
    fc.assert(
      fc.property(fc.array(entry, { minLength: 1, maxLength: 12 }), (entries) => {
        const storeNonces = testNonceFactory(9, 2);
        const envs = entries.map((e) => {
          let env = wrapRaft(aead, ks, e.raftKey, raftNonces.next(), e.payload);
          if (e.mutate) {
            const [pos, mask, truncate] = e.mutate;
            env = truncate ? env.subarray(0, pos % (env.length + 1)) : Uint8Array.from(env);
            if (!truncate) env[pos % env.length]! ^= mask;
          }
          return env;
        });
        const nonces = entries.map(() => storeNonces.next());
        const headers = entries.map((e) => {
          const rec = sealValue(aead, ks, 3, nonces[0]!, new Uint8Array(0), new Uint8Array(0), e.expireAt);
          return rec.subarray(0, 9);
        });
        const t = packReseal(
          3,
          0,
          envs.map((envelope, i) => ({ envelope, storageKey: entries[i]!.storageKey, valueHeader: headers[i]!, nonce: nonces[i]! })),
        );
        const out = new Uint8Array(executeTask(t.buffer, aead, keys));
        const back = viewTask(t.buffer);
        const expected = unwrapRaftBatch(aead, ks, envs);
        expected.forEach((exp, i) => {
          const d = i * RS_FIELDS;
          if (exp instanceof Uint8Array) {
            expect(back.status[i]).toBe(ST_OK);
            const p = back.desc[d + RS_PLAIN]!;
            expect(Buffer.from(out.subarray(p, p + exp.length))).toEqual(Buffer.from(exp));
            const s = back.desc[d + RS_STORE]!;
            const env = out.subarray(s, s + back.desc[d + RS_ENV_LEN]!);
            const rec = sealValue(aead, ks, 3, nonces[i]!, entries[i]!.storageKey, exp, entries[i]!.expireAt);
            expect(Buffer.from(env)).toEqual(Buffer.from(rec.subarray(9)));
          } else {
            // Same RE-6 code as the crypto-core unwrap.
            expect(STATUS_CODE[back.status[i]!]).toBe(exp.code);
          }
        });
      }),
      { numRuns: 60 },
    );
  });
});

// Issue 8 item 1 (follow-up): the batch fast path read a view's `length` property after its check.
// An own `length` accessor that tells the truth to the check and lies afterwards turned a 4-byte
// nonce into a 12-byte one padded with zeros (native sealBatch accepted it), and an AAD or data
// field into a longer one. Lengths must come from the intrinsic byteLength: a short nonce is
// refused with a typed error; an AAD or data field is sealed with exactly its own bytes.

import { createCipheriv, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { BatchItem } from '../../src/crypto/aead.js';
import { SealkvError } from '../../src/errors.js';
import { CryptoPool } from '../../src/pool/crypto-pool.js';
import { loadBackends, need } from './helpers/backends.js';

const KEY = new Uint8Array(randomBytes(32));
const NONCE = new Uint8Array(randomBytes(12));
const AAD = new Uint8Array([5, 6, 7]);
const DATA = new Uint8Array(randomBytes(40));

/** A copy of `bytes` whose own `length` accessor is truthful for two reads, then says `lie`. */
function lying(bytes: Uint8Array, lie: number): Uint8Array {
  let reads = 0;
  const v = bytes.slice();
  Object.defineProperty(v, 'length', { get: () => (reads++ < 2 ? bytes.length : lie) });
  return v;
}

function reference(): string {
  const c = createCipheriv('aes-256-gcm', KEY, NONCE);
  c.setAAD(AAD);
  return Buffer.concat([c.update(DATA), c.final(), c.getAuthTag()]).toString('hex');
}

function sealOne(run: (items: BatchItem[]) => Uint8Array[], item: BatchItem): string | SealkvError {
  try {
    return Buffer.from(run([item])[0]!).toString('hex');
  } catch (e) {
    expect(e).toBeInstanceOf(SealkvError);
    return e as SealkvError;
  }
}

const slots = await loadBackends();

describe('issue 8 item 1: a length accessor that lies after the check changes nothing in sealBatch', () => {
  for (const [name, slot] of slots) {
    it(`${name}: a 4-byte nonce whose length later reads 12 is refused`, (ctx) => {
      const aead = need(ctx, slot);
      const r = sealOne((its) => aead.sealBatch(KEY, its), { nonce: lying(NONCE.subarray(0, 4), 12), aad: AAD, data: DATA });
      expect(r).toBeInstanceOf(SealkvError);
    });
    it(`${name}: AAD and data are sealed with exactly their own bytes`, (ctx) => {
      const aead = need(ctx, slot);
      for (const item of [
        { nonce: NONCE, aad: lying(AAD, 64), data: DATA },
        { nonce: NONCE, aad: AAD, data: lying(DATA, 4096) },
      ]) {
        const r = sealOne((its) => aead.sealBatch(KEY, its), item);
        // A typed refusal is safe too; a result must be the real bytes' ciphertext.
        if (typeof r === 'string') expect(r).toBe(reference());
      }
    });
  }
});

describe('issue 8 item 1: a length accessor that lies after the check changes nothing in openBatch', () => {
  for (const [name, slot] of slots) {
    it(`${name}: each field is opened with exactly its own bytes`, (ctx) => {
      const aead = need(ctx, slot);
      const sealed = Buffer.from(reference(), 'hex');
      for (const item of [
        { nonce: lying(NONCE.subarray(0, 4), 12), aad: AAD, data: sealed },
        { nonce: NONCE, aad: lying(AAD, 64), data: sealed },
        { nonce: NONCE, aad: AAD, data: lying(new Uint8Array(sealed), 4096) },
      ]) {
        let r: unknown;
        try {
          r = aead.openBatch(KEY, [item])[0];
        } catch (e) {
          expect(e).toBeInstanceOf(SealkvError);
          continue;
        }
        if (item.nonce !== NONCE) throw new Error('a 4-byte nonce was accepted');
        expect(r).toBeInstanceOf(Uint8Array);
        expect(Buffer.from(r as Uint8Array).toString('hex')).toBe(Buffer.from(DATA).toString('hex'));
      }
    });
  }
});

describe('issue 8 item 1: a length accessor that lies after the check changes nothing in the pool (inline and worker)', () => {
  for (const inlineThreshold of [Number.POSITIVE_INFINITY, 0]) {
    it(`pool seal, inlineThreshold ${inlineThreshold}`, async () => {
      const p = await CryptoPool.create({ backend: 'node', workers: 1, inlineThreshold });
      try {
        p.installKey(5, KEY);
        await expect(p.seal(5, [{ nonce: lying(NONCE.subarray(0, 4), 12), aad: AAD, data: DATA }])).rejects.toBeInstanceOf(SealkvError);
        for (const item of [
          { nonce: NONCE, aad: lying(AAD, 64), data: DATA },
          { nonce: NONCE, aad: AAD, data: lying(DATA, 4096) },
        ]) {
          const r = await p.seal(5, [item]).catch((e: unknown) => e);
          if (r instanceof Error) expect(r).toBeInstanceOf(SealkvError);
          else expect(Buffer.from((r as Uint8Array[])[0]!).toString('hex')).toBe(reference());
        }
      } finally {
        await p.close();
      }
    });
  }
});

// CK-4 / C-5: any single bit flipped in the nonce, AAD, ciphertext or tag of a sealed item makes
// open fail with INTEGRITY on every backend — single calls, and in a batch exactly that item fails.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BACKENDS, type BatchItem } from '../../src/crypto/index.js';
import { IntegrityError } from '../../src/errors.js';
import { loadBackends, need, pseudoRandomBytes } from './helpers/backends.js';

const slots = await loadBackends();

type Region = 'nonce' | 'aad' | 'ciphertext' | 'tag';

const itemArb = fc.record({
  key: fc.uint8Array({ minLength: 32, maxLength: 32 }),
  nonce: fc.uint8Array({ minLength: 12, maxLength: 12 }),
  aad: fc.uint8Array({ minLength: 0, maxLength: 64 }),
  size: fc.oneof(fc.constantFrom(0, 1, 15, 16, 17), fc.integer({ min: 0, max: 600 })),
  seed: fc.integer(),
  region: fc.constantFrom<Region>('nonce', 'aad', 'ciphertext', 'tag'),
  bit: fc.nat(),
});

interface Tampered {
  nonce: Uint8Array;
  aad: Uint8Array;
  sealed: Uint8Array;
  region: Region;
}

/** Flips one bit in the chosen region (or in the tag when the region is empty, e.g. no AAD). */
function flip(nonce: Uint8Array, aad: Uint8Array, sealed: Uint8Array, region: Region, bit: number): Tampered {
  const n = Uint8Array.from(nonce);
  const a = Uint8Array.from(aad);
  const s = Uint8Array.from(sealed);
  const ctLen = s.length - 16;
  let target: Uint8Array;
  let base = 0;
  let len: number;
  let r = region;
  if (r === 'aad' && a.length === 0) r = 'tag';
  if (r === 'ciphertext' && ctLen === 0) r = 'tag';
  switch (r) {
    case 'nonce':
      target = n;
      len = n.length;
      break;
    case 'aad':
      target = a;
      len = a.length;
      break;
    case 'ciphertext':
      target = s;
      len = ctLen;
      break;
    default:
      target = s;
      base = ctLen;
      len = 16;
  }
  const b = bit % (len * 8);
  target[base + (b >> 3)]! ^= 1 << (b & 7);
  return { nonce: n, aad: a, sealed: s, region: r };
}

describe.each(BACKENDS)('C-5 / CK-4 single-bit tampering, backend %s', (name) => {
  const slot = slots.get(name);

  it('CK-4 any flipped bit in nonce, AAD, ciphertext or tag → INTEGRITY (open)', (ctx) => {
    const aead = need(ctx, slot);
    const seen = new Set<Region>();
    fc.assert(
      fc.property(itemArb, (it) => {
        const pt = pseudoRandomBytes(it.size, it.seed);
        const sealed = aead.seal(it.key, it.nonce, it.aad, pt);
        const t = flip(it.nonce, it.aad, sealed, it.region, it.bit);
        seen.add(t.region);
        let thrown: unknown;
        let result: Uint8Array | undefined;
        try {
          result = aead.open(it.key, t.nonce, t.aad, t.sealed);
        } catch (e) {
          thrown = e;
        }
        expect(result).toBeUndefined();
        expect(thrown).toBeInstanceOf(IntegrityError);
        expect((thrown as IntegrityError).code).toBe('INTEGRITY');
      }),
      { numRuns: 1000 },
    );
    expect([...seen].sort()).toEqual(['aad', 'ciphertext', 'nonce', 'tag']);
  });

  it('CK-4 a batch with one tampered item fails exactly that item (openBatch)', (ctx) => {
    const aead = need(ctx, slot);
    fc.assert(
      fc.property(
        fc.array(itemArb, { minLength: 1, maxLength: 6 }),
        fc.nat(),
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        (items, pick, key) => {
          const victim = pick % items.length;
          const pts = items.map((it) => pseudoRandomBytes(it.size, it.seed));
          const sealed = aead.sealBatch(
            key,
            items.map((it, i) => ({ nonce: it.nonce, aad: it.aad, data: pts[i]! })),
          );
          const batch: BatchItem[] = items.map((it, i) => {
            if (i !== victim) return { nonce: it.nonce, aad: it.aad, data: sealed[i]! };
            const t = flip(it.nonce, it.aad, sealed[i]!, it.region, it.bit);
            return { nonce: t.nonce, aad: t.aad, data: t.sealed };
          });
          const res = aead.openBatch(key, batch);
          expect(res.length).toBe(items.length);
          res.forEach((r, i) => {
            if (i === victim) {
              expect(r).toBeInstanceOf(IntegrityError);
              expect((r as IntegrityError).code).toBe('INTEGRITY');
            } else {
              expect(r).toBeInstanceOf(Uint8Array);
              expect(Buffer.from(r as Uint8Array).equals(Buffer.from(pts[i]!))).toBe(true);
            }
          });
        },
      ),
      { numRuns: 300 },
    );
  });
});

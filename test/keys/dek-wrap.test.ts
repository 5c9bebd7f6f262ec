// KM-2 wrap format, KM-3 DEK generation, KM-4 key_id rules, C-5 fail closed on KEK unwrap.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { KeyError } from '../../src/errors.js';
import {
  checkKeyId,
  generateBootstrapKeyIds,
  generateDek,
  generateKeyId,
  unwrapDek,
  WRAPPED_DEK_BYTES,
  wrapDek,
} from '../../src/keys/dek-wrap.js';
import { bytes32, codeOfSync, seqRandom } from './helpers.js';

describe('KM-2 DEK wrap under the KEK', () => {
  it('KM-2: wrap is nonce(12) ‖ ciphertext(32) ‖ tag(16) = 60 bytes and unwrap round-trips', () => {
    const kek = bytes32(7);
    const dek = generateDek();
    const w = wrapDek(kek, dek);
    expect(w.length).toBe(WRAPPED_DEK_BYTES);
    expect(WRAPPED_DEK_BYTES).toBe(60);
    expect(Buffer.from(unwrapDek(kek, w)).equals(Buffer.from(dek))).toBe(true);
    // The ciphertext is not the DEK.
    expect(Buffer.from(w.subarray(12, 44)).equals(Buffer.from(dek))).toBe(false);
  });

  it('KM-2: every wrap draws a fresh nonce (two wraps of one DEK differ)', () => {
    const kek = bytes32(7);
    const dek = bytes32(9);
    expect(Buffer.from(wrapDek(kek, dek)).equals(Buffer.from(wrapDek(kek, dek)))).toBe(false);
  });

  it('C-5/KM-2: a flipped tag byte, a wrong KEK or a wrong length is KEK_UNWRAP_FAILED and yields no bytes', () => {
    const kek = bytes32(7);
    const w = wrapDek(kek, bytes32(9));
    const flipped = new Uint8Array(w);
    flipped[59] ^= 1;
    let out: Uint8Array | undefined;
    expect(codeOfSync(() => (out = unwrapDek(kek, flipped)))).toBe('KEK_UNWRAP_FAILED');
    expect(out).toBeUndefined();
    expect(codeOfSync(() => unwrapDek(bytes32(8), w))).toBe('KEK_UNWRAP_FAILED');
    expect(codeOfSync(() => unwrapDek(kek, w.subarray(0, 59)))).toBe('KEK_UNWRAP_FAILED');
    expect(codeOfSync(() => unwrapDek(kek, new Uint8Array(61)))).toBe('KEK_UNWRAP_FAILED');
  });

  it('KM-2 (property): any single-bit change of a wrapped DEK fails to unwrap', () => {
    const kek = bytes32(3);
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.integer({ min: 0, max: 60 * 8 - 1 }), (dek, bit) => {
        const w = wrapDek(kek, dek);
        expect(Buffer.from(unwrapDek(kek, w)).equals(Buffer.from(dek))).toBe(true);
        w[bit >> 3] ^= 1 << (bit & 7);
        expect(() => unwrapDek(kek, w)).toThrow(KeyError);
      }),
      { numRuns: 200 },
    );
  });
});

describe('KM-3/KM-4 DEK and key_id generation', () => {
  it('KM-3: a DEK is 32 bytes', () => {
    expect(generateDek().length).toBe(32);
  });

  it('KM-4: key_id 0 and ids already in the sidecar are drawn again', () => {
    // Source yields 0, then 5 (taken), then 6.
    const draws = [
      [0, 0, 0, 0],
      [0, 0, 0, 5],
      [0, 0, 0, 6],
    ];
    let i = 0;
    const rnd = (n: number) => new Uint8Array(draws[i++]!.slice(0, n));
    expect(generateKeyId(new Set([5]), rnd)).toBe(6);
  });

  it('KM-4: the bootstrap ids are non-zero and distinct even when the source repeats', () => {
    const draws = [
      [0, 0, 0, 9],
      [0, 0, 0, 9],
      [0, 0, 0, 10],
    ];
    let i = 0;
    const ids = generateBootstrapKeyIds(new Set(), () => new Uint8Array(draws[i++]!));
    expect(ids).toEqual({ storage: 9, raft: 10 });
  });

  it('KM-4: a source that only yields reserved ids is refused rather than looping', () => {
    expect(() => generateKeyId(new Set(), () => new Uint8Array(4))).toThrow(RangeError);
  });

  it('KM-4: checkKeyId refuses 0 with RESERVED_KEY_ID', () => {
    expect(codeOfSync(() => checkKeyId(0))).toBe('RESERVED_KEY_ID');
    expect(codeOfSync(() => checkKeyId(1))).toBe('no error');
    expect(() => checkKeyId(2 ** 32)).toThrow(RangeError);
  });

  it('KM-4 (property): generated ids are u32, non-zero, and never in the taken set', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.integer({ min: 1, max: 0xffffffff }), { maxLength: 20 }), (taken) => {
        const set = new Set(taken);
        const id = generateKeyId(set, seqRandom(taken.length));
        expect(id).toBeGreaterThan(0);
        expect(id).toBeLessThanOrEqual(0xffffffff);
        expect(set.has(id)).toBe(false);
      }),
    );
  });
});

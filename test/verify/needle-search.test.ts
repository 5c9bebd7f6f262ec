// Issue 11 item 8: the verifier's multi-needle search must find exactly what a brute-force search
// finds, however the stream is cut into chunks (needles straddling chunk boundaries included).

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type NeedleHit, NeedleSet, NeedleStream, naiveSearch } from '../../src/verify/needle-search.js';

function streamSearch(haystack: Uint8Array, needles: Uint8Array[], cuts: number[]): NeedleHit[] {
  const hits: NeedleHit[] = [];
  const s = new NeedleStream(new NeedleSet(needles), (h) => hits.push(h));
  let at = 0;
  for (const c of [...cuts].sort((a, b) => a - b)) {
    const to = Math.min(c, haystack.length);
    if (to < at) continue;
    s.push(haystack.subarray(at, to));
    at = to;
  }
  s.push(haystack.subarray(at));
  return hits;
}

const sorted = (h: NeedleHit[]): NeedleHit[] => [...h].sort((a, b) => a.offset - b.offset || a.needle - b.needle);

describe('verify-at-rest needle search', () => {
  it('property: equals the naive search for any needles and any chunking (small alphabet, many overlaps)', () => {
    // Alphabet {0,1,2} forces overlapping, repeated and prefix-sharing needles of lengths 1..9.
    const bytes = (min: number, max: number) => fc.uint8Array({ minLength: min, maxLength: max, max: 2 });
    fc.assert(
      fc.property(bytes(0, 300), fc.array(bytes(1, 9), { minLength: 1, maxLength: 12 }), fc.array(fc.nat(300), { maxLength: 20 }), (hay, needles, cuts) => {
        expect(sorted(streamSearch(hay, needles, cuts))).toEqual(naiveSearch(hay, needles));
      }),
      { numRuns: 400 },
    );
  });

  it('property: equals the naive search with needles of 4+ bytes (the skipping Wu-Manber path), small alphabet', () => {
    const bytes = (min: number, max: number) => fc.uint8Array({ minLength: min, maxLength: max, max: 1 });
    fc.assert(
      fc.property(bytes(0, 400), fc.array(bytes(4, 12), { minLength: 1, maxLength: 10 }), fc.array(fc.nat(400), { maxLength: 20 }), (hay, needles, cuts) => {
        expect(sorted(streamSearch(hay, needles, cuts))).toEqual(naiveSearch(hay, needles));
      }),
      { numRuns: 400 },
    );
  });

  it('property: full byte range, needles planted in random data at random offsets are all found', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 64, maxLength: 2000 }),
        fc.array(fc.uint8Array({ minLength: 2, maxLength: 40 }), { minLength: 1, maxLength: 30 }),
        fc.array(fc.nat(2000), { maxLength: 10 }),
        fc.nat(),
        (base, needles, cuts, seed) => {
          const hay = Uint8Array.from(base);
          needles.forEach((n, i) => {
            const at = (seed + i * 7919) % Math.max(1, hay.length - n.length);
            if (at + n.length <= hay.length) hay.set(n, at);
          });
          expect(sorted(streamSearch(hay, needles, cuts))).toEqual(naiveSearch(hay, needles));
        },
      ),
      { numRuns: 200 },
    );
  });

  it('finds a 16-byte needle at every possible split across a chunk boundary, exactly once', () => {
    const needle = Uint8Array.from({ length: 16 }, (_, i) => 0xa0 + i);
    const hay = new Uint8Array(64);
    hay.set(needle, 20);
    for (let cut = 0; cut <= hay.length; cut++) {
      expect(streamSearch(hay, [needle], [cut])).toEqual([{ needle: 0, offset: 20 }]);
    }
    // Byte-at-a-time feeding, the smallest possible chunks.
    expect(streamSearch(hay, [needle], Array.from({ length: 64 }, (_, i) => i))).toEqual([{ needle: 0, offset: 20 }]);
  });

  it('reports absolute offsets across many chunks, needles at the very start and end', () => {
    const a = Uint8Array.of(1, 2, 3, 4, 5);
    const b = Uint8Array.of(9, 8, 7);
    const hay = new Uint8Array(10_000);
    hay.set(a, 0);
    hay.set(b, 4_999);
    hay.set(a, hay.length - a.length);
    const cuts = Array.from({ length: 99 }, (_, i) => (i + 1) * 101);
    expect(streamSearch(hay, [a, b], cuts)).toEqual([
      { needle: 0, offset: 0 },
      { needle: 1, offset: 4_999 },
      { needle: 0, offset: 9_995 },
    ]);
  });

  it('mixed lengths: 1-byte and long needles sharing a prefix, overlapping matches all reported', () => {
    const hay = Uint8Array.of(7, 7, 7, 7, 1, 7, 7);
    const needles = [Uint8Array.of(7), Uint8Array.of(7, 7), Uint8Array.of(7, 7, 7, 7, 1)];
    expect(sorted(streamSearch(hay, needles, [3, 5]))).toEqual(naiveSearch(hay, needles));
    expect(naiveSearch(hay, needles).length).toBe(6 + 4 + 1);
  });

  it('refuses an empty needle set and an empty needle', () => {
    expect(() => new NeedleSet([])).toThrow(RangeError);
    expect(() => new NeedleSet([new Uint8Array(0)])).toThrow(RangeError);
  });
});

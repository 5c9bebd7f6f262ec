// The latin1 key strings of the apply overlay and the command table: one char per byte, for
// small (on-heap) and large typed arrays, Buffers and offset views alike.
import { describe, expect, it } from 'vitest';
import { latin1 } from '../../src/util/latin1.js';

const reference = (u8: Uint8Array) => Buffer.from(u8.buffer, u8.byteOffset, u8.byteLength).toString('latin1');

describe('latin1', () => {
  it('equals Buffer#toString("latin1") for every byte value, small and large arrays, views and Buffers', () => {
    const all = Uint8Array.from({ length: 256 }, (_, i) => i);
    const cases = [new Uint8Array(0), Uint8Array.of(0), Uint8Array.of(0xff, 0x80, 0x41), all.slice(0, 64), all.slice(100, 165), all, all.subarray(7, 9), Buffer.from(all), Buffer.from('key:000000123')];
    for (const c of cases) {
      expect(latin1(c)).toBe(reference(c));
      expect(latin1(c).length).toBe(c.length);
    }
    // Distinct byte strings stay distinct keys (no UTF-8 folding of bytes ≥ 0x80).
    expect(latin1(Uint8Array.of(0xc3, 0xa9))).not.toBe(latin1(Uint8Array.of(0xe9)));
  });
});

// Issue 13 lever 3: short inputs take a slice-by-8 table path instead of the wasm hasher; both
// paths must give the same CRC-32C for every length and every split into parts.

import fc from 'fast-check';
import { createCRC32 } from 'hash-wasm';
import { beforeAll, expect, it } from 'vitest';
import { crc32c, createCrc32cStream, loadCrc32c } from '../../src/storage/crc32c.js';

let reference: (b: Uint8Array) => number;
beforeAll(async () => {
  await loadCrc32c();
  const h = await createCRC32(0x82f63b78);
  reference = (b) => {
    h.init();
    h.update(b);
    return Number.parseInt(h.digest('hex'), 16) >>> 0;
  };
});

it('issue 13: crc32c of the check string "123456789" is 0xe3069283', () => {
  expect(crc32c(new TextEncoder().encode('123456789'))).toBe(0xe3069283);
});

it('issue 13: crc32c (table path below 8 KiB, wasm above) equals the wasm CRC-32C for any bytes and any split', () => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 0, maxLength: 9000 }), fc.nat(), (b, cut) => {
      const at = b.length === 0 ? 0 : cut % (b.length + 1);
      const want = reference(b);
      expect(crc32c(b)).toBe(want);
      expect(crc32c(b.subarray(0, at), b.subarray(at))).toBe(want);
    }),
    { numRuns: 300 },
  );
});

it('issue 14: interleaved crc32c streams share the hasher (state saved between updates) and each equals the one-shot CRC', async () => {
  const a = new Uint8Array(20_000).map((_, i) => (i * 7) & 0xff);
  const b = new Uint8Array(300).map((_, i) => (i * 13) & 0xff);
  const sa = await createCrc32cStream();
  const sb = await createCrc32cStream();
  sa.update(a.subarray(0, 9000));
  sb.update(b.subarray(0, 100));
  expect(crc32c(a)).toBe(reference(a)); // the shared hasher used in between
  sa.update(a.subarray(9000));
  sb.update(b.subarray(100));
  expect(sa.value()).toBe(reference(a));
  expect(sb.value()).toBe(reference(b));
  expect((await createCrc32cStream()).value()).toBe(reference(new Uint8Array(0)));
});

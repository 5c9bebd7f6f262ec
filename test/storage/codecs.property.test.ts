// PF-5: encoders round-trip over arbitrary inputs; damaged or arbitrary bytes never yield data
// and never throw an untyped error.
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { LogCorruptError, SealkvError } from '../../src/errors.js';
import { loadCrc32c } from '../../src/storage/crc32c.js';
import { decodeLogRecord, encodeLogRecord } from '../../src/storage/log-record.js';
import { decodeRegistryKey, decodeRegistryValue, encodeRegistryValue, registryKey } from '../../src/storage/registry-store.js';
import { decodeSnapshotHeader, encodeSnapshotHeader } from '../../src/storage/snapshot-header.js';

beforeAll(async () => {
  await loadCrc32c();
});

const arbEntry = fc.record({
  index: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
  term: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
  type: fc.constantFrom(0, 1),
  data: fc.uint8Array({ maxLength: 300 }),
});

describe('storage codecs (property)', () => {
  it('log records round-trip', () => {
    fc.assert(
      fc.property(arbEntry, (e) => {
        expect(decodeLogRecord(e.index, encodeLogRecord(e))).toEqual(e);
      }),
      { numRuns: 300 },
    );
  });

  it('any single-byte change or truncation of a log record is LOG_CORRUPT (CRC-32C catches every burst ≤ 32 bits)', () => {
    fc.assert(
      fc.property(arbEntry, fc.nat(), fc.integer({ min: 1, max: 255 }), fc.boolean(), (e, at, xor, truncate) => {
        const rec = encodeLogRecord(e);
        const bad = truncate ? rec.subarray(0, at % rec.length) : new Uint8Array(rec);
        if (!truncate) bad[at % rec.length] ^= xor;
        expect(() => decodeLogRecord(e.index, bad)).toThrow(LogCorruptError);
      }),
      { numRuns: 500 },
    );
  });

  it('registry rows round-trip; other sizes are typed errors', () => {
    fc.assert(
      fc.property(fc.nat({ max: 0xffffffff }), fc.nat({ max: 0xffff }), fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), fc.nat({ max: 0xffff }), fc.nat({ max: 0xffff }), (d, n, full, a, b) => {
        expect(decodeRegistryKey(registryKey(d, n))).toEqual({ dekId: d, nodeId16: n });
        const row = { fullNodeId: full, firstSeenLocalEpoch: a, lastSeenLocalEpoch: b };
        expect(decodeRegistryValue(encodeRegistryValue(row))).toEqual(row);
      }),
      { numRuns: 200 },
    );
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 40 }), (b) => {
        if (b.length !== 12) expect(() => decodeRegistryValue(b)).toThrow(expect.objectContaining({ code: 'REGISTRY_VALUE_MALFORMED' }));
        if (b.length !== 6) expect(() => decodeRegistryKey(b)).toThrow(expect.objectContaining({ code: 'REGISTRY_KEY_MALFORMED' }));
      }),
    );
  });

  it('snapshot headers round-trip; arbitrary bytes give a header or a typed SH-3 error, nothing else', () => {
    const u64 = fc.bigInt({ min: 0n, max: 2n ** 64n - 1n });
    const ids = fc.array(fc.string({ maxLength: 12 }), { maxLength: 5 });
    fc.assert(
      fc.property(u64, u64, u64, u64, ids, ids, fc.uint8Array({ maxLength: 64 }), (c, s, i, t, voters, learners, adv) => {
        const h = { raftEnvelopeCutoverIndex: c, sidecarAppliedIndex: s, lastIndex: i, lastTerm: t, conf: { voters, learners } };
        expect(decodeSnapshotHeader(encodeSnapshotHeader(h, adv))).toEqual({ formatVersion: 2, encryption: null, ...h });
      }),
      { numRuns: 200 },
    );
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 120 }), fc.boolean(), (raw, v1) => {
        const b = new Uint8Array(raw);
        if (v1 && b.length >= 2) {
          b[0] = 0;
          b[1] = b.length % 2 === 0 ? 1 : 2;
        }
        try {
          decodeSnapshotHeader(b);
        } catch (e) {
          expect(e).toBeInstanceOf(SealkvError);
          expect(['SNAPSHOT_HEADER_VERSION', 'SNAPSHOT_HEADER_MALFORMED']).toContain((e as SealkvError).code);
        }
      }),
      { numRuns: 500 },
    );
  });
});

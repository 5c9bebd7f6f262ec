// CK-4: every loaded backend seals random inputs to exactly node:crypto's bytes and opens every
// other backend's output — single calls and sealBatch/openBatch — over ≥ 10,000 random cases.

import { createCipheriv } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Aead, BatchItem } from '../../src/crypto/index.js';
import { loadBackends, loadedAeads, pseudoRandomBytes, toHex } from './helpers/backends.js';

const slots = await loadBackends();
const aeads = loadedAeads(slots);

/** node:crypto itself, used directly as the reference (not through any backend code of ours). */
function referenceSeal(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, pt: Uint8Array): Uint8Array {
  const c = createCipheriv('aes-256-gcm', key, nonce);
  c.setAAD(aad);
  return Buffer.concat([c.update(pt), c.final(), c.getAuthTag()]);
}

// Plaintext sizes: empty, block edges, small, non-multiples of 16 and large (to 64 KiB). The mean
// stays near 6 KiB so that the pure-JS backend (≈30 MB/s) keeps the file well under a minute.
const sizeArb = fc.oneof(
  { weight: 5, arbitrary: fc.constantFrom(0, 1, 15, 16, 17, 31, 32, 33, 255, 256, 4095, 4096, 65535, 65536) },
  { weight: 30, arbitrary: fc.integer({ min: 0, max: 64 }) },
  { weight: 30, arbitrary: fc.integer({ min: 0, max: 1024 }) },
  { weight: 25, arbitrary: fc.integer({ min: 1025, max: 8192 }) },
  { weight: 10, arbitrary: fc.integer({ min: 8193, max: 65536 }) },
);

const caseArb = fc.record({
  key: fc.uint8Array({ minLength: 32, maxLength: 32 }),
  nonce: fc.uint8Array({ minLength: 12, maxLength: 12 }),
  aad: fc.uint8Array({ minLength: 0, maxLength: 64 }),
  size: sizeArb,
  seed: fc.integer(),
});

const BATCH = 4;
const RUNS = 2500; // × BATCH = 10,000 cases

describe('CK-4 cross-backend equality (property)', () => {
  it(`CK-4 ${RUNS * BATCH} random cases: every backend equals node:crypto and opens every other backend's output`, () => {
    let cases = 0;
    let bytes = 0;
    fc.assert(
      fc.property(fc.array(caseArb, { minLength: BATCH, maxLength: BATCH }), (raw) => {
        const items = raw.map((r) => ({ ...r, pt: pseudoRandomBytes(r.size, r.seed) }));
        const refs = items.map((it) => referenceSeal(it.key, it.nonce, it.aad, it.pt));
        cases += items.length;
        for (const it of items) bytes += it.pt.length;
        // Single calls: seal equality, and each backend opens each other backend's output.
        const sealedBy = new Map<Aead, Uint8Array[]>();
        for (const a of aeads) {
          const out = items.map((it, i) => {
            const s = a.seal(it.key, it.nonce, it.aad, it.pt);
            if (toHex(s) !== toHex(refs[i]!)) throw new Error(`${a.name} seal differs from node:crypto (case ${i}, ${it.pt.length} B)`);
            return s;
          });
          sealedBy.set(a, out);
        }
        for (const opener of aeads) {
          for (const [sealer, out] of sealedBy) {
            items.forEach((it, i) => {
              const p = opener.open(it.key, it.nonce, it.aad, out[i]!);
              if (!Buffer.from(p).equals(Buffer.from(it.pt))) throw new Error(`${opener.name} could not open ${sealer.name}'s case ${i}`);
            });
          }
        }
        // Batch calls: one key per batch (the Aead batch contract), so use item 0's key for all.
        const key = items[0]!.key;
        const batch: BatchItem[] = items.map((it) => ({ nonce: it.nonce, aad: it.aad, data: it.pt }));
        const batchRefs = items.map((it) => referenceSeal(key, it.nonce, it.aad, it.pt));
        for (const a of aeads) {
          const sealed = a.sealBatch(key, batch);
          sealed.forEach((s, i) => {
            if (toHex(s) !== toHex(batchRefs[i]!)) throw new Error(`${a.name} sealBatch differs from node:crypto (item ${i})`);
          });
        }
        const openItems: BatchItem[] = items.map((it, i) => ({ nonce: it.nonce, aad: it.aad, data: batchRefs[i]! }));
        for (const a of aeads) {
          const opened = a.openBatch(key, openItems);
          opened.forEach((p, i) => {
            if (!(p instanceof Uint8Array) || !Buffer.from(p).equals(Buffer.from(items[i]!.pt))) {
              throw new Error(`${a.name} openBatch failed item ${i}`);
            }
          });
        }
      }),
      { numRuns: RUNS },
    );
    expect(cases).toBeGreaterThanOrEqual(10_000);
    expect(aeads.map((a) => a.name)).toEqual(expect.arrayContaining(['js', 'node']));
    // Recorded for the report: how much plaintext went through every backend.
    console.info(`cross-backend: ${cases} cases, ${(bytes / 1e6).toFixed(1)} MB plaintext, backends ${aeads.map((a) => a.name).join(',')}`);
  }, 240_000); // 10,000 cases through four backends: ~20 s idle, over 60 s on a loaded 2-core machine

});

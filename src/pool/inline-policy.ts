// When a batch runs on the main thread instead of a worker.
//
// Handing a batch to a worker is not free for the main thread either: packing the items into
// the task buffer, posting it and turning the returned buffer into result views. A batch runs
// inline when the crypto itself is expected to cost the main thread less than that. The
// estimate is `items × perItemUs + bytes × perByteUs` with per-backend figures, compared with
// `inlineThresholdUs` (the main-thread cost of one pool round trip).
//
// Measured on the 2-core reference VM in the full `npm run bench:crypto` run of 2026-11-23
// (table "Inline threshold" of bench/results/crypto-2026-11-23.md; event-loop busy µs per
// batch of 256 B items, sequential batches):
// - a pool round trip costs the main thread 37–73 µs for a batch of 1–16 items (packing,
//   posting, Piscina's bookkeeping, receiving, result views), 30–45 µs in quieter smoke runs —
//   hence DEFAULT_INLINE_THRESHOLD_US = 40;
// - inline, per 256 B item including packing: native ≈ 0.3 µs (74 µs for 256 items),
//   wasm ≈ 2.5–3.3 µs, node:crypto ≈ 4–6.6 µs, @noble/ciphers ≈ 30–48 µs.
// Resulting break-even at 256 B items: native ≈ 130 items (≈ 32 KiB), wasm ≈ 15, node ≈ 7,
// js: one item. Near the break-even the batch goes to a worker, which keeps the run loop
// responsive; nothing above ~40 µs of crypto ever runs on the main thread.

import type { BackendName } from '../crypto/aead.js';

export interface InlineCost {
  /** Fixed cost of one item (context set-up, tag), microseconds. */
  perItemUs: number;
  /** Cost per payload byte, microseconds. */
  perByteUs: number;
}

export const INLINE_COST: Record<BackendName, InlineCost> = {
  native: { perItemUs: 0.25, perByteUs: 0.0002 },
  wasm: { perItemUs: 1.3, perByteUs: 0.005 },
  js: { perItemUs: 15, perByteUs: 0.06 },
  node: { perItemUs: 5.5, perByteUs: 0.001 },
};

/** Main-thread cost of one pool round trip for a small batch, microseconds (measured). */
export const DEFAULT_INLINE_THRESHOLD_US = 40;

/** Estimated inline cost of a batch, microseconds. */
export function inlineCostUs(backend: BackendName, items: number, bytes: number): number {
  const c = INLINE_COST[backend];
  return items * c.perItemUs + bytes * c.perByteUs;
}

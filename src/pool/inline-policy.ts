// When a batch runs on the main thread instead of a worker.
//
// Handing a batch to a worker is not free for the main thread either: packing the items into
// the task buffer, posting it and turning the returned buffer into result views. A batch runs
// inline when the crypto itself is expected to cost the main thread less than that. The
// estimate is `items × perItemUs + bytes × perByteUs` with per-backend figures, compared with
// `inlineThresholdUs` (the main-thread cost of one pool round trip).
//
// Measured on the 2-core reference VM (event-loop busy time per batch, sequential batches, see
// the "Inline threshold" table of bench/results/crypto-<date>.md, `npm run bench:crypto`):
// - a pool round trip costs the main thread about 30–45 µs for a small batch (packing, posting,
//   Piscina's bookkeeping, receiving, result views) — hence DEFAULT_INLINE_THRESHOLD_US = 35;
// - inline, per 256 B item incl. packing: native ≈ 0.6–0.9 µs, wasm ≈ 2.6 µs, node:crypto ≈ 6 µs,
//   @noble/ciphers ≈ 20–40 µs; per byte they differ by the cipher's throughput.
// Resulting break-even at 256 B items: native ≈ 48 items, wasm ≈ 12, node ≈ 6, js ≈ 1–2.
// Near the break-even the batch goes to a worker, which keeps the run loop responsive.

import type { BackendName } from '../crypto/aead.js';

export interface InlineCost {
  /** Fixed cost of one item (context set-up, tag), microseconds. */
  perItemUs: number;
  /** Cost per payload byte, microseconds. */
  perByteUs: number;
}

export const INLINE_COST: Record<BackendName, InlineCost> = {
  native: { perItemUs: 0.6, perByteUs: 0.0004 },
  wasm: { perItemUs: 1.3, perByteUs: 0.005 },
  js: { perItemUs: 10, perByteUs: 0.04 },
  node: { perItemUs: 5.5, perByteUs: 0.001 },
};

/** Main-thread cost of one pool round trip for a small batch, microseconds (measured). */
export const DEFAULT_INLINE_THRESHOLD_US = 35;

/** Estimated inline cost of a batch, microseconds. */
export function inlineCostUs(backend: BackendName, items: number, bytes: number): number {
  const c = INLINE_COST[backend];
  return items * c.perItemUs + bytes * c.perByteUs;
}

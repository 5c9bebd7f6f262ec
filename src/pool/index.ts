// The crypto worker pool's public surface (DESIGN.md §2).

export { CryptoPool, type CryptoPoolOptions, type Resealed, type ResealInput, type ResealResult } from './crypto-pool.js';
export type { ResealItem } from './task-format.js';
export type { PoolMetrics } from './metrics.js';
export { DEFAULT_INLINE_THRESHOLD_US, INLINE_COST, inlineCostUs } from './inline-policy.js';

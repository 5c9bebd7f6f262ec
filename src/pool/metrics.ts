// Plain counters and gauges of the crypto pool; the server layer maps them to prom-client
// (pool code stays free of the metrics library).

import type { BackendName } from '../crypto/aead.js';

export interface PoolMetrics {
  /** Callers waiting for an in-flight slot (gauge). */
  queueDepth: number;
  /** Batches handed to workers and not yet returned (gauge). */
  inflight: number;
  /** Batches run in workers / inline on the main thread (counters). */
  poolBatches: number;
  inlineBatches: number;
  /** Items processed (counter). */
  items: number;
  /** Seconds spent in AEAD work, by backend, measured where it ran (counter). */
  cryptoSeconds: Record<BackendName, number>;
}

export class PoolCounters {
  poolBatches = 0;
  inlineBatches = 0;
  items = 0;
  readonly cryptoSeconds: Record<BackendName, number> = { native: 0, wasm: 0, js: 0, node: 0 };

  record(backend: BackendName, inline: boolean, items: number, cryptoMs: number): void {
    if (inline) this.inlineBatches++;
    else this.poolBatches++;
    this.items += items;
    this.cryptoSeconds[backend] += cryptoMs / 1000;
  }
}

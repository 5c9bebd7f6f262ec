// Jittered exponential back-off for peer redials. Jitter keeps a restarted cluster from
// redialling in lock-step; the cap bounds how long a healed partition stays unnoticed.

export interface BackoffOptions {
  /** First delay ceiling, ms (default 50). */
  minMs?: number;
  /** Largest delay ceiling, ms (default 2000). */
  maxMs?: number;
}

export class Backoff {
  private readonly minMs: number;
  private readonly maxMs: number;
  private ceiling: number;

  constructor(opts: BackoffOptions = {}, private readonly random: () => number = Math.random) {
    this.minMs = opts.minMs ?? 50;
    this.maxMs = Math.max(opts.maxMs ?? 2000, this.minMs);
    this.ceiling = this.minMs;
  }

  /** Next delay: uniform in [ceiling/2, ceiling], then the ceiling doubles up to maxMs. */
  next(): number {
    const c = this.ceiling;
    this.ceiling = Math.min(this.ceiling * 2, this.maxMs);
    return Math.round(c / 2 + this.random() * (c / 2));
  }

  reset(): void {
    this.ceiling = this.minMs;
  }
}

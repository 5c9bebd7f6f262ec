// A Prometheus histogram for per-write hot paths (issue 13: allocations per write). prom-client's
// `Histogram.observe` allocates a closure and a labels object on every call (≈200 B of garbage);
// the node observes two or three latencies per write on every replica. This one keeps its counts
// in a typed array, observes without allocating, and renders the same exposition text as a
// label-less prom-client Histogram (test/server/fast-histogram.test.ts compares them).

import type { Registry } from 'prom-client';

interface ExportedValue {
  metricName: string;
  labels: Record<string, string | number>;
  value: number;
}

export class FastHistogram {
  readonly name: string;
  readonly help: string;
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  private readonly upper: Float64Array;
  /** Per bucket, not cumulative; the last slot counts values above the largest bound (+Inf). */
  private counts: Float64Array;
  private sum = 0;
  private count = 0;

  constructor(opts: { name: string; help: string; buckets: readonly number[]; registers: readonly Registry[] }) {
    this.name = opts.name;
    this.help = opts.help;
    const b = [...opts.buckets].sort((x, y) => x - y);
    this.upper = Float64Array.from(b);
    this.counts = new Float64Array(b.length + 1);
    for (const r of opts.registers) r.registerMetric(this as never);
  }

  observe(value: number): void {
    if (!Number.isFinite(value)) return; // prom-client throws on NaN; a metric must not break a write
    const u = this.upper;
    let i = 0;
    // Few buckets (≤ 20): a linear scan beats a binary search and allocates nothing.
    while (i < u.length && value > u[i]!) i++;
    this.counts[i]!++;
    this.sum += value;
    this.count++;
  }

  reset(): void {
    this.counts = new Float64Array(this.upper.length + 1);
    this.sum = 0;
    this.count = 0;
  }

  /** What prom-client's Registry renders (same shape as a label-less Histogram's `get`). */
  async get(): Promise<{ name: string; help: string; type: string; aggregator: string; values: ExportedValue[] }> {
    const values: ExportedValue[] = [];
    let acc = 0;
    for (let i = 0; i < this.upper.length; i++) {
      acc += this.counts[i]!;
      values.push({ metricName: `${this.name}_bucket`, labels: { le: this.upper[i]! }, value: acc });
    }
    values.push({ metricName: `${this.name}_bucket`, labels: { le: '+Inf' }, value: this.count });
    values.push({ metricName: `${this.name}_sum`, labels: {}, value: this.sum });
    values.push({ metricName: `${this.name}_count`, labels: {}, value: this.count });
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }
}

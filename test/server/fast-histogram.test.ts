// FastHistogram (issue 13) renders exactly what a label-less prom-client Histogram renders for the
// same observations, so /metrics scrapers (the benchmark suite's parser among them) see no change.

import fc from 'fast-check';
import { Histogram, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { FastHistogram } from '../../src/server/fast-histogram.js';

const BUCKETS = [0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

async function both(values: readonly number[]): Promise<[string, string]> {
  const a = new Registry();
  const b = new Registry();
  const ref = new Histogram({ name: 'sealkv_x_seconds', help: 'help text', buckets: BUCKETS, registers: [a] });
  const fast = new FastHistogram({ name: 'sealkv_x_seconds', help: 'help text', buckets: BUCKETS, registers: [b] });
  for (const v of values) {
    ref.observe(v);
    fast.observe(v);
  }
  return [await a.metrics(), await b.metrics()];
}

describe('FastHistogram', () => {
  it('renders the same exposition text as prom-client for the same observations (boundaries included)', async () => {
    const [ref, fast] = await both([0, 0.000025, 0.00003, 0.001, 0.0010001, 5, 7, 0.3]);
    expect(fast).toBe(ref);
    const [ref0, fast0] = await both([]);
    expect(fast0).toBe(ref0);
  });

  it('matches prom-client on random latencies', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.double({ min: 0, max: 10, noNaN: true }), { maxLength: 200 }), async (vs) => {
        const [ref, fast] = await both(vs);
        expect(fast).toBe(ref);
      }),
      { numRuns: 50 },
    );
  });

  it('reset clears counts, sum and count', async () => {
    const r = new Registry();
    const h = new FastHistogram({ name: 'h_seconds', help: 'h', buckets: [1, 2], registers: [r] });
    h.observe(1.5);
    r.resetMetrics();
    expect(await r.metrics()).toContain('h_seconds_count 0');
  });
});

// The suite's node-side figures (issue 15): Prometheus text parsing, per-phase histogram deltas
// and bucket-interpolated percentiles, main-thread share between samples; the pool-scaling
// recommendation; the cutover plan's step list.

import { describe, expect, it } from 'vitest';
import { histDelta, histQuantile, parseHistogram, parseSample, phaseNodeFigures } from '../../src/bench/suite/node-metrics.js';
import { CUTOVER_STEPS, plannedDurationMs, transitionName } from '../../src/bench/suite/phase-runner.js';
import { recommend } from '../../src/bench/suite/sections/pool-scaling.js';

function page(apply: number[], busy: number, depth: number): string {
  const les = ['0.001', '0.01', '0.1', '+Inf'];
  return [
    '# HELP sealkv_apply_seconds x',
    '# TYPE sealkv_apply_seconds histogram',
    ...les.map((le, i) => `sealkv_apply_seconds_bucket{le="${le}"} ${apply[i]}`),
    `sealkv_apply_seconds_sum ${apply[3]! * 0.005}`,
    `sealkv_apply_seconds_count ${apply[3]}`,
    'sealkv_wrap_seconds_bucket{le="0.001"} 5',
    'sealkv_wrap_seconds_bucket{le="+Inf"} 5',
    'sealkv_wrap_seconds_sum 0',
    'sealkv_wrap_seconds_count 5',
    `sealkv_main_thread_busy_seconds_total ${busy}`,
    `sealkv_crypto_pool_queue_depth ${depth}`,
    'sealkv_crypto_pool_batches{where="worker"} 12',
    'sealkv_crypto_pool_batches{where="inline"} 3',
  ].join('\n');
}

describe('bench suite node metrics', () => {
  it('parses the histograms, the busy counter and the pool gauges from a /metrics page', () => {
    const s = parseSample(page([10, 90, 100, 100], 1.5, 2), 'n1', 0);
    expect(s.apply).toEqual({ buckets: [[0.001, 10], [0.01, 90], [0.1, 100], [Number.POSITIVE_INFINITY, 100]], sum: 0.5, count: 100 });
    expect(s.busyS).toBe(1.5);
    expect(s.queueDepth).toBe(2);
    expect(s.poolBatches).toBe(12);
    expect(s.inlineBatches).toBe(3);
    expect(parseHistogram('nothing here', 'sealkv_apply_seconds')).toBeNull();
  });

  it('percentiles interpolate inside the bucket; all-zero observations (no wrap) give 0', () => {
    const h = parseHistogram(page([10, 90, 100, 100], 0, 0), 'sealkv_apply_seconds')!;
    // p50: rank 50 lies in (0.001, 0.01] holding 80 → 0.001 + 0.009 × 40/80.
    expect(histQuantile(h, 0.5)).toBeCloseTo(0.0055, 6);
    expect(histQuantile(h, 0.99)).toBeCloseTo(0.01 + 0.09 * (9 / 10), 6);
    expect(histQuantile(parseHistogram(page([0, 0, 0, 0], 0, 0), 'sealkv_wrap_seconds')!, 0.99)).toBe(0);
  });

  it('a phase takes the difference of the samples bracketing its window', () => {
    const a = parseSample(page([10, 10, 10, 10], 1, 0), 'n1', 0);
    const b = parseSample(page([10, 60, 110, 110], 1.25, 3), 'n1', 500);
    const c = parseSample(page([10, 60, 110, 110], 1.75, 1), 'n1', 1000);
    const d = histDelta(a.apply, b.apply!);
    expect(d.count).toBe(100);
    expect(d.buckets.map((x) => x[1])).toEqual([0, 50, 100, 100]);
    const f = phaseNodeFigures([a, b, c], 'n1', 0, 1000)!;
    expect(f.applyCount).toBe(100);
    expect(f.applyP50Us).toBe(10_000);
    expect(f.mainThreadShare).toBe(0.75);
    expect(f.queueDepthMax).toBe(3);
    expect(f.wrapP99Us).toBe(0);
    expect(phaseNodeFigures([a], 'n1', 0, 1000)).toBeNull();
  });

  it('the recommended worker count is the fewest within 10 % of the best at the largest batch', () => {
    const cell = (workers: number, batch: number, itemsPerS: number) => ({ backend: 'native', workers, batch, itemsPerS, batchP50Us: 1, batchP99Us: 1, mainThreadShare: 0.1 });
    const r = recommend([cell(0, 1024, 500), cell(1, 1024, 1000), cell(2, 1024, 1050), cell(3, 1024, 1200), cell(3, 16, 99_999)]);
    expect(r).toEqual([{ backend: 'native', workers: 3, itemsPerS: 1200, mainThreadShare: 0.1, batch: 1024 }]);
    expect(recommend([cell(1, 64, 1000), cell(2, 64, 1080)])[0]!.workers).toBe(1);
  });

  it('the cutover plan starts in cleartext and names a transition phase per admin operation', () => {
    expect(CUTOVER_STEPS[0]).toEqual({ name: 'cleartext' });
    expect(CUTOVER_STEPS.filter((s) => s.op).map(transitionName)).toEqual([
      'cutover to bootstrapped',
      'cutover to storage envelope',
      'cutover to raft envelope',
      'cutover to raft rotate-dek',
      'cutover to storage rotate-dek',
    ]);
    expect(plannedDurationMs(CUTOVER_STEPS, { warmupMs: 1000, holdMs: 2000, settleMs: 500, opTimeoutMs: 5000 }, 1000)).toBe(1000 + 6 * 2000 + 5 * 1500);
  });
});

// Suite section "pool-scaling" (issue 15 item 2): the crypto pool the node uses (src/pool),
// driven in this process: per backend × crypto workers (1..cores, plus everything inline on the
// main thread as the reference) × batch size, seal batches of 1 KiB items with the pool kept full
// (as many batches outstanding as it admits) for a fixed time. Per cell: items per second,
// per-batch latency p50/p99 (HDR), main-thread busy share (event-loop utilization over the cell).
// From it, per backend, the recommended worker count: the fewest workers within 10 % of the best
// throughput at the largest batch (more workers than that only cost threads and cache).

import { randomBytes } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { performance } from 'node:perf_hooks';
import type { BackendName } from '../../../crypto/aead.js';
import { CryptoPool } from '../../../pool/index.js';
import { LatencyHistogram } from '../histogram.js';
import type { Figure, RunMode, Table } from '../results.js';
import { emptyOutput, type Section } from '../section.js';

export function poolPlan(mode: RunMode): { batches: number[]; cellMs: number; itemBytes: number } {
  if (mode === 'smoke') return { batches: [64], cellMs: 150, itemBytes: 1024 };
  if (mode === 'quick') return { batches: [16, 1024], cellMs: 300, itemBytes: 1024 };
  return { batches: [1, 16, 64, 256, 1024, 4096], cellMs: 1500, itemBytes: 1024 };
}

interface Cell {
  backend: string;
  /** 0 = every batch inline on the main thread. */
  workers: number;
  batch: number;
  itemsPerS: number;
  batchP50Us: number;
  batchP99Us: number;
  mainThreadShare: number;
}

const KEY_ID = 7;

async function measure(backend: BackendName, workers: number, batch: number, cellMs: number, itemBytes: number): Promise<Cell> {
  const pool = await CryptoPool.create({ backend, workers: Math.max(1, workers), inlineThreshold: workers === 0 ? Number.POSITIVE_INFINITY : 0 });
  try {
    pool.installKey(KEY_ID, randomBytes(32));
    // A throwaway key and nonce: nothing sealed here is ever stored or opened, so the nonce
    // reuse a real write path must never do does not matter for a throughput measurement.
    const nonce = randomBytes(12);
    const aad = new Uint8Array(0);
    const items = Array.from({ length: batch }, () => ({ nonce, aad, data: randomBytes(itemBytes) }));
    const hist = new LatencyHistogram();
    const outstanding = workers === 0 ? 1 : pool.maxInflightBatches;
    // Warm-up: JIT and the workers' first batches.
    await Promise.all(Array.from({ length: outstanding }, () => pool.seal(KEY_ID, items)));
    let done = 0;
    const t0 = performance.now();
    const elu0 = performance.eventLoopUtilization();
    const end = t0 + cellMs;
    const lane = async (): Promise<void> => {
      while (performance.now() < end) {
        const s = performance.now();
        await pool.seal(KEY_ID, items);
        hist.record((performance.now() - s) * 1000);
        done += batch;
      }
    };
    await Promise.all(Array.from({ length: outstanding }, lane));
    const wall = performance.now() - t0;
    const elu = performance.eventLoopUtilization(elu0);
    const l = hist.summary();
    return {
      backend,
      workers,
      batch,
      itemsPerS: Math.round(done / (wall / 1000)),
      batchP50Us: l.p50Us,
      batchP99Us: l.p99Us,
      mainThreadShare: Math.round(elu.utilization * 1000) / 1000,
    };
  } finally {
    await pool.close();
  }
}

export function recommend(cells: Cell[]): { backend: string; workers: number; itemsPerS: number; mainThreadShare: number; batch: number }[] {
  const out: { backend: string; workers: number; itemsPerS: number; mainThreadShare: number; batch: number }[] = [];
  for (const backend of [...new Set(cells.map((c) => c.backend))]) {
    const mine = cells.filter((c) => c.backend === backend && c.workers > 0);
    if (mine.length === 0) continue;
    const batch = Math.max(...mine.map((c) => c.batch));
    const atBatch = mine.filter((c) => c.batch === batch).sort((a, b) => a.workers - b.workers);
    const best = Math.max(...atBatch.map((c) => c.itemsPerS));
    const pick = atBatch.find((c) => c.itemsPerS >= 0.9 * best)!;
    out.push({ backend, workers: pick.workers, itemsPerS: pick.itemsPerS, mainThreadShare: pick.mainThreadShare, batch });
  }
  return out;
}

export const poolScalingSection: Section = {
  id: 'pool-scaling',
  title: 'Crypto pool scaling: batch size × crypto workers × backend (seal, 1 KiB items)',
  async run(ctx) {
    const plan = poolPlan(ctx.mode);
    const cores = availableParallelism();
    const workerCounts = [0, ...Array.from({ length: cores }, (_, i) => i + 1)];
    const backends = ctx.mode === 'smoke' ? [ctx.backends.includes('node') ? 'node' : ctx.backends[0]!] : ctx.backends;
    const cells: Cell[] = [];
    const out = emptyOutput();
    for (const backend of backends) {
      for (const workers of workerCounts) {
        for (const batch of plan.batches) {
          try {
            const c = await measure(backend as BackendName, workers, batch, plan.cellMs, plan.itemBytes);
            cells.push(c);
            ctx.log(`${backend} ${workers === 0 ? 'inline' : `${workers} worker(s)`} batch ${batch}: ${c.itemsPerS} items/s, batch p50 ${c.batchP50Us} µs p99 ${c.batchP99Us} µs, main thread ${c.mainThreadShare}`);
          } catch (e) {
            out.notes.push(`${backend} workers ${workers} batch ${batch}: ${e instanceof Error ? e.message : String(e)}`);
          }
        }
      }
    }
    if (cells.length === 0) throw new Error(`nothing measured: ${out.notes.join('; ')}`);
    const figures: Figure[] = [];
    for (const c of cells) {
      const id = `${c.backend}.w${c.workers}.b${c.batch}`;
      const label = `${c.backend}, ${c.workers === 0 ? 'inline' : `${c.workers} worker(s)`}, batch ${c.batch}`;
      figures.push(
        { id: `${id}.itemsPerS`, label: `${label}: items sealed per second`, value: c.itemsPerS, unit: '1/s', better: 'higher' },
        { id: `${id}.batchP50Us`, label: `${label}: per-batch latency p50`, value: c.batchP50Us, unit: 'µs', better: 'lower' },
        { id: `${id}.batchP99Us`, label: `${label}: per-batch latency p99`, value: c.batchP99Us, unit: 'µs', better: 'lower' },
        { id: `${id}.mainThreadShare`, label: `${label}: main-thread busy share`, value: c.mainThreadShare, unit: 'ratio', better: 'lower' },
      );
    }
    const recs = recommend(cells);
    for (const r of recs) {
      figures.push({ id: `${r.backend}.recommendedWorkers`, label: `${r.backend}: recommended crypto workers`, value: r.workers, unit: 'count', better: 'neutral' });
      ctx.log(`recommended for ${r.backend}: --crypto-workers ${r.workers} (${r.itemsPerS} items/s at batch ${r.batch}, main thread ${r.mainThreadShare})`);
    }
    out.figures = figures;
    const table: Table = {
      title: 'Pool scaling (seal, 1 KiB items, pool kept full)',
      columns: ['backend', 'workers', 'batch', 'items/s', 'MB/s', 'batch p50 (µs)', 'batch p99 (µs)', 'main-thread share'],
      rows: cells.map((c) => [c.backend, c.workers === 0 ? 'inline' : c.workers, c.batch, c.itemsPerS, Math.round((c.itemsPerS * plan.itemBytes) / 1e5) / 10, c.batchP50Us, c.batchP99Us, c.mainThreadShare]),
      note: `${cores} cores. "inline" runs every batch on the main thread (the reference). Main-thread share is the event loop's busy fraction while the pool was kept full; with workers the main thread only packs batches and unpacks results.`,
    };
    const recTable: Table = {
      title: 'Recommended --crypto-workers per backend',
      columns: ['backend', 'recommended workers', 'at batch', 'items/s', 'main-thread share'],
      rows: recs.map((r) => [r.backend, r.workers, r.batch, r.itemsPerS, r.mainThreadShare]),
      note: `The fewest workers within 10 % of the best throughput at the largest batch. The node's default is max(1, cores − 1) = ${Math.max(1, cores - 1)} here.`,
    };
    out.tables = [recTable, table];
    const maxBatch = Math.max(...plan.batches);
    const series = [...new Set(cells.map((c) => c.backend))];
    out.charts.push({
      kind: 'bar',
      id: 'pool-scaling-throughput',
      title: `Pool throughput by crypto workers, batches of ${maxBatch} × 1 KiB`,
      xLabel: 'crypto workers (0 = inline on the main thread)',
      yLabel: 'items sealed per second (1/s)',
      groups: workerCounts.map(String),
      series,
      values: workerCounts.map((w) => series.map((b) => cells.find((c) => c.backend === b && c.workers === w && c.batch === maxBatch)?.itemsPerS ?? null)),
      log: true,
    });
    out.charts.push({
      kind: 'bar',
      id: 'pool-scaling-main-thread',
      title: `Main-thread busy share by crypto workers, batches of ${maxBatch}`,
      xLabel: 'crypto workers (0 = inline on the main thread)',
      yLabel: 'main-thread busy share (0–1)',
      groups: workerCounts.map(String),
      series,
      values: workerCounts.map((w) => series.map((b) => cells.find((c) => c.backend === b && c.workers === w && c.batch === maxBatch)?.mainThreadShare ?? null)),
    });
    out.notes.push(...recs.map((r) => `Recommended for ${r.backend}: --crypto-workers ${r.workers}.`));
    return out;
  },
};

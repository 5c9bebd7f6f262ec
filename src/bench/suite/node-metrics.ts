// Node-side figures from the nodes' own /metrics (Prometheus text): the wrap and apply latency
// histograms, the main-thread busy counter and the crypto pool gauges. A sampler scrapes every
// node at a fixed interval during a load run; a phase's figures are the differences between the
// samples bracketing its window (histogram buckets subtract, so percentiles are per phase).

import { type Cluster, type ClusterNode, scrapeMetrics } from './cluster.js';

/** A cumulative Prometheus histogram: (upper bound in s, cumulative count) pairs, sum, count. */
export interface PromHistogram {
  buckets: [number, number][];
  sum: number;
  count: number;
}

export interface NodeSample {
  tMs: number;
  node: string;
  wrap: PromHistogram | null;
  apply: PromHistogram | null;
  busyS: number | null;
  queueDepth: number | null;
  inflight: number | null;
  poolBatches: number | null;
  inlineBatches: number | null;
}

const num = (s: string): number => (s === '+Inf' ? Number.POSITIVE_INFINITY : Number(s));

/** The histogram `name` (without suffixes) from a Prometheus text page, or null if absent. */
export function parseHistogram(text: string, name: string): PromHistogram | null {
  const buckets: [number, number][] = [];
  let sum = Number.NaN;
  let count = Number.NaN;
  const re = new RegExp(`^${name}_(bucket\\{le="([^"]+)"\\}|sum|count) (\\S+)$`, 'gm');
  for (const m of text.matchAll(re)) {
    if (m[2] !== undefined) buckets.push([num(m[2]), Number(m[3])]);
    else if (m[1] === 'sum') sum = Number(m[3]);
    else count = Number(m[3]);
  }
  if (buckets.length === 0 || Number.isNaN(count)) return null;
  return { buckets: buckets.sort((a, b) => a[0] - b[0]), sum, count };
}

/** One unlabelled (or label-matched) sample value, or null. */
export function parseValue(text: string, name: string, labels = ''): number | null {
  const esc = `${name}${labels}`.replace(/[{}"=.]/g, (c) => `\\${c}`);
  const m = new RegExp(`^${esc} (\\S+)$`, 'm').exec(text);
  return m ? Number(m[1]) : null;
}

export function parseSample(text: string, node: string, tMs: number): NodeSample {
  return {
    tMs,
    node,
    wrap: parseHistogram(text, 'sealkv_wrap_seconds'),
    apply: parseHistogram(text, 'sealkv_apply_seconds'),
    busyS: parseValue(text, 'sealkv_main_thread_busy_seconds_total'),
    queueDepth: parseValue(text, 'sealkv_crypto_pool_queue_depth'),
    inflight: parseValue(text, 'sealkv_crypto_pool_inflight'),
    poolBatches: parseValue(text, 'sealkv_crypto_pool_batches', '{where="worker"}'),
    inlineBatches: parseValue(text, 'sealkv_crypto_pool_batches', '{where="inline"}'),
  };
}

/** b − a, bucket by bucket (a null `a` means "from the process start"). */
export function histDelta(a: PromHistogram | null, b: PromHistogram): PromHistogram {
  if (!a) return b;
  return {
    buckets: b.buckets.map(([le, c], i) => [le, c - (a.buckets[i]?.[1] ?? 0)]),
    sum: b.sum - a.sum,
    count: b.count - a.count,
  };
}

/**
 * The q-quantile (0..1) in seconds by linear interpolation inside the bucket that holds it (as
 * Prometheus' histogram_quantile does): resolution is the bucket width. 0 when every observation
 * was 0 (the wrap latency without a wrap) or nothing was observed.
 */
export function histQuantile(h: PromHistogram, q: number): number {
  if (h.count <= 0 || h.sum <= 0) return 0;
  const rank = q * h.count;
  let prevLe = 0;
  let prevC = 0;
  for (const [le, c] of h.buckets) {
    if (c >= rank) {
      if (!Number.isFinite(le)) return prevLe;
      const inBucket = c - prevC;
      return inBucket <= 0 ? le : prevLe + ((le - prevLe) * (rank - prevC)) / inBucket;
    }
    prevLe = le;
    prevC = c;
  }
  return prevLe;
}

/** Scrapes every node of a cluster each `intervalMs` until stopped; times from `clock()`. */
export class MetricsSampler {
  readonly samples: NodeSample[] = [];
  private timer: NodeJS.Timeout | null = null;
  private busy = false;

  constructor(
    private readonly nodes: ClusterNode[],
    private readonly clock: () => number,
    private readonly intervalMs: number,
  ) {}

  async sampleNow(): Promise<void> {
    const t = this.clock();
    const texts = await Promise.all(this.nodes.map((n) => scrapeMetrics(n)));
    texts.forEach((text, i) => {
      if (text !== null) this.samples.push(parseSample(text, this.nodes[i]!.id, t));
    });
  }

  start(): void {
    this.timer = setInterval(() => {
      if (this.busy) return;
      this.busy = true;
      void this.sampleNow().finally(() => {
        this.busy = false;
      });
    }, this.intervalMs);
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    while (this.busy) await new Promise((r) => setTimeout(r, 20));
    await this.sampleNow();
  }
}

export interface NodePhaseFigures {
  node: string;
  wrapP50Us: number;
  wrapP99Us: number;
  wrapCount: number;
  applyP50Us: number;
  applyP99Us: number;
  applyCount: number;
  /** Main-thread busy seconds per wall second over the window (0..1). */
  mainThreadShare: number;
  queueDepthMax: number;
  queueDepthMean: number;
}

/** Node figures over [startMs, stopMs]: the last sample at or before the start to the first at or after the stop. */
export function phaseNodeFigures(samples: NodeSample[], node: string, startMs: number, stopMs: number): NodePhaseFigures | null {
  const mine = samples.filter((s) => s.node === node).sort((a, b) => a.tMs - b.tMs);
  if (mine.length < 2) return null;
  const a = [...mine].reverse().find((s) => s.tMs <= startMs) ?? mine[0]!;
  const b = mine.find((s) => s.tMs >= stopMs) ?? mine[mine.length - 1]!;
  if (b.tMs <= a.tMs) return null;
  const inside = mine.filter((s) => s.tMs >= a.tMs && s.tMs <= b.tMs);
  const wrap = b.wrap ? histDelta(a.wrap, b.wrap) : null;
  const apply = b.apply ? histDelta(a.apply, b.apply) : null;
  const us = (s: number): number => Math.round(s * 1e6);
  const depths = inside.map((s) => s.queueDepth ?? 0);
  return {
    node,
    wrapP50Us: wrap ? us(histQuantile(wrap, 0.5)) : 0,
    wrapP99Us: wrap ? us(histQuantile(wrap, 0.99)) : 0,
    wrapCount: wrap?.count ?? 0,
    applyP50Us: apply ? us(histQuantile(apply, 0.5)) : 0,
    applyP99Us: apply ? us(histQuantile(apply, 0.99)) : 0,
    applyCount: apply?.count ?? 0,
    mainThreadShare: a.busyS !== null && b.busyS !== null ? Math.round(((b.busyS - a.busyS) / ((b.tMs - a.tMs) / 1000)) * 1000) / 1000 : 0,
    queueDepthMax: Math.max(0, ...depths),
    queueDepthMean: depths.length ? Math.round((depths.reduce((x, y) => x + y, 0) / depths.length) * 100) / 100 : 0,
  };
}

/** The leader's id, for labelling. */
export function roleOf(c: Cluster, n: ClusterNode): 'leader' | 'follower' {
  return n === c.leader ? 'leader' : 'follower';
}

// Latency recording for the benchmark suite: an HDR histogram (hdr-histogram-js) behind a small
// interface, so the rest of the suite records microseconds and reads percentiles without knowing
// the library. HDR keeps 3 significant digits over the whole range in fixed memory, which is what
// lets a long open-loop run report p99.9 without keeping every sample.

import * as hdr from 'hdr-histogram-js';

/** Percentile summary in microseconds; every field is 0 when nothing was recorded. */
export interface LatencySummary {
  count: number;
  meanUs: number;
  p50Us: number;
  p99Us: number;
  p999Us: number;
  maxUs: number;
}

/** Highest latency the histograms resolve without resizing: 10 minutes in µs. */
const HIGHEST_US = 600_000_000;

export class LatencyHistogram {
  private readonly h: hdr.Histogram;

  constructor() {
    // The pure-JS histogram: no WebAssembly instance to initialise or free. autoResize keeps a
    // pathological stall above HIGHEST_US recordable instead of throwing mid-run.
    this.h = hdr.build({
      lowestDiscernibleValue: 1,
      highestTrackableValue: HIGHEST_US,
      numberOfSignificantValueDigits: 3,
      autoResize: true,
      useWebAssembly: false,
    });
  }

  /** Records one latency in microseconds; values below 1 µs count as 1 µs (HDR's floor). */
  record(us: number): void {
    if (!Number.isFinite(us)) throw new RangeError(`latency must be finite, got ${us}`);
    this.h.recordValue(Math.max(1, Math.round(us)));
  }

  get count(): number {
    return this.h.totalCount;
  }

  /** Value at a percentile in 0..100, in µs. */
  percentile(p: number): number {
    return this.count === 0 ? 0 : this.h.getValueAtPercentile(p);
  }

  /** Adds every recording of `other` into this histogram. */
  merge(other: LatencyHistogram): void {
    this.h.add(other.h);
  }

  summary(): LatencySummary {
    if (this.count === 0) return { count: 0, meanUs: 0, p50Us: 0, p99Us: 0, p999Us: 0, maxUs: 0 };
    return {
      count: this.count,
      meanUs: Math.round(this.h.mean * 10) / 10,
      p50Us: this.percentile(50),
      p99Us: this.percentile(99),
      p999Us: this.percentile(99.9),
      maxUs: this.h.maxValue,
    };
  }
}

/** One interval of a time series: latencies by scheduled time, completions by completion time. */
export interface IntervalPoint {
  /** Interval start, ms since the run started. */
  tMs: number;
  latency: LatencySummary;
  /** Replies (of any kind) received in this interval, per second. */
  throughputPerS: number;
  /** Error replies received in this interval, per second. */
  errorsPerS: number;
}

/**
 * "Latency over time": one histogram per fixed interval. Latency is filed under the interval of
 * the request's scheduled send time (so a stall shows where the requests were due, not where the
 * backlog drained); throughput under the interval the reply arrived in.
 */
export class IntervalSeries {
  private readonly hists: LatencyHistogram[] = [];
  private readonly done: number[] = [];
  private readonly errors: number[] = [];

  constructor(readonly intervalMs: number) {
    if (!(intervalMs > 0)) throw new RangeError('intervalMs must be > 0');
  }

  private slot(tMs: number): number {
    const i = Math.max(0, Math.floor(tMs / this.intervalMs));
    while (this.hists.length <= i) {
      this.hists.push(new LatencyHistogram());
      this.done.push(0);
      this.errors.push(0);
    }
    return i;
  }

  /** A reply arrived at `doneMs` for a request scheduled at `scheduledMs` (both run-relative). */
  record(scheduledMs: number, doneMs: number, latencyUs: number, isError: boolean): void {
    this.hists[this.slot(scheduledMs)]!.record(latencyUs);
    const d = this.slot(doneMs);
    this.done[d]!++;
    if (isError) this.errors[d]!++;
  }

  /** Every interval up to `untilMs` (or the last one touched), in order. */
  points(untilMs?: number): IntervalPoint[] {
    if (untilMs !== undefined && untilMs > 0) this.slot(untilMs - 1);
    const perS = 1000 / this.intervalMs;
    return this.hists.map((h, i) => ({
      tMs: i * this.intervalMs,
      latency: h.summary(),
      throughputPerS: this.done[i]! * perS,
      errorsPerS: this.errors[i]! * perS,
    }));
  }
}

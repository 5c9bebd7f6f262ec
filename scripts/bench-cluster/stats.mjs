// Latency percentiles over one run's samples (nearest-rank, as redis-benchmark and etcd's
// benchmark report them), in milliseconds.

const round3 = (x) => Math.round(x * 1000) / 1000;

/**
 * @param {Float64Array} samplesMs
 * @returns {{ count: number, avg: number, min: number, p50: number, p90: number, p95: number, p99: number, p999: number, max: number } | null}
 */
export function latencySummary(samplesMs) {
  const n = samplesMs.length;
  if (n === 0) return null;
  const s = Float64Array.from(samplesMs).sort();
  const at = (q) => s[Math.min(n - 1, Math.max(0, Math.ceil(q * n) - 1))];
  let sum = 0;
  for (let i = 0; i < n; i++) sum += s[i];
  return {
    count: n,
    avg: round3(sum / n),
    min: round3(s[0]),
    p50: round3(at(0.5)),
    p90: round3(at(0.9)),
    p95: round3(at(0.95)),
    p99: round3(at(0.99)),
    p999: round3(at(0.999)),
    max: round3(s[n - 1]),
  };
}

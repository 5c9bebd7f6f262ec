// Figures, tables and charts derived from open-loop runs (one run per backend): the shared
// presentation of every latency-under-load section.

import type { Figure, LoadRun, Table } from './results.js';
import type { SectionChart } from './section.js';
import { PALETTE } from './svg.js';

const ms = (us: number): number => Math.round(us / 10) / 100;
/** Phase and backend names as figure-id parts. */
export const idPart = (s: string): string => s.replace(/[^A-Za-z0-9_+-]+/g, '-');

export function loadRunFigures(runs: LoadRun[]): Figure[] {
  const out: Figure[] = [];
  for (const r of runs) {
    const b = idPart(r.backend);
    const scopes = [{ key: 'all', name: 'whole run', latency: r.latency, tput: r.achievedPerS, errors: r.errorReplies, gap: r.longestReplyGapMs }].concat(
      r.phases.map((p) => ({ key: idPart(p.name), name: p.name, latency: p.latency, tput: p.throughputPerS, errors: p.errorReplies, gap: p.longestReplyGapMs })),
    );
    for (const s of scopes) {
      const pre = `${b}.${s.key}`;
      const label = `${r.backend}, ${s.name}`;
      out.push(
        { id: `${pre}.p50Us`, label: `${label}: client latency p50`, value: s.latency.p50Us, unit: 'µs', better: 'lower' },
        { id: `${pre}.p99Us`, label: `${label}: client latency p99`, value: s.latency.p99Us, unit: 'µs', better: 'lower' },
        { id: `${pre}.p999Us`, label: `${label}: client latency p99.9`, value: s.latency.p999Us, unit: 'µs', better: 'lower' },
        { id: `${pre}.maxUs`, label: `${label}: client latency max`, value: s.latency.maxUs, unit: 'µs', better: 'lower' },
        { id: `${pre}.throughputPerS`, label: `${label}: replies per second`, value: s.tput, unit: '1/s', better: 'higher' },
        { id: `${pre}.longestReplyGapMs`, label: `${label}: longest time without a reply (write pause)`, value: s.gap, unit: 'ms', better: 'lower' },
      );
      for (const [prefix, n] of Object.entries(s.errors)) {
        out.push({ id: `${pre}.errors.${idPart(prefix)}`, label: `${label}: -${prefix} replies`, value: n, unit: 'count', better: 'lower' });
      }
    }
    out.push(
      { id: `${b}.all.unanswered`, label: `${r.backend}: requests never answered`, value: r.unanswered, unit: 'count', better: 'lower' },
      { id: `${b}.all.maxSendLagMs`, label: `${r.backend}: worst send lateness of the generator`, value: r.maxSendLagMs, unit: 'ms', better: 'neutral' },
    );
  }
  return out;
}

export function loadRunTable(runs: LoadRun[]): Table {
  const rows: (string | number)[][] = [];
  for (const r of runs) {
    for (const p of r.phases) {
      const errs = Object.entries(p.errorReplies).map(([k, v]) => `-${k} ${v}`).join(', ') || '0';
      rows.push([r.backend, p.name, `${(p.startMs / 1000).toFixed(1)}–${(p.stopMs / 1000).toFixed(1)}`, p.latency.count, ms(p.latency.p50Us), ms(p.latency.p99Us), ms(p.latency.p999Us), ms(p.latency.maxUs), p.throughputPerS, p.longestReplyGapMs, errs]);
    }
    const errs = Object.entries(r.errorReplies).map(([k, v]) => `-${k} ${v}`).join(', ') || '0';
    rows.push([r.backend, 'whole run', `0.0–${(r.durationMs / 1000).toFixed(1)}`, r.latency.count, ms(r.latency.p50Us), ms(r.latency.p99Us), ms(r.latency.p999Us), ms(r.latency.maxUs), r.achievedPerS, r.longestReplyGapMs, errs]);
  }
  return {
    title: 'Client latency and throughput per backend and phase (open loop)',
    columns: ['backend', 'phase', 'window (s)', 'requests', 'p50 (ms)', 'p99 (ms)', 'p99.9 (ms)', 'max (ms)', 'replies/s', 'longest reply gap (ms)', 'error replies'],
    rows,
    note: "Latency runs from each request's scheduled send time to its reply; requests belong to the phase they were scheduled in. The longest reply gap is the longest stretch inside the window in which no reply arrived (a write pause).",
  };
}

export function loadRunCharts(sectionId: string, titleSuffix: string, runs: LoadRun[]): SectionChart[] {
  const charts: SectionChart[] = [];
  const series = runs.flatMap((r, i) => {
    const color = PALETTE[i % PALETTE.length]!;
    const pts = (pick: (p: LoadRun['series'][number]) => number) =>
      r.series.map((p) => ({ x: (p.tMs + r.intervalMs / 2) / 1000, y: p.latency.count > 0 ? ms(pick(p)) : null }));
    return [
      { name: `${r.backend} p99`, color, points: pts((p) => p.latency.p99Us) },
      { name: `${r.backend} p50`, color, dashed: true, points: pts((p) => p.latency.p50Us) },
    ];
  });
  // Phase markers of every run; with several backends each marker takes its backend's colour.
  const markers = runs.flatMap((r, i) => r.phases.map((p) => ({ x: p.startMs / 1000, label: runs.length > 1 ? `${p.name} (${r.backend})` : p.name, color: runs.length > 1 ? PALETTE[i % PALETTE.length] : '#555' })));
  charts.push({
    kind: 'line',
    id: `${sectionId}-latency-over-time`,
    title: `Client latency over time${titleSuffix}`,
    xLabel: `time since load start (s), ${runs[0]?.intervalMs ?? 1000} ms intervals by scheduled send time`,
    yLabel: 'latency (ms)',
    series,
    markers,
    xMax: Math.max(...runs.map((r) => r.durationMs / 1000)),
  });
  charts.push({
    kind: 'line',
    id: `${sectionId}-throughput-over-time`,
    title: `Throughput over time${titleSuffix}`,
    xLabel: `time since load start (s), ${runs[0]?.intervalMs ?? 1000} ms intervals by reply time`,
    yLabel: 'replies per second (1/s)',
    series: runs.flatMap((r, i) => {
      const color = PALETTE[i % PALETTE.length]!;
      const x = (p: LoadRun['series'][number]) => (p.tMs + r.intervalMs / 2) / 1000;
      const errs = r.series.some((p) => p.errorsPerS > 0) ? [{ name: `${r.backend} error replies`, color, dashed: true, points: r.series.map((p) => ({ x: x(p), y: p.errorsPerS })) }] : [];
      return [{ name: `${r.backend} replies`, color, points: r.series.map((p) => ({ x: x(p), y: p.throughputPerS })) }, ...errs];
    }),
    markers,
    xMax: Math.max(...runs.map((r) => r.durationMs / 1000)),
  });
  const phaseNames = [...new Set(runs.flatMap((r) => r.phases.map((p) => p.name)))];
  charts.push({
    kind: 'bar',
    id: `${sectionId}-throughput`,
    title: `Throughput per backend and phase${titleSuffix}`,
    xLabel: 'phase',
    yLabel: 'replies per second (1/s)',
    groups: phaseNames,
    series: runs.map((r) => r.backend),
    values: phaseNames.map((n) => runs.map((r) => r.phases.find((p) => p.name === n)?.throughputPerS ?? null)),
  });
  const groups = runs.flatMap((r) => r.phases.map((p) => ({ label: runs.length > 1 ? `${r.backend} · ${p.name}` : p.name, l: p.latency })));
  const all = groups.flatMap((g) => [g.l.p50Us, g.l.p999Us]).filter((v) => v > 0);
  charts.push({
    kind: 'bar',
    id: `${sectionId}-percentiles`,
    title: `Client latency percentiles per ${runs.length > 1 ? 'backend and ' : ''}phase${titleSuffix}`,
    xLabel: runs.length > 1 ? 'backend · phase' : 'phase',
    yLabel: 'latency (ms)',
    groups: groups.map((g) => g.label),
    series: ['p50', 'p99', 'p99.9'],
    values: groups.map((g) => (g.l.count > 0 ? [ms(g.l.p50Us), ms(g.l.p99Us), ms(g.l.p999Us)] : [null, null, null])),
    // A log axis when the spread would flatten the small bars to nothing.
    log: all.length > 0 && Math.max(...all) / Math.min(...all) > 50,
  });
  return charts;
}

// `npm run bench:compare A B`: the ratio B/A of every figure the two runs share (matched by
// section and figure id), with a verdict from the figure's "better" direction. A and B are
// results.json files or run directories.

import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Figure, Results } from './results.js';
import { validateResults } from './schema.js';

export interface Comparison {
  key: string;
  label: string;
  unit: string;
  a: number;
  b: number;
  /** b / a; null when a is 0. */
  ratio: number | null;
  verdict: 'better' | 'worse' | 'same' | 'n/a';
}

export class CompareInputError extends Error {
  readonly code = 'BENCH_COMPARE_INPUT';
}

export function loadResults(path: string): Results {
  const file = existsSync(path) && statSync(path).isDirectory() ? join(path, 'results.json') : path;
  if (!existsSync(file)) throw new CompareInputError(`${file} does not exist`);
  const doc: unknown = JSON.parse(readFileSync(file, 'utf8'));
  const problems = validateResults(doc);
  if (problems.length > 0) throw new CompareInputError(`${file} is not a valid results.json: ${problems.slice(0, 3).join('; ')}`);
  return doc as Results;
}

function figureMap(r: Results): Map<string, Figure> {
  const m = new Map<string, Figure>();
  for (const s of r.sections) for (const f of s.figures) m.set(`${s.id}/${f.id}`, f);
  return m;
}

/** Changes within ±tolerance (default 5 %) count as "same": run-to-run noise, not a verdict. */
export function compareResults(a: Results, b: Results, tolerance = 0.05): { rows: Comparison[]; onlyA: string[]; onlyB: string[] } {
  const fa = figureMap(a);
  const fb = figureMap(b);
  const rows: Comparison[] = [];
  for (const [key, x] of fa) {
    const y = fb.get(key);
    if (!y || y.unit !== x.unit) continue;
    const ratio = x.value === 0 ? null : y.value / x.value;
    let verdict: Comparison['verdict'] = 'n/a';
    if (ratio !== null && x.better !== 'neutral') {
      if (Math.abs(ratio - 1) <= tolerance) verdict = 'same';
      else verdict = ratio > 1 === (x.better === 'higher') ? 'better' : 'worse';
    }
    rows.push({ key, label: x.label, unit: x.unit, a: x.value, b: y.value, ratio, verdict });
  }
  return { rows, onlyA: [...fa.keys()].filter((k) => !fb.has(k)), onlyB: [...fb.keys()].filter((k) => !fa.has(k)) };
}

export function formatComparison(a: Results, b: Results, c: ReturnType<typeof compareResults>): string {
  const lines: string[] = [`A: ${a.startedAt} (${a.mode}) on ${a.machine.cpuModel}, load ${a.machine.loadAvgBefore.join('/')}`];
  lines.push(`B: ${b.startedAt} (${b.mode}) on ${b.machine.cpuModel}, load ${b.machine.loadAvgBefore.join('/')}`);
  if (a.machine.cpuModel !== b.machine.cpuModel || a.machine.cores !== b.machine.cores) lines.push('warning: the runs are from different machines; ratios compare machines as much as code.');
  if (a.mode !== b.mode) lines.push(`warning: different modes (${a.mode} vs ${b.mode}); figures measured under different loads and durations.`);
  const keyW = Math.min(70, Math.max(6, ...c.rows.map((r) => r.key.length)));
  const num = (v: number): string => (Number.isInteger(v) ? String(v) : v.toPrecision(4));
  lines.push('', `${'figure'.padEnd(keyW)}  ${'A'.padStart(12)}  ${'B'.padStart(12)}  ${'B/A'.padStart(7)}  verdict`);
  for (const r of c.rows) {
    const ratio = r.ratio === null ? '—' : r.ratio.toFixed(3);
    lines.push(`${r.key.padEnd(keyW)}  ${`${num(r.a)}`.padStart(12)}  ${`${num(r.b)}`.padStart(12)}  ${ratio.padStart(7)}  ${r.verdict}${r.unit && r.unit !== 'count' ? ` (${r.unit})` : ''}`);
  }
  const count = (v: Comparison['verdict']): number => c.rows.filter((r) => r.verdict === v).length;
  lines.push('', `${c.rows.length} matching figures: ${count('better')} better, ${count('worse')} worse, ${count('same')} within ±5 %, ${count('n/a')} without a verdict.`);
  if (c.onlyA.length || c.onlyB.length) lines.push(`${c.onlyA.length} figures only in A, ${c.onlyB.length} only in B (not compared).`);
  return `${lines.join('\n')}\n`;
}

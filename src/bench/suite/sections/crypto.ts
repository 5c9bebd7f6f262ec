// Suite section "crypto": the existing AES-256-GCM micro-benchmark (dist/bench/crypto.js) run in
// its short mode as a child process (it measures worker pools and must own its process), its
// JSON folded into this run's figures, tables and a chart. Its own files stay under raw/crypto/.

import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runChild } from '../child.js';
import { idPart } from '../loadrun-report.js';
import type { Figure, Table } from '../results.js';
import { emptyOutput, type Section, type SectionContext, type SectionOutput, SectionSkipped } from '../section.js';

/** The parts of crypto.js's JSON this section reads. */
interface CryptoCell {
  backend: string;
  op: string;
  mode: string;
  size: number;
  batch: number;
  callUs: number;
  opsPerSec: number;
  mbPerSec: number;
}
interface CryptoCheck {
  name: string;
  measured: string;
  required: string;
  pass: boolean | null;
}
interface CryptoJson {
  tables: Table[];
  checks: CryptoCheck[];
  notes: string[];
  data: { cells: CryptoCell[]; busy?: Record<string, { busyUs: number; wallUs: number }> };
}

function argsFor(mode: SectionContext['mode']): string[] {
  if (mode === 'smoke') return ['--quick', '--time', '5', '--sizes', '1024', '--batches', '64', '--backends', 'native,node'];
  if (mode === 'quick') return ['--quick'];
  return [];
}

const sizeLabel = (n: number): string => (n >= 1024 ? `${n / 1024} KiB` : `${n} B`);

export function cryptoOutput(j: CryptoJson): SectionOutput {
  const out = emptyOutput();
  const figures: Figure[] = [];
  for (const c of j.data.cells) {
    const id = `${c.op}.${idPart(c.backend)}.${c.mode}.${c.size}B.b${c.batch}`;
    const label = `${c.op} ${c.backend} ${c.mode} ${sizeLabel(c.size)} × ${c.batch}`;
    figures.push({ id: `${id}.opsPerS`, label: `${label}: messages per second`, value: Math.round(c.opsPerSec), unit: '1/s', better: 'higher' });
    figures.push({ id: `${id}.MBps`, label: `${label}: throughput`, value: Math.round(c.mbPerSec * 10) / 10, unit: 'MB/s', better: 'higher' });
  }
  for (const [b, v] of Object.entries(j.data.busy ?? {})) {
    figures.push({ id: `busy.${idPart(b)}.mainThreadUs`, label: `${b}: main-thread CPU per 1024 × 1 KiB seal batch`, value: Math.round(v.busyUs), unit: 'µs', better: 'lower' });
  }
  out.figures = figures;
  out.tables = [
    ...j.tables.map((t) => ({ ...t, rows: t.rows.map((r) => r.map((v) => (typeof v === 'number' || typeof v === 'string' ? v : String(v)))) })),
    {
      title: 'Crypto checks (from the micro-benchmark)',
      columns: ['check', 'measured', 'required', 'result'],
      rows: j.checks.map((c) => [c.name, c.measured, c.required, c.pass === null ? 'n/a' : c.pass ? 'PASS' : 'FAIL']),
    },
  ];
  out.notes = j.notes;
  // Chart: seal throughput by size at the largest batch measured, one bar per backend and path.
  const seal = j.data.cells.filter((c) => c.op === 'seal' && c.mode !== 'reference');
  const batch = Math.max(0, ...seal.map((c) => c.batch));
  const cells = seal.filter((c) => c.batch === batch);
  const sizes = [...new Set(cells.map((c) => c.size))].sort((a, b) => a - b);
  const series = [...new Set(cells.map((c) => `${c.backend} ${c.mode}`))];
  if (cells.length > 0) {
    out.charts.push({
      kind: 'bar',
      id: 'crypto-seal-throughput',
      title: `AES-256-GCM seal throughput per backend (batches of ${batch})`,
      xLabel: 'message size',
      yLabel: 'throughput (MB/s)',
      groups: sizes.map(sizeLabel),
      series,
      values: sizes.map((s) => series.map((name) => cells.find((c) => c.size === s && `${c.backend} ${c.mode}` === name)?.mbPerSec ?? null)),
      log: true,
    });
  }
  return out;
}

export const cryptoSection: Section = {
  id: 'crypto',
  title: 'Crypto micro-benchmark (AES-256-GCM per backend)',
  async run(ctx) {
    const script = join(ctx.repo, 'dist', 'bench', 'crypto.js');
    if (!existsSync(script)) throw new SectionSkipped(`${script} is missing (build with: npm run build)`);
    const raw = join(ctx.resultsDir, 'raw', 'crypto');
    const r = await runChild(process.execPath, [script, ...argsFor(ctx.mode), '--out', raw], {
      cwd: ctx.repo,
      timeoutMs: ctx.mode === 'full' ? 30 * 60_000 : 5 * 60_000,
      onLine: (l) => ctx.log(l),
    });
    if (r.code !== 0) throw new Error(`crypto benchmark exited ${r.code ?? r.signal}: ${r.stderrTail.slice(-3).join(' | ')}`);
    const file = existsSync(raw) ? readdirSync(raw).find((f) => f.endsWith('.json')) : undefined;
    if (!file) throw new Error(`crypto benchmark wrote no JSON under ${raw}`);
    const out = cryptoOutput(JSON.parse(readFileSync(join(raw, file), 'utf8')) as CryptoJson);
    out.notes.push(`Raw output of the micro-benchmark: raw/crypto/${file} (and its .md/.svg).`);
    return out;
  },
};

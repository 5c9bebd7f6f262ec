// Benchmark report writer shared by the benchmark scripts: one run produces
// `<dir>/<name>-<YYYY-MM-DD>.json` (everything, machine-readable), `.md` (tables and checks)
// and `.svg` (a bar chart), with no dependencies.

import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';

export interface ReportTable {
  title: string;
  columns: string[];
  rows: (string | number)[][];
  /** Free text under the table. */
  note?: string;
}

/** A pass/fail gate; `pass: null` means it could not be evaluated (reason in `detail`). */
export interface ReportCheck {
  name: string;
  measured: string;
  required: string;
  pass: boolean | null;
  detail?: string;
}

export interface BarChart {
  title: string;
  /** Unit of the value axis, e.g. "MB/s". */
  unit: string;
  /** Logarithmic value axis (for data spanning orders of magnitude). */
  log?: boolean;
  /** Series names in legend order; every group lists its bars by series name. */
  series: string[];
  groups: { label: string; values: Record<string, number | undefined> }[];
}

export interface Report {
  /** File name stem, e.g. "crypto". */
  name: string;
  title: string;
  startedAt: string;
  durationS?: number;
  environment: Record<string, string | number | boolean>;
  tables: ReportTable[];
  checks: ReportCheck[];
  notes: string[];
  /** Raw measurements, written to JSON only. */
  data: unknown;
  chart?: BarChart;
}

/** The facts every report records about where it ran. */
export function machineInfo(): Record<string, string | number | boolean> {
  const c = cpus();
  return {
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    cpuModel: c[0]?.model ?? 'unknown',
    cores: c.length,
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
  };
}

export function renderMarkdown(r: Report): string {
  const out: string[] = [`# ${r.title}`, ''];
  out.push(`Run started ${r.startedAt}${r.durationS === undefined ? '' : `, took ${r.durationS.toFixed(0)} s`}.`, '');
  out.push('| environment | |', '|---|---|');
  for (const [k, v] of Object.entries(r.environment)) out.push(`| ${k} | ${escapeCell(String(v))} |`);
  out.push('');
  if (r.checks.length > 0) {
    out.push('## Checks', '', '| check | measured | required | result |', '|---|---|---|---|');
    for (const c of r.checks) {
      const res = c.pass === null ? 'n/a' : c.pass ? 'PASS' : '**FAIL**';
      out.push(`| ${escapeCell(c.name)} | ${escapeCell(c.measured)} | ${escapeCell(c.required)} | ${res}${c.detail ? ` — ${escapeCell(c.detail)}` : ''} |`);
    }
    out.push('');
  }
  for (const t of r.tables) {
    out.push(`## ${t.title}`, '', `| ${t.columns.map(escapeCell).join(' | ')} |`, `|${t.columns.map(() => '---').join('|')}|`);
    for (const row of t.rows) out.push(`| ${row.map((c) => escapeCell(String(c))).join(' | ')} |`);
    out.push('');
    if (t.note) out.push(t.note, '');
  }
  if (r.notes.length > 0) {
    out.push('## Notes', '');
    for (const n of r.notes) out.push(`- ${n}`);
    out.push('');
  }
  return out.join('\n');
}

function escapeCell(s: string): string {
  return s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

const PALETTE = ['#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f', '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#bab0ac'];

function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function fmt(v: number): string {
  if (v >= 1e6) return `${(v / 1e6).toFixed(v >= 1e7 ? 0 : 1)}M`;
  if (v >= 1e3) return `${(v / 1e3).toFixed(v >= 1e4 ? 0 : 1)}k`;
  if (v >= 10) return v.toFixed(0);
  return v.toPrecision(2);
}

/** A grouped vertical bar chart as a standalone SVG document. */
export function renderSvgBarChart(c: BarChart): string {
  const barW = 9;
  const gap = 14;
  const left = 70;
  const top = 50;
  const plotH = 320;
  const nSeries = c.series.length;
  const groupW = nSeries * barW + gap;
  const plotW = Math.max(300, c.groups.length * groupW);
  const legendH = 18 * Math.ceil(nSeries / 4);
  // Wide enough for the plot, the legend rows (4 entries of 190 px) and the title.
  const width = Math.ceil(Math.max(left + plotW + 20, left + 4 * 190, c.title.length * 8 + 40));
  const height = top + plotH + 110 + legendH;
  const values = c.groups.flatMap((g) => Object.values(g.values).filter((v): v is number => v !== undefined && v > 0));
  const max = values.length ? Math.max(...values) : 1;
  const min = values.length ? Math.min(...values) : 1;
  const logLo = Math.floor(Math.log10(min));
  const logHi = Math.ceil(Math.log10(max));
  const y = (v: number): number => {
    if (c.log) {
      const f = (Math.log10(Math.max(v, 10 ** logLo)) - logLo) / Math.max(1, logHi - logLo);
      return top + plotH - f * plotH;
    }
    return top + plotH - (v / max) * plotH;
  };
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="11">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${width / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">${escapeXml(c.title)}</text>`,
  ];
  // Axis and grid.
  const ticks: number[] = [];
  if (c.log) for (let e = logLo; e <= logHi; e++) ticks.push(10 ** e);
  else for (let i = 0; i <= 5; i++) ticks.push((max * i) / 5);
  for (const t of ticks) {
    const ty = y(t);
    parts.push(`<line x1="${left}" x2="${left + plotW}" y1="${ty}" y2="${ty}" stroke="#ddd"/>`);
    parts.push(`<text x="${left - 6}" y="${ty + 4}" text-anchor="end">${fmt(t)}</text>`);
  }
  parts.push(`<line x1="${left}" x2="${left}" y1="${top}" y2="${top + plotH}" stroke="#333"/>`);
  parts.push(`<line x1="${left}" x2="${left + plotW}" y1="${top + plotH}" y2="${top + plotH}" stroke="#333"/>`);
  parts.push(
    `<text transform="translate(16 ${top + plotH / 2}) rotate(-90)" text-anchor="middle">${escapeXml(c.unit)}${c.log ? ' (log)' : ''}</text>`,
  );
  c.groups.forEach((g, gi) => {
    const gx = left + gap / 2 + gi * groupW;
    c.series.forEach((s, si) => {
      const v = g.values[s];
      if (v === undefined || !(v > 0)) return;
      const by = y(v);
      parts.push(
        `<rect x="${gx + si * barW}" y="${by.toFixed(1)}" width="${barW - 1}" height="${(top + plotH - by).toFixed(1)}" fill="${PALETTE[si % PALETTE.length]}"><title>${escapeXml(`${g.label} ${s}: ${fmt(v)} ${c.unit}`)}</title></rect>`,
      );
    });
    const lx = gx + (nSeries * barW) / 2;
    parts.push(`<text transform="translate(${lx} ${top + plotH + 10}) rotate(45)" font-size="10">${escapeXml(g.label)}</text>`);
  });
  c.series.forEach((s, si) => {
    const lx = left + (si % 4) * 190;
    const ly = top + plotH + 95 + Math.floor(si / 4) * 18;
    parts.push(`<rect x="${lx}" y="${ly - 9}" width="10" height="10" fill="${PALETTE[si % PALETTE.length]}"/>`);
    parts.push(`<text x="${lx + 14}" y="${ly}">${escapeXml(s)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n');
}

/** Writes JSON, Markdown and (when the report has a chart) SVG; returns the paths written. */
export function writeReport(dir: string, r: Report): string[] {
  mkdirSync(dir, { recursive: true });
  const stem = `${r.name}-${r.startedAt.slice(0, 10)}`;
  const written: string[] = [];
  const json = join(dir, `${stem}.json`);
  writeFileSync(
    json,
    `${JSON.stringify({ ...r, markdown: undefined }, (_k, v) => (typeof v === 'bigint' ? v.toString() : v), 2)}\n`,
  );
  written.push(json);
  const md = join(dir, `${stem}.md`);
  writeFileSync(md, renderMarkdown(r));
  written.push(md);
  if (r.chart) {
    const svg = join(dir, `${stem}.svg`);
    writeFileSync(svg, renderSvgBarChart(r.chart));
    written.push(svg);
  }
  return written;
}

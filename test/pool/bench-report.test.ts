// The benchmark report writer (src/bench/report.ts) and the pool's task-buffer recycler.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { renderMarkdown, renderSvgBarChart, type Report, writeReport } from '../../src/bench/report.js';
import { BufferRecycler } from '../../src/pool/buffer-recycler.js';
import { DEFAULT_INLINE_THRESHOLD_US, inlineCostUs } from '../../src/pool/inline-policy.js';

const report: Report = {
  name: 'unit',
  title: 'unit <report>',
  startedAt: '2026-01-02T03:04:05.000Z',
  durationS: 1,
  environment: { node: 'v20', cores: 2 },
  tables: [{ title: 't', columns: ['a', 'b|c'], rows: [[1, 'x|y']] }],
  checks: [
    { name: 'fast', measured: '2×', required: '≥ 1×', pass: true },
    { name: 'slow', measured: '1 %', required: '≥ 80 %', pass: false },
    { name: 'skipped', measured: 'n/a', required: '≥ 3×', pass: null, detail: 'no wasm' },
  ],
  notes: ['n1'],
  data: { big: 1n },
  chart: {
    title: 'chart & co',
    unit: 'MB/s',
    log: true,
    series: ['s1', 's2'],
    groups: [
      { label: '64 B', values: { s1: 10, s2: 1000 } },
      { label: '1 KiB', values: { s1: 100, s2: undefined } },
    ],
  },
};

describe('bench report writer', () => {
  it('renders checks with PASS / FAIL / n/a and escapes table cells', () => {
    const md = renderMarkdown(report);
    expect(md).toContain('| fast | 2× | ≥ 1× | PASS |');
    expect(md).toContain('| slow | 1 % | ≥ 80 % | **FAIL** |');
    expect(md).toContain('n/a — no wasm');
    expect(md).toContain('b\\|c');
    expect(md).toContain('x\\|y');
  });

  it('renders a well-formed SVG with one bar per defined value', () => {
    const svg = renderSvgBarChart(report.chart!);
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg).toContain('chart &amp; co');
    expect(svg.match(/<title>/g)).toHaveLength(3);
    expect(svg.trim().endsWith('</svg>')).toBe(true);
  });

  it('writes json, md and svg named <name>-<date>', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sealkv-report-'));
    try {
      const files = writeReport(dir, report);
      expect(files.map((f) => f.slice(dir.length + 1))).toEqual(['unit-2026-01-02.json', 'unit-2026-01-02.md', 'unit-2026-01-02.svg']);
      const json = JSON.parse(readFileSync(files[0]!, 'utf8'));
      expect(json.data.big).toBe('1');
      expect(json.checks).toHaveLength(3);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('pool task-buffer recycler', () => {
  it('reuses a returned buffer of the same size class and bounds what it keeps', () => {
    const r = new BufferRecycler(2, 1 << 20);
    const a = r.take(5000);
    expect(a.byteLength).toBe(8192);
    r.give(a);
    expect(r.take(6000)).toBe(a);
    const big = r.take(2 << 20);
    r.give(big); // above maxBytes: dropped
    expect(r.size).toBe(0);
    r.give(r.take(100));
    r.give(r.take(100));
    r.give(new ArrayBuffer(4096));
    expect(r.size).toBe(2);
    r.give(new ArrayBuffer(5000)); // not a size class: dropped
    expect(r.size).toBe(2);
  });
});

describe('inline policy', () => {
  it('runs single small items inline and large batches in the pool', () => {
    expect(inlineCostUs('native', 1, 256)).toBeLessThan(DEFAULT_INLINE_THRESHOLD_US);
    expect(inlineCostUs('native', 1024, 1024 * 1024)).toBeGreaterThan(DEFAULT_INLINE_THRESHOLD_US);
    expect(inlineCostUs('js', 64, 64 * 1024)).toBeGreaterThan(DEFAULT_INLINE_THRESHOLD_US);
  });
});

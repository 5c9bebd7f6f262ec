// The report foundation end to end without a cluster: a suite run whose section drives the
// open-loop generator against the in-test RESP stub, written to a temp directory, then checked:
// results.json against its schema, every SVG well-formed, REPORT.md and a self-contained
// report.html; plus the schema validator, the charts' edge cases and bench:compare.

import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compareResults, formatComparison, loadResults } from '../../src/bench/suite/compare.js';
import { runSuite, type SuiteRun } from '../../src/bench/suite/driver.js';
import { runOpenLoop } from '../../src/bench/suite/loadgen.js';
import { loadRunCharts, loadRunFigures, loadRunTable } from '../../src/bench/suite/loadrun-report.js';
import { parseCpuFlags } from '../../src/bench/suite/machine.js';
import type { Results } from '../../src/bench/suite/results.js';
import { validateResults } from '../../src/bench/suite/schema.js';
import { emptyOutput, type Section, SectionSkipped } from '../../src/bench/suite/section.js';
import { cryptoOutput } from '../../src/bench/suite/sections/crypto.js';
import { barChart, lineChart } from '../../src/bench/suite/svg.js';
import { type StubServer, startStubServer } from './stub-resp-server.js';
import { xmlProblems } from './xml-wellformed.js';

let stub: StubServer;
let base: string;
let run: SuiteRun;
let run2: SuiteRun;

function stubSection(backends: string[]): Section {
  return {
    id: 'stub-openloop',
    title: 'Open loop against the stub <&> server',
    async run() {
      const out = emptyOutput();
      for (const backend of backends) {
        const r = await runOpenLoop({
          host: '127.0.0.1',
          port: stub.port,
          connections: 2,
          ratePerS: 300,
          durationMs: 600,
          intervalMs: 100,
          phases: [
            { name: 'cleartext', startMs: 0, stopMs: 300 },
            { name: 'after "cutover"', startMs: 300, stopMs: 600 },
          ],
        });
        out.loadRuns.push({ backend, ...r });
      }
      out.figures = loadRunFigures(out.loadRuns);
      out.tables = [loadRunTable(out.loadRuns)];
      out.charts = loadRunCharts('stub-openloop', '', out.loadRuns);
      out.notes = ['a note with <markup> & ampersands'];
      return out;
    },
  };
}

const fakeCrypto = cryptoOutput({
  tables: [{ title: 'seal', columns: ['backend', 'MB/s'], rows: [['native', 1000]] }],
  checks: [{ name: 'c', measured: '1', required: '2', pass: false }],
  notes: [],
  data: {
    cells: [
      { backend: 'native', op: 'seal', mode: 'inline', size: 1024, batch: 64, callUs: 1, opsPerSec: 1e6, mbPerSec: 1000 },
      { backend: 'js', op: 'seal', mode: 'inline', size: 1024, batch: 64, callUs: 10, opsPerSec: 1e5, mbPerSec: 100 },
    ],
    busy: { native: { busyUs: 100, wallUs: 200 } },
  },
});
const cryptoSection: Section = { id: 'crypto', title: 'Crypto (fixture)', run: async () => fakeCrypto };
const skipped: Section = {
  id: 'not-here',
  title: 'Needs a tool that is absent',
  run: async () => {
    throw new SectionSkipped('tool X is not installed');
  },
};
const broken: Section = {
  id: 'broken',
  title: 'Fails',
  run: async () => {
    throw new Error('boom');
  },
};

beforeAll(async () => {
  stub = await startStubServer();
  base = mkdtempSync(join(tmpdir(), 'sealkv-bench-report-'));
  const common = { mode: 'smoke' as const, outBase: base, repo: process.cwd(), pending: [{ id: 'cutover', title: 'Cutover', needs: 'encryption issues' }], write: () => {} };
  run = await runSuite({ ...common, sections: [cryptoSection, stubSection(['native', 'js']), skipped, broken] });
  // A second run one second later gets its own directory (names are per second).
  await new Promise((r) => setTimeout(r, 1100));
  run2 = await runSuite({ ...common, sections: [cryptoSection, stubSection(['native', 'js'])] });
});
afterAll(async () => {
  await stub.close();
  rmSync(base, { recursive: true, force: true });
});

describe('bench suite report writer', () => {
  it('writes results.json that validates against its schema, with machine facts and every section', () => {
    const doc = JSON.parse(readFileSync(join(run.dir, 'results.json'), 'utf8')) as Results;
    expect(validateResults(doc)).toEqual([]);
    expect(doc.machine.cores).toBeGreaterThan(0);
    expect(typeof doc.machine.cpuFlags.aes).toBe('boolean');
    expect(doc.machine.openssl).toBe(process.versions.openssl);
    expect(doc.machine.loadAvgBefore).toHaveLength(3);
    expect(doc.sections.map((s) => [s.id, s.status])).toEqual([
      ['crypto', 'ok'],
      ['stub-openloop', 'ok'],
      ['not-here', 'skipped'],
      ['broken', 'failed'],
    ]);
    expect(doc.sections[3]!.reason).toBe('boom');
    expect(run.failed).toBe(1);
    const ol = doc.sections[1]!;
    expect(ol.loadRuns.map((r) => r.backend)).toEqual(['native', 'js']);
    expect(ol.loadRuns[0]!.completed).toBe(180);
    expect(ol.figures.some((f) => f.id === 'native.cleartext.p99Us')).toBe(true);
    expect(ol.figures.some((f) => f.id === 'js.after-cutover-.longestReplyGapMs')).toBe(true);
    // The written schema is the one the validator uses.
    expect(JSON.parse(readFileSync(join(run.dir, 'results.schema.json'), 'utf8')).$id).toBe('sealkv-bench-results/v1');
  });

  it('every chart file is well-formed XML and is listed in results.json', () => {
    const doc = JSON.parse(readFileSync(join(run.dir, 'results.json'), 'utf8')) as Results;
    const files = readdirSync(join(run.dir, 'charts')).sort();
    expect(files.length).toBe(5);
    expect(doc.charts.map((c) => c.file.slice('charts/'.length)).sort()).toEqual(files);
    for (const f of files) expect(xmlProblems(readFileSync(join(run.dir, 'charts', f), 'utf8')), f).toEqual([]);
  });

  it('the latency-over-time chart has one series per backend, phase markers and labelled axes with units', () => {
    const svg = readFileSync(join(run.dir, 'charts', 'stub-openloop-latency-over-time.svg'), 'utf8');
    for (const s of ['native p99', 'js p99', 'cleartext', 'after &quot;cutover&quot;', 'latency (ms)', 'time since load start (s)']) expect(svg).toContain(s);
    expect(svg.match(/<path /g)?.length).toBe(4); // p99 and p50 per backend
  });

  it('report.html is self-contained: every SVG inline, tables, no external resources', () => {
    const html = readFileSync(join(run.dir, 'report.html'), 'utf8');
    expect(html.match(/<svg /g)?.length).toBe(5);
    expect(html).toContain('Client latency and throughput per backend and phase');
    expect(html).toContain('Still to come');
    expect(html).toContain('a note with &lt;markup&gt; &amp; ampersands');
    expect(html).not.toMatch(/<(script|link|img|iframe)\b/);
    expect(html).not.toMatch(/(src|href)=["']?https?:/);
    const md = readFileSync(join(run.dir, 'REPORT.md'), 'utf8');
    expect(md).toContain('![Client latency over time](charts/stub-openloop-latency-over-time.svg)');
    expect(md).toContain('| native | cleartext |');
  });

  it('bench:compare matches figures by section and id and gives B/A ratios', () => {
    const a = loadResults(run.dir);
    const b = loadResults(join(run2.dir, 'results.json'));
    const c = compareResults(a, b);
    const tput = c.rows.find((r) => r.key === 'crypto/seal.native.inline.1024B.b64.MBps')!;
    expect(tput.ratio).toBe(1);
    expect(tput.verdict).toBe('same');
    expect(c.rows.some((r) => r.key === 'stub-openloop/js.all.p99Us')).toBe(true);
    const text = formatComparison(a, b, c);
    expect(text).toMatch(/matching figures/);
    // A doctored B: double a latency (worse) and a throughput (better).
    const doctored = structuredClone(b);
    const figs = doctored.sections.find((s) => s.id === 'crypto')!.figures;
    figs.find((f) => f.id === 'seal.native.inline.1024B.b64.MBps')!.value *= 2;
    const d = compareResults(a, doctored).rows.find((r) => r.key === 'crypto/seal.native.inline.1024B.b64.MBps')!;
    expect(d.ratio).toBe(2);
    expect(d.verdict).toBe('better');
  });
});

type LooseSection = { loadRuns: { target: string }[]; figures: { value: unknown }[] };
const sections = (d: Record<string, unknown>): LooseSection[] => d.sections as LooseSection[];

describe('results.json schema validator', () => {
  const good = (): Record<string, unknown> => JSON.parse(readFileSync(join(run.dir, 'results.json'), 'utf8'));
  it.each([
    ['a missing machine', (d: Record<string, unknown>) => delete d.machine, /missing machine/],
    ['a wrong type', (d: Record<string, unknown>) => (d.durationS = '9'), /durationS: expected number/],
    ['an unknown property', (d: Record<string, unknown>) => (d.extra = 1), /unexpected property extra/],
    ['a bad mode', (d: Record<string, unknown>) => (d.mode = 'slow'), /mode: must be one of/],
    ['a chart outside charts/', (d: Record<string, unknown>) => ((d.charts as { file: string }[])[0]!.file = '../x.svg'), /file: does not match/],
    ['a non-loopback target', (d: Record<string, unknown>) => (sections(d)[1]!.loadRuns[0]!.target = '10.0.0.1:6379'), /target: does not match/],
    ['a string figure value', (d: Record<string, unknown>) => (sections(d)[0]!.figures[0]!.value = 'NaN'), /value: expected number/],
  ])('rejects %s', (_n, mutate, msg) => {
    const d = good();
    mutate(d);
    expect(validateResults(d).join('\n')).toMatch(msg);
  });
});

describe('bench charts', () => {
  it('stay well-formed on edge cases: no data, one point, zeros, gaps, markup in names', () => {
    const charts = [
      lineChart({ title: 'empty', xLabel: 'x (s)', yLabel: 'y (ms)', series: [] }),
      lineChart({ title: 'one <point>', xLabel: 'x', yLabel: 'y', series: [{ name: 'a&b', points: [{ x: 0, y: 0 }] }], markers: [{ x: 0, label: '"m"' }] }),
      lineChart({ title: 'gap', xLabel: 'x', yLabel: 'y', series: [{ name: 's', points: [{ x: 0, y: 1 }, { x: 1, y: null }, { x: 2, y: 3 }] }] }),
      barChart({ title: 'bars', xLabel: 'g', yLabel: 'v', groups: ['a', 'b'], series: ['s1', 's2'], values: [[0, null], [5, 7]] }),
      barChart({ title: 'log', xLabel: 'g', yLabel: 'v', groups: ['a very long group label that must slant'], series: ['s'], values: [[1e6]], log: true }),
      barChart({ title: 'none', xLabel: 'g', yLabel: 'v', groups: [], series: [], values: [] }),
    ];
    for (const svg of charts) expect(xmlProblems(svg)).toEqual([]);
    expect(charts[2]).toMatch(/<path d="M[^"]*M/); // the gap breaks the line
  });
});

describe('machine facts', () => {
  it('reads the AES flags from a /proc/cpuinfo text', () => {
    const flags = parseCpuFlags('processor\t: 0\nmodel name\t: X\nflags\t\t: fpu sse2 aes pclmulqdq avx2 vaes\n\nprocessor\t: 1\nflags\t\t: fpu\n');
    expect(flags.has('aes')).toBe(true);
    expect(flags.has('vaes')).toBe(true);
    expect(flags.has('vpclmulqdq')).toBe(false);
  });
});

// `npm run bench -- --smoke` end to end on the compiled suite (dist/, built by `npm test`'s
// pretest): the real crypto micro-benchmark in its shortest mode and a real 3-node cluster under
// a few seconds of open-loop load. Checks the written JSON against its schema and every chart
// for well-formedness — not the measured values, which depend on the machine.

import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Results } from '../../src/bench/suite/results.js';
import { validateResults } from '../../src/bench/suite/schema.js';
import { xmlProblems } from './xml-wellformed.js';

const out = mkdtempSync(join(tmpdir(), 'sealkv-bench-smoke-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));

describe('npm run bench -- --smoke', () => {
  it('runs every registered section and writes a valid results.json, well-formed charts, REPORT.md and report.html', () => {
    const cli = join(process.cwd(), 'dist', 'bench', 'suite', 'cli.js');
    expect(existsSync(cli), 'build first: npx tsc -p tsconfig.json').toBe(true);
    const r = spawnSync(process.execPath, [cli, '--smoke', '--out', out], { encoding: 'utf8', timeout: 120_000 });
    expect(r.status, `${r.stdout}\n${r.stderr}`).toBe(0);
    // Progress output names each section as it runs.
    expect(r.stdout).toMatch(/\[1\/2\] cluster-openloop/);
    expect(r.stdout).toMatch(/\[2\/2\] crypto/);
    const [dir] = readdirSync(out);
    const runDir = join(out, dir!);
    const doc = JSON.parse(readFileSync(join(runDir, 'results.json'), 'utf8')) as Results;
    expect(validateResults(doc)).toEqual([]);
    expect(doc.mode).toBe('smoke');
    expect(doc.sections.map((s) => [s.id, s.status])).toEqual([
      ['cluster-openloop', 'ok'],
      ['crypto', 'ok'],
    ]);
    const load = doc.sections[0]!.loadRuns[0]!;
    expect(load.backend).toBe('cleartext');
    expect(load.scheduled).toBe(600);
    expect(load.completed).toBeGreaterThan(0);
    expect(load.phases.map((p) => p.name)).toEqual(['warm-up', 'steady (cleartext)']);
    expect(doc.pending.map((p) => p.id)).toContain('cutover');
    const charts = readdirSync(join(runDir, 'charts'));
    expect(charts.length).toBe(doc.charts.length);
    expect(charts.length).toBeGreaterThanOrEqual(4);
    for (const f of charts) expect(xmlProblems(readFileSync(join(runDir, 'charts', f), 'utf8')), f).toEqual([]);
    const html = readFileSync(join(runDir, 'report.html'), 'utf8');
    expect(html.match(/<svg /g)?.length).toBe(charts.length);
    expect(readFileSync(join(runDir, 'REPORT.md'), 'utf8')).toContain('## 3-node cluster under open-loop SET load (cleartext)');
    // npm run bench:compare on the run against itself: every figure matches with ratio 1.
    const cmp = spawnSync(process.execPath, [join(process.cwd(), 'dist', 'bench', 'suite', 'compare-cli.js'), runDir, join(runDir, 'results.json')], { encoding: 'utf8' });
    expect(cmp.status, cmp.stderr).toBe(0);
    expect(cmp.stdout).toMatch(/ 0 better, 0 worse, /);
  });
});

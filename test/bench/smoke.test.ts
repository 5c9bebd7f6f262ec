// `npm run bench -- --smoke` end to end on the compiled suite (dist/, built by `npm test`'s
// pretest): every section in its shortest mode — a real 3-node cluster through the cutover steps
// under a few seconds of open-loop load, a closed-loop throughput point, the pool scaling cells,
// the crypto micro-benchmark and the raft/storage/WAL micro-benchmarks. Checks the written JSON against its schema and every chart
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
    const r = spawnSync(process.execPath, [cli, '--smoke', '--out', out], { encoding: 'utf8', timeout: 170_000 });
    expect(r.status, `${r.stdout}\n${r.stderr}`).toBe(0);
    // Progress output names each section as it runs.
    const ids = ['cutover', 'cluster-throughput', 'pool-scaling', 'crypto', 'micro'];
    for (const [i, id] of ids.entries()) expect(r.stdout).toContain(`[${i + 1}/${ids.length}] ${id}`);
    const [dir] = readdirSync(out);
    const runDir = join(out, dir!);
    const doc = JSON.parse(readFileSync(join(runDir, 'results.json'), 'utf8')) as Results;
    expect(validateResults(doc)).toEqual([]);
    expect(doc.mode).toBe('smoke');
    expect(doc.sections.map((s) => [s.id, s.status])).toEqual(ids.map((id) => [id, 'ok']));
    const load = doc.sections[0]!.loadRuns[0]!;
    expect(load.backend).toBe('node');
    expect(load.completed).toBeGreaterThan(0);
    // The phase markers of the cutover: warm-up, cleartext, then a transition and a steady phase per step.
    expect(load.phases.map((p) => p.name)).toEqual([
      'warm-up',
      'cleartext',
      'cutover to bootstrapped',
      'bootstrapped',
      'cutover to storage envelope',
      'storage envelope',
      'cutover to raft envelope',
      'raft envelope',
      'cutover to raft rotate-dek',
      'raft rotate-dek',
      'cutover to storage rotate-dek',
      'storage rotate-dek',
    ]);
    const cut = doc.sections[0]!.figures.map((f) => f.id);
    // Node-side figures from /metrics: the leader's wrap and apply latency, every node's main-thread share.
    expect(cut).toContain('node.storage-envelope.leader.applyP99Us');
    expect(cut).toContain('node.raft-envelope.leader.wrapP50Us');
    // Every admin operation of the plan returned (none FAILED) and was timed.
    expect(cut.filter((id) => id.startsWith('node.op.'))).toHaveLength(5);
    expect(doc.sections[0]!.notes.some((n) => n.includes('failed'))).toBe(false);
    expect(cut.filter((id) => id.startsWith('node.cleartext.') && id.endsWith('.mainThreadShare'))).toHaveLength(3);
    expect(doc.sections[2]!.figures.some((f) => f.id === 'node.recommendedWorkers')).toBe(true);
    expect(doc.pending).toEqual([]);
    const charts = readdirSync(join(runDir, 'charts'));
    expect(charts.length).toBe(doc.charts.length);
    expect(charts.length).toBeGreaterThanOrEqual(4);
    for (const f of charts) expect(xmlProblems(readFileSync(join(runDir, 'charts', f), 'utf8')), f).toEqual([]);
    const html = readFileSync(join(runDir, 'report.html'), 'utf8');
    expect(html.match(/<svg /g)?.length).toBe(charts.length);
    expect(readFileSync(join(runDir, 'REPORT.md'), 'utf8')).toContain('### Headline per backend');
    // npm run bench:compare on the run against itself: every figure matches with ratio 1.
    const cmp = spawnSync(process.execPath, [join(process.cwd(), 'dist', 'bench', 'suite', 'compare-cli.js'), runDir, join(runDir, 'results.json')], { encoding: 'utf8' });
    expect(cmp.status, cmp.stderr).toBe(0);
    expect(cmp.stdout).toMatch(/ 0 better, 0 worse, /);
  }, 180_000);
});

// Runs the registered sections in turn with progress output, then writes the report directory.
// A failing section is recorded as failed (with its reason) and the others still run.

import { performance } from 'node:perf_hooks';
import { join } from 'node:path';
import { machineFacts } from './machine.js';
import { RESULTS_SCHEMA_ID, RESULTS_SCHEMA_VERSION, type PendingSection, type Results, type RunMode, type SectionResult } from './results.js';
import { ALL_BACKENDS, type Section, type SectionChart, SectionSkipped } from './section.js';
import { runDirName, writeRun } from './writer.js';

export interface SuiteOptions {
  mode: RunMode;
  /** Parent of the per-run directory, e.g. <repo>/bench/results. */
  outBase: string;
  repo: string;
  sections: Section[];
  pending: PendingSection[];
  /** Section ids to run (all when empty). */
  only?: string[];
  argv?: string[];
  profile?: boolean;
  backends?: string[];
  /** Progress sink (default: stdout). */
  write?: (line: string) => void;
}

export interface SuiteRun {
  dir: string;
  results: Results;
  failed: number;
}

export async function runSuite(o: SuiteOptions): Promise<SuiteRun> {
  const write = o.write ?? ((l: string) => process.stdout.write(`${l}\n`));
  const t0 = performance.now();
  const stamp = (): string => `[${((performance.now() - t0) / 1000).toFixed(1).padStart(6)} s]`;
  // Machine facts first: the load average must be the one before our own load.
  const machine = machineFacts();
  const startedAt = new Date().toISOString();
  const dir = join(o.outBase, runDirName(startedAt));
  const chosen = o.only && o.only.length > 0 ? o.sections.filter((s) => o.only!.includes(s.id)) : o.sections;
  write(`${stamp()} sealkv bench (${o.mode}): ${chosen.length} section(s) → ${dir}`);
  write(`${stamp()} machine: ${machine.cpuModel}, ${machine.cores} cores, aes ${machine.cpuFlags.aes}, vaes ${machine.cpuFlags.vaes}, load ${machine.loadAvgBefore.join(' ')}`);
  const sections: SectionResult[] = [];
  const charts: { section: string; chart: SectionChart }[] = [];
  let failed = 0;
  for (const [i, s] of chosen.entries()) {
    write(`${stamp()} [${i + 1}/${chosen.length}] ${s.id}: ${s.title}`);
    const s0 = performance.now();
    const base = { id: s.id, title: s.title };
    try {
      const out = await s.run({ mode: o.mode, resultsDir: dir, repo: o.repo, profile: o.profile ?? false, backends: o.backends ?? ALL_BACKENDS, log: (m) => write(`${stamp()}   ${s.id}: ${m}`) });
      const durationS = (performance.now() - s0) / 1000;
      sections.push({ ...base, status: 'ok', durationS, figures: out.figures, tables: out.tables, loadRuns: out.loadRuns, notes: out.notes });
      for (const chart of out.charts) charts.push({ section: s.id, chart });
      write(`${stamp()} [${i + 1}/${chosen.length}] ${s.id}: done in ${durationS.toFixed(1)} s, ${out.figures.length} figures`);
    } catch (e) {
      const skipped = e instanceof SectionSkipped;
      if (!skipped) failed++;
      const reason = e instanceof Error ? e.message : String(e);
      sections.push({ ...base, status: skipped ? 'skipped' : 'failed', reason, durationS: (performance.now() - s0) / 1000, figures: [], tables: [], loadRuns: [], notes: [] });
      write(`${stamp()} [${i + 1}/${chosen.length}] ${s.id}: ${skipped ? 'SKIPPED' : 'FAILED'} — ${reason}`);
    }
  }
  const results: Omit<Results, 'charts'> = {
    schema: RESULTS_SCHEMA_ID,
    schemaVersion: RESULTS_SCHEMA_VERSION,
    mode: o.mode,
    startedAt,
    finishedAt: new Date().toISOString(),
    durationS: Math.round((performance.now() - t0) / 100) / 10,
    argv: o.argv ?? [],
    machine,
    sections,
    pending: o.pending,
  };
  const written = writeRun(dir, results, charts);
  write(`${stamp()} wrote ${written.files.length} files; open ${join(dir, 'report.html')}`);
  return { dir, results: written.results, failed };
}

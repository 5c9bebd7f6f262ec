// `--profile`: every node of a cluster run records `node --cpu-prof` into
// <results>/profiles/<run>/<node>/; after the nodes stop (the profile is written on their clean
// exit) each node's main-thread profile is summarised with scripts/bench-cluster/cpuprofile.mjs
// and its top self-time functions printed and tabled. The .cpuprofile files stay beside the
// results (open them in Chrome DevTools or speedscope).

import { existsSync } from 'node:fs';
import { join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Table } from './results.js';

interface ProfileSummary {
  thread: string;
  busyMs: number;
  idleMs: number;
  functions: { function: string; url: string; line: number; selfMs: number; pctOfBusy: number }[];
}
interface CpuProfileModule {
  summariseCpuProfile(file: string, top?: number): ProfileSummary;
  findCpuProfiles(dir: string): string[];
  threadOf(file: string): string;
}

/** Summarises the main-thread profile of every node under `dir`; one table for the run. */
export async function profileTables(repo: string, resultsDir: string, dir: string, nodes: string[], runLabel: string, log: (m: string) => void, top = 10): Promise<{ table: Table; notes: string[] }> {
  const mod = (await import(pathToFileURL(join(repo, 'scripts', 'bench-cluster', 'cpuprofile.mjs')).href)) as CpuProfileModule;
  const rows: (string | number)[][] = [];
  const notes: string[] = [];
  for (const node of nodes) {
    const nodeDir = join(dir, node);
    const files = existsSync(nodeDir) ? mod.findCpuProfiles(nodeDir) : [];
    const mainFile = files.find((f) => mod.threadOf(f) === 'main') ?? files[0];
    if (!mainFile) {
      notes.push(`${runLabel} ${node}: no CPU profile was written (did the node exit cleanly?).`);
      continue;
    }
    const s = mod.summariseCpuProfile(mainFile, top);
    log(`profile ${runLabel} ${node} (main thread, busy ${Math.round(s.busyMs)} ms): ${s.functions.slice(0, 5).map((f) => `${f.function} ${f.pctOfBusy}%`).join(', ')}`);
    for (const f of s.functions) rows.push([node, f.function, `${f.url}${f.line > 0 ? `:${f.line}` : ''}`, f.selfMs, f.pctOfBusy]);
    notes.push(`${runLabel} ${node}: ${files.length} profile(s) in ${relative(resultsDir, nodeDir)}/ (main thread: ${relative(resultsDir, mainFile)}).`);
  }
  return {
    table: {
      title: `Top ${top} self-time functions per node, main thread — ${runLabel}`,
      columns: ['node', 'function', 'where', 'self (ms)', '% of busy'],
      rows,
      note: 'From node --cpu-prof over the whole node lifetime (start-up included). Self time = samples in the function itself, not its callees.',
    },
    notes,
  };
}

// What a suite section is: something the driver runs in turn, which returns figures, tables,
// open-loop runs and chart specs. The driver turns them into results.json and the report.

import type { Figure, LoadRun, RunMode, Table } from './results.js';
import type { ChartSpec } from './svg.js';

export interface SectionContext {
  mode: RunMode;
  /** The results directory of this run; a section may keep raw files under it. */
  resultsDir: string;
  /** Repository root (dist/ and scripts/ live here). */
  repo: string;
  /** Progress output, prefixed by the driver. */
  log: (msg: string) => void;
  /** `--profile`: cluster sections run every node under --cpu-prof and report the top functions. */
  profile: boolean;
  /** `--backends`: the cipher backends the per-backend sections run (default: all four). */
  backends: string[];
}

/** Every cipher backend a node offers (`--cipher`). */
export const ALL_BACKENDS = ['native', 'wasm', 'js', 'node'];

export type SectionChart = ChartSpec & { id: string };

export interface SectionOutput {
  figures: Figure[];
  tables: Table[];
  loadRuns: LoadRun[];
  notes: string[];
  charts: SectionChart[];
}

export interface Section {
  id: string;
  title: string;
  run(ctx: SectionContext): Promise<SectionOutput>;
}

/** Thrown by a section that cannot run here (a missing tool, a missing build); not a failure. */
export class SectionSkipped extends Error {
  readonly code = 'BENCH_SECTION_SKIPPED';
}

export function emptyOutput(): SectionOutput {
  return { figures: [], tables: [], loadRuns: [], notes: [], charts: [] };
}

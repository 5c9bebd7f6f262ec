// The shape of bench/results/<timestamp>/results.json: every figure of a run plus the machine it
// ran on. Figures carry stable ids so that bench:compare can match them across runs.

import type { OpenLoopResult } from './loadgen.js';
import type { MachineFacts } from './machine.js';

export const RESULTS_SCHEMA_ID = 'sealkv-bench-results';
export const RESULTS_SCHEMA_VERSION = 1;

export type RunMode = 'smoke' | 'quick' | 'full';

/** One number of the run. `better` says which direction is an improvement (for compare). */
export interface Figure {
  /** Stable within its section, e.g. "cleartext.steady.p99Us". */
  id: string;
  label: string;
  value: number;
  unit: string;
  better: 'lower' | 'higher' | 'neutral';
}

export interface Table {
  title: string;
  columns: string[];
  rows: (string | number)[][];
  note?: string;
}

/** One open-loop run against one backend (cleartext counts as a backend: "none"). */
export interface LoadRun extends OpenLoopResult {
  backend: string;
}

export interface ChartRef {
  id: string;
  section: string;
  title: string;
  /** Path relative to the results directory. */
  file: string;
}

export interface SectionResult {
  id: string;
  title: string;
  status: 'ok' | 'skipped' | 'failed';
  /** Why a section was skipped or failed. */
  reason?: string;
  durationS: number;
  figures: Figure[];
  tables: Table[];
  loadRuns: LoadRun[];
  notes: string[];
}

/** Parts of the suite that cannot run yet, and what they wait for. */
export interface PendingSection {
  id: string;
  title: string;
  needs: string;
}

export interface Results {
  schema: typeof RESULTS_SCHEMA_ID;
  schemaVersion: typeof RESULTS_SCHEMA_VERSION;
  mode: RunMode;
  startedAt: string;
  finishedAt: string;
  durationS: number;
  argv: string[];
  machine: MachineFacts;
  sections: SectionResult[];
  charts: ChartRef[];
  pending: PendingSection[];
}

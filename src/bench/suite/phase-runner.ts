// The cutover phase runner: drives a list of steps against a running cluster while an open-loop
// load runs, marking a phase where each admin operation is issued ("cutover to X": the transition,
// where a barrier's pause and -TRYAGAIN replies land) and another once it returned and settled
// ("X": the steady state under the new configuration).
//
// The steps are data (CUTOVER_STEPS): a new admin operation joins the plan as one entry; nothing
// else in the runner or the section changes.

import { adminPost, type Cluster } from './cluster.js';
import type { OpenLoopRun } from './loadgen.js';

export interface AdminOp {
  /** What an operator runs for it, for the report. */
  label: string;
  /** Runs it on the leader with this server-side deadline (`timeout_ms`, as `--timeout-ms` of the CLI). */
  run(c: Cluster, timeoutMs: number): Promise<string>;
}

export interface CutoverStep {
  /** The phase name once the step is in force, e.g. "storage envelope". */
  name: string;
  /** The operation that takes the cluster there; none for the starting state. */
  op?: AdminOp;
}

const describe = (r: Record<string, unknown>): string =>
  Object.entries(r)
    // Scalars only: nested reports (e.g. the capability summary) are long and not figures.
    .filter(([, v]) => typeof v !== 'object' || v === null)
    .map(([k, v]) => `${k}=${String(v)}`)
    .join(' ');

const post = (label: string, path: string, body: Record<string, unknown> = {}): AdminOp => ({
  label,
  run: async (c, timeoutMs) => describe(await adminPost(c.leader, path, { ...body, timeout_ms: timeoutMs })),
});

export const CUTOVER_STEPS: CutoverStep[] = [
  { name: 'cleartext' },
  { name: 'bootstrapped', op: post('sealkv admin encryption bootstrap', '/v1/encryption/bootstrap') },
  { name: 'storage envelope', op: post('sealkv admin encryption enable-storage-envelope', '/v1/encryption/enable-storage-envelope') },
  { name: 'raft envelope', op: post('sealkv admin encryption enable-raft-envelope', '/v1/encryption/enable-raft-envelope') },
  { name: 'raft rotate-dek', op: post('sealkv admin encryption rotate-dek --purpose raft', '/v1/encryption/rotate-dek', { purpose: 'raft' }) },
  { name: 'storage rotate-dek', op: post('sealkv admin encryption rotate-dek --purpose storage', '/v1/encryption/rotate-dek', { purpose: 'storage' }) },
];

export const transitionName = (step: CutoverStep): string => `cutover to ${step.name}`;

export interface PhaseTiming {
  warmupMs: number;
  /** Steady time per step once its operation returned and settled. */
  holdMs: number;
  /** Time after an operation returned before its steady phase starts. */
  settleMs: number;
  /**
   * Deadline of one admin operation: a cluster that cannot keep up with the load (apply falling
   * behind) makes the operation time out, which ends the plan, instead of stalling the suite.
   */
  opTimeoutMs: number;
}

export interface OpRecord {
  step: string;
  label: string;
  /** When it was issued, ms since the load started. */
  startMs: number;
  durationMs: number;
  result: string;
  error?: string;
}

/** Load duration the plan needs, with `opBudgetMs` per operation for the operation itself. */
export function plannedDurationMs(steps: CutoverStep[], t: PhaseTiming, opBudgetMs: number): number {
  const ops = steps.filter((s) => s.op).length;
  return t.warmupMs + steps.length * t.holdMs + ops * (t.settleMs + opBudgetMs);
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Runs the steps in order against the cluster while `run` sends load. A failed operation is
 * recorded and ends the plan (the later steps depend on it); the load runs to its end.
 */
export async function runPhases(run: OpenLoopRun, cluster: Cluster, steps: CutoverStep[], t: PhaseTiming, log: (m: string) => void): Promise<OpRecord[]> {
  const ops: OpRecord[] = [];
  run.mark('warm-up');
  await sleep(t.warmupMs);
  for (const step of steps) {
    if (step.op) {
      run.mark(transitionName(step));
      const startMs = run.elapsedMs();
      try {
        const result = await step.op.run(cluster, t.opTimeoutMs);
        const durationMs = run.elapsedMs() - startMs;
        ops.push({ step: step.name, label: step.op.label, startMs: Math.round(startMs), durationMs: Math.round(durationMs * 10) / 10, result });
        log(`${step.op.label}: ${Math.round(durationMs)} ms (${result})`);
      } catch (e) {
        const durationMs = run.elapsedMs() - startMs;
        const error = e instanceof Error ? e.message : String(e);
        ops.push({ step: step.name, label: step.op.label, startMs: Math.round(startMs), durationMs: Math.round(durationMs), result: '', error });
        log(`${step.op.label} FAILED after ${Math.round(durationMs)} ms: ${error}`);
        return ops;
      }
      await sleep(t.settleMs);
    }
    run.mark(step.name);
    await sleep(t.holdMs);
  }
  return ops;
}

// Many seeds of the whole-node simulator, summed up (the `npm run sim:node` summary).

import type { DefectName } from '../defect-switches.js';
import { emptyFaultCounts, type FaultCounts, type NodeSimResult, runNodeSim } from './node-sim.js';

export interface NodeSimSummary {
  runs: number;
  violations: number;
  failedSeeds: number[];
  /** First violation line per failing seed (the rest with `--seeds 1 --verbose`). */
  firstViolations: Record<string, string>;
  faults: FaultCounts;
  halts: number;
  /** HALTs per error code (the checks accept a HALT only at an entry a fault corrupted). */
  haltsByCode: Record<string, number>;
  /** Start-up refusals the SPEC leaves to the operator (WR-10 after a crash before WR-6), with one example. */
  refusals: number;
  refusalExample?: string;
  snapshotsInstalled: number;
  cutoversCompleted: number;
  /** Distinct (DEK, nonce) pairs checked. */
  nonces: number;
  ops: { invoked: number; ok: number; indeterminate: number };
  simulatedNodeMinutes: number;
  wallSeconds: number;
  nodeMinutesPerWallSecond: number;
}

export interface ManyOptions {
  defect?: DefectName | null;
  faultMs?: number;
  healMs?: number;
  /** Stop starting new seeds after this many wall ms (a time box). */
  timeBoxMs?: number;
  onResult?(r: NodeSimResult): void;
}

export async function runNodeSims(seedStart: number, seeds: number, opts: ManyOptions = {}): Promise<NodeSimSummary> {
  const t0 = Date.now();
  const s: NodeSimSummary = {
    runs: 0,
    violations: 0,
    failedSeeds: [],
    firstViolations: {},
    faults: emptyFaultCounts(),
    halts: 0,
    haltsByCode: {},
    refusals: 0,
    snapshotsInstalled: 0,
    cutoversCompleted: 0,
    nonces: 0,
    ops: { invoked: 0, ok: 0, indeterminate: 0 },
    simulatedNodeMinutes: 0,
    wallSeconds: 0,
    nodeMinutesPerWallSecond: 0,
  };
  let nodeMs = 0;
  for (let seed = seedStart; seed < seedStart + seeds; seed++) {
    if (opts.timeBoxMs !== undefined && Date.now() - t0 > opts.timeBoxMs) break;
    const r = await runNodeSim({
      seed,
      defect: opts.defect ?? null,
      ...(opts.faultMs !== undefined ? { faultMs: opts.faultMs } : {}),
      ...(opts.healMs !== undefined ? { healMs: opts.healMs } : {}),
    });
    opts.onResult?.(r);
    s.runs++;
    if (r.violations.length > 0) {
      s.violations += r.violations.length;
      s.failedSeeds.push(seed);
      s.firstViolations[String(seed)] = r.violations[0]!.slice(0, 300);
    }
    for (const k of Object.keys(s.faults) as (keyof FaultCounts)[]) s.faults[k] += r.faults[k];
    s.halts += r.halts.length;
    for (const h of r.halts) s.haltsByCode[h.code] = (s.haltsByCode[h.code] ?? 0) + 1;
    s.refusals += r.refusals.length;
    if (r.refusals.length > 0 && s.refusalExample === undefined) s.refusalExample = `seed ${seed}: ${r.refusals[0]}`;
    s.snapshotsInstalled += r.snapshotsInstalled;
    s.cutoversCompleted += r.cutoversCompleted;
    s.nonces += r.nonces;
    s.ops.invoked += r.ops.invoked;
    s.ops.ok += r.ops.ok;
    s.ops.indeterminate += r.ops.indeterminate;
    nodeMs += r.nodeMs;
  }
  s.wallSeconds = (Date.now() - t0) / 1000;
  s.simulatedNodeMinutes = Math.round((nodeMs / 60_000) * 100) / 100;
  s.nodeMinutesPerWallSecond = s.wallSeconds > 0 ? Math.round((s.simulatedNodeMinutes / s.wallSeconds) * 100) / 100 : 0;
  return s;
}

// One seeded simulation run, and a batch of them. Used by the CLI and the vitest wrappers.

import { type ClusterOptions, SimCluster } from './cluster.js';
import type { Violation } from './checker.js';
import { Prng } from './prng.js';

export interface SimRunOptions {
  /** 3 or 5; undefined alternates by seed (odd seeds 3 nodes, even seeds 5). */
  nodes?: number;
  /** Rounds of chaos before the liveness phase. */
  steps?: number;
  /** TEST ONLY: break the commit rule (Figure 8) to prove the checker catches it. */
  unsafeCommitOldTerm?: boolean;
  /** TEST ONLY: the leader answers ReadIndex without confirming its leadership. */
  unsafeReadWithoutQuorum?: boolean;
  /** TEST ONLY: a run loop that sends votes and acks before its fsync (durability contract broken). */
  unsafeSendBeforePersist?: boolean;
  /**
   * Fault profile: 'default' mixes calm and stormy runs; 'figure8' provokes the Figure 8
   * interleaving (tiny messages, slow links, new leaders cut off before their no-op leaves).
   */
  profile?: 'default' | 'figure8';
  /** The app applies asynchronously (RaftNodeConfig.asyncApply, as the real node does). */
  asyncApply?: boolean;
  trace?: (line: string) => void;
}

export interface SimRunResult {
  seed: number;
  nodes: number;
  violations: Violation[];
  livenessRounds: number;
  stats: SimCluster['stats'];
  readsChecked: number;
}

export const DEFAULT_STEPS = 300;
const ELECTION_TICK = 10;

export function simulate(seed: number, opts: SimRunOptions = {}): SimRunResult {
  const rng = new Prng(seed);
  const nodes = opts.nodes ?? (seed % 2 === 1 ? 3 : 5);
  // Flow-control limits vary per run; tiny messages (one 8-byte entry) exercise probing and
  // make old-term entries reach a majority ahead of the new leader's no-op.
  const tiny = rng.chance(0.4);
  const copts: ClusterOptions = {
    nodes,
    electionTick: ELECTION_TICK,
    heartbeatTick: 1,
    maxSizePerMsg: tiny ? 8 : 64 + rng.int(256),
    maxInflightMsgs: 1 + rng.int(8),
    maxInflightBytes: rng.chance(0.5) ? 0 : 16 + rng.int(256),
    unsafeCommitOldTerm: opts.unsafeCommitOldTerm ?? false,
    // Mostly the production settings (both on); sometimes off, to cover the other code paths.
    preVote: rng.chance(0.8),
    checkQuorum: rng.chance(0.8),
    unsafeSendBeforePersist: opts.unsafeSendBeforePersist ?? false,
    unsafeReadWithoutQuorum: opts.unsafeReadWithoutQuorum ?? false,
    figure8: opts.profile === 'figure8',
    asyncApply: opts.asyncApply ?? false,
    crashRate: 0.01,
    restartRate: 0.03,
    partitionRate: 0.01,
    healRate: 0.04,
  };
  if (copts.figure8) {
    // Hunting the Figure 8 bug: tiny messages, slow links, leaders crashing mid-catch-up.
    copts.maxSizePerMsg = 8;
    copts.crashRate = 0.15;
    copts.restartRate = 0.3;
    copts.partitionRate = 0.05;
    copts.healRate = 0.2;
  } else if (rng.chance(0.5)) {
    // A stormy run: frequent crashes and short partitions, many leader changes.
    copts.crashRate = 0.04;
    copts.restartRate = 0.08;
    copts.partitionRate = 0.08;
    copts.healRate = 0.1;
  }
  if (opts.trace) copts.trace = opts.trace;
  const c = new SimCluster(rng, copts);
  const steps = opts.steps ?? DEFAULT_STEPS;
  let livenessRounds = 0;
  try {
    for (let i = 0; i < steps && c.checker.violations.length === 0; i++) c.round();
    if (c.checker.violations.length === 0) {
      c.heal();
      livenessRounds = c.checkLiveness(ELECTION_TICK * 30);
    }
  } catch (err) {
    c.checker.violations.push({ kind: 'state-machine-safety', node: '-', detail: `exception: ${(err as Error).stack ?? String(err)}` });
  }
  return { seed, nodes, violations: c.checker.violations, livenessRounds, stats: c.stats, readsChecked: c.checker.readsChecked };
}

export interface SimBatchSummary {
  runs: number;
  violations: number;
  seedStart: number;
  failedSeeds: number[];
  firstViolation: { seed: number; nodes: number; violation: Violation } | null;
  elections: number;
  /** Crashes that lost a Ready's unpersisted entries or hard state. */
  lostReadies: number;
  proposed: number;
  applied: number;
  snapshotsSent: number;
  crashes: number;
  confChanges: number;
  transfers: number;
  readsChecked: number;
  maxLivenessRounds: number;
  ms: number;
}

export function simulateMany(seedStart: number, seeds: number, opts: SimRunOptions = {}): SimBatchSummary {
  const t0 = Date.now();
  const sum: SimBatchSummary = {
    runs: 0,
    violations: 0,
    seedStart,
    failedSeeds: [],
    firstViolation: null,
    elections: 0,
    lostReadies: 0,
    proposed: 0,
    applied: 0,
    snapshotsSent: 0,
    crashes: 0,
    confChanges: 0,
    transfers: 0,
    readsChecked: 0,
    maxLivenessRounds: 0,
    ms: 0,
  };
  for (let s = seedStart; s < seedStart + seeds; s++) {
    const r = simulate(s, opts);
    sum.runs++;
    if (r.violations.length > 0) {
      sum.violations += r.violations.length;
      sum.failedSeeds.push(s);
      if (!sum.firstViolation) sum.firstViolation = { seed: s, nodes: r.nodes, violation: r.violations[0]! };
    }
    sum.elections += r.stats.elections;
    sum.lostReadies += r.stats.lostReadies;
    sum.proposed += r.stats.proposed;
    sum.applied += r.stats.applied;
    sum.snapshotsSent += r.stats.snapshotsSent;
    sum.crashes += r.stats.crashes;
    sum.confChanges += r.stats.confChanges;
    sum.transfers += r.stats.transfers;
    sum.readsChecked += r.readsChecked;
    if (r.livenessRounds > sum.maxLivenessRounds) sum.maxLivenessRounds = r.livenessRounds;
  }
  sum.ms = Date.now() - t0;
  return sum;
}

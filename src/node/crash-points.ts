// Named crash points for crash-recovery tests (the fault harness of SPEC §17).
//
// `SEALKV_CRASH_POINTS=name1,name2@3` (read once, at module load) makes the process SIGKILL itself
// when it reaches a named point — no cleanup, no flush, exactly what a power cut or `kill -9`
// leaves behind. `name` fires on the first hit, `name@N` on the N-th hit (N ≥ 1) of that point in
// this process, e.g. `after-log-persist@5` lets four log batches through. Off by default: with the
// variable unset, `crashPoint` returns after one `size` check of an empty map.
//
// Code that places a point uses the exported constant, never a string literal, so the names the
// tests arm and the names the code reaches cannot drift apart; `isKnownCrashPoint` lets the harness
// refuse a typo instead of waiting for a crash that never comes.

import { WRITE_STEPS, type WriteStep } from '../keys/sidecar-store.js';

/** Every named point, with where it sits. Points marked "(encryption)" are placed by that work. */
export const CrashPoints = {
  /** run-loop.ts: a Ready's hard state and entries are durable, before acks are sent or entries applied (AS-3, AS-4). */
  AFTER_LOG_PERSIST: 'after-log-persist',
  /** apply-pipeline.ts: an apply batch's LMDB commit (writes + applied index) is durable, before its `applied` hook. */
  AFTER_APPLY_COMMIT: 'after-apply-commit',
  /** (encryption) an encryption entry's registry rows are committed, before the sidecar write (AS-15, WR-2). */
  AFTER_REGISTRY_COMMIT: 'after-registry-commit',
  /** (encryption) the sidecar write of an apply is durable (KM-7 step 7 done), before the applied index passes it. */
  AFTER_SIDECAR_WRITE: 'after-sidecar-write',
  /** (encryption) the marker's sidecar write is durable, before the wrap installer runs (WI-5, AS-14). */
  BEFORE_INSTALLER: 'before-installer',
  /** (encryption) the leader saw the raft-cutover marker commit, before barrier step 5 installs the wrap (AS-12). */
  AFTER_MARKER_COMMIT: 'after-marker-commit',
  /** cluster-node.ts snapshot install (issue 9): entered, pipeline idle, staged, installed. */
  SNAPSHOT_INSTALL_START: 'snapshot-install:start',
  SNAPSHOT_INSTALL_IDLE: 'snapshot-install:idle',
  SNAPSHOT_INSTALL_STAGED: 'snapshot-install:staged',
  SNAPSHOT_INSTALL_INSTALLED: 'snapshot-install:installed',
  /** run-loop.ts: the Ready that carried an installed snapshot is persisted. */
  SNAPSHOT_INSTALL_PERSISTED: 'snapshot-install:persisted',
  /** cluster-node.ts (issue 13): the state install committed, the WAL not yet reset to the snapshot. */
  SNAPSHOT_INSTALL_LOG_RESET: 'snapshot-install:log-reset',
  /** run-loop.ts (issue 13): before a Ready's WAL write, and once it is durable (nothing acknowledged yet). */
  LOG_PERSIST_BEFORE: 'log-persist:before',
  LOG_PERSIST_SYNCED: 'log-persist:synced',
  /** apply-txn / cluster-node (issue 13): a state batch committed (not yet fsynced), and its fsync done. */
  STATE_SYNC_COMMITTED: 'state-sync:committed',
  STATE_SYNC_SYNCED: 'state-sync:synced',
  /** cluster-node.ts (issue 13): local snapshot recorded in LMDB; WAL compacted behind it. */
  SNAPSHOT_RECORDED: 'snapshot:recorded',
  SNAPSHOT_COMPACTED: 'snapshot:compacted',
  /** node-storage.ts (issue 13): migration of an LMDB log into wal.migrating/ written, and renamed to wal/. */
  WAL_MIGRATE_WRITTEN: 'wal-migrate:written',
  WAL_MIGRATE_RENAMED: 'wal-migrate:renamed',
} as const;

export type CrashPointName = (typeof CrashPoints)[keyof typeof CrashPoints];

/**
 * The KM-7 steps of a sidecar write (src/keys/sidecar-store.ts), each with a point before and after
 * it: `sidecar-write:<step>:<before|after>` (AS-16 runs one kill per step). Placed by the CLI's
 * apply-path sidecar store through `sidecarWriteCrashPoint`.
 */
export type SidecarWriteCrashPoint = `sidecar-write:${WriteStep}:${'before' | 'after'}`;

export function sidecarWriteCrashPoint(step: WriteStep, phase: 'before' | 'after'): SidecarWriteCrashPoint {
  return `sidecar-write:${step}:${phase}`;
}

/** The points after each KM-7 step, in step order. */
export const SIDECAR_WRITE_STEP_POINTS: readonly SidecarWriteCrashPoint[] = WRITE_STEPS.map((s) => sidecarWriteCrashPoint(s, 'after'));

const KNOWN = new Set<string>([
  ...Object.values(CrashPoints),
  ...WRITE_STEPS.flatMap((s) => [sidecarWriteCrashPoint(s, 'before'), sidecarWriteCrashPoint(s, 'after')]),
]);

export function isKnownCrashPoint(name: string): name is CrashPointName {
  return KNOWN.has(name);
}

/** One armed point: fires when its hit counter reaches `hit`. */
export interface ArmedCrashPoint {
  name: string;
  hit: number;
}

/**
 * Parses `name[@N],…`. Throws on a malformed item (an empty name, N not a positive integer) so a
 * test's typo fails loudly at start-up. Unknown names are accepted (a test may arm a point of a
 * newer build); the harness checks them with `isKnownCrashPoint`.
 */
export function parseCrashPoints(spec: string): ArmedCrashPoint[] {
  const out: ArmedCrashPoint[] = [];
  for (const raw of spec.split(',')) {
    const item = raw.trim();
    if (item.length === 0) continue;
    const at = item.lastIndexOf('@');
    const name = at < 0 ? item : item.slice(0, at);
    const hitText = at < 0 ? '1' : item.slice(at + 1);
    if (name.length === 0 || !/^[1-9][0-9]{0,8}$/.test(hitText)) {
      throw new Error(`SEALKV_CRASH_POINTS: malformed item "${item}" (expected name or name@N, N ≥ 1)`);
    }
    out.push({ name, hit: Number(hitText) });
  }
  return out;
}

/** name → remaining hits before the kill (1 = the next hit kills). */
const armed = new Map<string, number>(
  parseCrashPoints(process.env.SEALKV_CRASH_POINTS ?? '').map((p) => [p.name, p.hit] as const),
);

/**
 * The whole-node simulator (issue 14) sees every point instead: its hook may throw to "crash" the
 * simulated node right there (it then drops the node's unsynced media state). Null in production.
 */
let simHook: ((name: string) => void) | null = null;

export function setCrashPointHook(hook: ((name: string) => void) | null): void {
  simHook = hook;
}

/** Kills the process (SIGKILL) if `name` is armed and this is its chosen hit; otherwise does nothing. */
export function crashPoint(name: CrashPointName | string): void {
  if (simHook !== null) simHook(name);
  if (armed.size === 0) return;
  const left = armed.get(name);
  if (left === undefined) return;
  if (left <= 1) process.kill(process.pid, 'SIGKILL');
  else armed.set(name, left - 1);
}

/** The armed names as `name@N` (for a start-up log line, so a test run shows what it armed). */
export function armedCrashPoints(): string[] {
  return [...armed].map(([n, h]) => (h === 1 ? n : `${n}@${h}`));
}

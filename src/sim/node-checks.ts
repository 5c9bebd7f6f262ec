// The properties the whole-node simulator checks after every run (issue 14 item 4), over the
// recorded client history and the servers' final state. Each returns violation lines (empty =
// holds). Checks made while the run goes (applied index never going back, HALTs, start-up
// refusals, fatal errors) are in node-sim.ts.

import { checkHistory } from '../lincheck/checker.js';
import type { HistoryOp } from '../lincheck/history.js';
import type { SimMachine } from './sim-machine.js';

export interface NodeCheckInput {
  machines: readonly SimMachine[];
  history: readonly HistoryOp[];
  halts: readonly { node: string; index: string; code: string }[];
  /** False when a majority HALTed at a corrupted entry (failing closed is then correct): no convergence to check. */
  available: boolean;
}

/** Search steps per key before the checker gives up (a give-up is reported, not a violation). */
const MAX_CHECK_STEPS = 2_000_000;

export function runChecks(input: NodeCheckInput): string[] {
  return [...linearizable(input.history), ...(input.available ? replicasConverge(input.machines) : [])];
}

/** Every client history is linearizable (the repository's checker, per key). */
export function linearizable(history: readonly HistoryOp[]): string[] {
  try {
    const r = checkHistory(history, { maxSteps: MAX_CHECK_STEPS });
    if (r.ok) return [];
    return [`not linearizable on key ${r.key}: ${r.explanation}`];
  } catch (e) {
    return [`linearizability check gave up: ${(e as Error).message}`];
  }
}

/** Every server that is not halted is up, has applied the same index, and holds the same `kv` table. */
export function replicasConverge(machines: readonly SimMachine[]): string[] {
  const live = machines.filter((m) => m.haltedAt === null && m.refused === null);
  const down = live.filter((m) => m.state !== 'up');
  if (down.length > 0) return [`no convergence: ${down.map((m) => `${m.id} is ${m.state}`).join(', ')} after healing`];
  const out: string[] = [];
  const ref = live[0];
  if (ref === undefined) return out;
  const refApplied = ref.node!.store.durableAppliedIndex();
  const refKv = kvTable(ref);
  for (const m of live.slice(1)) {
    const a = m.node!.store.durableAppliedIndex();
    if (a !== refApplied) {
      out.push(`no convergence: ${ref.id} applied ${refApplied}, ${m.id} applied ${a}`);
      continue;
    }
    const kv = kvTable(m);
    const diff = diffTables(refKv, kv);
    if (diff !== null) out.push(`replicas diverge at applied ${a}: ${ref.id} vs ${m.id}: ${diff}`);
  }
  return out;
}

/**
 * The logical `kv` table: each record decoded by the node's own codec (sealed records differ
 * between replicas — every node seals with its own nonces — while what they hold must not).
 */
function kvTable(m: SimMachine): Map<string, string> {
  const out = new Map<string, string>();
  const node = m.node!;
  for (const e of node.readView().range(undefined)) {
    let logical: string;
    try {
      const d = node.codec.decodeFromStore(e.key, e.record);
      const { state: _state, ...rest } = d.header;
      logical = `${JSON.stringify(rest, (_k, v) => (typeof v === 'bigint' ? v.toString() : v))}=${Buffer.from(d.value).toString('hex')}`;
    } catch (err) {
      logical = `UNDECODABLE ${(err as { code?: string })?.code ?? (err as Error)?.message}`;
    }
    out.set(Buffer.from(e.key).toString('hex'), logical);
  }
  return out;
}

function diffTables(a: ReadonlyMap<string, string>, b: ReadonlyMap<string, string>): string | null {
  for (const [k, v] of a) {
    const w = b.get(k);
    if (w !== v) return `key ${Buffer.from(k, 'hex').toString('latin1')}: ${v.slice(0, 40)} vs ${w?.slice(0, 40) ?? '(absent)'}`;
  }
  for (const k of b.keys()) if (!a.has(k)) return `key ${Buffer.from(k, 'hex').toString('latin1')} only on the second`;
  return null;
}

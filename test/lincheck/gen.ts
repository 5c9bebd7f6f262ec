import { mulberry32 } from '../../src/prng.js';
// Generators of KV histories for the checker's tests: linearizable by construction (simulated
// clients against one register per key, each op taking effect at a random instant inside its
// interval), optionally with indeterminate ops.

import type { HistoryOp, OpCall, OpResult } from './history.js';
import { type RegisterState, step } from './kv-model.js';

/** Small deterministic PRNG (mulberry32) so failures reproduce from the seed. */
export const rng = mulberry32;

export interface GenOptions {
  processes: number;
  opsPerProcess: number;
  keys: string[];
  /** Probability that a completed op is recorded as indeterminate instead. */
  indeterminate?: number;
  /** Values written are drawn from this many distinct strings (small = many duplicates). */
  values?: number;
  /** Mix of kinds. */
  kinds?: OpCall['kind'][];
}

/** A linearizable history. */
export function linearizableHistory(seed: number, o: GenOptions): HistoryOp[] {
  const rand = rng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const kinds = o.kinds ?? ['read', 'write', 'incr', 'read', 'delete'];
  type Planned = HistoryOp & { lp: number; takesEffect: boolean };
  const planned: Planned[] = [];
  let id = 1;
  for (let p = 0; p < o.processes; p++) {
    let t = rand() * 5;
    for (let i = 0; i < o.opsPerProcess; i++) {
      const kind = pick(kinds);
      const call: OpCall =
        kind === 'write'
          ? { kind, value: `v${Math.floor(rand() * (o.values ?? 1000))}` }
          : kind === 'incr'
            ? { kind, delta: BigInt(Math.floor(rand() * 5) - 1) }
            : { kind };
      const invoke = t;
      const lp = invoke + rand() * 10;
      const complete = lp + rand() * 10;
      const unknown = rand() < (o.indeterminate ?? 0);
      // An indeterminate op may or may not have taken effect; the client then moves on.
      planned.push({
        id: id++,
        process: p,
        key: pick(o.keys),
        call,
        result: null,
        invoke,
        complete: unknown ? null : complete,
        lp,
        takesEffect: !unknown || rand() < 0.5,
      });
      t = complete + rand() * 3;
    }
  }
  const state = new Map<string, RegisterState>();
  for (const op of [...planned].sort((a, b) => a.lp - b.lp)) {
    if (!op.takesEffect) continue;
    const before = state.get(op.key) ?? null;
    op.result = op.complete === null ? null : resultOf(before, op.call);
    // With the true result filled in, step() computes the state after it.
    state.set(op.key, step(before, { ...op, result: op.result })!);
  }
  return planned.map(({ lp: _lp, takesEffect: _t, ...op }) => op);
}

/** What a call returns when it runs on `state`. */
export function resultOf(state: RegisterState, call: OpCall): OpResult {
  switch (call.kind) {
    case 'read':
      return { kind: 'read', value: state };
    case 'write':
      return { kind: 'write' };
    case 'delete':
      return { kind: 'delete', deleted: state === null ? 0 : 1 };
    case 'incr': {
      const cur = state === null ? 0n : /^(0|-?[1-9][0-9]{0,18})$/.test(state) ? BigInt(state) : null;
      return cur === null ? { kind: 'incr', error: true } : { kind: 'incr', value: cur + call.delta };
    }
  }
}

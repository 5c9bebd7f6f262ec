// Sequential specification of one Redis string key: the register the checker linearizes
// against. State: the value, or null when the key does not exist.

import type { HistoryOp } from './history.js';

export type RegisterState = string | null;

/** Strict Redis integer parse (no '+', no leading zeros, no "-0", within i64). */
function parseInteger(v: string): bigint | null {
  if (!/^(0|-?[1-9][0-9]{0,18})$/.test(v)) return null;
  const n = BigInt(v);
  return n < -(1n << 63n) || n > (1n << 63n) - 1n ? null : n;
}

/**
 * The search parses the same few register values over and over (every INCR it tries from a
 * state): parses are remembered, in a bounded cache (a pure function of the string).
 */
const parsed = new Map<string, bigint | null>();
function asInteger(v: string): bigint | null {
  let n = parsed.get(v);
  if (n === undefined) {
    if (parsed.size >= 4096) parsed.clear();
    n = parseInteger(v);
    parsed.set(v, n);
  }
  return n;
}

/**
 * Applies `op` to `state`. Returns the next state, or undefined when `op`'s recorded result is
 * impossible from `state`. An indeterminate op (result null) accepts any outcome.
 */
export function step(state: RegisterState, op: HistoryOp): RegisterState | undefined {
  const r = op.result;
  switch (op.call.kind) {
    case 'read':
      if (r === null) return state;
      return r.kind === 'read' && r.value === state ? state : undefined;
    case 'write':
      return op.call.value;
    case 'delete':
      if (r !== null && r.kind === 'delete' && r.deleted !== (state === null ? 0 : 1)) return undefined;
      return null;
    case 'incr': {
      const cur = state === null ? 0n : asInteger(state);
      if (cur === null) {
        // The key holds a non-integer: INCR fails and changes nothing.
        if (r === null) return state;
        return r.kind === 'incr' && 'error' in r ? state : undefined;
      }
      const next = cur + op.call.delta;
      if (next < -(1n << 63n) || next > (1n << 63n) - 1n) {
        if (r === null) return state; // overflow error: no change
        return r.kind === 'incr' && 'error' in r ? state : undefined;
      }
      if (r !== null && !(r.kind === 'incr' && 'value' in r && r.value === next)) return undefined;
      return next.toString();
    }
  }
}

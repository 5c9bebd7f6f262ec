// Linearizability checker for KV histories: Wing & Gong's search with Lowe's memoization
// (as in Knossos' "linear"/Porcupine), applied per key (P-compositionality: a history of
// independent registers is linearizable iff each key's sub-history is).
//
// The search walks a list of call/return events in time order. At a call it tries to linearize
// that op now (the model accepts its result); at a return it must backtrack, since that op had
// to take effect before it returned. A cache of (set of linearized ops, model state) prunes
// every configuration already explored, which makes real histories of thousands of ops per key
// cheap. An indeterminate op's return sits at +∞: it may linearize anywhere after its call,
// and linearizing it last is the same as never.

import type { HistoryOp } from './history.js';
import { type RegisterState, step } from './kv-model.js';

export type CheckResult =
  | { ok: true }
  | {
      ok: false;
      key: string;
      /** The longest prefix the search could linearize, in order, with the state after it. */
      linearized: HistoryOp[];
      state: RegisterState;
      /** An op that had to take effect before returning but could not at that point. */
      blockedBy: HistoryOp;
      explanation: string;
    };

export interface CheckOptions {
  /** Abort (throw) after this many search steps on one key; default unbounded. */
  maxSteps?: number;
  /** The key's value before the history starts; default: absent. */
  initial?: RegisterState;
}

/** Checks a whole history, key by key. */
export function checkHistory(history: readonly HistoryOp[], options: CheckOptions = {}): CheckResult {
  const byKey = new Map<string, HistoryOp[]>();
  for (const op of history) {
    const list = byKey.get(op.key);
    if (list === undefined) byKey.set(op.key, [op]);
    else list.push(op);
  }
  for (const [key, ops] of [...byKey].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const r = checkKey(key, ops, options);
    if (!r.ok) return r;
  }
  return { ok: true };
}

/** Precedence used throughout: a happens before b iff a completed strictly before b was invoked. */
export function precedes(a: HistoryOp, b: HistoryOp): boolean {
  return a.complete !== null && a.complete < b.invoke;
}

/** 32-bit pseudo-random words for Zobrist hashing of the linearized set (fixed seed: reproducible). */
function zobrist(n: number, seed: number): Uint32Array {
  const out = new Uint32Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x;
  }
  return out;
}

export function checkKey(key: string, allOps: readonly HistoryOp[], options: CheckOptions = {}): CheckResult {
  // An indeterminate read has no effect and constrains nothing.
  const ops = allOps.filter((o) => !(o.complete === null && o.call.kind === 'read'));
  const n = ops.length;
  if (n === 0) return { ok: true };

  // Events: 2 per op. Entry e: op = e >> 1, call when (e & 1) === 0. Sorted by time; at equal
  // times calls come first, so touching intervals count as concurrent (the permissive reading).
  const events: number[] = [];
  for (let i = 0; i < n; i++) events.push(i << 1, (i << 1) | 1);
  const time = (e: number) => {
    const o = ops[e >> 1]!;
    return (e & 1) === 0 ? o.invoke : (o.complete ?? Number.POSITIVE_INFINITY);
  };
  events.sort((a, b) => time(a) - time(b) || (a & 1) - (b & 1) || a - b);

  // Doubly linked list over event ids; HEAD is a sentinel.
  const HEAD = 2 * n;
  const next = new Int32Array(2 * n + 1).fill(-1);
  const prev = new Int32Array(2 * n + 1).fill(-1);
  let last = HEAD;
  for (const e of events) {
    next[last] = e;
    prev[e] = last;
    last = e;
  }
  const unlink = (e: number) => {
    next[prev[e]!] = next[e]!;
    if (next[e]! >= 0) prev[next[e]!] = prev[e]!;
  };
  const relink = (e: number) => {
    next[prev[e]!] = e;
    if (next[e]! >= 0) prev[next[e]!] = e;
  };

  const words = (n + 31) >>> 5;
  const bits = new Uint32Array(words);
  const z1 = zobrist(n, 0x9e3779b9);
  const z2 = zobrist(n, 0x85ebca6b);
  let h1 = 0;
  let h2 = 0;
  const cache = new Map<number, { bits: Uint32Array; state: RegisterState }[]>();
  const remember = (state: RegisterState): boolean => {
    const k = (h1 >>> 0) * 0x200000 + (h2 & 0x1fffff);
    const bucket = cache.get(k) ?? [];
    if (bucket.length === 0) cache.set(k, bucket);
    for (const c of bucket) {
      if (c.state !== state) continue;
      let same = true;
      for (let w = 0; w < words && same; w++) same = c.bits[w] === bits[w];
      if (same) return false;
    }
    bucket.push({ bits: bits.slice(), state });
    return true;
  };
  const flip = (i: number) => {
    bits[i >>> 5]! ^= 1 << (i & 31);
    h1 ^= z1[i]!;
    h2 ^= z2[i]!;
  };

  let state: RegisterState = options.initial ?? null;
  const stack: { call: number; state: RegisterState }[] = [];
  let best: { linearized: number[]; state: RegisterState; blockedBy: number } | null = null;
  const maxSteps = options.maxSteps ?? Number.POSITIVE_INFINITY;
  let steps = 0;

  let e = next[HEAD]!;
  while (next[HEAD]! >= 0) {
    if (++steps > maxSteps) throw new Error(`lincheck: search budget of ${maxSteps} steps exceeded on key ${key}`);
    const i = e >> 1;
    if ((e & 1) === 0) {
      const after = step(state, ops[i]!);
      if (after !== undefined) {
        flip(i);
        if (remember(after)) {
          stack.push({ call: e, state });
          state = after;
          unlink(e);
          unlink(e | 1);
          e = next[HEAD]!;
          continue;
        }
        flip(i);
      }
      e = next[e]!;
    } else {
      // A return: its op was not linearized in time along this path.
      if (best === null || stack.length > best.linearized.length) {
        best = { linearized: stack.map((s) => s.call >> 1), state, blockedBy: i };
      }
      const top = stack.pop();
      if (top === undefined) break;
      state = top.state;
      const j = top.call >> 1;
      relink(top.call | 1);
      relink(top.call);
      flip(j);
      e = next[top.call]!;
    }
  }
  if (next[HEAD]! < 0) return { ok: true };

  const b = best!;
  const blocked = ops[b.blockedBy]!;
  const linearized = b.linearized.map((j) => ops[j]!);
  return {
    ok: false,
    key,
    linearized,
    state: b.state,
    blockedBy: blocked,
    explanation:
      `key ${JSON.stringify(key)}: no linearization. The longest consistent order found ` +
      `linearizes ${linearized.length} of ${n} ops (state ${JSON.stringify(b.state)}), after which op ` +
      `${blocked.id} (${describe(blocked)}) cannot take effect before it returned.`,
  };
}

function describe(op: HistoryOp): string {
  const call =
    op.call.kind === 'write'
      ? `write ${JSON.stringify(op.call.value)}`
      : op.call.kind === 'incr'
        ? `incr ${op.call.delta}`
        : op.call.kind;
  const r = op.result;
  const res =
    r === null
      ? 'indeterminate'
      : r.kind === 'read'
        ? `read ${JSON.stringify(r.value)}`
        : r.kind === 'incr'
          ? 'error' in r
            ? 'error'
            : `-> ${r.value}`
          : r.kind === 'delete'
            ? `deleted ${r.deleted}`
            : 'ok';
  return `process ${op.process}: ${call} ${res}, [${op.invoke}, ${op.complete ?? '∞'}]`;
}

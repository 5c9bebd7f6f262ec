// Reference checker for tiny histories: tries every order of the ops that respects real-time
// precedence, letting each indeterminate op either take effect or not. Exponential; for
// cross-checking the real checker on a handful of ops.

import { precedes } from './checker.js';
import type { HistoryOp } from './history.js';
import { type RegisterState, step } from './kv-model.js';

export function bruteForceLinearizable(ops: readonly HistoryOp[], initial: RegisterState = null): boolean {
  const byKey = new Map<string, HistoryOp[]>();
  for (const o of ops) byKey.set(o.key, [...(byKey.get(o.key) ?? []), o]);
  for (const list of byKey.values()) if (!search(list, initial)) return false;
  return true;
}

function search(remaining: readonly HistoryOp[], state: RegisterState): boolean {
  // Done when only indeterminate ops remain: they may never take effect.
  if (remaining.every((o) => o.complete === null)) return true;
  for (const o of remaining) {
    // o can go next only if no other remaining op had completed before o was invoked.
    if (remaining.some((p) => p !== o && precedes(p, o))) continue;
    const rest = remaining.filter((p) => p !== o);
    const after = step(state, o);
    if (after !== undefined && search(rest, after)) return true;
    // An indeterminate op may also never happen.
    if (o.complete === null && search(rest, state)) return true;
  }
  return false;
}

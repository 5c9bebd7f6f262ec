// Runs the linearizability checker on a recorded history and turns the verdict into a report a
// failing test can print (and a JSON file of the history to replay the check offline).

import { writeFileSync } from 'node:fs';
import { checkHistory } from '../../lincheck/checker.js';
import { type HistoryOp, serializeHistory } from '../../lincheck/history.js';

export interface LincheckReport {
  ok: boolean;
  ops: number;
  indeterminate: number;
  keys: number;
  /** Human-readable verdict; the anomaly with its witness when not ok. */
  text: string;
}

const MAX_STEPS = 20_000_000;

function show(op: HistoryOp): string {
  const j = (v: unknown) => JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? `${x}n` : x));
  return `#${op.id} ${op.process} ${op.key} ${j(op.call)} -> ${j(op.result)} [${op.invoke.toFixed(1)}, ${op.complete === null ? '∞' : op.complete.toFixed(1)}]`;
}

/** Checks `history`; on an anomaly (or a search blow-up) writes it to `saveTo` when given. */
export function checkRecorded(history: HistoryOp[], saveTo?: string): LincheckReport {
  const indeterminate = history.filter((o) => o.complete === null).length;
  const keys = new Set(history.map((o) => o.key)).size;
  const base = { ops: history.length, indeterminate, keys };
  let text: string;
  let ok: boolean;
  try {
    const r = checkHistory(history, { maxSteps: MAX_STEPS });
    ok = r.ok;
    text = r.ok
      ? `linearizable: ${history.length} ops (${indeterminate} indeterminate) on ${keys} keys`
      : [
          `NOT linearizable on key ${r.key}: ${r.explanation}`,
          `state after the longest linearizable prefix: ${JSON.stringify(r.state)}`,
          `blocked by: ${show(r.blockedBy)}`,
          `prefix (last 20): ${r.linearized.slice(-20).map(show).join('\n  ')}`,
        ].join('\n');
  } catch (e) {
    ok = false;
    text = `checker gave up: ${(e as Error).message}`;
  }
  if (!ok && saveTo !== undefined) {
    writeFileSync(saveTo, serializeHistory(history));
    text += `\nhistory saved to ${saveTo}`;
  }
  return { ok, text, ...base };
}

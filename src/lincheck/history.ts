// Client histories for the linearizability checker, and a recorder for fault tests.
//
// One operation per client call on one key. `invoke`/`complete` are times from one monotonic
// clock shared by all recording clients (e.g. performance.now() in the test process). An
// operation whose outcome is unknown (timeout, connection lost, node killed) has
// `complete: null`: it may have taken effect at any point after `invoke`, or never.
// Operations that certainly did not take effect (a -TRYAGAIN or NOT_LEADER refusal before
// anything was proposed) are not part of the history at all.

export type OpCall =
  | { kind: 'read' }
  | { kind: 'write'; value: string }
  /** INCRBY key delta (INCR = 1, DECR = -1). */
  | { kind: 'incr'; delta: bigint }
  /** DEL of one key. */
  | { kind: 'delete' };

/** What a completed call returned. */
export type OpResult =
  | { kind: 'read'; value: string | null }
  | { kind: 'write' }
  /** `value`: the integer reply; `error`: "value is not an integer" (the key held a non-integer). */
  | { kind: 'incr'; value: bigint }
  | { kind: 'incr'; error: true }
  /** DEL's reply: 1 if the key existed. */
  | { kind: 'delete'; deleted: 0 | 1 };

export interface HistoryOp {
  /** Unique per history; used in witnesses. */
  id: number;
  /** Client / process id. */
  process: number | string;
  key: string;
  call: OpCall;
  /** Result when the call completed; null when indeterminate. */
  result: OpResult | null;
  invoke: number;
  /** Completion time; null when indeterminate (the op may take effect after invoke, or never). */
  complete: number | null;
}

/** Records client calls as they happen. */
export class HistoryRecorder {
  private readonly ops = new Map<number, HistoryOp>();
  private nextId = 1;

  constructor(private readonly clock: () => number = () => performance.now()) {}

  invoke(process: number | string, key: string, call: OpCall): number {
    const id = this.nextId++;
    this.ops.set(id, { id, process, key, call, result: null, invoke: this.clock(), complete: null });
    return id;
  }

  /** The call returned `result`. */
  ok(id: number, result: OpResult): void {
    const op = this.must(id);
    if (result.kind !== op.call.kind) throw new Error(`op ${id}: result ${result.kind} for a ${op.call.kind} call`);
    op.result = result;
    op.complete = this.clock();
  }

  /** The call certainly had no effect: it leaves the history. */
  fail(id: number): void {
    this.must(id);
    this.ops.delete(id);
  }

  /** The outcome is unknown (timeout, connection lost): it stays indeterminate. */
  info(id: number): void {
    this.must(id);
  }

  /** The history so far; calls still open are indeterminate. */
  history(): HistoryOp[] {
    return [...this.ops.values()].map((o) => ({ ...o }));
  }

  private must(id: number): HistoryOp {
    const op = this.ops.get(id);
    if (op === undefined) throw new Error(`unknown op ${id}`);
    if (op.complete !== null) throw new Error(`op ${id} already completed`);
    return op;
  }
}

/** JSON text of a history (bigints as decimal strings), e.g. for a fault-test process to hand over. */
export function serializeHistory(ops: readonly HistoryOp[]): string {
  return JSON.stringify(ops, (_k, v) => (typeof v === 'bigint' ? { $bigint: v.toString() } : v));
}

/** Inverse of serializeHistory. */
export function parseHistory(text: string): HistoryOp[] {
  return JSON.parse(text, (_k, v) =>
    v !== null && typeof v === 'object' && typeof v.$bigint === 'string' ? BigInt(v.$bigint) : v,
  ) as HistoryOp[];
}

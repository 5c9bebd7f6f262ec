// Per-connection order of commands (issue 9 defect 6), as Redis runs one connection's commands:
// a command sees the effects of every earlier command of its connection, and none of the later
// ones. Commands are grouped into runs of one kind: a run of writes reaches the proposer at once
// (one after the other, so they enter the log in order and batch with other connections' writes);
// a run of reads shares ReadIndex rounds. A run starts only when the run before it has settled:
// a read after writes must see them, and a write after reads must not be seen by them (a read is
// served from the applied state, which may already be past its read index).
//
// Commands that touch no data (local replies) are not sequenced: they are answered at once.

export type CommandKind = 'read' | 'write';

interface Run {
  kind: CommandKind;
  /** Commands of this run not settled yet (waiting ones included). */
  pending: number;
  /** Resolves when the run before this one has settled; null when it needs no wait. */
  gate: Promise<void> | null;
  idle: (() => void) | null;
  idleP: Promise<void> | null;
}

export class ConnectionOrder {
  private last: Run | null = null;

  /**
   * Runs `fn` in this connection's order. `fn` is called synchronously when nothing earlier of the
   * other kind is outstanding, otherwise once that has settled; either way in submission order.
   */
  run<T>(kind: CommandKind, fn: () => Promise<T>): Promise<T> {
    let run = this.last;
    if (run === null || run.kind !== kind) {
      const prev = run;
      run = { kind, pending: 0, gate: prev !== null && prev.pending > 0 ? whenIdle(prev) : null, idle: null, idleP: null };
      this.last = run;
    }
    const r = run;
    r.pending++;
    let p: Promise<T>;
    if (r.gate === null) {
      try {
        p = fn();
      } catch (e) {
        p = Promise.reject(e);
      }
    } else {
      p = r.gate.then(fn);
    }
    const done = (): void => {
      if (--r.pending > 0) return;
      if (this.last === r && r.idle === null) this.last = null; // nothing to wait for any more
      const idle = r.idle;
      r.idle = null;
      r.idleP = null;
      idle?.();
    };
    p.then(done, done);
    return p;
  }
}

function whenIdle(run: Run): Promise<void> {
  run.idleP ??= new Promise<void>((resolve) => {
    run.idle = resolve;
  });
  return run.idleP;
}

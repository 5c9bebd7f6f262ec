// A virtual clock and timer queue for the whole-node simulator (issue 14): the `Scheduler` the
// simulated nodes get instead of the real one. Time moves only when the driver runs the next
// event; events at the same virtual time run in the order they were scheduled (a sequence
// number breaks ties), so a run is a pure function of the seed and the code.
//
// Deferrals (`defer`, the node's setImmediate) are events at the current time: they run after
// the callback that queued them and after everything already due, never before a timer that
// was due earlier — the same order Node's event loop gives within one turn.

import type { Scheduler, SchedulerTimer } from '../node/scheduler.js';

/**
 * Who an event belongs to: a process scope (`ScopedScheduler`, sim-context's `ProcessScheduler`).
 * Its events are skipped once it is `dead` (a crashed process runs nothing more), and each runs
 * through `run` (which may tag the running process). One object per scope instead of a Set of
 * its live timers and a wrapper closure per callback: killing a process costs O(1).
 */
export interface EventOwner {
  readonly dead: boolean;
  run(fn: () => void): void;
}

/** A queued callback; it is also the timer handed out (no wrapper object per event). */
class VirtualEvent implements SchedulerTimer {
  cancelled = false;
  constructor(
    public at: number,
    public seq: number,
    readonly fn: () => void,
    /** > 0 for an interval: re-armed after each run until cleared. */
    readonly period: number,
    /** The scope the event belongs to (null: none). */
    readonly owner: EventOwner | null,
  ) {}
  unref(): this {
    return this;
  }
}

export interface VirtualSchedulerOptions {
  /** The wall-clock value (ms) at virtual time 0. */
  epochMs?: number;
}

export class VirtualScheduler implements Scheduler {
  private t = 0;
  private seq = 0;
  private readonly heap: VirtualEvent[] = [];
  /**
   * Deferrals, in scheduling order. Each is due at the time it was queued, and time cannot move
   * on while one is waiting, so they are all at the current time with rising sequence numbers:
   * a FIFO, merged with the heap by (time, sequence) — the same order as one heap, without a
   * heap insert and removal for each of them (about half of a simulation's events).
   */
  private fifo = new EventRing();
  private readonly epochMs: number;
  /** Events run so far (a cheap progress measure for soak summaries). */
  eventsRun = 0;

  constructor(opts: VirtualSchedulerOptions = {}) {
    this.epochMs = opts.epochMs ?? 1_700_000_000_000;
  }

  now(): number {
    return this.epochMs + Math.floor(this.t);
  }

  monotonic(): number {
    return this.t;
  }

  /** Virtual ms elapsed since the start of the run. */
  elapsed(): number {
    return this.t;
  }

  setTimeout(fn: () => void, ms: number): SchedulerTimer {
    return this.push(fn, delay(ms), 0, null);
  }

  clearTimeout(t: SchedulerTimer | null | undefined): void {
    if (t instanceof VirtualEvent) t.cancelled = true;
  }

  setInterval(fn: () => void, ms: number): SchedulerTimer {
    const d = Math.max(1, delay(ms));
    return this.push(fn, d, d, null);
  }

  clearInterval(t: SchedulerTimer | null | undefined): void {
    this.clearTimeout(t);
  }

  defer(fn: () => void): void {
    this.fifo.push(new VirtualEvent(this.t, this.seq++, fn, 0, null));
  }

  /** A timeout of `owner` (skipped once the owner is dead; runs through `owner.run`). */
  ownedTimeout(fn: () => void, ms: number, owner: EventOwner): SchedulerTimer {
    return this.push(fn, delay(ms), 0, owner);
  }

  /** An interval of `owner`. */
  ownedInterval(fn: () => void, ms: number, owner: EventOwner): SchedulerTimer {
    const d = Math.max(1, delay(ms));
    return this.push(fn, d, d, owner);
  }

  /** A deferral of `owner`. */
  ownedDefer(fn: () => void, owner: EventOwner): void {
    this.fifo.push(new VirtualEvent(this.t, this.seq++, fn, 0, owner));
  }

  /**
   * A scheduler for one simulated process: its timers and deferrals run on this clock, and
   * `kill()` cancels every one still pending (a crashed process runs nothing more).
   */
  scope(): ScopedScheduler {
    return new ScopedScheduler(this);
  }

  /** Events waiting (cancelled ones included until they reach the head). */
  pending(): number {
    return this.heap.length + this.fifo.size;
  }

  /** Virtual time of the next live event, or null when none is queued. */
  nextAt(): number | null {
    this.dropCancelled();
    const queued = this.fifo.peek();
    return queued !== undefined ? queued.at : this.heap.length > 0 ? this.heap[0]!.at : null;
  }

  /**
   * Runs the next event if it is due at or before `until` (advancing the clock to it) and
   * returns true; otherwise moves the clock to `until` (when later) and returns false.
   * The caller drains the microtasks the callback started before calling again.
   */
  runNext(until = Number.POSITIVE_INFINITY): boolean {
    this.dropCancelled();
    const top = this.heap[0];
    const queued = this.fifo.peek();
    const fromFifo = queued !== undefined && (top === undefined || before(queued, top));
    const ev = fromFifo ? queued : top;
    if (ev === undefined || ev.at > until) {
      if (Number.isFinite(until) && until > this.t) this.t = until;
      return false;
    }
    if (fromFifo) this.fifo.shift();
    else this.pop();
    this.t = ev.at;
    if (ev.period > 0) {
      // Re-armed before it runs: a callback that clears its own interval cancels the next run.
      ev.at = this.t + ev.period;
      ev.seq = this.seq++;
      this.insert(ev);
    }
    this.eventsRun++;
    const o = ev.owner;
    if (o === null) ev.fn();
    else o.run(ev.fn);
    return true;
  }

  private push(fn: () => void, d: number, period: number, owner: EventOwner | null): VirtualEvent {
    const ev = new VirtualEvent(this.t + d, this.seq++, fn, period, owner);
    this.insert(ev);
    return ev;
  }

  private dropCancelled(): void {
    const h = this.heap;
    for (;;) {
      const ev = h[0];
      if (ev === undefined || !(ev.cancelled || ev.owner?.dead)) break;
      this.pop();
    }
    // Deferrals are never cancelled, only their owner dies.
    for (;;) {
      const ev = this.fifo.peek();
      if (ev === undefined || ev.owner === null || !ev.owner.dead) break;
      this.fifo.shift();
    }
  }

  // A binary min-heap on (at, seq); sifts move a hole instead of swapping pairs.
  private insert(ev: VirtualEvent): void {
    const h = this.heap;
    let i = h.length;
    h.push(ev);
    while (i > 0) {
      const p = (i - 1) >> 1;
      const parent = h[p]!;
      if (!before(ev, parent)) break;
      h[i] = parent;
      i = p;
    }
    h[i] = ev;
  }

  private pop(): void {
    const h = this.heap;
    const last = h.pop()!;
    const n = h.length;
    if (n === 0) return;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const c = r < n && before(h[r]!, h[l]!) ? r : l;
      const child = h[c]!;
      if (!before(child, last)) break;
      h[i] = child;
      i = c;
    }
    h[i] = last;
  }
}

/** A FIFO of events in a ring that doubles when full (no allocation per push once warm). */
class EventRing {
  private buf: (VirtualEvent | undefined)[] = new Array(64);
  private head = 0;
  size = 0;

  push(ev: VirtualEvent): void {
    if (this.size === this.buf.length) {
      const old = this.buf;
      const grown: (VirtualEvent | undefined)[] = new Array(old.length * 2);
      for (let i = 0; i < this.size; i++) grown[i] = old[(this.head + i) & (old.length - 1)];
      this.buf = grown;
      this.head = 0;
    }
    this.buf[(this.head + this.size) & (this.buf.length - 1)] = ev;
    this.size++;
  }

  peek(): VirtualEvent | undefined {
    return this.size > 0 ? this.buf[this.head] : undefined;
  }

  shift(): void {
    this.buf[this.head] = undefined;
    this.head = (this.head + 1) & (this.buf.length - 1);
    this.size--;
  }
}

function before(a: VirtualEvent, b: VirtualEvent): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}

/** Node treats a delay below 1 (or not a number) as 1 ms; deferrals use 0. */
function delay(ms: number): number {
  return Number.isFinite(ms) && ms >= 1 ? ms : 1;
}

/** One process's view of a VirtualScheduler (see `VirtualScheduler.scope`). */
export class ScopedScheduler implements Scheduler, EventOwner {
  dead = false;

  constructor(protected readonly base: VirtualScheduler) {}

  now(): number {
    return this.base.now();
  }

  monotonic(): number {
    return this.base.monotonic();
  }

  setTimeout(fn: () => void, ms: number): SchedulerTimer {
    if (this.dead) return DEAD_TIMER;
    return this.base.ownedTimeout(fn, ms, this);
  }

  clearTimeout(t: SchedulerTimer | null | undefined): void {
    this.base.clearTimeout(t);
  }

  setInterval(fn: () => void, ms: number): SchedulerTimer {
    if (this.dead) return DEAD_TIMER;
    return this.base.ownedInterval(fn, ms, this);
  }

  clearInterval(t: SchedulerTimer | null | undefined): void {
    this.base.clearTimeout(t);
  }

  defer(fn: () => void): void {
    // A deferral is a cancellable event at the current time.
    if (this.dead) return;
    this.base.ownedDefer(fn, this);
  }

  /**
   * The process died: nothing it scheduled runs (the queue skips events of a dead owner),
   * nothing it schedules later runs either.
   */
  kill(): void {
    this.dead = true;
  }

  get killed(): boolean {
    return this.dead;
  }

  run(fn: () => void): void {
    fn();
  }
}

const DEAD_TIMER: SchedulerTimer = { unref: () => DEAD_TIMER };

// Time and scheduling for the node shell, injectable (issue 14): the node never calls the
// timer globals, `Date.now` or `performance.now` itself but goes through a `Scheduler`, so the
// whole-node simulator can run the real composition on a virtual clock where every timer and
// deferred callback fires in an order fixed by the seed. Production passes `realScheduler`.
//
// This is the ONLY module in src/node/** allowed to touch those globals (a test enforces it).

/** A timer returned by the scheduler; `unref` keeps it from holding a real process open. */
export interface SchedulerTimer {
  unref(): unknown;
}

export interface Scheduler {
  /** Wall-clock ms (deadlines, timeouts; the data clock's default). */
  now(): number;
  /** Monotonic ms with sub-ms resolution (durations for metrics). */
  monotonic(): number;
  setTimeout(fn: () => void, ms: number): SchedulerTimer;
  clearTimeout(t: SchedulerTimer | null | undefined): void;
  setInterval(fn: () => void, ms: number): SchedulerTimer;
  clearInterval(t: SchedulerTimer | null | undefined): void;
  /**
   * Runs `fn` after the current turn's I/O and microtasks (`setImmediate`): everything queued
   * in one turn joins the same batch (one Ready, one fsync).
   */
  defer(fn: () => void): void;
}

/** The process's real clock and timers. */
export const realScheduler: Scheduler = {
  now: () => Date.now(),
  monotonic: () => performance.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (t) => clearTimeout(t as NodeJS.Timeout | undefined),
  setInterval: (fn, ms) => setInterval(fn, ms),
  clearInterval: (t) => clearInterval(t as NodeJS.Timeout | undefined),
  defer: (fn) => {
    setImmediate(fn);
  },
};

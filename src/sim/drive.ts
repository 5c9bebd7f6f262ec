// Drives a virtual scheduler: run one event, let every promise chain it started settle, repeat.
//
// `settle()` yields one real event-loop turn (setImmediate), which drains all pending microtasks.
// `runEvents` gets the same order without a real turn per event: each event runs in a
// `process.nextTick` callback, and the next one is queued (as a tick) from a microtask queued
// after the event, so Node's tick loop drains every microtask the event started, and every one
// those started, before it runs the next tick (`processTicksAndRejections`: ticks, then
// `runMicrotasks()` to exhaustion, then ticks again). The simulated pieces do no real I/O, so
// nothing else can run in between and the order of events stays a function of the seed.
//
// One thing Node does only once the tick queue is empty: it reports unhandled rejections. So
// every REAL_TURN_EVERY events (and at the end) the loop takes a real turn; a rejection no one
// handles is still reported, at most that many events late.

import type { VirtualScheduler } from './virtual-scheduler.js';

/** Lets every microtask queued so far (and those they queue) run. */
export function settle(): Promise<void> {
  return new Promise((r) => setImmediate(r));
}

const SETTLED = Promise.resolve();

/** Events run between two real event-loop turns (see the header). */
export const REAL_TURN_EVERY = 256;

export interface RunEventsOptions {
  /** Checked before each event, after the previous one's microtasks settled. */
  stop?: () => boolean;
  /** Checked after each event (its microtasks settled); true ends the run. */
  abort?: () => boolean;
}

/**
 * Runs events until virtual time `until` (ms since the start), or until `stop()` (checked
 * before each event) or `abort()` (after each) says so, each event's microtasks settled before
 * the next event runs. Returns the number of events run.
 */
export async function runEvents(sched: VirtualScheduler, until: number, opts: RunEventsOptions = {}): Promise<number> {
  const { stop, abort } = opts;
  let n = 0;
  await settle();
  for (;;) {
    const more = await new Promise<boolean>((resolve, reject) => {
      let burst = 0;
      const step = (): void => {
        try {
          if ((stop?.() ?? false) || !sched.runNext(until)) return resolve(false);
          n++;
          burst++;
        } catch (e) {
          return reject(e);
        }
        // Queued behind the event's microtasks (a reaction to a settled promise: `queueMicrotask`
        // would wrap it in an async resource, a few % of a run).
        void SETTLED.then(after);
      };
      const after = (): void => {
        try {
          if (abort?.() ?? false) return resolve(false);
        } catch (e) {
          return reject(e);
        }
        if (burst >= REAL_TURN_EVERY) resolve(true);
        else process.nextTick(step);
      };
      process.nextTick(step);
    });
    await settle();
    if (!more) return n;
  }
}

/**
 * Runs events until virtual time `until` (ms since the start), or until `stop()` says so.
 * Returns the number of events run.
 */
export function runUntil(sched: VirtualScheduler, until: number, stop?: () => boolean): Promise<number> {
  return runEvents(sched, until, stop ? { stop } : {});
}

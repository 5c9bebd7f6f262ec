// Drives a virtual scheduler: run one event, let every promise chain it started settle, repeat.
//
// Each event runs in its own `setImmediate` callback, which drains every microtask the event
// started (and those they start) and reports unhandled rejections before the next callback runs,
// exactly as between two real event-loop turns. The callbacks are queued in batches: Node runs
// all immediates queued before its check phase in one go, so a batch of events costs one
// event-loop iteration instead of one each (an iteration polls for I/O: most of a turn's cost).
// The simulated pieces do no real I/O, so nothing else can run in between and the order of
// events stays a function of the seed.

import type { VirtualScheduler } from './virtual-scheduler.js';

/** Lets every microtask queued so far (and those they queue) run. */
export function settle(): Promise<void> {
  return new Promise((r) => setImmediate(r));
}

/** Event callbacks queued per event-loop iteration (see the header). */
export const EVENTS_PER_ITERATION = 512;

export interface RunEventsOptions {
  /** Checked before each event, after the previous one's microtasks settled; true ends the run. */
  stop?: () => boolean;
}

/**
 * Runs events until virtual time `until` (ms since the start), or until `stop()` says so, each
 * event's microtasks settled before the next event runs. Returns the number of events run.
 */
export async function runEvents(sched: VirtualScheduler, until: number, opts: RunEventsOptions = {}): Promise<number> {
  const { stop } = opts;
  let n = 0;
  await settle();
  for (;;) {
    const more = await new Promise<boolean>((resolve, reject) => {
      let done = false;
      let left = EVENTS_PER_ITERATION;
      const step = (): void => {
        if (done) return; // the rest of a batch after the run ended
        left--;
        try {
          if ((stop?.() ?? false) || !sched.runNext(until)) {
            done = true;
            resolve(false);
            return;
          }
        } catch (e) {
          done = true;
          reject(e);
          return;
        }
        n++;
        if (left === 0) {
          done = true;
          // Resolved from the last callback: the next batch starts after its microtasks.
          resolve(true);
        }
      };
      for (let i = 0; i < EVENTS_PER_ITERATION; i++) setImmediate(step);
    });
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

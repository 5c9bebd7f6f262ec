// Drives a virtual scheduler: run one event, let every promise chain it started settle, repeat.
// The settling step yields one real event-loop turn (setImmediate), which drains all pending
// microtasks. The simulated pieces do no real I/O, so nothing else can run in that turn and the
// order of events stays a function of the seed.

import type { VirtualScheduler } from './virtual-scheduler.js';

/** Lets every microtask queued so far (and those they queue) run. */
export function settle(): Promise<void> {
  return new Promise((r) => setImmediate(r));
}

/**
 * Runs events until virtual time `until` (ms since the start), or until `stop()` says so.
 * Returns the number of events run.
 */
export async function runUntil(sched: VirtualScheduler, until: number, stop?: () => boolean): Promise<number> {
  let n = 0;
  await settle();
  while (!(stop?.() ?? false) && sched.runNext(until)) {
    n++;
    await settle();
  }
  return n;
}

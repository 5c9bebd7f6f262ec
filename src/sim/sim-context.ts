// Which simulated process the code running now belongs to (issue 14): the crash-point hook is
// one global, so it asks this. Every event a process schedules runs with its tag set, and so do
// the messages and requests delivered to it and the answers to its requests; the tag stays set
// while the microtasks the event started drain (the driver settles them before the next event),
// so a crash point reached after an `await` is charged to the right process.

import type { NodeTransport } from '../node/node-media.js';
import type { Scheduler, SchedulerTimer } from '../node/scheduler.js';
import { ScopedScheduler, type VirtualScheduler } from './virtual-scheduler.js';

export interface SimProcess {
  readonly id: string;
  /** False once the process crashed or exited: its leftover code must not touch anything. */
  readonly alive: boolean;
}

let current: SimProcess | null = null;

export function currentProcess(): SimProcess | null {
  return current;
}

export function setCurrentProcess(p: SimProcess | null): void {
  current = p;
}

/** Thrown at a crash point where the simulator crashed the process (its code unwinds). */
export class SimCrash extends Error {
  constructor(readonly point: string) {
    super(`simulated crash at ${point}`);
  }
}

/**
 * The scheduler of simulated process `p` (or of the untagged world, `p` null): a scope of `base`
 * whose callbacks run tagged as `p` and swallow the unwinding of a simulated crash; `kill()`
 * (the process died) drops everything it still had pending. The tag rides on the queued event
 * itself (no wrapper closure per callback).
 */
export class ProcessScheduler extends ScopedScheduler {
  constructor(
    base: VirtualScheduler,
    readonly proc: SimProcess | null,
  ) {
    super(base);
  }

  override run(fn: () => void): void {
    current = this.proc;
    try {
      fn();
    } catch (e) {
      if (!(e instanceof SimCrash)) throw e;
    }
  }
}

/**
 * A scheduler that forwards to whichever one is `target` now (a server's media schedule on its
 * current process's scheduler, which changes with every start).
 */
export class SwitchableScheduler implements Scheduler {
  constructor(public target: Scheduler) {}
  now(): number {
    return this.target.now();
  }
  monotonic(): number {
    return this.target.monotonic();
  }
  setTimeout(fn: () => void, ms: number): SchedulerTimer {
    return this.target.setTimeout(fn, ms);
  }
  clearTimeout(t: SchedulerTimer | null | undefined): void {
    this.target.clearTimeout(t);
  }
  setInterval(fn: () => void, ms: number): SchedulerTimer {
    return this.target.setInterval(fn, ms);
  }
  clearInterval(t: SchedulerTimer | null | undefined): void {
    this.target.clearInterval(t);
  }
  defer(fn: () => void): void {
    this.target.defer(fn);
  }
}

/** The transport of process `p`: what it receives, and the answers it gets, run tagged as `p`. */
export function taggedTransport(p: SimProcess, inner: NodeTransport, filter?: (from: string, msg: unknown) => void): NodeTransport {
  return {
    start: () => inner.start(),
    onMessage: (h) =>
      inner.onMessage((from, msg) => {
        current = p;
        if (!p.alive) return;
        filter?.(from, msg);
        try {
          h(from, msg);
        } catch (e) {
          if (!(e instanceof SimCrash)) throw e;
        }
      }),
    onRequest: (h) =>
      inner.onRequest((from, payload) => {
        current = p;
        return h(from, payload);
      }),
    send: (to, msg) => inner.send(to, msg),
    request: (to, payload, timeoutMs) =>
      inner.request(to, payload, timeoutMs).then(
        (v) => {
          current = p;
          return v;
        },
        (e) => {
          current = p;
          throw e;
        },
      ),
    updatePeers: (peers) => inner.updatePeers(peers),
    status: () => inner.status(),
    close: () => inner.close(),
  };
}

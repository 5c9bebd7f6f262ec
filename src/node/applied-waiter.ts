// Waiters for "applied index ≥ i" (linearizable reads after ReadIndex, admin waits for apply).
//
// Waiters are kept sorted by index: new reads almost always wait for the newest index, so the
// insert is at the tail and a notify pops from the head — O(1) amortised per waiter, no timers.

import { ProposalError } from '../errors.js';
import { realScheduler, type Scheduler } from './scheduler.js';

interface Waiter {
  index: bigint;
  deadline: number;
  resolve(): void;
  reject(e: unknown): void;
}

export class AppliedWaiter {
  private applied: bigint;
  private readonly waiters: Waiter[] = [];
  private failure: unknown = null;

  constructor(
    applied: bigint,
    private readonly sched: Scheduler = realScheduler,
  ) {
    this.applied = applied;
  }

  /** Resolves once applied ≥ index; rejects with TIMEOUT after `deadline` (scheduler ms, see expire). */
  waitFor(index: bigint, deadline = Number.POSITIVE_INFINITY): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    if (index <= this.applied) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const w = { index, deadline, resolve, reject };
      let i = this.waiters.length;
      while (i > 0 && this.waiters[i - 1]!.index > index) i--;
      this.waiters.splice(i, 0, w);
    });
  }

  notify(applied: bigint): void {
    if (applied <= this.applied) return;
    this.applied = applied;
    let n = 0;
    while (n < this.waiters.length && this.waiters[n]!.index <= applied) n++;
    if (n === 0) return;
    for (const w of this.waiters.splice(0, n)) w.resolve();
  }

  /** Called periodically (every tick): waiters past their deadline fail with TIMEOUT. */
  expire(now = this.sched.now()): void {
    for (let i = this.waiters.length - 1; i >= 0; i--) {
      const w = this.waiters[i]!;
      if (w.deadline > now) continue;
      this.waiters.splice(i, 1);
      w.reject(new ProposalError('TIMEOUT', `apply did not reach index ${w.index} before the deadline`));
    }
  }

  /** Apply stopped (HALT) or the node closes: nobody will ever be satisfied. */
  failAll(e: unknown = new ProposalError('CLOSED', 'apply stopped')): void {
    this.failure = e;
    for (const w of this.waiters.splice(0)) w.reject(e);
  }
}

// Back-pressure for the pool: at most `max` batches in flight. A caller past the limit waits for
// a slot, so the pool never holds an unbounded queue of its own; waiting callers are the
// producers themselves and they stop producing while they wait.

export class Slots {
  private used = 0;
  private readonly waiters: Array<{ resolve: () => void; reject: (e: unknown) => void }> = [];

  constructor(readonly max: number) {
    if (!Number.isInteger(max) || max < 1) throw new RangeError(`maxInflightBatches must be a positive integer, got ${max}`);
  }

  get inUse(): number {
    return this.used;
  }

  get waiting(): number {
    return this.waiters.length;
  }

  /** Takes a slot now when one is free (returns true), otherwise returns false. */
  tryAcquire(): boolean {
    if (this.used < this.max) {
      this.used++;
      return true;
    }
    return false;
  }

  /** Resolves once a slot is held by the caller. */
  acquire(): Promise<void> {
    if (this.tryAcquire()) return Promise.resolve();
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  /** Hands the slot to the oldest waiter, or frees it. */
  release(): void {
    const next = this.waiters.shift();
    if (next !== undefined) next.resolve();
    else this.used--;
  }

  /** Fails every waiter (shutdown); slots already held stay held until released. */
  rejectWaiters(err: unknown): void {
    for (const w of this.waiters.splice(0)) w.reject(err);
  }
}

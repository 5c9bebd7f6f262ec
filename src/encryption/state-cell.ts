// The published encryption state: one cell, replaced whole after a sidecar write is durable
// (never before), read on the apply and read paths without locks.

import type { Sidecar } from '../keys/sidecar-schema.js';

export interface EncryptionSnapshot {
  readonly sidecar: Sidecar | undefined;
}

export class EncryptionStateCell {
  private current: Sidecar | undefined;
  private gen = 0;

  constructor(initial: Sidecar | undefined) {
    this.current = initial;
  }

  sidecar(): Sidecar | undefined {
    return this.current;
  }

  /** Bumped on every publish (speculative work under an older state is discarded). */
  generation(): number {
    return this.gen;
  }

  /** SE-10: values applied after the storage cutover are sealed. */
  storageEnvelopeActive(): boolean {
    return this.current?.storageEnvelopeActive === true;
  }

  activeDekId(purpose: 'storage' | 'raft'): number {
    return this.current?.active[purpose] ?? 0;
  }

  private readonly listeners = new Set<() => void>();

  publish(next: Sidecar): void {
    this.current = next;
    this.gen++;
    for (const l of this.listeners) l();
  }

  /** Called after every publish (e.g. the post-rotation registration, WR-6). */
  subscribe(listener: () => void): void {
    this.listeners.add(listener);
  }
}

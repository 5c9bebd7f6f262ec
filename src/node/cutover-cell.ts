// The raft-envelope cutover cell read by the apply gate for every entry (EH-2).
//
// Read on the hot path: a plain field, no lock, no await. A stored cutover of 0 ("not switched
// on") maps to 2^64−1 so that `index > cutover()` is false for every entry; cutover() never
// returns 0, which would make the engine unwrap every entry.

import { defectOn } from '../defect-switches.js';

export const NEVER = (1n << 64n) - 1n;

export class CutoverCell {
  private value: bigint = NEVER;
  /** Bumped on every change so speculative unwraps computed under an older value are discarded (EH-8). */
  private gen = 0;

  cutover(): bigint {
    return this.value;
  }

  generation(): number {
    return this.gen;
  }

  /** Stores the cutover index from the sidecar (start-up, RO-11) or the installer (WI-5). */
  set(index: bigint): void {
    const next = index === 0n ? NEVER : index;
    if (next !== this.value) {
      this.value = next;
      this.gen++;
    }
  }

  /** True when the entry at `index` must be unwrapped (RO-10: strictly greater-than). */
  gated(index: bigint): boolean {
    // (The defect switch, off in production, re-introduces `>=`: the simulator must catch it.)
    return defectOn('gate-inclusive') ? index >= this.value : index > this.value;
  }
}

// The not-yet-persisted tail of the log (and a received snapshot not yet installed). Entries
// handed to the run loop in an outstanding Ready are "in progress" and not handed out again.

import type { Entry, Snapshot } from './types.js';

export class Unstable {
  snapshot: Snapshot | null = null;
  snapshotInProgress = false;
  entries: Entry[] = [];
  /** Index of entries[0]. */
  offset: number;
  /** Index of the first entry not yet handed out in a Ready. */
  offsetInProgress: number;

  constructor(offset: number) {
    this.offset = offset;
    this.offsetInProgress = offset;
  }

  maybeFirstIndex(): number {
    return this.snapshot ? this.snapshot.meta.index + 1 : -1;
  }

  maybeLastIndex(): number {
    if (this.entries.length > 0) return this.offset + this.entries.length - 1;
    return this.snapshot ? this.snapshot.meta.index : -1;
  }

  /** Term at index, or -1 when this segment does not know it. */
  maybeTerm(index: number): number {
    if (index < this.offset) {
      if (this.snapshot && this.snapshot.meta.index === index) return this.snapshot.meta.term;
      return -1;
    }
    const i = index - this.offset;
    return i < this.entries.length ? this.entries[i]!.term : -1;
  }

  nextEntries(): Entry[] {
    const from = this.offsetInProgress - this.offset;
    return from >= this.entries.length ? [] : this.entries.slice(from);
  }

  nextSnapshot(): Snapshot | null {
    return this.snapshot && !this.snapshotInProgress ? this.snapshot : null;
  }

  acceptInProgress(): void {
    if (this.entries.length > 0) this.offsetInProgress = this.offset + this.entries.length;
    if (this.snapshot) this.snapshotInProgress = true;
  }

  /** Entries up to (index, term) are durable: drop them, unless a newer append replaced them. */
  stableTo(index: number, term: number): void {
    if (this.maybeTerm(index) !== term || index < this.offset) return;
    const n = index + 1 - this.offset;
    this.entries = n >= this.entries.length ? [] : this.entries.slice(n);
    this.offset = index + 1;
    if (this.offsetInProgress < this.offset) this.offsetInProgress = this.offset;
  }

  stableSnapTo(index: number): void {
    if (this.snapshot && this.snapshot.meta.index === index) {
      this.snapshot = null;
      this.snapshotInProgress = false;
    }
  }

  restore(snap: Snapshot): void {
    this.offset = snap.meta.index + 1;
    this.offsetInProgress = this.offset;
    this.entries = [];
    this.snapshot = snap;
    this.snapshotInProgress = false;
  }

  truncateAndAppend(ents: Entry[]): void {
    const from = ents[0]!.index;
    const end = this.offset + this.entries.length;
    if (from === end) {
      for (let i = 0; i < ents.length; i++) this.entries.push(ents[i]!);
    } else if (from <= this.offset) {
      // Replaces everything we hold (the stored log is truncated by the run loop on append).
      this.offset = from;
      this.entries = ents.slice();
    } else {
      this.entries = this.entries.slice(0, from - this.offset);
      for (let i = 0; i < ents.length; i++) this.entries.push(ents[i]!);
    }
    if (this.offsetInProgress > from) this.offsetInProgress = from;
  }

  /** Entries [lo, hi) held here; caller guarantees offset ≤ lo ≤ hi ≤ offset + length. */
  slice(lo: number, hi: number): Entry[] {
    return this.entries.slice(lo - this.offset, hi - this.offset);
  }
}

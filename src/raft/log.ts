// The node's view of its log: the persisted part (LogStorage, read-only here) followed by the
// unstable tail, plus the commit and applied indexes. Term lookups return -1 for unknown
// indexes instead of throwing, so the replication hot path never builds an exception.

import { countWithinBytes } from './entry-size.js';
import { CompactedError, UnavailableError } from './errors.js';
import type { Entry, LogStorage, Snapshot } from './types.js';
import { Unstable } from './unstable.js';

export const NO_TERM = -1;

export class RaftLog {
  readonly storage: LogStorage;
  readonly unstable: Unstable;
  committed: number;
  /** Highest index the state machine has applied. */
  applied: number;
  /**
   * Highest index handed to the state machine (≥ applied). Equal to `applied` unless the
   * application applies asynchronously (RaftNodeConfig.asyncApply).
   */
  applying: number;

  constructor(storage: LogStorage, committed: number, applied: number) {
    this.storage = storage;
    const first = storage.firstIndex();
    this.unstable = new Unstable(storage.lastIndex() + 1);
    this.committed = Math.max(committed, first - 1);
    this.applied = Math.max(applied, first - 1);
    this.applying = this.applied;
  }

  firstIndex(): number {
    const i = this.unstable.maybeFirstIndex();
    return i >= 0 ? i : this.storage.firstIndex();
  }

  lastIndex(): number {
    const i = this.unstable.maybeLastIndex();
    return i >= 0 ? i : this.storage.lastIndex();
  }

  lastTerm(): number {
    return this.term(this.lastIndex());
  }

  /** Term at index, or NO_TERM when it is compacted or beyond the log. */
  term(index: number): number {
    const t = this.unstable.maybeTerm(index);
    if (t >= 0) return t;
    // Below the unstable tail and not hidden by an unstable (received) snapshot: ask storage.
    if (index < this.unstable.offset && this.unstable.snapshot === null) {
      const first = this.storage.firstIndex();
      if (index >= first - 1 && index <= this.storage.lastIndex()) return this.storage.term(index);
    }
    return NO_TERM;
  }

  matchTerm(index: number, term: number): boolean {
    return this.term(index) === term;
  }

  /** Highest index the log holds durably and consistently (the leader's own match). */
  stableIndex(): number {
    return Math.min(this.lastIndex(), this.unstable.offset - 1);
  }

  isUpToDate(lastIndex: number, lastTerm: number): boolean {
    const myTerm = this.lastTerm();
    return lastTerm > myTerm || (lastTerm === myTerm && lastIndex >= this.lastIndex());
  }

  /** Index of the first entry of `ents` that conflicts with the log (or is new), 0 if none. */
  findConflict(ents: Entry[]): number {
    for (let i = 0; i < ents.length; i++) {
      const e = ents[i]!;
      if (!this.matchTerm(e.index, e.term)) return e.index;
    }
    return 0;
  }

  /**
   * Fast back-off: the largest index ≤ `index` whose term is ≤ `term`, with that term. The
   * leader skips every index in between, since none of them can match (Raft thesis §5.3).
   */
  findConflictByTerm(index: number, term: number): [number, number] {
    let i = index;
    for (;;) {
      const t = this.term(i);
      if (t === NO_TERM) return [i, 0];
      if (t <= term) return [i, t];
      i--;
    }
  }

  /** Follower append: returns the last new index, or -1 when (prevIndex, prevTerm) does not match. */
  maybeAppend(prevIndex: number, prevTerm: number, commit: number, ents: Entry[]): number {
    if (!this.matchTerm(prevIndex, prevTerm)) return -1;
    const lastNew = prevIndex + ents.length;
    if (ents.length > 0) {
      const ci = this.findConflict(ents);
      if (ci !== 0) {
        if (ci <= this.committed) throw new Error(`raft: entry ${ci} conflicts with committed entry (commit ${this.committed})`);
        this.append(ci === ents[0]!.index ? ents : ents.slice(ci - ents[0]!.index));
      }
    }
    this.commitTo(Math.min(commit, lastNew));
    return lastNew;
  }

  append(ents: Entry[]): number {
    if (ents.length === 0) return this.lastIndex();
    if (ents[0]!.index - 1 < this.committed) throw new Error(`raft: append at ${ents[0]!.index} below commit ${this.committed}`);
    this.unstable.truncateAndAppend(ents);
    return this.lastIndex();
  }

  commitTo(index: number): void {
    if (index > this.committed) {
      if (index > this.lastIndex()) throw new Error(`raft: commit ${index} beyond last index ${this.lastIndex()}`);
      this.committed = index;
    }
  }

  /** Leader commit rule: only an entry of the current term is committed by counting replicas. */
  maybeCommit(index: number, term: number): boolean {
    if (index > this.committed && this.term(index) === term) {
      this.commitTo(index);
      return true;
    }
    return false;
  }

  appliedTo(index: number): void {
    if (index > this.applied) this.applied = index;
    if (this.applied > this.applying) this.applying = this.applied;
  }

  /** Entries up to `index` were handed to the state machine (not necessarily applied yet). */
  applyingTo(index: number): void {
    if (index > this.applying) this.applying = index;
  }

  hasNextCommittedEnts(): boolean {
    return this.committed > this.applying && this.applying + 1 >= this.firstIndex();
  }

  /** Committed entries not yet handed to the state machine, at most maxBytes (at least one). */
  nextCommittedEnts(maxBytes: number): Entry[] {
    const lo = Math.max(this.applying + 1, this.firstIndex());
    if (this.committed < lo) return [];
    return this.slice(lo, this.committed + 1, maxBytes);
  }

  /** Entries [lo, hi) across storage and the unstable tail, at most maxBytes (at least one). */
  slice(lo: number, hi: number, maxBytes: number): Entry[] {
    if (lo >= hi) return [];
    const first = this.firstIndex();
    if (lo < first) throw new CompactedError(lo, first);
    if (hi > this.lastIndex() + 1) throw new UnavailableError(hi - 1, this.lastIndex());
    const uo = this.unstable.offset;
    if (lo >= uo) {
      const ents = this.unstable.entries;
      const from = lo - uo;
      return ents.slice(from, from + countWithinBytes(ents, from, hi - uo, maxBytes));
    }
    const stored = this.storage.entries(lo, Math.min(hi, uo), maxBytes);
    if (hi <= uo || stored.length < Math.min(hi, uo) - lo) return stored;
    let size = 0;
    for (let i = 0; i < stored.length; i++) size += stored[i]!.data.byteLength;
    const ents = this.unstable.entries;
    const n = countWithinBytes(ents, 0, hi - uo, Math.max(0, maxBytes - size));
    // countWithinBytes always takes one entry; honour the limit exactly when stored ones exist.
    let take = n;
    if (take === 1 && size + ents[0]!.data.byteLength > maxBytes) take = 0;
    for (let i = 0; i < take; i++) stored.push(ents[i]!);
    return stored;
  }

  /** Entries from lo to the end of the log, at most maxBytes; throws CompactedError below firstIndex. */
  entriesFrom(lo: number, maxBytes: number): Entry[] {
    const last = this.lastIndex();
    if (lo > last) return [];
    return this.slice(lo, last + 1, maxBytes);
  }

  snapshot(): Snapshot {
    return this.unstable.snapshot ?? this.storage.snapshot();
  }

  restore(snap: Snapshot): void {
    this.committed = snap.meta.index;
    this.unstable.restore(snap);
  }
}

// The logical state the WAL's records describe, and the one place that defines what each record
// does to it. Recovery replays the files through a LogModel; at run time the WAL keeps two: the
// "front" model (every write accepted so far, which reads are served from) and the "disk" model
// (every write that reached the file, with entry locations, which segment headers are written
// from and which decides what compaction may delete). A record that does not fit the model is a
// `ModelViolation`: LOG_CORRUPT during recovery, LOG_WRITE_INVALID for a caller's write.

import type { ConfState, HardState, SnapshotMeta } from '../../raft/types.js';
import { TermIndex } from '../term-index.js';
import type { EntryLocation, LocationIndex } from './location-index.js';

export class ModelViolation extends Error {}

/**
 * What a snapshot point does to the log. 'record': nothing (a local snapshot point). 'keep': an
 * installed snapshot whose index and term the log holds — entries up to it are compacted, the
 * rest kept. 'reset': an installed snapshot the log does not match — the log restarts after it.
 * The writer decides between 'keep' and 'reset' and the record says which, because recovery may
 * not know the terms needed to decide again (entries in older, deleted segments).
 */
export type SnapshotMode = 'record' | 'keep' | 'reset';

export interface CompactionPoint {
  index: number;
  term: number;
}

const EMPTY_CONF: ConfState = { voters: [], learners: [] };

export class LogModel {
  hardState: HardState = { term: 0, vote: null, commit: 0 };
  snapshot: SnapshotMeta = { index: 0, term: 0, conf: EMPTY_CONF };
  trunc: CompactionPoint = { index: 0, term: 0 };
  last = 0;
  /**
   * Entries (trunc.index, absentTo] are known to exist but not held in the files read: recovery
   * started at a segment whose older siblings were deleted. A later compaction record must cover
   * them by the end of recovery; otherwise a segment holding live entries is missing.
   */
  absentTo = 0;
  /** Term of absentTo (known from the segment header), or NaN after a truncation into the range. */
  private absentLastTerm = Number.NaN;
  private readonly terms = new TermIndex();

  constructor(readonly locations: LocationIndex | null) {}

  firstIndex(): number {
    return this.trunc.index + 1;
  }

  /** Term of `index` for trunc.index ≤ index ≤ last; NaN when unknown (inside the absent range). */
  termOf(index: number): number {
    if (index === this.trunc.index) return this.trunc.term;
    if (index <= this.absentTo) return index === this.absentTo ? this.absentLastTerm : Number.NaN;
    return this.terms.termAt(index);
  }

  lastTerm(): number {
    return this.termOf(this.last);
  }

  /** A segment header: the first segment read sets the state, later ones must match it. */
  segmentStart(last: number, lastTerm: number, trunc: CompactionPoint, first: boolean): void {
    if (first) {
      if (trunc.index > last) throw new ModelViolation(`segment header compaction point ${trunc.index} beyond its last index ${last}`);
      this.trunc = { ...trunc };
      this.last = last;
      this.absentTo = last;
      this.absentLastTerm = last === trunc.index ? trunc.term : lastTerm;
      return;
    }
    this.checkLast(last, lastTerm);
    const t = this.lastTerm();
    if (last !== this.last || lastTerm !== t || trunc.index !== this.trunc.index || trunc.term !== this.trunc.term) {
      throw new ModelViolation(
        `segment header (last ${last}/${lastTerm}, compacted ${trunc.index}/${trunc.term}) does not continue the previous segment (last ${this.last}/${t}, compacted ${this.trunc.index}/${this.trunc.term})`,
      );
    }
  }

  /**
   * A seal or segment header names the last index and its term. When that term is unknown (the
   * log was cut back into entries held only by deleted segments), the record supplies it.
   */
  checkLast(last: number, lastTerm: number): void {
    if (last === this.last && last === this.absentTo && Number.isNaN(this.absentLastTerm)) this.absentLastTerm = lastTerm;
    const t = this.lastTerm();
    if (last !== this.last || lastTerm !== t) throw new ModelViolation(`record names last ${last}/${lastTerm}, the log ends at ${this.last}/${t}`);
  }

  entry(index: number, term: number, loc: EntryLocation | null): void {
    if (index !== this.last + 1) throw new ModelViolation(`entry ${index} does not follow the last index ${this.last}`);
    const prev = this.lastTerm();
    if (term < prev) throw new ModelViolation(`entry ${index} has term ${term} below the previous term ${prev}`);
    this.terms.push(index, term);
    this.last = index;
    if (loc !== null) this.locations?.push(index, loc);
  }

  truncate(from: number): void {
    if (from <= this.trunc.index || from > this.last) {
      throw new ModelViolation(`truncation from ${from} outside the log (${this.trunc.index}, ${this.last}]`);
    }
    this.terms.truncateFrom(from);
    this.locations?.truncateFrom(from);
    this.last = from - 1;
    if (this.absentTo >= from) {
      this.absentTo = from - 1;
      this.absentLastTerm = Number.NaN;
    }
  }

  compact(index: number, term: number): void {
    if (index <= this.trunc.index || index > this.last) {
      throw new ModelViolation(`compaction to ${index} outside the log (${this.trunc.index}, ${this.last}]`);
    }
    const known = this.termOf(index);
    if (!Number.isNaN(known) && known !== term) throw new ModelViolation(`compaction point ${index} has term ${term}, the log has ${known}`);
    this.trunc = { index, term };
    if (index === this.last) this.terms.clear();
    else this.terms.dropBefore(index + 1);
    this.locations?.dropBefore(index + 1);
    if (this.absentTo < index) this.absentTo = index;
  }

  /** Whether installing a snapshot at (index, term) keeps the entries after it ('keep') or not. */
  installMode(index: number, term: number): 'keep' | 'reset' {
    const t = this.trunc;
    const keep = (index === t.index && term === t.term) || (index > t.index && index <= this.last && this.termOf(index) === term);
    return keep ? 'keep' : 'reset';
  }

  /** A snapshot point (see SnapshotMode). */
  snapshotPoint(meta: SnapshotMeta, mode: SnapshotMode): void {
    this.snapshot = { index: meta.index, term: meta.term, conf: { voters: [...meta.conf.voters], learners: [...meta.conf.learners] } };
    if (mode === 'record') return;
    const i = meta.index;
    if (i < this.trunc.index) throw new ModelViolation(`installed snapshot ${i} is older than the compaction point ${this.trunc.index}`);
    if (mode === 'keep') {
      if (i > this.trunc.index) this.compact(i, meta.term);
      else if (meta.term !== this.trunc.term) throw new ModelViolation(`installed snapshot ${i}/${meta.term} does not match the compaction point`);
      return;
    }
    this.trunc = { index: i, term: meta.term };
    this.last = i;
    this.absentTo = i;
    this.absentLastTerm = meta.term;
    this.terms.clear();
    this.locations?.clear();
  }

  setHardState(hs: HardState): void {
    this.hardState = { term: hs.term, vote: hs.vote, commit: hs.commit };
  }

  /** Entries no file holds that the log still needs (empty when recovery was complete). */
  missing(): [number, number] | null {
    return this.absentTo > this.trunc.index ? [this.trunc.index + 1, this.absentTo] : null;
  }
}

// The most recent entries of the WAL in memory: a contiguous suffix [start, start + n) of the log,
// bounded in entries and bytes. Entries not yet written to the file are never dropped (the
// caller passes the lowest such index to `trim`), because the file cannot serve them yet.

import type { Entry } from '../../raft/types.js';

export class EntryCache {
  private ents: Entry[] = [];
  private bytes = 0;

  constructor(
    /** Index of ents[0] (or of the next entry pushed when empty). */
    public start: number,
    private readonly maxEntries: number,
    private readonly maxBytes: number,
  ) {}

  /** The cached entry at `index` (start ≤ index < start + length). */
  at(index: number): Entry {
    return this.ents[index - this.start];
  }

  push(e: Entry): void {
    this.ents.push(e);
    this.bytes += e.data.length;
  }

  /** Empties the cache; the next entry pushed will be `start`. */
  reset(start: number): void {
    this.ents = [];
    this.bytes = 0;
    this.start = start;
  }

  /** Drops every entry ≥ i. */
  truncateFrom(i: number): void {
    if (i <= this.start) {
      this.reset(i);
      return;
    }
    const keep = i - this.start;
    for (let k = keep; k < this.ents.length; k++) this.bytes -= this.ents[k].data.length;
    this.ents.length = Math.min(keep, this.ents.length);
  }

  /** Drops every entry ≤ i (compaction). */
  dropThrough(i: number): void {
    if (i < this.start) return;
    const n = Math.min(i - this.start + 1, this.ents.length);
    for (let k = 0; k < n; k++) this.bytes -= this.ents[k].data.length;
    this.ents.splice(0, n);
    this.start = i + 1;
  }

  /**
   * Drops the oldest entries below `keepFrom` once a limit is exceeded, down to 7/8 of the
   * limits, so the O(cache) splice runs once per ~1/8 of the cache rather than on every write.
   */
  trim(keepFrom: number): void {
    if (this.ents.length <= this.maxEntries && this.bytes <= this.maxBytes) return;
    const maxEntries = Math.floor((this.maxEntries * 7) / 8);
    const maxBytes = Math.floor((this.maxBytes * 7) / 8);
    let n = 0;
    let bytes = this.bytes;
    while (n < this.ents.length && this.start + n < keepFrom && (this.ents.length - n > maxEntries || bytes > maxBytes)) {
      bytes -= this.ents[n].data.length;
      n++;
    }
    if (n > 0) {
      this.ents.splice(0, n);
      this.start += n;
      this.bytes = bytes;
    }
  }
}

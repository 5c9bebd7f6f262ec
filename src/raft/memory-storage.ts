// In-memory LogStorage with the write side a run loop needs (append, hard state, snapshots,
// compaction). Used by unit tests, the simulator and the benchmark.

import { countWithinBytes } from './entry-size.js';
import { CompactedError, SnapshotOutOfDateError, UnavailableError } from './errors.js';
import { type ConfState, type Entry, EntryType, type HardState, type LogStorage, type Snapshot } from './types.js';

export class MemoryStorage implements LogStorage {
  private hard: HardState = { term: 0, vote: null, commit: 0 };
  private conf: ConfState = { voters: [], learners: [] };
  private snap: Snapshot = { meta: { index: 0, term: 0, conf: { voters: [], learners: [] } }, data: new Uint8Array(0) };
  /** ents[0] is a placeholder for the snapshot's index/term, so ents[i].index = offset + i. */
  private ents: Entry[] = [{ term: 0, index: 0, type: EntryType.Normal, data: new Uint8Array(0) }];

  /**
   * A member of a new cluster: the initial configuration is a snapshot at index 1, term 1
   * (`data` is the application's initial state). Every founding member starts from the same
   * snapshot; a node that joins later starts from an empty storage and receives a snapshot
   * from the leader, which is how it learns the configuration that preceded it.
   */
  static bootstrap(voters: string[], learners: string[] = [], data: Uint8Array = new Uint8Array(0)): MemoryStorage {
    const s = new MemoryStorage();
    const conf = { voters: [...voters], learners: [...learners] };
    s.applySnapshot({ meta: { index: 1, term: 1, conf }, data });
    s.hard = { term: 1, vote: null, commit: 1 };
    return s;
  }

  initialState(): { hardState: HardState; confState: ConfState } {
    return { hardState: { ...this.hard }, confState: { voters: [...this.conf.voters], learners: [...this.conf.learners] } };
  }

  private get offset(): number {
    return this.ents[0]!.index;
  }

  firstIndex(): number {
    return this.offset + 1;
  }

  lastIndex(): number {
    return this.offset + this.ents.length - 1;
  }

  term(index: number): number {
    const off = this.offset;
    if (index < off) throw new CompactedError(index, off + 1);
    if (index - off >= this.ents.length) throw new UnavailableError(index, this.lastIndex());
    return this.ents[index - off]!.term;
  }

  entries(lo: number, hi: number, maxBytes: number): Entry[] {
    const off = this.offset;
    if (lo <= off) throw new CompactedError(lo, off + 1);
    if (hi > this.lastIndex() + 1) throw new UnavailableError(hi - 1, this.lastIndex());
    if (lo >= hi) return [];
    const from = lo - off;
    const n = countWithinBytes(this.ents, from, hi - off, maxBytes);
    return this.ents.slice(from, from + n);
  }

  snapshot(): Snapshot {
    return this.snap;
  }

  setHardState(hs: HardState): void {
    this.hard = { ...hs };
  }

  /** Persist the configuration the application reached (with its applied index). */
  setConfState(cs: ConfState): void {
    this.conf = { voters: [...cs.voters], learners: [...cs.learners] };
  }

  /** Append entries; an entry at index i replaces the stored suffix from i on. */
  append(entries: Entry[]): void {
    if (entries.length === 0) return;
    const off = this.offset;
    let start = 0;
    // Entries already covered by the snapshot are dropped.
    if (entries[0]!.index <= off) start = off + 1 - entries[0]!.index;
    if (start >= entries.length) return;
    const first = entries[start]!.index;
    if (first > this.lastIndex() + 1) throw new UnavailableError(first, this.lastIndex());
    this.ents.length = first - off;
    for (let i = start; i < entries.length; i++) this.ents.push(entries[i]!);
  }

  /** Replace the whole log by a snapshot (a follower installing one it received). */
  applySnapshot(snap: Snapshot): void {
    if (snap.meta.index <= this.snap.meta.index) throw new SnapshotOutOfDateError(snap.meta.index, this.snap.meta.index);
    this.snap = snap;
    this.ents = [{ term: snap.meta.term, index: snap.meta.index, type: EntryType.Normal, data: new Uint8Array(0) }];
    this.conf = { voters: [...snap.meta.conf.voters], learners: [...snap.meta.conf.learners] };
    if (this.hard.commit < snap.meta.index) this.hard = { ...this.hard, commit: snap.meta.index };
  }

  /** Record a snapshot the application took at `index` (≤ applied); entries stay until compact(). */
  createSnapshot(index: number, conf: ConfState, data: Uint8Array): Snapshot {
    if (index <= this.snap.meta.index) throw new SnapshotOutOfDateError(index, this.snap.meta.index);
    const snap: Snapshot = { meta: { index, term: this.term(index), conf: { voters: [...conf.voters], learners: [...conf.learners] } }, data };
    this.snap = snap;
    return snap;
  }

  /** Discard entries up to and including `index` (which must be ≤ the applied index). */
  compact(index: number): void {
    const off = this.offset;
    if (index <= off) return;
    if (index > this.lastIndex()) throw new UnavailableError(index, this.lastIndex());
    const head = this.ents[index - off]!;
    const rest = this.ents.slice(index - off + 1);
    this.ents = [{ term: head.term, index: head.index, type: EntryType.Normal, data: new Uint8Array(0) }, ...rest];
  }
}

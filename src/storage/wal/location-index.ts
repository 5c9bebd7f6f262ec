// Where each log entry lives on disk: index → (segment seq, byte offset, frame length), kept as
// runs of consecutive indexes in one segment with typed arrays, so a million entries cost ~8 MB
// and a lookup is a binary search over a handful of runs.

export interface EntryLocation {
  seq: number;
  offset: number;
  len: number;
}

class Run {
  offsets = new Uint32Array(256);
  lens = new Uint32Array(256);
  n = 0;
  constructor(
    readonly seq: number,
    public first: number,
  ) {}

  push(offset: number, len: number): void {
    if (this.n === this.offsets.length) {
      const o = new Uint32Array(this.n * 2);
      o.set(this.offsets);
      this.offsets = o;
      const l = new Uint32Array(this.n * 2);
      l.set(this.lens);
      this.lens = l;
    }
    this.offsets[this.n] = offset;
    this.lens[this.n] = len;
    this.n++;
  }
}

export class LocationIndex {
  private runs: Run[] = [];

  /** Records entry `index` (one past the last recorded) at `loc`. */
  push(index: number, loc: EntryLocation): void {
    const r = this.runs.at(-1);
    if (r !== undefined && r.seq === loc.seq && r.first + r.n === index) {
      r.push(loc.offset, loc.len);
      return;
    }
    const nr = new Run(loc.seq, index);
    nr.push(loc.offset, loc.len);
    this.runs.push(nr);
  }

  get(index: number): EntryLocation | undefined {
    const k = this.find(index);
    if (k < 0) return undefined;
    const r = this.runs[k];
    const j = index - r.first;
    return { seq: r.seq, offset: r.offsets[j], len: r.lens[j] };
  }

  /** Forgets every index ≥ i. */
  truncateFrom(i: number): void {
    while (this.runs.length > 0) {
      const r = this.runs[this.runs.length - 1];
      if (r.first >= i) this.runs.pop();
      else {
        if (r.first + r.n > i) r.n = i - r.first;
        return;
      }
    }
  }

  /** Forgets every index < i. */
  dropBefore(i: number): void {
    let k = 0;
    while (k < this.runs.length && this.runs[k].first + this.runs[k].n <= i) k++;
    if (k > 0) this.runs.splice(0, k);
    const r = this.runs[0];
    if (r !== undefined && r.first < i) {
      const skip = i - r.first;
      // slice, not subarray: the dropped prefix's memory is released.
      r.offsets = r.offsets.slice(skip);
      r.lens = r.lens.slice(skip);
      r.n -= skip;
      r.first = i;
    }
  }

  clear(): void {
    this.runs = [];
  }

  /** Lowest segment seq that holds a recorded entry, or +∞ when none. */
  minSeq(): number {
    return this.runs.length === 0 ? Number.POSITIVE_INFINITY : this.runs[0].seq;
  }

  private find(index: number): number {
    let lo = 0;
    let hi = this.runs.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const r = this.runs[mid];
      if (index < r.first) hi = mid - 1;
      else if (index >= r.first + r.n) lo = mid + 1;
      else return mid;
    }
    return -1;
  }
}

// Terms of the whole log kept in memory as runs (first index of each run of equal terms).
// Terms change rarely (once per election), so this is a handful of pairs even for a long log,
// and `term(i)` is a binary search that never touches LMDB or decodes a record.

export class TermIndex {
  /** runStart[k] = first index whose term is runTerm[k]; strictly increasing. */
  private runStart: number[] = [];
  private runTerm: number[] = [];

  /** Appends index `i` with `term`; `i` must be one past the last index appended. */
  push(i: number, term: number): void {
    const n = this.runTerm.length;
    if (n > 0 && this.runTerm[n - 1] === term) return;
    this.runStart.push(i);
    this.runTerm.push(term);
  }

  /** Drops every index ≥ i. */
  truncateFrom(i: number): void {
    let n = this.runStart.length;
    while (n > 0 && this.runStart[n - 1] >= i) n--;
    this.runStart.length = n;
    this.runTerm.length = n;
  }

  /** Drops every index < i (the first remaining run is clipped to start at i). */
  dropBefore(i: number): void {
    let k = 0;
    while (k + 1 < this.runStart.length && this.runStart[k + 1] <= i) k++;
    this.runStart.splice(0, k);
    this.runTerm.splice(0, k);
    if (this.runStart.length > 0 && this.runStart[0] < i) this.runStart[0] = i;
  }

  clear(): void {
    this.runStart = [];
    this.runTerm = [];
  }

  /** Term of index `i`; the caller guarantees i is within the indexes pushed. */
  termAt(i: number): number {
    let lo = 0;
    let hi = this.runStart.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.runStart[mid] <= i) lo = mid;
      else hi = mid - 1;
    }
    return this.runTerm[lo];
  }

  get runs(): number {
    return this.runStart.length;
  }
}

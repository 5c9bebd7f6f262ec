// Multi-needle byte search for the offline at-rest verifier (issue 11 item 8).
//
// A streaming search over arbitrary byte chunks: needles are grouped by a short prefix (up to 4
// bytes, read as one integer) in a Map, and a per-position prefilter on the first one or two bytes
// (a 256- or 65,536-entry table) rejects almost every position before the Map lookup. Stored data
// is dominated by zero pages and key/header bytes, so the prefilter is what makes 1,000 needles
// cost about as much as one. Chunks overlap by `maxLen - 1` bytes so a needle that straddles a
// chunk boundary is found, and a match is reported once, at its absolute offset.

/** One occurrence of needle number `needle` starting at absolute byte `offset` of the stream. */
export interface NeedleHit {
  readonly needle: number;
  readonly offset: number;
}

/** Needles prepared for searching; build once, then run any number of streams. */
export class NeedleSet {
  readonly needles: readonly Uint8Array[];
  readonly minLen: number;
  readonly maxLen: number;
  /** Bytes of each needle's prefix that are folded into the Map key (1..4). */
  private readonly keyLen: number;
  /** Bytes the prefilter table looks at (1 or 2). */
  private readonly filterLen: number;
  private readonly filter: Uint8Array;
  private readonly groups = new Map<number, number[]>();

  /** `needles` must be non-empty byte strings; duplicates are the caller's choice (each reports). */
  constructor(needles: readonly Uint8Array[]) {
    if (needles.length === 0) throw new RangeError('at least one needle is required');
    let min = Number.POSITIVE_INFINITY;
    let max = 0;
    for (const n of needles) {
      if (n.length === 0) throw new RangeError('a needle must not be empty');
      min = Math.min(min, n.length);
      max = Math.max(max, n.length);
    }
    this.needles = needles;
    this.minLen = min;
    this.maxLen = max;
    this.keyLen = Math.min(4, min);
    this.filterLen = Math.min(2, min);
    this.filter = new Uint8Array(this.filterLen === 2 ? 65536 : 256);
    needles.forEach((n, i) => {
      this.filter[this.filterLen === 2 ? (n[0]! << 8) | n[1]! : n[0]!] = 1;
      const key = prefixKey(n, 0, this.keyLen);
      const g = this.groups.get(key);
      if (g) g.push(i);
      else this.groups.set(key, [i]);
    });
  }

  /**
   * Every occurrence in `buf` of every needle that ends past `mustEndAfter` (a match lying wholly
   * in bytes already searched is skipped). Offsets are `base + position`; hits come in position
   * order, then needle order.
   */
  searchIn(buf: Uint8Array, base: number, mustEndAfter: number, onHit: (hit: NeedleHit) => void): void {
    const { filter, filterLen, keyLen, groups, needles, minLen } = this;
    const last = buf.length - minLen; // last position where the shortest needle still fits
    for (let i = 0; i <= last; i++) {
      const f = filterLen === 2 ? (buf[i]! << 8) | buf[i + 1]! : buf[i]!;
      if (filter[f] === 0) continue;
      const group = groups.get(prefixKey(buf, i, keyLen));
      if (group === undefined) continue;
      for (const idx of group) {
        const n = needles[idx]!;
        const end = i + n.length;
        if (end > buf.length || end <= mustEndAfter) continue;
        if (matchesAt(buf, i, n, keyLen)) onHit({ needle: idx, offset: base + i });
      }
    }
  }
}

/** Big-endian integer of `len` (1..4) bytes at `at`, as an unsigned 32-bit number. */
function prefixKey(b: Uint8Array, at: number, len: number): number {
  let k = 0;
  for (let j = 0; j < len; j++) k = (k << 8) | b[at + j]!;
  return k >>> 0;
}

function matchesAt(buf: Uint8Array, at: number, needle: Uint8Array, from: number): boolean {
  for (let j = from; j < needle.length; j++) if (buf[at + j] !== needle[j]) return false;
  return true;
}

/**
 * A search over one stream fed in chunks of any size (including empty or one-byte chunks). Keeps
 * the last `maxLen - 1` bytes of what it has seen, so matches across chunk boundaries are found.
 * Each chunk is copied once behind that carry into a reused work buffer (so the caller may reuse
 * its read buffer), which costs far less than the search itself.
 */
export class NeedleStream {
  private work: Uint8Array = new Uint8Array(0);
  private carryLen = 0;
  /** Absolute offset of `work[0]`. */
  private base = 0;

  constructor(
    private readonly set: NeedleSet,
    private readonly onHit: (hit: NeedleHit) => void,
  ) {}

  push(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    const total = this.carryLen + chunk.length;
    if (this.work.length < total) {
      const grown = new Uint8Array(Math.max(total, this.work.length * 2));
      grown.set(this.work.subarray(0, this.carryLen));
      this.work = grown;
    }
    this.work.set(chunk, this.carryLen);
    const buf = this.work.subarray(0, total);
    // A match ending inside the carry was wholly inside the previous buffer: already reported.
    this.set.searchIn(buf, this.base, this.carryLen, this.onHit);
    const tail = Math.min(this.set.maxLen - 1, total);
    this.work.copyWithin(0, total - tail, total);
    this.base += total - tail;
    this.carryLen = tail;
  }
}

/** Reference implementation for tests: every (needle, offset) by brute force, sorted. */
export function naiveSearch(haystack: Uint8Array, needles: readonly Uint8Array[]): NeedleHit[] {
  const hits: NeedleHit[] = [];
  for (let i = 0; i < haystack.length; i++) {
    needles.forEach((n, idx) => {
      if (i + n.length > haystack.length) return;
      for (let j = 0; j < n.length; j++) if (haystack[i + j] !== n[j]) return;
      hits.push({ needle: idx, offset: i });
    });
  }
  return hits;
}

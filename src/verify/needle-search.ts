// Multi-needle byte search for the offline at-rest verifier (issue 11 item 8).
//
// A streaming search over arbitrary byte chunks. Candidates come from a Wu–Manber skip loop (a
// shift table over 2-byte blocks of the needles' first bytes) when every needle has 4+ bytes, or
// else from a per-position prefilter on the first one or two bytes; each candidate is checked by
// a Map lookup of its first (up to 4) bytes, which groups the needles, then a full compare.
// Stored data is dominated by zero pages and key/header bytes, which rarely contain needle
// blocks, so most steps skip a whole window and 1,000 needles cost about as much as one.
// Chunks overlap by `maxLen - 1` bytes so a needle that straddles a chunk boundary is found, and
// a match is reported once, at its absolute offset.

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
  /** Wu–Manber window (bytes of each needle's prefix used for skipping) and shift table. */
  private readonly window: number;
  private readonly shift: Uint8Array | null;

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
    // Skipping pays off only with windows of a few bytes; shorter needles use the plain loop.
    this.window = Math.min(min, 64);
    if (this.window >= 4) {
      const w = this.window;
      const shift = new Uint8Array(65536).fill(w - 1);
      for (const n of needles) {
        for (let q = 0; q + 1 < w; q++) {
          const block = (n[q]! << 8) | n[q + 1]!;
          shift[block] = Math.min(shift[block]!, w - 2 - q);
        }
      }
      this.shift = shift;
    } else {
      this.shift = null;
    }
  }

  /**
   * Every occurrence in `buf` of every needle that ends past `mustEndAfter` (a match lying wholly
   * in bytes already searched is skipped). Offsets are `base + position`; hits come in position
   * order, then needle order.
   */
  searchIn(buf: Uint8Array, base: number, mustEndAfter: number, onHit: (hit: NeedleHit) => void): void {
    const { filter, filterLen, minLen } = this;
    const last = buf.length - minLen; // last position where the shortest needle still fits
    const shift = this.shift;
    if (shift !== null) {
      // Wu–Manber: look at the 2-byte block ending a window of `win` bytes; unless that block
      // occurs in some needle's first `win` bytes, no needle can start inside the window, so
      // jump. Zero pages and text rarely contain needle blocks: most steps skip `win - 1` bytes.
      const win = this.window;
      for (let end = win - 1; end < buf.length; ) {
        const sh = shift[(buf[end - 1]! << 8) | buf[end]!]!;
        if (sh !== 0) {
          end += sh;
          continue;
        }
        const i = end - win + 1;
        if (i <= last && filter[(buf[i]! << 8) | buf[i + 1]!] !== 0) this.verifyAt(buf, i, base, mustEndAfter, onHit);
        end++;
      }
    } else if (filterLen === 2) {
      // Hot loop: a rolling 16-bit window, one table load per byte.
      let h = last >= 0 ? buf[0]! : 0;
      for (let i = 0; i <= last; i++) {
        h = ((h << 8) | buf[i + 1]!) & 0xffff;
        if (filter[h] !== 0) this.verifyAt(buf, i, base, mustEndAfter, onHit);
      }
    } else {
      for (let i = 0; i <= last; i++) if (filter[buf[i]!] !== 0) this.verifyAt(buf, i, base, mustEndAfter, onHit);
    }
  }

  /** Position `i` passed the prefilter: look up its prefix group and compare each candidate. */
  private verifyAt(buf: Uint8Array, i: number, base: number, mustEndAfter: number, onHit: (hit: NeedleHit) => void): void {
    const group = this.groups.get(prefixKey(buf, i, this.keyLen));
    if (group === undefined) return;
    for (const idx of group) {
      const n = this.needles[idx]!;
      const end = i + n.length;
      if (end > buf.length || end <= mustEndAfter) continue;
      if (matchesAt(buf, i, n, this.keyLen)) onHit({ needle: idx, offset: base + i });
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

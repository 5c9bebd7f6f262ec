// Flow control for one follower in replicate state: a ring of the last index (and bytes) of
// each App message in flight, bounded in count and in bytes.

export class Inflights {
  private readonly idx: Float64Array;
  private readonly sz: Float64Array;
  private start = 0;
  count = 0;
  bytes = 0;

  constructor(
    private readonly maxCount: number,
    private readonly maxBytes: number,
  ) {
    this.idx = new Float64Array(maxCount);
    this.sz = new Float64Array(maxCount);
  }

  full(): boolean {
    return this.count >= this.maxCount || (this.maxBytes > 0 && this.bytes >= this.maxBytes);
  }

  add(index: number, bytes: number): void {
    if (this.count >= this.maxCount) throw new Error('raft: inflights overflow');
    const at = (this.start + this.count) % this.maxCount;
    this.idx[at] = index;
    this.sz[at] = bytes;
    this.count++;
    this.bytes += bytes;
  }

  /** Acknowledge every message whose last index is ≤ `index`. */
  freeLE(index: number): void {
    while (this.count > 0 && this.idx[this.start]! <= index) {
      this.bytes -= this.sz[this.start]!;
      this.start = (this.start + 1) % this.maxCount;
      this.count--;
    }
    if (this.count === 0) {
      this.start = 0;
      this.bytes = 0;
    }
  }

  /** Forget the oldest message (it was probably lost): lets a stalled window move again. */
  freeFirstOne(): void {
    if (this.count > 0) this.freeLE(this.idx[this.start]!);
  }

  reset(): void {
    this.start = 0;
    this.count = 0;
    this.bytes = 0;
  }
}

// Reuses task buffers on the main thread. On the reference VM the first touch of fresh memory
// costs about 1 ms per MiB (page faults), several times the cost of packing a batch into warm
// memory, and the main thread is the one that must stay responsive. Buffers come back from the
// worker with the task (transferred, not copied), so reuse costs nothing but a free list.
//
// Size classes are powers of two so a buffer fits every batch up to its class; the free list is
// bounded in count and in the size of buffers it keeps.

const MIN_CLASS = 4096;

export class BufferRecycler {
  private readonly free = new Map<number, ArrayBuffer[]>();
  private kept = 0;

  constructor(
    private readonly maxBuffers: number,
    private readonly maxBytes: number,
  ) {}

  take(min: number): ArrayBuffer {
    const cls = sizeClass(min);
    const list = this.free.get(cls);
    const b = list?.pop();
    if (b !== undefined) {
      this.kept--;
      return b;
    }
    // Contents need not be zeroed: the packer zeroes or writes every byte it uses.
    return Buffer.allocUnsafeSlow(cls).buffer as ArrayBuffer;
  }

  give(b: ArrayBuffer): void {
    const cls = b.byteLength;
    // A detached buffer has byteLength 0 and fails the size-class test.
    if (cls !== sizeClass(cls) || cls > this.maxBytes || this.kept >= this.maxBuffers) return;
    let list = this.free.get(cls);
    if (list === undefined) {
      list = [];
      this.free.set(cls, list);
    }
    list.push(b);
    this.kept++;
  }

  get size(): number {
    return this.kept;
  }
}

function sizeClass(n: number): number {
  if (n <= MIN_CLASS) return MIN_CLASS;
  return 2 ** Math.ceil(Math.log2(n));
}

// Storage records of sealed values, carved from shared slabs.
//
// A fresh Uint8Array is an allocation V8 accounts as external memory (and one of ≤ 64 bytes
// lives on the V8 heap, where the first `buffer` read moves it off-heap at ≈ 1 µs). Records
// are short-lived (staged in the apply overlay until the batch commits), so one 64 KiB slab
// serves hundreds of them; a large record gets its own buffer so a slab never pins much memory.
// Each record is a plain Uint8Array view; its `buffer` is the slab (read it with byteOffset).

const SLAB_BYTES = 64 * 1024;
/** Records above this size are allocated on their own. */
const MAX_SLAB_RECORD = 4 * 1024;

export class RecordSlab {
  private slab = new ArrayBuffer(SLAB_BYTES);
  private used = 0;

  /** A zero-filled record of `n` bytes. */
  alloc(n: number): Uint8Array<ArrayBuffer> {
    if (n > MAX_SLAB_RECORD) return new Uint8Array(n);
    if (this.used + n > SLAB_BYTES) {
      this.slab = new ArrayBuffer(SLAB_BYTES);
      this.used = 0;
    }
    const v = new Uint8Array(this.slab, this.used, n);
    // 8-aligned starts keep the header's DataView reads cheap.
    this.used += (n + 7) & ~7;
    return v;
  }
}

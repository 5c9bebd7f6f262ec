// Small byte arrays for per-write hot paths (issue 13). `new Uint8Array(n)` above 64 bytes gives
// every array its own off-heap backing store (≈650 ns to allocate, and more GC work to sweep);
// Node's Buffer pool hands out slices of a shared 8 KiB block for ≈80 ns. The result is returned
// as a plain Uint8Array view, so `.slice()` still copies (a Buffer's `.slice()` would not).
//
// The memory is NOT zeroed: callers must write every byte before anything reads it. Never pass
// the result's `.buffer` to a worker transfer list or read it without `byteOffset` — it is shared.

/** Arrays at least this large come from their own backing store (Node pools below 4 KiB). */
const POOL_MAX = 4096;

export function allocBytesUnsafe(n: number): Uint8Array<ArrayBuffer> {
  if (n >= POOL_MAX) return new Uint8Array(n);
  const b = Buffer.allocUnsafe(n);
  // Node's pool is a plain ArrayBuffer (never shared): the cast only narrows the declared type.
  return new Uint8Array(b.buffer as ArrayBuffer, b.byteOffset, n);
}

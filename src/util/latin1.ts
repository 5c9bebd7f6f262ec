// Byte strings as latin1 JS strings (one char per byte): the Map keys of the apply overlay, the
// transaction watch list and the command table.
//
// `Buffer.from(u8.buffer, …)` reads `buffer`, and a typed array of ≤ 64 bytes (most Redis keys)
// lives on the V8 heap: that read moves it off-heap first, ≈ 0.7 µs per key. Buffer's latin1Slice
// binding takes any Uint8Array and copies an on-heap one to the stack instead (≈ 0.1 µs).

const latin1Slice = (Buffer.prototype as unknown as { latin1Slice(this: Uint8Array, start: number, end: number): string }).latin1Slice;

/** The bytes of `u8` as a latin1 string. */
export function latin1(u8: Uint8Array): string {
  return latin1Slice.call(u8, 0, u8.length);
}

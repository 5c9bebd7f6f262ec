// Big-endian integer helpers for the storage layouts (SPEC C-1: every integer is big-endian).

/** Largest value a JS number holds exactly; indexes and terms stay below it (see raft/types.ts). */
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
const U64_MAX = (1n << 64n) - 1n;

export function view(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}

/** Encodes an unsigned 64-bit value as 8 bytes big-endian. */
export function u64be(v: bigint | number): Uint8Array {
  const out = new Uint8Array(8);
  view(out).setBigUint64(0, checkU64(v));
  return out;
}

export function checkU64(v: bigint | number): bigint {
  const b = typeof v === 'bigint' ? v : BigInt(v);
  if (b < 0n || b > U64_MAX) throw new RangeError(`u64 out of range: ${b}`);
  return b;
}

/** Reads a u64 BE that the caller uses as a number (Raft index/term); refuses values ≥ 2^53. */
export function readSafeU64(dv: DataView, offset: number): number {
  const b = dv.getBigUint64(offset);
  if (b > MAX_SAFE) throw new RangeError(`u64 ${b} exceeds 2^53-1`);
  return Number(b);
}

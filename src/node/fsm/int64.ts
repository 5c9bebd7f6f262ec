// Strict signed 64-bit decimal parsing with Redis's rules (string2ll): no sign other than a
// leading '-', no leading zeros, no "-0", no spaces, within [-2^63, 2^63-1].

export const I64_MIN = -(1n << 63n);
export const I64_MAX = (1n << 63n) - 1n;

/** The integer `bytes` spell, or null when they are not a canonical in-range i64. */
export function parseI64(bytes: Uint8Array): bigint | null {
  const n = bytes.length;
  if (n === 0 || n > 20) return null;
  if (n === 1 && bytes[0] === 0x30) return 0n;
  let i = 0;
  if (bytes[0] === 0x2d) {
    i = 1;
    if (n === 1) return null;
  }
  if (bytes[i]! < 0x31 || bytes[i]! > 0x39) return null;
  for (let j = i + 1; j < n; j++) {
    if (bytes[j]! < 0x30 || bytes[j]! > 0x39) return null;
  }
  // ≤ 20 ASCII digits: safe to hand to BigInt once validated.
  const v = BigInt(String.fromCharCode(...bytes));
  return v < I64_MIN || v > I64_MAX ? null : v;
}

const encoder = new TextEncoder();

/** ASCII decimal bytes of an integer (how INCR stores its result, as Redis does). */
export function formatInt(v: bigint): Uint8Array {
  return encoder.encode(v.toString());
}

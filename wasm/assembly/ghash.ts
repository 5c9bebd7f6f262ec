// GHASH without tables or secret-dependent branches.
//
// Field elements are kept as GCM's byte string read big-endian into two u64 words (hi = bytes
// 0..7, lo = bytes 8..15); in that "reflected" form coefficient x^i is bit 127 - i.
//
// Carry-less products come from ordinary integer multiplies (i64.mul, constant time on every
// target V8 supports): each operand is split into four words that keep every 4th bit, so a
// product of two such words sums at most 15 partial bits per kept position below bit 60 and
// the carries stay inside the 3-bit holes (at 60..63 a sum of 16 carries out past bit 63,
// which i64.mul drops). XOR of the four products of matching residue class, masked, is the
// low 64 bits of the carry-less product. WebAssembly has no 64x64->128 multiply, so the high
// 64 bits come from the bit-reversed operands: rev(x) ⊗ rev(y) = rev127(x ⊗ y).
// A 128x128 product is Karatsuba over 64-bit halves (3 products, each low + reversed),
// and 4 blocks are aggregated (Y0·H^4 ^ Y1·H^3 ^ Y2·H^2 ^ Y3·H) before one reduction.

const M0: u64 = 0x1111111111111111;
const M1: u64 = 0x2222222222222222;
const M2: u64 = 0x4444444444444444;
const M3: u64 = 0x8888888888888888;

/** Bytes of one power table: 6 operands (lo, hi, lo^hi and their bit reversals) × 4 split words. */
const POWER_BYTES: usize = 192;
/** Bytes of the per-key GHASH table: H^1..H^4. */
export const GH_BYTES: usize = 4 * POWER_BYTES;

/** Byte-swaps each 64-bit lane: GCM bytes -> big-endian words (and back). */
// @ts-ignore: decorator
@inline
function bswap64x2(v: v128): v128 {
  return i8x16.shuffle(v, v, 7, 6, 5, 4, 3, 2, 1, 0, 15, 14, 13, 12, 11, 10, 9, 8);
}

/** Reverses the bits inside every byte (shifts and masks only). */
// @ts-ignore: decorator
@inline
function bitrevBytes(v: v128): v128 {
  const m1 = i8x16.splat(0x55);
  const m2 = i8x16.splat(0x33);
  const m4 = i8x16.splat(0x0f);
  v = v128.or(v128.and(i64x2.shr_u(v, 1), m1), i64x2.shl(v128.and(v, m1), 1));
  v = v128.or(v128.and(i64x2.shr_u(v, 2), m2), i64x2.shl(v128.and(v, m2), 2));
  return v128.or(v128.and(i64x2.shr_u(v, 4), m4), i64x2.shl(v128.and(v, m4), 4));
}

/** Full 64-bit bit reversal of both lanes. */
// @ts-ignore: decorator
@inline
function rev64x2(v: v128): v128 {
  return bswap64x2(bitrevBytes(v));
}

// @ts-ignore: decorator
@inline
function split4(p: usize, y: u64): void {
  store<u64>(p, y & M0, 0);
  store<u64>(p, y & M1, 8);
  store<u64>(p, y & M2, 16);
  store<u64>(p, y & M3, 24);
}

/** Writes the power table at `t` for the field element whose GCM bytes are at `h`. */
function writePower(t: usize, h: usize): void {
  const v = v128.load(h);
  const be = bswap64x2(v);
  // For GCM bytes, the bit reversal of a big-endian word is the little-endian word of the
  // bit-reversed bytes.
  const rv = bitrevBytes(v);
  const k1 = i64x2.extract_lane(be, 0);
  const k0 = i64x2.extract_lane(be, 1);
  const rk1 = i64x2.extract_lane(rv, 0);
  const rk0 = i64x2.extract_lane(rv, 1);
  split4(t, k0);
  split4(t + 32, k1);
  split4(t + 64, k0 ^ k1);
  split4(t + 96, rk0);
  split4(t + 128, rk1);
  split4(t + 160, rk0 ^ rk1);
}

/**
 * X <- (X ^ B_0)·H^r ^ B_1·H^(r-1) ^ ... ^ B_(r-1)·H for the r (1..4) blocks at `blocks`;
 * `x` points to the 16-byte GHASH state in GCM byte order. r is public (a length).
 */
export function ghashGroup(tab: usize, x: usize, blocks: usize, r: usize): void {
  // Six products per block (lo, hi, lo^hi; forward and bit-reversed), each kept as its four
  // residue-class sums z0..z3. Masking is linear, so the sums of all r blocks are masked once
  // at the end: z_c = XOR of x_a·y_b with a + b ≡ c (mod 4), then (z0&M0)|(z1&M1)|(z2&M2)|(z3&M3).
  let a0_0: u64 = 0;
  let a0_1: u64 = 0;
  let a0_2: u64 = 0;
  let a0_3: u64 = 0;
  let a1_0: u64 = 0;
  let a1_1: u64 = 0;
  let a1_2: u64 = 0;
  let a1_3: u64 = 0;
  let a2_0: u64 = 0;
  let a2_1: u64 = 0;
  let a2_2: u64 = 0;
  let a2_3: u64 = 0;
  let b0_0: u64 = 0;
  let b0_1: u64 = 0;
  let b0_2: u64 = 0;
  let b0_3: u64 = 0;
  let b1_0: u64 = 0;
  let b1_1: u64 = 0;
  let b1_2: u64 = 0;
  let b1_3: u64 = 0;
  let b2_0: u64 = 0;
  let b2_1: u64 = 0;
  let b2_2: u64 = 0;
  let b2_3: u64 = 0;
  let v = v128.xor(v128.load(blocks), v128.load(x));
  for (let i: usize = 0; i < r; i++) {
    if (i > 0) v = v128.load(blocks + (i << 4));
    const t = tab + (r - 1 - i) * POWER_BYTES;
    const be = bswap64x2(v);
    const rv = bitrevBytes(v);
    const y1 = i64x2.extract_lane(be, 0);
    const y0 = i64x2.extract_lane(be, 1);
    const ry1 = i64x2.extract_lane(rv, 0);
    const ry0 = i64x2.extract_lane(rv, 1);
    {
      const x = y0;
      const x0 = x & M0;
      const x1 = x & M1;
      const x2 = x & M2;
      const x3 = x & M3;
      const k0 = load<u64>(t, 0);
      const k1 = load<u64>(t, 8);
      const k2 = load<u64>(t, 16);
      const k3 = load<u64>(t, 24);
      a0_0 ^= (x0 * k0) ^ (x1 * k3) ^ (x2 * k2) ^ (x3 * k1);
      a0_1 ^= (x0 * k1) ^ (x1 * k0) ^ (x2 * k3) ^ (x3 * k2);
      a0_2 ^= (x0 * k2) ^ (x1 * k1) ^ (x2 * k0) ^ (x3 * k3);
      a0_3 ^= (x0 * k3) ^ (x1 * k2) ^ (x2 * k1) ^ (x3 * k0);
    }
    {
      const x = y1;
      const x0 = x & M0;
      const x1 = x & M1;
      const x2 = x & M2;
      const x3 = x & M3;
      const k0 = load<u64>(t + 32, 0);
      const k1 = load<u64>(t + 32, 8);
      const k2 = load<u64>(t + 32, 16);
      const k3 = load<u64>(t + 32, 24);
      a1_0 ^= (x0 * k0) ^ (x1 * k3) ^ (x2 * k2) ^ (x3 * k1);
      a1_1 ^= (x0 * k1) ^ (x1 * k0) ^ (x2 * k3) ^ (x3 * k2);
      a1_2 ^= (x0 * k2) ^ (x1 * k1) ^ (x2 * k0) ^ (x3 * k3);
      a1_3 ^= (x0 * k3) ^ (x1 * k2) ^ (x2 * k1) ^ (x3 * k0);
    }
    {
      const x = (y0 ^ y1);
      const x0 = x & M0;
      const x1 = x & M1;
      const x2 = x & M2;
      const x3 = x & M3;
      const k0 = load<u64>(t + 64, 0);
      const k1 = load<u64>(t + 64, 8);
      const k2 = load<u64>(t + 64, 16);
      const k3 = load<u64>(t + 64, 24);
      a2_0 ^= (x0 * k0) ^ (x1 * k3) ^ (x2 * k2) ^ (x3 * k1);
      a2_1 ^= (x0 * k1) ^ (x1 * k0) ^ (x2 * k3) ^ (x3 * k2);
      a2_2 ^= (x0 * k2) ^ (x1 * k1) ^ (x2 * k0) ^ (x3 * k3);
      a2_3 ^= (x0 * k3) ^ (x1 * k2) ^ (x2 * k1) ^ (x3 * k0);
    }
    {
      const x = ry0;
      const x0 = x & M0;
      const x1 = x & M1;
      const x2 = x & M2;
      const x3 = x & M3;
      const k0 = load<u64>(t + 96, 0);
      const k1 = load<u64>(t + 96, 8);
      const k2 = load<u64>(t + 96, 16);
      const k3 = load<u64>(t + 96, 24);
      b0_0 ^= (x0 * k0) ^ (x1 * k3) ^ (x2 * k2) ^ (x3 * k1);
      b0_1 ^= (x0 * k1) ^ (x1 * k0) ^ (x2 * k3) ^ (x3 * k2);
      b0_2 ^= (x0 * k2) ^ (x1 * k1) ^ (x2 * k0) ^ (x3 * k3);
      b0_3 ^= (x0 * k3) ^ (x1 * k2) ^ (x2 * k1) ^ (x3 * k0);
    }
    {
      const x = ry1;
      const x0 = x & M0;
      const x1 = x & M1;
      const x2 = x & M2;
      const x3 = x & M3;
      const k0 = load<u64>(t + 128, 0);
      const k1 = load<u64>(t + 128, 8);
      const k2 = load<u64>(t + 128, 16);
      const k3 = load<u64>(t + 128, 24);
      b1_0 ^= (x0 * k0) ^ (x1 * k3) ^ (x2 * k2) ^ (x3 * k1);
      b1_1 ^= (x0 * k1) ^ (x1 * k0) ^ (x2 * k3) ^ (x3 * k2);
      b1_2 ^= (x0 * k2) ^ (x1 * k1) ^ (x2 * k0) ^ (x3 * k3);
      b1_3 ^= (x0 * k3) ^ (x1 * k2) ^ (x2 * k1) ^ (x3 * k0);
    }
    {
      const x = (ry0 ^ ry1);
      const x0 = x & M0;
      const x1 = x & M1;
      const x2 = x & M2;
      const x3 = x & M3;
      const k0 = load<u64>(t + 160, 0);
      const k1 = load<u64>(t + 160, 8);
      const k2 = load<u64>(t + 160, 16);
      const k3 = load<u64>(t + 160, 24);
      b2_0 ^= (x0 * k0) ^ (x1 * k3) ^ (x2 * k2) ^ (x3 * k1);
      b2_1 ^= (x0 * k1) ^ (x1 * k0) ^ (x2 * k3) ^ (x3 * k2);
      b2_2 ^= (x0 * k2) ^ (x1 * k1) ^ (x2 * k0) ^ (x3 * k3);
      b2_3 ^= (x0 * k3) ^ (x1 * k2) ^ (x2 * k1) ^ (x3 * k0);
    }
  }
  const a0 = (a0_0 & M0) | (a0_1 & M1) | (a0_2 & M2) | (a0_3 & M3);
  const a1 = (a1_0 & M0) | (a1_1 & M1) | (a1_2 & M2) | (a1_3 & M3);
  const a2 = (a2_0 & M0) | (a2_1 & M1) | (a2_2 & M2) | (a2_3 & M3);
  const b0 = (b0_0 & M0) | (b0_1 & M1) | (b0_2 & M2) | (b0_3 & M3);
  const b1 = (b1_0 & M0) | (b1_1 & M1) | (b1_2 & M2) | (b1_3 & M3);
  const b2 = (b2_0 & M0) | (b2_1 & M1) | (b2_2 & M2) | (b2_3 & M3);
  // High halves: rev64(low64(rev x ⊗ rev y)) holds product bits 63..126; shift them to 64..127.
  const hb = rev64x2(i64x2.replace_lane(i64x2.splat(b0), 1, b1));
  const h0 = <u64>i64x2.extract_lane(hb, 0) >> 1;
  const h1 = <u64>i64x2.extract_lane(hb, 1) >> 1;
  const h2 = <u64>i64x2.extract_lane(rev64x2(i64x2.splat(b2)), 0) >> 1;
  // Karatsuba recombination: c = p1·2^128 ^ (p2 ^ p0 ^ p1)·2^64 ^ p0.
  const ml = a2 ^ a0 ^ a1;
  const mh = h2 ^ h0 ^ h1;
  const c0 = a0;
  const c1 = h0 ^ ml;
  const c2 = a1 ^ mh;
  const c3 = h1;
  // The reflected product needs one left shift (255-bit product, 256-bit frame).
  const d3 = (c3 << 1) | (c2 >> 63);
  const d2 = (c2 << 1) | (c1 >> 63);
  const d1 = (c1 << 1) | (c0 >> 63);
  const d0 = c0 << 1;
  // Reduction modulo x^128 + x^7 + x^2 + x + 1 in reflected form: fold (d1, d0) onto (d3, d2)
  // with shifts by 0, 1, 2, 7; the bits those shifts push out are folded first into d1.
  const v1 = d1 ^ (d0 << 63) ^ (d0 << 62) ^ (d0 << 57);
  const v0 = d0;
  const r1 = d3 ^ v1 ^ (v1 >> 1) ^ (v1 >> 2) ^ (v1 >> 7);
  const r0 = d2 ^ v0 ^ (v0 >> 1) ^ (v1 << 63) ^ (v0 >> 2) ^ (v1 << 62) ^ (v0 >> 7) ^ (v1 << 57);
  v128.store(x, bswap64x2(i64x2.replace_lane(i64x2.splat(r1), 1, r0)));
}

/**
 * Builds the table of H^1..H^4 at `tab` from H (GCM bytes at `h`). `x` and `zero` are 16-byte
 * scratch blocks; `zero` must hold zeros. `x` is wiped before return.
 */
export function ghashInit(tab: usize, h: usize, x: usize, zero: usize): void {
  writePower(tab, h);
  v128.store(x, v128.load(h));
  for (let k: usize = 1; k < 4; k++) {
    ghashGroup(tab, x, zero, 1); // x <- x·H
    writePower(tab + k * POWER_BYTES, x);
  }
  v128.store(x, i64x2.splat(0));
}

/** Absorbs `len` bytes at `p` (zero-padded to a block multiple) into the state at `x`. */
export function ghashBytes(tab: usize, x: usize, p: usize, len: usize, pad: usize): void {
  let off: usize = 0;
  while (len - off >= 64) {
    ghashGroup(tab, x, p + off, 4);
    off += 64;
  }
  const full = (len - off) >> 4;
  if (full > 0) {
    ghashGroup(tab, x, p + off, full);
    off += full << 4;
  }
  if (off < len) {
    v128.store(pad, i64x2.splat(0));
    memory.copy(pad, p + off, len - off);
    ghashGroup(tab, x, pad, 1);
  }
}

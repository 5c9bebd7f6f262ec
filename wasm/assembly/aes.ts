// Bitsliced AES-256 (encryption only: GCM never runs the inverse cipher), 8 blocks per call.
//
// Layout (Käsper–Schwabe): the 8 blocks become 8 "planes" of 128 bits. Plane p holds bit p
// of every state byte; byte lane j of a plane is state byte j (column-major, j = 4*col + row)
// and bit k inside that lane belongs to block k. In this form
//   - SubBytes is a Boolean circuit over whole planes (Boyar–Peralta, 113 gates),
//   - ShiftRows and the row rotations of MixColumns are the same constant byte shuffle on
//     every plane, and xtime is a renaming of planes plus three XORs,
// so no address and no branch depends on the key or the data: every round executes the same
// instruction stream whatever the values are. Round keys are stored already bitsliced.

/** Bytes of one bitsliced AES-256 key schedule: 15 round keys × 8 planes × 16 bytes. */
export const RK_BYTES: usize = 15 * 128;

// ---- 8x8 bit transposition inside every byte lane ------------------------------------------

// Exchanges the bits selected by `mask` in `hi` with the bits `mask << n` of `lo` (a "swapmove").
// Applying the same swapmove twice is the identity, so the inverse transposition below runs the
// same steps in reverse order. 64-bit lane shifts are safe: the mask drops every bit that would
// cross into a neighbouring byte.
// (Written out inline: AssemblyScript functions cannot return two vectors.)

/** Converts 8 blocks at `st` (block k at st + 16k) into 8 planes in place (plane p at st + 16p). */
export function bitslice(st: usize): void {
  let r0 = v128.load(st, 0);
  let r1 = v128.load(st, 16);
  let r2 = v128.load(st, 32);
  let r3 = v128.load(st, 48);
  let r4 = v128.load(st, 64);
  let r5 = v128.load(st, 80);
  let r6 = v128.load(st, 96);
  let r7 = v128.load(st, 112);
  const m1 = i8x16.splat(0x55);
  const m2 = i8x16.splat(0x33);
  const m4 = i8x16.splat(0x0f);
  let t: v128;
  t = v128.and(v128.xor(i64x2.shr_u(r0, 1), r1), m1); r1 = v128.xor(r1, t); r0 = v128.xor(r0, i64x2.shl(t, 1));
  t = v128.and(v128.xor(i64x2.shr_u(r2, 1), r3), m1); r3 = v128.xor(r3, t); r2 = v128.xor(r2, i64x2.shl(t, 1));
  t = v128.and(v128.xor(i64x2.shr_u(r4, 1), r5), m1); r5 = v128.xor(r5, t); r4 = v128.xor(r4, i64x2.shl(t, 1));
  t = v128.and(v128.xor(i64x2.shr_u(r6, 1), r7), m1); r7 = v128.xor(r7, t); r6 = v128.xor(r6, i64x2.shl(t, 1));
  t = v128.and(v128.xor(i64x2.shr_u(r0, 2), r2), m2); r2 = v128.xor(r2, t); r0 = v128.xor(r0, i64x2.shl(t, 2));
  t = v128.and(v128.xor(i64x2.shr_u(r1, 2), r3), m2); r3 = v128.xor(r3, t); r1 = v128.xor(r1, i64x2.shl(t, 2));
  t = v128.and(v128.xor(i64x2.shr_u(r4, 2), r6), m2); r6 = v128.xor(r6, t); r4 = v128.xor(r4, i64x2.shl(t, 2));
  t = v128.and(v128.xor(i64x2.shr_u(r5, 2), r7), m2); r7 = v128.xor(r7, t); r5 = v128.xor(r5, i64x2.shl(t, 2));
  t = v128.and(v128.xor(i64x2.shr_u(r0, 4), r4), m4); r4 = v128.xor(r4, t); r0 = v128.xor(r0, i64x2.shl(t, 4));
  t = v128.and(v128.xor(i64x2.shr_u(r1, 4), r5), m4); r5 = v128.xor(r5, t); r1 = v128.xor(r1, i64x2.shl(t, 4));
  t = v128.and(v128.xor(i64x2.shr_u(r2, 4), r6), m4); r6 = v128.xor(r6, t); r2 = v128.xor(r2, i64x2.shl(t, 4));
  t = v128.and(v128.xor(i64x2.shr_u(r3, 4), r7), m4); r7 = v128.xor(r7, t); r3 = v128.xor(r3, i64x2.shl(t, 4));
  v128.store(st, r0, 0);
  v128.store(st, r1, 16);
  v128.store(st, r2, 32);
  v128.store(st, r3, 48);
  v128.store(st, r4, 64);
  v128.store(st, r5, 80);
  v128.store(st, r6, 96);
  v128.store(st, r7, 112);
}

/** Inverse of bitslice(): planes at `st` back to 8 blocks, in place. */
export function unbitslice(st: usize): void {
  let r0 = v128.load(st, 0);
  let r1 = v128.load(st, 16);
  let r2 = v128.load(st, 32);
  let r3 = v128.load(st, 48);
  let r4 = v128.load(st, 64);
  let r5 = v128.load(st, 80);
  let r6 = v128.load(st, 96);
  let r7 = v128.load(st, 112);
  const m1 = i8x16.splat(0x55);
  const m2 = i8x16.splat(0x33);
  const m4 = i8x16.splat(0x0f);
  let t: v128;
  t = v128.and(v128.xor(i64x2.shr_u(r3, 4), r7), m4); r7 = v128.xor(r7, t); r3 = v128.xor(r3, i64x2.shl(t, 4));
  t = v128.and(v128.xor(i64x2.shr_u(r2, 4), r6), m4); r6 = v128.xor(r6, t); r2 = v128.xor(r2, i64x2.shl(t, 4));
  t = v128.and(v128.xor(i64x2.shr_u(r1, 4), r5), m4); r5 = v128.xor(r5, t); r1 = v128.xor(r1, i64x2.shl(t, 4));
  t = v128.and(v128.xor(i64x2.shr_u(r0, 4), r4), m4); r4 = v128.xor(r4, t); r0 = v128.xor(r0, i64x2.shl(t, 4));
  t = v128.and(v128.xor(i64x2.shr_u(r5, 2), r7), m2); r7 = v128.xor(r7, t); r5 = v128.xor(r5, i64x2.shl(t, 2));
  t = v128.and(v128.xor(i64x2.shr_u(r4, 2), r6), m2); r6 = v128.xor(r6, t); r4 = v128.xor(r4, i64x2.shl(t, 2));
  t = v128.and(v128.xor(i64x2.shr_u(r1, 2), r3), m2); r3 = v128.xor(r3, t); r1 = v128.xor(r1, i64x2.shl(t, 2));
  t = v128.and(v128.xor(i64x2.shr_u(r0, 2), r2), m2); r2 = v128.xor(r2, t); r0 = v128.xor(r0, i64x2.shl(t, 2));
  t = v128.and(v128.xor(i64x2.shr_u(r6, 1), r7), m1); r7 = v128.xor(r7, t); r6 = v128.xor(r6, i64x2.shl(t, 1));
  t = v128.and(v128.xor(i64x2.shr_u(r4, 1), r5), m1); r5 = v128.xor(r5, t); r4 = v128.xor(r4, i64x2.shl(t, 1));
  t = v128.and(v128.xor(i64x2.shr_u(r2, 1), r3), m1); r3 = v128.xor(r3, t); r2 = v128.xor(r2, i64x2.shl(t, 1));
  t = v128.and(v128.xor(i64x2.shr_u(r0, 1), r1), m1); r1 = v128.xor(r1, t); r0 = v128.xor(r0, i64x2.shl(t, 1));
  v128.store(st, r0, 0);
  v128.store(st, r1, 16);
  v128.store(st, r2, 32);
  v128.store(st, r3, 48);
  v128.store(st, r4, 64);
  v128.store(st, r5, 80);
  v128.store(st, r6, 96);
  v128.store(st, r7, 112);
}

// ---- SubBytes ----------------------------------------------------------------------------

/**
 * S-box on all 128 bytes of the bitsliced state at `st`, as the Boyar–Peralta circuit
 * (top linear layer, GF(2^4) inversion core, bottom linear layer). U0 is the most significant
 * bit (plane 7). The four output NOTs of the circuit (constant 0x63) are left out here: the
 * key schedule folds 0x63 into round keys 1..14, which is exact because ShiftRows and
 * MixColumns map an all-0x63 state to itself.
 */
// @ts-ignore: decorator
@inline
function subBytesNoNot(st: usize): void {
  const U0 = v128.load(st, 112);
  const U1 = v128.load(st, 96);
  const U2 = v128.load(st, 80);
  const U3 = v128.load(st, 64);
  const U4 = v128.load(st, 48);
  const U5 = v128.load(st, 32);
  const U6 = v128.load(st, 16);
  const U7 = v128.load(st, 0);

  const T1 = v128.xor(U0, U3);
  const T2 = v128.xor(U0, U5);
  const T3 = v128.xor(U0, U6);
  const T4 = v128.xor(U3, U5);
  const T5 = v128.xor(U4, U6);
  const T6 = v128.xor(T1, T5);
  const T7 = v128.xor(U1, U2);
  const T8 = v128.xor(U7, T6);
  const T9 = v128.xor(U7, T7);
  const T10 = v128.xor(T6, T7);
  const T11 = v128.xor(U1, U5);
  const T12 = v128.xor(U2, U5);
  const T13 = v128.xor(T3, T4);
  const T14 = v128.xor(T6, T11);
  const T15 = v128.xor(T5, T11);
  const T16 = v128.xor(T5, T12);
  const T17 = v128.xor(T9, T16);
  const T18 = v128.xor(U3, U7);
  const T19 = v128.xor(T7, T18);
  const T20 = v128.xor(T1, T19);
  const T21 = v128.xor(U6, U7);
  const T22 = v128.xor(T7, T21);
  const T23 = v128.xor(T2, T22);
  const T24 = v128.xor(T2, T10);
  const T25 = v128.xor(T20, T17);
  const T26 = v128.xor(T3, T16);
  const T27 = v128.xor(T1, T12);

  const M1 = v128.and(T13, T6);
  const M2 = v128.and(T23, T8);
  const M3 = v128.xor(T14, M1);
  const M4 = v128.and(T19, U7);
  const M5 = v128.xor(M4, M1);
  const M6 = v128.and(T3, T16);
  const M7 = v128.and(T22, T9);
  const M8 = v128.xor(T26, M6);
  const M9 = v128.and(T20, T17);
  const M10 = v128.xor(M9, M6);
  const M11 = v128.and(T1, T15);
  const M12 = v128.and(T4, T27);
  const M13 = v128.xor(M12, M11);
  const M14 = v128.and(T2, T10);
  const M15 = v128.xor(M14, M11);
  const M16 = v128.xor(M3, M2);
  const M17 = v128.xor(M5, T24);
  const M18 = v128.xor(M8, M7);
  const M19 = v128.xor(M10, M15);
  const M20 = v128.xor(M16, M13);
  const M21 = v128.xor(M17, M15);
  const M22 = v128.xor(M18, M13);
  const M23 = v128.xor(M19, T25);
  const M24 = v128.xor(M22, M23);
  const M25 = v128.and(M22, M20);
  const M26 = v128.xor(M21, M25);
  const M27 = v128.xor(M20, M21);
  const M28 = v128.xor(M23, M25);
  const M29 = v128.and(M28, M27);
  const M30 = v128.and(M26, M24);
  const M31 = v128.and(M20, M23);
  const M32 = v128.and(M27, M31);
  const M33 = v128.xor(M27, M25);
  const M34 = v128.and(M21, M22);
  const M35 = v128.and(M24, M34);
  const M36 = v128.xor(M24, M25);
  const M37 = v128.xor(M21, M29);
  const M38 = v128.xor(M32, M33);
  const M39 = v128.xor(M23, M30);
  const M40 = v128.xor(M35, M36);
  const M41 = v128.xor(M38, M40);
  const M42 = v128.xor(M37, M39);
  const M43 = v128.xor(M37, M38);
  const M44 = v128.xor(M39, M40);
  const M45 = v128.xor(M42, M41);
  const M46 = v128.and(M44, T6);
  const M47 = v128.and(M40, T8);
  const M48 = v128.and(M39, U7);
  const M49 = v128.and(M43, T16);
  const M50 = v128.and(M38, T9);
  const M51 = v128.and(M37, T17);
  const M52 = v128.and(M42, T15);
  const M53 = v128.and(M45, T27);
  const M54 = v128.and(M41, T10);
  const M55 = v128.and(M44, T13);
  const M56 = v128.and(M40, T23);
  const M57 = v128.and(M39, T19);
  const M58 = v128.and(M43, T3);
  const M59 = v128.and(M38, T22);
  const M60 = v128.and(M37, T20);
  const M61 = v128.and(M42, T1);
  const M62 = v128.and(M45, T4);
  const M63 = v128.and(M41, T2);

  const L0 = v128.xor(M61, M62);
  const L1 = v128.xor(M50, M56);
  const L2 = v128.xor(M46, M48);
  const L3 = v128.xor(M47, M55);
  const L4 = v128.xor(M54, M58);
  const L5 = v128.xor(M49, M61);
  const L6 = v128.xor(M62, L5);
  const L7 = v128.xor(M46, L3);
  const L8 = v128.xor(M51, M59);
  const L9 = v128.xor(M52, M53);
  const L10 = v128.xor(M53, L4);
  const L11 = v128.xor(M60, L2);
  const L12 = v128.xor(M48, M51);
  const L13 = v128.xor(M50, L0);
  const L14 = v128.xor(M52, M61);
  const L15 = v128.xor(M55, L1);
  const L16 = v128.xor(M56, L0);
  const L17 = v128.xor(M57, L1);
  const L18 = v128.xor(M58, L8);
  const L19 = v128.xor(M63, L4);
  const L20 = v128.xor(L0, L1);
  const L21 = v128.xor(L1, L7);
  const L22 = v128.xor(L3, L12);
  const L23 = v128.xor(L18, L2);
  const L24 = v128.xor(L15, L9);
  const L25 = v128.xor(L6, L10);
  const L26 = v128.xor(L7, L9);
  const L27 = v128.xor(L8, L10);
  const L28 = v128.xor(L11, L14);
  const L29 = v128.xor(L11, L17);

  v128.store(st, v128.xor(L6, L24), 112); // S0
  v128.store(st, v128.xor(L16, L26), 96); // S1 (NOT folded)
  v128.store(st, v128.xor(L19, L28), 80); // S2 (NOT folded)
  v128.store(st, v128.xor(L6, L21), 64); // S3
  v128.store(st, v128.xor(L20, L22), 48); // S4
  v128.store(st, v128.xor(L25, L29), 32); // S5
  v128.store(st, v128.xor(L13, L27), 16); // S6 (NOT folded)
  v128.store(st, v128.xor(L6, L23), 0); // S7 (NOT folded)
}

// ---- ShiftRows, MixColumns, AddRoundKey ------------------------------------------------

// ShiftRows: new byte (col c, row r) = old byte (col (c + r) mod 4, row r).
// @ts-ignore: decorator
@inline
function shiftRows(a: v128): v128 {
  return i8x16.shuffle(a, a, 0, 5, 10, 15, 4, 9, 14, 3, 8, 13, 2, 7, 12, 1, 6, 11);
}

// ShiftRows followed by "row r takes row r+1 of the same column".
// @ts-ignore: decorator
@inline
function shiftRowsRot1(a: v128): v128 {
  return i8x16.shuffle(a, a, 5, 10, 15, 0, 9, 14, 3, 4, 13, 2, 7, 8, 1, 6, 11, 12);
}

// "Row r takes row r+2 of the same column".
// @ts-ignore: decorator
@inline
function rot2(a: v128): v128 {
  return i8x16.shuffle(a, a, 2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14, 15, 12, 13);
}

/** Encrypts the 8 blocks at `st` in place with the bitsliced AES-256 schedule at `rk`. */
export function encrypt8(rk: usize, st: usize): void {
  bitslice(st);
  // The state stays in locals for all 14 rounds (no memory traffic but the round keys).
  let s0 = v128.xor(v128.load(st, 0), v128.load(rk, 0));
  let s1 = v128.xor(v128.load(st, 16), v128.load(rk, 16));
  let s2 = v128.xor(v128.load(st, 32), v128.load(rk, 32));
  let s3 = v128.xor(v128.load(st, 48), v128.load(rk, 48));
  let s4 = v128.xor(v128.load(st, 64), v128.load(rk, 64));
  let s5 = v128.xor(v128.load(st, 80), v128.load(rk, 80));
  let s6 = v128.xor(v128.load(st, 96), v128.load(rk, 96));
  let s7 = v128.xor(v128.load(st, 112), v128.load(rk, 112));
  // The round count is fixed (14), never data dependent.
  for (let r: usize = 1; r < 15; r++) {
    // SubBytes: the circuit of subBytesNoNot, repeated here on locals so the state never
    // leaves registers/stack slots between rounds (measured ~15% faster than via memory).
    const U0 = s7;
    const U1 = s6;
    const U2 = s5;
    const U3 = s4;
    const U4 = s3;
    const U5 = s2;
    const U6 = s1;
    const U7 = s0;
    const T1 = v128.xor(U0, U3);
    const T2 = v128.xor(U0, U5);
    const T3 = v128.xor(U0, U6);
    const T4 = v128.xor(U3, U5);
    const T5 = v128.xor(U4, U6);
    const T6 = v128.xor(T1, T5);
    const T7 = v128.xor(U1, U2);
    const T8 = v128.xor(U7, T6);
    const T9 = v128.xor(U7, T7);
    const T10 = v128.xor(T6, T7);
    const T11 = v128.xor(U1, U5);
    const T12 = v128.xor(U2, U5);
    const T13 = v128.xor(T3, T4);
    const T14 = v128.xor(T6, T11);
    const T15 = v128.xor(T5, T11);
    const T16 = v128.xor(T5, T12);
    const T17 = v128.xor(T9, T16);
    const T18 = v128.xor(U3, U7);
    const T19 = v128.xor(T7, T18);
    const T20 = v128.xor(T1, T19);
    const T21 = v128.xor(U6, U7);
    const T22 = v128.xor(T7, T21);
    const T23 = v128.xor(T2, T22);
    const T24 = v128.xor(T2, T10);
    const T25 = v128.xor(T20, T17);
    const T26 = v128.xor(T3, T16);
    const T27 = v128.xor(T1, T12);

    const M1 = v128.and(T13, T6);
    const M2 = v128.and(T23, T8);
    const M3 = v128.xor(T14, M1);
    const M4 = v128.and(T19, U7);
    const M5 = v128.xor(M4, M1);
    const M6 = v128.and(T3, T16);
    const M7 = v128.and(T22, T9);
    const M8 = v128.xor(T26, M6);
    const M9 = v128.and(T20, T17);
    const M10 = v128.xor(M9, M6);
    const M11 = v128.and(T1, T15);
    const M12 = v128.and(T4, T27);
    const M13 = v128.xor(M12, M11);
    const M14 = v128.and(T2, T10);
    const M15 = v128.xor(M14, M11);
    const M16 = v128.xor(M3, M2);
    const M17 = v128.xor(M5, T24);
    const M18 = v128.xor(M8, M7);
    const M19 = v128.xor(M10, M15);
    const M20 = v128.xor(M16, M13);
    const M21 = v128.xor(M17, M15);
    const M22 = v128.xor(M18, M13);
    const M23 = v128.xor(M19, T25);
    const M24 = v128.xor(M22, M23);
    const M25 = v128.and(M22, M20);
    const M26 = v128.xor(M21, M25);
    const M27 = v128.xor(M20, M21);
    const M28 = v128.xor(M23, M25);
    const M29 = v128.and(M28, M27);
    const M30 = v128.and(M26, M24);
    const M31 = v128.and(M20, M23);
    const M32 = v128.and(M27, M31);
    const M33 = v128.xor(M27, M25);
    const M34 = v128.and(M21, M22);
    const M35 = v128.and(M24, M34);
    const M36 = v128.xor(M24, M25);
    const M37 = v128.xor(M21, M29);
    const M38 = v128.xor(M32, M33);
    const M39 = v128.xor(M23, M30);
    const M40 = v128.xor(M35, M36);
    const M41 = v128.xor(M38, M40);
    const M42 = v128.xor(M37, M39);
    const M43 = v128.xor(M37, M38);
    const M44 = v128.xor(M39, M40);
    const M45 = v128.xor(M42, M41);
    const M46 = v128.and(M44, T6);
    const M47 = v128.and(M40, T8);
    const M48 = v128.and(M39, U7);
    const M49 = v128.and(M43, T16);
    const M50 = v128.and(M38, T9);
    const M51 = v128.and(M37, T17);
    const M52 = v128.and(M42, T15);
    const M53 = v128.and(M45, T27);
    const M54 = v128.and(M41, T10);
    const M55 = v128.and(M44, T13);
    const M56 = v128.and(M40, T23);
    const M57 = v128.and(M39, T19);
    const M58 = v128.and(M43, T3);
    const M59 = v128.and(M38, T22);
    const M60 = v128.and(M37, T20);
    const M61 = v128.and(M42, T1);
    const M62 = v128.and(M45, T4);
    const M63 = v128.and(M41, T2);

    const L0 = v128.xor(M61, M62);
    const L1 = v128.xor(M50, M56);
    const L2 = v128.xor(M46, M48);
    const L3 = v128.xor(M47, M55);
    const L4 = v128.xor(M54, M58);
    const L5 = v128.xor(M49, M61);
    const L6 = v128.xor(M62, L5);
    const L7 = v128.xor(M46, L3);
    const L8 = v128.xor(M51, M59);
    const L9 = v128.xor(M52, M53);
    const L10 = v128.xor(M53, L4);
    const L11 = v128.xor(M60, L2);
    const L12 = v128.xor(M48, M51);
    const L13 = v128.xor(M50, L0);
    const L14 = v128.xor(M52, M61);
    const L15 = v128.xor(M55, L1);
    const L16 = v128.xor(M56, L0);
    const L17 = v128.xor(M57, L1);
    const L18 = v128.xor(M58, L8);
    const L19 = v128.xor(M63, L4);
    const L20 = v128.xor(L0, L1);
    const L21 = v128.xor(L1, L7);
    const L22 = v128.xor(L3, L12);
    const L23 = v128.xor(L18, L2);
    const L24 = v128.xor(L15, L9);
    const L25 = v128.xor(L6, L10);
    const L26 = v128.xor(L7, L9);
    const L27 = v128.xor(L8, L10);
    const L28 = v128.xor(L11, L14);
    const L29 = v128.xor(L11, L17);

    s7 = v128.xor(L6, L24);
    s6 = v128.xor(L16, L26);
    s5 = v128.xor(L19, L28);
    s4 = v128.xor(L6, L21);
    s3 = v128.xor(L20, L22);
    s2 = v128.xor(L25, L29);
    s1 = v128.xor(L13, L27);
    s0 = v128.xor(L6, L23);

    const k = rk + r * 128;
    if (r < 14) {
      // ShiftRows + MixColumns + AddRoundKey. With s the shifted state, u = rot1(s), t = s ^ u:
      // out = xtime(t) ^ u ^ rot2(t) = 2·s[r] ^ 3·s[r+1] ^ s[r+2] ^ s[r+3]. xtime on planes is
      // "plane p takes plane p-1; plane 7 folds into planes 0, 1, 3, 4" (x^8 = x^4 + x^3 + x + 1).
      const u0 = shiftRowsRot1(s0);
      const u1 = shiftRowsRot1(s1);
      const u2 = shiftRowsRot1(s2);
      const u3 = shiftRowsRot1(s3);
      const u4 = shiftRowsRot1(s4);
      const u5 = shiftRowsRot1(s5);
      const u6 = shiftRowsRot1(s6);
      const u7 = shiftRowsRot1(s7);
      const t0 = v128.xor(shiftRows(s0), u0);
      const t1 = v128.xor(shiftRows(s1), u1);
      const t2 = v128.xor(shiftRows(s2), u2);
      const t3 = v128.xor(shiftRows(s3), u3);
      const t4 = v128.xor(shiftRows(s4), u4);
      const t5 = v128.xor(shiftRows(s5), u5);
      const t6 = v128.xor(shiftRows(s6), u6);
      const t7 = v128.xor(shiftRows(s7), u7);
      s0 = v128.xor(v128.xor(t7, u0), v128.xor(rot2(t0), v128.load(k, 0)));
      s1 = v128.xor(v128.xor(v128.xor(t0, t7), u1), v128.xor(rot2(t1), v128.load(k, 16)));
      s2 = v128.xor(v128.xor(t1, u2), v128.xor(rot2(t2), v128.load(k, 32)));
      s3 = v128.xor(v128.xor(v128.xor(t2, t7), u3), v128.xor(rot2(t3), v128.load(k, 48)));
      s4 = v128.xor(v128.xor(v128.xor(t3, t7), u4), v128.xor(rot2(t4), v128.load(k, 64)));
      s5 = v128.xor(v128.xor(t4, u5), v128.xor(rot2(t5), v128.load(k, 80)));
      s6 = v128.xor(v128.xor(t5, u6), v128.xor(rot2(t6), v128.load(k, 96)));
      s7 = v128.xor(v128.xor(t6, u7), v128.xor(rot2(t7), v128.load(k, 112)));
    } else {
      // Last round: ShiftRows + AddRoundKey.
      s0 = v128.xor(shiftRows(s0), v128.load(k, 0));
      s1 = v128.xor(shiftRows(s1), v128.load(k, 16));
      s2 = v128.xor(shiftRows(s2), v128.load(k, 32));
      s3 = v128.xor(shiftRows(s3), v128.load(k, 48));
      s4 = v128.xor(shiftRows(s4), v128.load(k, 64));
      s5 = v128.xor(shiftRows(s5), v128.load(k, 80));
      s6 = v128.xor(shiftRows(s6), v128.load(k, 96));
      s7 = v128.xor(shiftRows(s7), v128.load(k, 112));
    }
  }
  v128.store(st, s0, 0);
  v128.store(st, s1, 16);
  v128.store(st, s2, 32);
  v128.store(st, s3, 48);
  v128.store(st, s4, 64);
  v128.store(st, s5, 80);
  v128.store(st, s6, 96);
  v128.store(st, s7, 112);
  unbitslice(st);
}

// ---- key schedule ----------------------------------------------------------------------

/**
 * S-box applied to the 16 bytes of `v`, through the same circuit (block 0 of an otherwise zero
 * bitsliced state), so the key schedule is constant time too. `tmp` is 128 bytes of scratch.
 */
function subBytes16(v: v128, tmp: usize): v128 {
  v128.store(tmp, v, 0);
  const z = i64x2.splat(0);
  for (let i: usize = 16; i < 128; i += 16) v128.store(tmp + i, z);
  bitslice(tmp);
  subBytesNoNot(tmp);
  unbitslice(tmp);
  const out = v128.xor(v128.load(tmp), i8x16.splat(0x63));
  for (let i: usize = 0; i < 128; i += 16) v128.store(tmp + i, z);
  return out;
}

/**
 * Expands the 32-byte key at `key` into the bitsliced schedule at `rk` (RK_BYTES).
 * `tmp` is 368 bytes of scratch (240-byte byte-wise schedule + 128 bytes); it is wiped before return.
 */
export function expandKey(key: usize, rk: usize, tmp: usize): void {
  const w = tmp; // 60 words, byte order as in FIPS-197
  const t128 = tmp + 240;
  memory.copy(w, key, 32);
  let rcon: u32 = 1;
  for (let i: usize = 8; i < 60; i++) {
    let x = load<u32>(w + (i - 1) * 4);
    // i is a public loop index: which words get SubWord/RotWord is fixed by the algorithm.
    if (i % 8 == 0) {
      // RotWord then SubWord then Rcon on the first byte (little-endian u32: byte 0 is the low byte).
      x = rotr<u32>(x, 8);
      x = i32x4.extract_lane(subBytes16(i32x4.splat(x), t128), 0);
      x ^= rcon;
      rcon <<= 1;
    } else if (i % 8 == 4) {
      x = i32x4.extract_lane(subBytes16(i32x4.splat(x), t128), 0);
    }
    store<u32>(w + i * 4, load<u32>(w + (i - 8) * 4) ^ x);
  }
  // Bitslice round key r: plane p, byte j = 0xff when bit p of key byte j is set. Round keys
  // 1..14 also absorb the S-box constant 0x63 (bits 0, 1, 5, 6) left out of subBytesNoNot.
  const ones = i8x16.splat(-1);
  for (let r: usize = 0; r < 15; r++) {
    const k = v128.load(w + r * 16);
    for (let p: i32 = 0; p < 8; p++) {
      // Move bit p of every byte to the top bit, then spread it over the byte (arithmetic shift).
      const bit = i8x16.shr_s(i8x16.shl(k, 7 - p), 7);
      const fold = r > 0 && ((0x63 >> p) & 1) != 0;
      v128.store(rk + r * 128 + <usize>p * 16, fold ? v128.xor(bit, ones) : bit);
    }
  }
  memory.fill(tmp, 0, 368);
}

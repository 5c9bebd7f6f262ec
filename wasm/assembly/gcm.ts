// AES-256-GCM seal/open of one item (96-bit nonce, 128-bit tag) over the bitsliced AES and the
// table-free GHASH. All branches depend on lengths only, except the single branch on the
// (public) result of the tag check in open.

import { encrypt8, RK_BYTES } from './aes';
import { ghashBytes, ghashGroup, GH_BYTES } from './ghash';

// ---- per-key slot (layout shared with src/crypto/backends/wasm.ts through slotBytes()) -----
/** Raw key copy, written by the host; expandKey reads it from here. */
export const SLOT_KEY: usize = 0;
export const SLOT_RK: usize = 64;
export const SLOT_GH: usize = SLOT_RK + RK_BYTES;
export const SLOT_BYTES: usize = SLOT_GH + GH_BYTES;

// ---- fixed scratch right after the module's static data ----------------------------------
export const SCRATCH: usize = (__heap_base + 63) & ~(<usize>63);
/** 8 counter blocks -> 8 keystream blocks; block 0 of the first batch is E_K(J0), the tag mask. */
export const SCR_KS: usize = SCRATCH;
export const SCR_X: usize = SCRATCH + 128; // GHASH state
export const SCR_PAD: usize = SCRATCH + 144; // zero-padded partial block / length block
export const SCR_ZERO: usize = SCRATCH + 160; // always zero
export const SCR_MASK: usize = SCRATCH + 176; // E_K(J0)
export const SCR_TMP: usize = SCRATCH + 192; // 368 bytes for the key schedule
export const SCRATCH_BYTES: usize = 576;

/** Fills the 8 blocks at `ks` with AES_K(inc32^(pos+i)(J0)), J0 = nonce ‖ 0x00000001. */
function keystream8(rk: usize, nonce: usize, pos: u32, ks: usize): void {
  const base = i32x4.replace_lane(v128.load64_zero(nonce), 2, load<u32>(nonce, 8));
  for (let i: u32 = 0; i < 8; i++) {
    // Counter arithmetic is modulo 2^32 (inc32), on public positions only.
    v128.store(ks + (<usize>i << 4), i32x4.replace_lane(base, 3, bswap<u32>(1 + pos + i)));
  }
  encrypt8(rk, ks);
}

/**
 * dst = src ^ keystream for `len` bytes. On entry `ks` holds the batch for counter positions
 * 0..7 (position 0, E_K(J0), is the tag mask and is skipped).
 */
function ctrXor(rk: usize, nonce: usize, src: usize, dst: usize, len: usize, ks: usize): void {
  let off: usize = 0;
  let idx: usize = 1;
  let pos: u32 = 0;
  while (off < len) {
    if (idx == 8) {
      pos += 8;
      keystream8(rk, nonce, pos, ks);
      idx = 0;
    }
    if (idx == 0 && len - off >= 128) {
      // Whole batch of 8 blocks.
      for (let b: usize = 0; b < 128; b += 16) {
        v128.store(dst + off + b, v128.xor(v128.load(src + off + b), v128.load(ks + b)));
      }
      off += 128;
      idx = 8;
      continue;
    }
    const k = ks + (idx << 4);
    if (len - off >= 16) {
      v128.store(dst + off, v128.xor(v128.load(src + off), v128.load(k)));
      off += 16;
    } else {
      for (let j: usize = 0; off < len; j++, off++) {
        store<u8>(dst + off, load<u8>(src + off) ^ load<u8>(k + j));
      }
    }
    idx++;
  }
}

/** GHASH of aad ‖ pad ‖ ct ‖ pad ‖ len64(aad) ‖ len64(ct), left in SCR_X. */
function ghashAll(tab: usize, aad: usize, aadLen: usize, ct: usize, len: usize): void {
  v128.store(SCR_X, i64x2.splat(0));
  ghashBytes(tab, SCR_X, aad, aadLen, SCR_PAD);
  ghashBytes(tab, SCR_X, ct, len, SCR_PAD);
  // Lengths in bits, big-endian. Item lengths are < 2^32 bytes, so bits fit in u64.
  store<u64>(SCR_PAD, bswap<u64>(<u64>aadLen << 3), 0);
  store<u64>(SCR_PAD, bswap<u64>(<u64>len << 3), 8);
  ghashGroup(tab, SCR_X, SCR_PAD, 1);
}

/** Seals `len` bytes at `src` into `dst` (ciphertext ‖ tag, len + 16 bytes). */
export function sealItem(
  slot: usize,
  nonce: usize,
  aad: usize,
  aadLen: usize,
  src: usize,
  len: usize,
  dst: usize,
): void {
  const rk = slot + SLOT_RK;
  keystream8(rk, nonce, 0, SCR_KS);
  v128.store(SCR_MASK, v128.load(SCR_KS)); // ctrXor overwrites the batch after 7 blocks
  ctrXor(rk, nonce, src, dst, len, SCR_KS);
  ghashAll(slot + SLOT_GH, aad, aadLen, dst, len);
  v128.store(dst + len, v128.xor(v128.load(SCR_X), v128.load(SCR_MASK)));
}

/**
 * Opens `sealedLen` bytes (ciphertext ‖ tag) at `src` into `dst` (sealedLen - 16 bytes).
 * Authenticates before decrypting; on failure `dst` is zeroed. Returns 1 on success.
 */
export function openItem(
  slot: usize,
  nonce: usize,
  aad: usize,
  aadLen: usize,
  src: usize,
  sealedLen: usize,
  dst: usize,
): u32 {
  if (sealedLen < 16) return 0;
  const len = sealedLen - 16;
  const rk = slot + SLOT_RK;
  keystream8(rk, nonce, 0, SCR_KS);
  ghashAll(slot + SLOT_GH, aad, aadLen, src, len);
  // Constant-time compare: XOR all 16 bytes, test the whole vector once.
  const diff = v128.xor(v128.xor(v128.load(SCR_X), v128.load(SCR_KS)), v128.load(src + len));
  if (v128.any_true(diff)) {
    memory.fill(dst, 0, len);
    return 0;
  }
  ctrXor(rk, nonce, src, dst, len, SCR_KS);
  return 1;
}

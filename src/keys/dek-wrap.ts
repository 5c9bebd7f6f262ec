// The KEK wrap format shared by every KEK provider (SPEC KM-2), DEK generation (KM-3) and
// key_id generation (KM-4).
//
//   wrapped = nonce (12, random) ‖ ciphertext (32) ‖ tag (16)   = 60 bytes, AES-256-GCM, no AAD
//
// node:crypto is used directly: wrap/unwrap runs a handful of times per process (start-up,
// bootstrap, rotation), so the batched backends of src/crypto buy nothing here, and this module
// stays free of the backend loader.

import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { KeyError } from '../errors.js';

export const KEK_BYTES = 32;
export const DEK_BYTES = 32;
export const WRAP_NONCE_BYTES = 12;
export const WRAP_TAG_BYTES = 16;
export const WRAPPED_DEK_BYTES = WRAP_NONCE_BYTES + DEK_BYTES + WRAP_TAG_BYTES; // 60

/** A CSPRNG draw of `n` bytes (C-9). Tests may inject a deterministic one; production uses crypto.randomBytes. */
export type RandomSource = (n: number) => Uint8Array;

export const cryptoRandom: RandomSource = (n) => new Uint8Array(randomBytes(n));

const U32_MAX = 0xffffffff;

function checkKek(kek: Uint8Array): void {
  // Internal contract: Kek guarantees 32 bytes; a wrong size here is a bug, not an input error.
  if (kek.length !== KEK_BYTES) throw new RangeError(`KEK must be ${KEK_BYTES} bytes`);
}

/** Wraps a 32-byte DEK under `kek` with a fresh random nonce (KM-2 layout). */
export function wrapDek(kek: Uint8Array, dek: Uint8Array, random: RandomSource = cryptoRandom): Uint8Array {
  checkKek(kek);
  if (dek.length !== DEK_BYTES) throw new RangeError(`DEK must be ${DEK_BYTES} bytes, got ${dek.length}`);
  const nonce = random(WRAP_NONCE_BYTES);
  if (nonce.length !== WRAP_NONCE_BYTES) throw new RangeError('random source returned the wrong number of bytes');
  const c = createCipheriv('aes-256-gcm', kek, nonce);
  const ct = c.update(dek);
  c.final();
  const out = new Uint8Array(WRAPPED_DEK_BYTES);
  out.set(nonce, 0);
  out.set(ct, WRAP_NONCE_BYTES);
  out.set(c.getAuthTag(), WRAP_NONCE_BYTES + DEK_BYTES);
  return out;
}

/**
 * Unwraps a 60-byte blob. Any other length, or a blob that does not authenticate under `kek`,
 * throws KEK_UNWRAP_FAILED (C-5: never empty or partial bytes).
 */
export function unwrapDek(kek: Uint8Array, wrapped: Uint8Array, what = 'wrapped DEK'): Uint8Array {
  checkKek(kek);
  if (wrapped.length !== WRAPPED_DEK_BYTES) {
    throw new KeyError('KEK_UNWRAP_FAILED', `${what}: ${wrapped.length} bytes, expected ${WRAPPED_DEK_BYTES}`);
  }
  const d = createDecipheriv('aes-256-gcm', kek, wrapped.subarray(0, WRAP_NONCE_BYTES));
  d.setAuthTag(wrapped.subarray(WRAP_NONCE_BYTES + DEK_BYTES));
  const pt = d.update(wrapped.subarray(WRAP_NONCE_BYTES, WRAP_NONCE_BYTES + DEK_BYTES));
  try {
    d.final();
  } catch (e) {
    pt.fill(0);
    throw new KeyError('KEK_UNWRAP_FAILED', `${what} does not authenticate under this KEK`, { cause: e });
  }
  const out = new Uint8Array(pt);
  pt.fill(0);
  return out;
}

/** A fresh 32-byte DEK (KM-3: the leader only). */
export function generateDek(random: RandomSource = cryptoRandom): Uint8Array {
  const dek = random(DEK_BYTES);
  if (dek.length !== DEK_BYTES) throw new RangeError('random source returned the wrong number of bytes');
  return dek;
}

/** KM-4: key_id 0 is reserved; anything that is not a u32 is a bug in the caller. */
export function checkKeyId(keyId: number, what = 'key_id'): void {
  if (!Number.isInteger(keyId) || keyId < 0 || keyId > U32_MAX) throw new RangeError(`${what} must be a u32, got ${keyId}`);
  if (keyId === 0) throw new KeyError('RESERVED_KEY_ID', `${what} 0 is reserved`);
}

/** Bounded redraws: a CSPRNG hits 0 or a taken id with probability ~n/2^32, so this only trips on a broken source. */
const MAX_DRAWS = 64;

/**
 * A random non-zero u32 not in `taken` (KM-4: draw again on 0 or on an id the sidecar already has).
 */
export function generateKeyId(taken: ReadonlySet<number>, random: RandomSource = cryptoRandom): number {
  for (let i = 0; i < MAX_DRAWS; i++) {
    const b = random(4);
    const id = ((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0;
    if (id !== 0 && !taken.has(id)) return id;
  }
  throw new RangeError(`random source produced no usable key_id in ${MAX_DRAWS} draws`);
}

/** The two ids of a bootstrap: both non-zero, distinct, and new to the sidecar (KM-4). */
export function generateBootstrapKeyIds(
  taken: ReadonlySet<number>,
  random: RandomSource = cryptoRandom,
): { storage: number; raft: number } {
  const storage = generateKeyId(taken, random);
  const raft = generateKeyId(new Set([...taken, storage]), random);
  return { storage, raft };
}

// The one AEAD interface (DESIGN.md §4) and the packed batch layout every backend shares.
//
// AES-256-GCM only (C-4): 32-byte key, 12-byte nonce, 16-byte tag; "sealed" = ciphertext ‖ tag.

import { CryptoError, IntegrityError } from '../errors.js';
import { byteLen, bytesArg, itemArg, label, recheck } from './bytes.js';

export type BackendName = 'native' | 'wasm' | 'js' | 'node';

export const KEY_SIZE = 32;
export const NONCE_SIZE = 12;
export const TAG_SIZE = 16;

export interface BatchItem {
  nonce: Uint8Array;
  aad: Uint8Array;
  data: Uint8Array;
}

/**
 * A packed batch: every item's nonce, AAD and data live in one contiguous `input` buffer and
 * `desc` holds DESC_FIELDS u32 per item (offsets into `input` and `output`). This is the form
 * that crosses into native code, WASM linear memory and worker threads in one piece.
 */
export interface PackedBatch {
  count: number;
  input: Uint8Array;
  /** DESC_FIELDS u32 per item, see the D_* constants. */
  desc: Uint32Array;
  output: Uint8Array;
}

export const DESC_FIELDS = 6;
export const D_NONCE = 0; // offset of the 12-byte nonce in input
export const D_AAD = 1; // offset of the AAD in input
export const D_AAD_LEN = 2;
export const D_DATA = 3; // offset of plaintext (seal) or ciphertext ‖ tag (open) in input
export const D_DATA_LEN = 4;
export const D_OUT = 5; // offset of the result in output: data_len + 16 (seal) or data_len − 16 (open)

/**
 * Every byte argument (key, nonce, AAD, data, packed buffers) must be a byte view — a
 * Uint8Array/Buffer, Int8Array or Uint8ClampedArray — over a private, attached ArrayBuffer.
 * Anything else (strings, numbers, plain arrays, wider typed arrays, DataView, detached buffers,
 * SharedArrayBuffer views) throws CryptoError BAD_INPUT_TYPE; wrong lengths throw BAD_KEY_SIZE /
 * BAD_NONCE_SIZE. Nothing is ever coerced (src/crypto/bytes.ts).
 */
export interface Aead {
  readonly name: BackendName;
  /** True when the CPU's AES instructions are in use. */
  readonly hardwareAes: boolean;
  /** Returns ciphertext ‖ tag16 in a fresh buffer. */
  seal(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, plaintext: Uint8Array): Uint8Array;
  /** Returns the plaintext in a fresh buffer; throws IntegrityError (never returns empty bytes on failure). */
  open(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, sealed: Uint8Array): Uint8Array;
  /** One boundary crossing; results are views into one buffer allocated for the batch, in item order. */
  sealBatch(key: Uint8Array, items: BatchItem[]): Uint8Array[];
  /** Per item: the plaintext view, or the IntegrityError of that item; other items are unaffected. */
  openBatch(key: Uint8Array, items: BatchItem[]): (Uint8Array | IntegrityError)[];
  /**
   * Packed form used by the worker pool: seals every item of `batch` into `batch.output`.
   * Validates sizes; throws BAD_KEY_SIZE / BAD_NONCE_SIZE for the whole batch.
   */
  sealPacked(key: Uint8Array, batch: PackedBatch): void;
  /**
   * Opens every item of `batch` into `batch.output`; `status[i]` is 1 when item i authenticated,
   * 0 otherwise (its output bytes are zeroed, never partial plaintext).
   */
  openPacked(key: Uint8Array, batch: PackedBatch, status: Uint8Array): void;
}

/** `key` as a 32-byte Uint8Array, or BAD_INPUT_TYPE / BAD_KEY_SIZE (every entry point calls this). */
export function checkKey(key: unknown): Uint8Array {
  const k = bytesArg(key, 'key');
  if (k.length !== KEY_SIZE) {
    throw new CryptoError('BAD_KEY_SIZE', `AES-256-GCM key must be ${KEY_SIZE} bytes, got ${k.length}`);
  }
  return k;
}

/** `nonce` as a 12-byte Uint8Array, or BAD_INPUT_TYPE / BAD_NONCE_SIZE. */
export function checkNonce(nonce: unknown, what = 'nonce', item = -1): Uint8Array {
  const n = bytesArg(nonce, what, item);
  const len = byteLen(n); // the intrinsic length: an own `length` accessor may lie after the check
  if (len !== NONCE_SIZE) {
    throw new CryptoError('BAD_NONCE_SIZE', `AES-GCM ${label(what, item)} must be ${NONCE_SIZE} bytes, got ${len}`);
  }
  return n;
}

/** Batch item `i` with every field checked (BAD_INPUT_TYPE / BAD_NONCE_SIZE), as plain Uint8Arrays. */
export function checkItem(item: unknown, i: number): BatchItem {
  const it = itemArg<BatchItem>(item, 'batch item', i);
  return {
    nonce: checkNonce(it.nonce, 'nonce', i),
    aad: bytesArg(it.aad, 'aad', i),
    data: bytesArg(it.data, 'data', i),
  };
}

/**
 * Re-checks a checked item once every getter of the batch has run (see recheck): its nonce still
 * 12 bytes, no field detached.
 */
export function recheckItem(it: BatchItem, i: number): void {
  recheck(it.nonce, 'nonce', i, NONCE_SIZE);
  recheck(it.aad, 'aad', i);
  recheck(it.data, 'data', i);
}

/**
 * The IntegrityError of a failed open, always with the backend's own error as `cause` (CK-3).
 * Backends whose failure is a status rather than an exception describe that status here.
 */
export function integrityError(message: string, cause: unknown): IntegrityError {
  return new IntegrityError(message, { cause: cause instanceof Error ? cause : new Error(String(cause)) });
}

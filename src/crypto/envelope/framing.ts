// The framing shared by the raft envelope (RE-1) and the storage envelope (SE-1):
//
//   [0]      version = 0x01
//   [1]      flag    = 0x00 (all bits reserved in v1)
//   [2..5]   key_id  u32 BE
//   [6..17]  nonce   12 bytes (RE-4)
//   [18..]   ciphertext ‖ tag16
//
// Only the framing lives here; each envelope builds its own AAD, which is what keeps the two
// layers from being confused (RE-7).

import { EnvelopeError } from '../../errors.js';
import { NONCE_SIZE, TAG_SIZE } from '../aead.js';

export const ENVELOPE_VERSION = 0x01;
export const ENVELOPE_FLAG_NONE = 0x00;
export const ENVELOPE_HEADER_SIZE = 18;
/** Header plus tag: the smallest envelope (empty plaintext) and the per-payload overhead. */
export const ENVELOPE_OVERHEAD = ENVELOPE_HEADER_SIZE + TAG_SIZE;
export const ENV_KEY_ID_OFFSET = 2;
export const ENV_NONCE_OFFSET = 6;

/** Writes version, flag 0x00, key_id and nonce at `off` (18 bytes). */
export function writeEnvelopeHeader(out: Uint8Array, off: number, keyId: number, nonce: Uint8Array): void {
  writeEnvelopeKeyId(out, off, keyId);
  out.set(nonce, off + ENV_NONCE_OFFSET);
}

/** Writes version, flag 0x00 and key_id at `off`; the caller writes the nonce at ENV_NONCE_OFFSET. */
export function writeEnvelopeKeyId(out: Uint8Array, off: number, keyId: number): void {
  out[off] = ENVELOPE_VERSION;
  out[off + 1] = ENVELOPE_FLAG_NONE;
  out[off + 2] = keyId >>> 24;
  out[off + 3] = (keyId >>> 16) & 0xff;
  out[off + 4] = (keyId >>> 8) & 0xff;
  out[off + 5] = keyId & 0xff;
}

/** An envelope that passed the framing checks; the fields are views into the input (not copies). */
export interface ParsedEnvelope {
  version: number;
  flag: number;
  keyId: number;
  nonce: Uint8Array;
  /** ciphertext ‖ tag */
  body: Uint8Array;
}

/** The outcome of the RE-6 framing checks: null when they pass, else the first failing code. */
export type FramingFault = 'ENVELOPE_SHORT' | 'ENVELOPE_VERSION' | 'ENVELOPE_FLAG';

/**
 * Framing checks 1–3 of RE-6 in order, on `len` bytes at `off` of `buf`: length ≥ 34
 * (ENVELOPE_SHORT), version 0x01 (ENVELOPE_VERSION), flag 0x00 (ENVELOPE_FLAG). Pure and
 * allocation-free: the one check shared by `parseEnvelope` and the pool's executor.
 */
export function checkEnvelopeFraming(buf: Uint8Array, off: number, len: number): FramingFault | null {
  if (len < ENVELOPE_OVERHEAD) return 'ENVELOPE_SHORT';
  if (buf[off] !== ENVELOPE_VERSION) return 'ENVELOPE_VERSION';
  if (buf[off + 1] !== ENVELOPE_FLAG_NONE) return 'ENVELOPE_FLAG';
  return null;
}

/**
 * Framing checks 1–3 of RE-6 (`checkEnvelopeFraming`) as typed errors. The key and tag checks
 * belong to the caller.
 */
export function parseEnvelope(env: Uint8Array, what: string): ParsedEnvelope {
  const fault = checkEnvelopeFraming(env, 0, env.length);
  if (fault === 'ENVELOPE_SHORT') {
    throw new EnvelopeError(
      'ENVELOPE_SHORT',
      `${what} envelope of ${env.length} bytes is shorter than the ${ENVELOPE_OVERHEAD}-byte minimum`,
    );
  }
  const version = env[0]!;
  if (fault === 'ENVELOPE_VERSION') {
    throw new EnvelopeError('ENVELOPE_VERSION', `${what} envelope version 0x${hex2(version)} is not supported`);
  }
  const flag = env[1]!;
  if (fault === 'ENVELOPE_FLAG') {
    throw new EnvelopeError('ENVELOPE_FLAG', `${what} envelope flag 0x${hex2(flag)} is reserved`);
  }
  return {
    version,
    flag,
    keyId: readU32(env, ENV_KEY_ID_OFFSET),
    nonce: env.subarray(ENV_NONCE_OFFSET, ENV_NONCE_OFFSET + NONCE_SIZE),
    body: env.subarray(ENVELOPE_HEADER_SIZE),
  };
}

export function readU32(b: Uint8Array, off: number): number {
  return ((b[off]! << 24) | (b[off + 1]! << 16) | (b[off + 2]! << 8) | b[off + 3]!) >>> 0;
}

export function writeU32(b: Uint8Array, off: number, v: number): void {
  b[off] = v >>> 24;
  b[off + 1] = (v >>> 16) & 0xff;
  b[off + 2] = (v >>> 8) & 0xff;
  b[off + 3] = v & 0xff;
}

function hex2(b: number): string {
  return b.toString(16).padStart(2, '0');
}

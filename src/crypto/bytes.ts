// The one input check every public crypto entry point uses (issue 8 item 1).
//
// Accepted: byte views only — `ArrayBuffer.isView(x) && x.BYTES_PER_ELEMENT === 1` (Uint8Array,
// Buffer, Int8Array, Uint8ClampedArray). Refused with BAD_INPUT_TYPE: strings, numbers, null,
// undefined, plain arrays, wider typed arrays (a Uint16Array would be truncated to its low
// bytes), DataView, detached buffers, and views over a SharedArrayBuffer.
//
// Why refuse SharedArrayBuffer views: another thread may rewrite the bytes between the check
// and the use (a nonce or a key changing under the cipher), and no caller of this API needs
// them; every internal shared buffer (key table, nonce counter) is read into private memory first.
// Why check at all: a TypedArray#set or an element loop silently coerces anything array-like, so a
// 12-character string nonce became twelve zero bytes — two different string nonces gave the same
// ciphertext.

import { CryptoError } from '../errors.js';

function refuse(what: string, x: unknown): CryptoError {
  let got: string;
  if (x === null) got = 'null';
  else if (Array.isArray(x)) got = 'a plain array';
  else if (ArrayBuffer.isView(x)) {
    const name = (x as { constructor?: { name?: string } }).constructor?.name ?? 'view';
    got = (x as { BYTES_PER_ELEMENT?: number }).BYTES_PER_ELEMENT === 1 ? `a ${name} over a ${isDetached(x as Uint8Array) ? 'detached ArrayBuffer' : 'SharedArrayBuffer'}` : `a ${name}`;
  } else got = typeof x;
  return new CryptoError('BAD_INPUT_TYPE', `${what} must be a Uint8Array (a byte view over an ArrayBuffer), got ${got}`);
}

/** True for a view whose buffer was transferred or otherwise detached (it reads as 0 bytes). */
function isDetached(x: ArrayBufferView): boolean {
  if (x.byteLength !== 0) return false;
  try {
    // Constructing a view on a detached buffer throws; on a live empty one it does not.
    new Uint8Array(x.buffer, 0, 0);
    return false;
  } catch {
    return true;
  }
}

/**
 * `x` as a Uint8Array over the same bytes (no copy), or throws BAD_INPUT_TYPE naming `what`.
 * A Uint8Array (or Buffer) is returned as is; Int8Array / Uint8ClampedArray get a Uint8Array view.
 */
export function bytesArg(x: unknown, what: string): Uint8Array {
  if (x instanceof Uint8Array) {
    if (x.buffer instanceof SharedArrayBuffer || (x.byteLength === 0 && isDetached(x))) throw refuse(what, x);
    return x;
  }
  if (ArrayBuffer.isView(x) && (x as { BYTES_PER_ELEMENT?: number }).BYTES_PER_ELEMENT === 1) {
    if (x.buffer instanceof SharedArrayBuffer || isDetached(x)) throw refuse(what, x);
    return new Uint8Array(x.buffer, x.byteOffset, x.byteLength);
  }
  throw refuse(what, x);
}

/** A packed-batch descriptor table: a Uint32Array over a private ArrayBuffer. */
export function descArg(x: unknown, what: string): Uint32Array {
  if (x instanceof Uint32Array && !(x.buffer instanceof SharedArrayBuffer) && !(x.length === 0 && isDetached(x))) return x;
  throw new CryptoError('BAD_INPUT_TYPE', `${what} must be a Uint32Array over an ArrayBuffer`);
}

/** The items of a batch call: an array of objects (each item's fields are checked by the caller). */
export function itemsArg<T>(x: unknown, what: string): readonly T[] {
  if (!Array.isArray(x)) throw new CryptoError('BAD_INPUT_TYPE', `${what} must be an array of items, got ${x === null ? 'null' : typeof x}`);
  return x as readonly T[];
}

/** One batch item: a non-null object (its fields are then checked with bytesArg). */
export function itemArg<T extends object>(x: unknown, what: string): T {
  if (typeof x !== 'object' || x === null) throw new CryptoError('BAD_INPUT_TYPE', `${what} must be an object, got ${x === null ? 'null' : typeof x}`);
  return x as T;
}

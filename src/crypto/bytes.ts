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

// The intrinsic accessors, so a subclass that overrides `buffer` or `length` cannot pass a check
// it should fail (and they are cheaper to call than the property lookups).
const TYPED_ARRAY_PROTO = Object.getPrototypeOf(Uint8Array.prototype) as object;
function intrinsic<T>(name: PropertyKey): (this: ArrayBufferView) => T {
  return Object.getOwnPropertyDescriptor(TYPED_ARRAY_PROTO, name)!.get as (this: ArrayBufferView) => T;
}
const bufferOf = intrinsic<ArrayBufferLike>('buffer');
const byteOffsetOf = intrinsic<number>('byteOffset');
const byteLengthOf = intrinsic<number>('byteLength');
/** "Uint8Array", "Int8Array", … for a typed array; undefined for a DataView. */
const typedArrayTag = intrinsic<string | undefined>(Symbol.toStringTag);
const U8_PROTO = Uint8Array.prototype;
const BUFFER_PROTO = Buffer.prototype;
const BYTE_TAGS = new Set(['Uint8Array', 'Int8Array', 'Uint8ClampedArray']);

/**
 * The fast check: a Uint8Array (or Buffer) whose length is its intrinsic byte length (no
 * overriding subclass), with at least one byte, over a non-shared ArrayBuffer. False means "run
 * bytesArg", which either normalises the value or throws; it is never a verdict of invalid.
 * Measured ≈ 14 ns (the intrinsic `buffer` getter is most of it; Object.getPrototypeOf and
 * ArrayBuffer.isView would each add ≈ 8 ns per check, per item of a batch).
 * The `buffer` read (a C++ builtin, ≈ 8 ns) is the only way to see a SharedArrayBuffer, so it
 * stays per view. Measured alternatives that do not win: a WeakSet of checked views or buffers
 * (a buffer verdict still needs the read; a view lookup costs about as much and only helps views
 * seen before), and checking in native code (napi_get_typedarray_info + napi_is_arraybuffer per
 * view, views passed as arguments: ≈ 95 ns per item for check and copy of nonce, AAD and data,
 * vs ≈ 100 ns for the same in JS). Handing native code the batch's item array instead (one call;
 * it reads each item and field with napi_get_element/napi_get_property and checks each view with
 * napi_get_typedarray_info + napi_is_arraybuffer) measured ≈ 215 ns per 3-field item for the reads
 * and checks alone, against ≈ 30 ns for the three `buffer` checks here (issue 8 bench gate, 2026-12).
 */
export function isPlainBytes(x: unknown): x is Uint8Array {
  try {
    // `x.length` first: its map check lets the optimiser inline the byteLength call (≈1.5 ns less).
    return x instanceof Uint8Array && x.length !== 0 && byteLengthOf.call(x) === x.length && !(bufferOf.call(x) instanceof SharedArrayBuffer);
  } catch {
    // An object that only pretends to be a Uint8Array (Object.create(Uint8Array.prototype)).
    return false;
  }
}

/**
 * The batch loops' check: the intrinsic byte length of `x` when it is a non-empty Uint8Array (or
 * Buffer, or subclass) over a non-shared ArrayBuffer, else -1 ("run bytesArg", never a verdict of
 * invalid). One byteLength call instead of isPlainBytes + byteLen, and no `x.length` read: the
 * callers use only this length and intrinsic operations (indexed reads, TypedArray#set), so an
 * overriding `length` cannot matter to them.
 */
export function plainLen(x: unknown): number {
  try {
    if (!(x instanceof Uint8Array)) return -1;
    const n = byteLengthOf.call(x);
    return n !== 0 && !(bufferOf.call(x) instanceof SharedArrayBuffer) ? n : -1;
  } catch {
    // An object that only pretends to be a Uint8Array (Object.create(Uint8Array.prototype)).
    return -1;
  }
}

/**
 * The intrinsic byte length of a view: immune to an own or inherited `length` accessor, which
 * can agree with the check and lie afterwards (a 4-byte nonce then read as 12, zero-padded).
 */
export function byteLen(x: ArrayBufferView): number {
  return byteLengthOf.call(x);
}

function refuse(what: string, x: unknown): CryptoError {
  let got: string;
  if (x === null) got = 'null';
  else if (Array.isArray(x)) got = 'a plain array';
  else if (ArrayBuffer.isView(x)) {
    const tag = typedArrayTag.call(x);
    if (tag === undefined) got = 'a DataView';
    else if (!BYTE_TAGS.has(tag)) got = `a ${tag}`;
    else got = `a ${tag} over a ${isDetached(x) ? 'detached ArrayBuffer' : 'SharedArrayBuffer'}`;
  } else got = typeof x;
  return new CryptoError('BAD_INPUT_TYPE', `${what} must be a Uint8Array (a byte view over an ArrayBuffer), got ${got}`);
}

/** True for a view whose buffer was transferred or otherwise detached (it reads as 0 bytes). */
function isDetached(x: ArrayBufferView): boolean {
  if (byteLengthOf.call(x) !== 0) return false;
  try {
    // Constructing a view on a detached buffer throws; on a live empty one it does not.
    new Uint8Array(bufferOf.call(x), 0, 0);
    return false;
  } catch {
    return true;
  }
}

/**
 * Throws BAD_INPUT_TYPE when a view checked earlier in this call has since been detached or (for
 * a fixed-size field, `len` ≥ 0) resized. A batch reads its items through property accesses,
 * which may be getters: one that runs after a field's check can transfer that field's buffer, and
 * an element copy of a detached nonce reads twelve zeros (two items, one nonce). Run it once all
 * getters have run and before the first byte is copied; it calls no user code.
 */
export function recheck(x: Uint8Array, what: string, item = -1, len = -1): void {
  if (!intact(x, len)) throw changedError(label(what, item));
}

/** False when `x` is detached, or (`len` ≥ 0) no longer `len` bytes long. */
export function intact(x: Uint8Array, len = -1): boolean {
  const n = byteLengthOf.call(x);
  return (len < 0 || n === len) && (n !== 0 || !isDetached(x));
}

export function changedError(what: string): CryptoError {
  return new CryptoError('BAD_INPUT_TYPE', `${what} was detached or resized after it was checked (by a getter of the batch items)`);
}

/** `what`, or "batch item <item> <what>" for an item of a batch (built only when an error is thrown). */
export function label(what: string, item: number): string {
  return item < 0 ? what : `batch item ${item} ${what}`;
}

/**
 * `x` as a Uint8Array over the same bytes (no copy), or throws BAD_INPUT_TYPE naming `what`
 * (of batch item `item` when ≥ 0). A plain Uint8Array or Buffer is returned as is; any other
 * byte view (Int8Array, Uint8ClampedArray, a subclass) becomes a plain Uint8Array view built
 * from the intrinsic buffer/offset/length.
 */
export function bytesArg(x: unknown, what: string, item = -1): Uint8Array {
  if (isPlainBytes(x)) return x;
  // Only typed arrays have a tag (a DataView has none, and the typed-array getters throw on it).
  const tag = ArrayBuffer.isView(x) ? typedArrayTag.call(x) : undefined;
  if (tag !== undefined && BYTE_TAGS.has(tag)) {
    const v = x as ArrayBufferView;
    const ab = bufferOf.call(v);
    if (!(ab instanceof SharedArrayBuffer) && !isDetached(v)) {
      const p = Object.getPrototypeOf(v) as object;
      const len = byteLengthOf.call(v);
      // Anything but a plain Uint8Array/Buffer whose length is the intrinsic one becomes a plain view.
      return (p === U8_PROTO || p === BUFFER_PROTO) && (v as Uint8Array).length === len ? (v as Uint8Array) : new Uint8Array(ab, byteOffsetOf.call(v), len);
    }
  }
  throw refuse(label(what, item), x);
}

/** Views up to this size come from a shared slab (a fresh typed array this small lives on the V8 heap). */
const SMALL_MAX = 64;
const SLAB_BYTES = 4096;
let slab = new ArrayBuffer(SLAB_BYTES);
let slabUsed = 0;

/**
 * A zero-filled n-byte Uint8Array for the cipher's own short-lived inputs (nonces, AADs). A fresh
 * typed array of ≤ 64 bytes lives on the V8 heap, and the `buffer` read of the input check then
 * has to move it off-heap (measured ≈ 1.2 µs per array); these come from a 4 KiB slab instead
 * (≈ 40 ns). The view's `buffer` is the shared slab: read it with byteOffset/byteLength. Not for
 * anything retained long (a retained view keeps its slab alive) or secret (slabs are not wiped).
 */
export function smallBytes(n: number): Uint8Array<ArrayBuffer> {
  if (n > SMALL_MAX) return new Uint8Array(n);
  if (slabUsed + n > SLAB_BYTES) {
    slab = new ArrayBuffer(SLAB_BYTES);
    slabUsed = 0;
  }
  const v = new Uint8Array(slab, slabUsed, n);
  // Keep the next view 8-aligned (DataView reads stay cheap).
  slabUsed += (n + 7) & ~7;
  return v;
}

/** A packed-batch descriptor table: a Uint32Array over a private ArrayBuffer. */
export function descArg(x: unknown, what: string): Uint32Array {
  if (ArrayBuffer.isView(x) && typedArrayTag.call(x) === 'Uint32Array' && !(bufferOf.call(x) instanceof SharedArrayBuffer) && !isDetached(x)) {
    return Object.getPrototypeOf(x) === Uint32Array.prototype ? (x as Uint32Array) : new Uint32Array(bufferOf.call(x), byteOffsetOf.call(x), byteLengthOf.call(x) / 4);
  }
  throw new CryptoError('BAD_INPUT_TYPE', `${what} must be a Uint32Array over an ArrayBuffer`);
}

/** The items of a batch call: an array of objects (each item's fields are checked by the caller). */
export function itemsArg<T>(x: unknown, what: string): readonly T[] {
  if (!Array.isArray(x)) throw new CryptoError('BAD_INPUT_TYPE', `${what} must be an array of items, got ${x === null ? 'null' : typeof x}`);
  return x as readonly T[];
}

/** One batch item: a non-null object (its fields are then checked with bytesArg). */
export function itemArg<T extends object>(x: unknown, what: string, item = -1): T {
  if (typeof x !== 'object' || x === null) {
    throw new CryptoError('BAD_INPUT_TYPE', `${label(what, item)} must be an object, got ${x === null ? 'null' : typeof x}`);
  }
  return x as T;
}

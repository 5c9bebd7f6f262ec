// Packing BatchItem[] into the contiguous PackedBatch layout and unpacking results as views.
//
// One input buffer and one output buffer per batch: crossing into native code, WASM memory or a
// worker costs far more than sealing 256 bytes, so a batch crosses in one piece (DESIGN.md §6).

import { CryptoError, type IntegrityError } from '../errors.js';
import {
  type BatchItem,
  checkItem,
  recheckItem,
  integrityError,
  D_AAD,
  D_AAD_LEN,
  D_DATA,
  D_DATA_LEN,
  D_NONCE,
  D_OUT,
  DESC_FIELDS,
  NONCE_SIZE,
  type PackedBatch,
  TAG_SIZE,
} from './aead.js';
import { byteLen, bytesArg, descArg, itemArg, itemsArg } from './bytes.js';

export type BatchMode = 'seal' | 'open';

/** Output length of one item: ciphertext ‖ tag for seal, plaintext for open. */
export function outputLength(mode: BatchMode, dataLen: number): number {
  if (mode === 'seal') return dataLen + TAG_SIZE;
  // A sealed item shorter than a tag cannot authenticate; it yields an empty slot and a failed status.
  return dataLen >= TAG_SIZE ? dataLen - TAG_SIZE : 0;
}

/** Packs items into one input buffer (nonce ‖ aad ‖ data per item) and allocates the output once. */
export function packItems(itemsIn: readonly BatchItem[], mode: BatchMode): PackedBatch {
  // Every field is type-checked (and normalised) before any byte is copied: TypedArray#set
  // would silently coerce a string or a plain array (issue 8).
  const items = checkItems(itemsIn);
  const count = items.length;
  let inLen = 0;
  let outLen = 0;
  for (let i = 0; i < count; i++) {
    const it = items[i]!;
    inLen += NONCE_SIZE + byteLen(it.aad) + byteLen(it.data);
    outLen += outputLength(mode, byteLen(it.data));
  }
  const input = new Uint8Array(inLen);
  const output = new Uint8Array(outLen);
  const desc = new Uint32Array(count * DESC_FIELDS);
  let off = 0;
  let out = 0;
  for (let i = 0, d = 0; i < count; i++, d += DESC_FIELDS) {
    const it = items[i]!;
    desc[d + D_NONCE] = off;
    input.set(it.nonce, off);
    off += NONCE_SIZE;
    desc[d + D_AAD] = off;
    desc[d + D_AAD_LEN] = byteLen(it.aad);
    input.set(it.aad, off);
    off += byteLen(it.aad);
    desc[d + D_DATA] = off;
    desc[d + D_DATA_LEN] = byteLen(it.data);
    input.set(it.data, off);
    off += byteLen(it.data);
    desc[d + D_OUT] = out;
    out += outputLength(mode, byteLen(it.data));
  }
  return { count, input, desc, output };
}

/** The items of a batch call, each checked with checkItem (BAD_INPUT_TYPE / BAD_NONCE_SIZE). */
export function checkItems(items: unknown): BatchItem[] {
  const list = itemsArg<unknown>(items, 'batch items');
  const out = new Array<BatchItem>(list.length);
  for (let i = 0; i < list.length; i++) out[i] = checkItem(list[i], i);
  // A later item's getter may have detached a field checked above (issue 8: a detached nonce
  // packs as zeros); no user code runs after this loop.
  for (let i = 0; i < out.length; i++) recheckItem(out[i]!, i);
  return out;
}

/** A packed batch whose buffers are all private byte views / a Uint32Array (BAD_INPUT_TYPE otherwise). */
export function packedArg(batch: unknown): PackedBatch {
  const b = itemArg<PackedBatch>(batch, 'packed batch');
  return { count: b.count, input: bytesArg(b.input, 'packed batch input'), desc: descArg(b.desc, 'packed batch desc'), output: bytesArg(b.output, 'packed batch output') };
}

/** Per-item result views into the batch's single output buffer. */
export function outputViews(batch: PackedBatch, mode: BatchMode): Uint8Array[] {
  const views = new Array<Uint8Array>(batch.count);
  const { desc, output } = batch;
  for (let i = 0, d = 0; i < batch.count; i++, d += DESC_FIELDS) {
    const start = desc[d + D_OUT]!;
    views[i] = output.subarray(start, start + outputLength(mode, desc[d + D_DATA_LEN]!));
  }
  return views;
}

/** Open results: the view for authenticated items, an IntegrityError for the others. */
export function openResults(
  batch: PackedBatch,
  status: Uint8Array,
  backend: string,
  causes?: readonly unknown[],
): (Uint8Array | IntegrityError)[] {
  const views = outputViews(batch, 'open');
  const results: (Uint8Array | IntegrityError)[] = views;
  for (let i = 0; i < batch.count; i++) {
    // Only an explicit 1 is success: any other status byte is a failure (never fail-open).
    if (status[i] !== 1) {
      results[i] = integrityError(`batch item ${i} failed authentication (${backend})`, causes?.[i] ?? batchCause(backend, batch, i));
    }
  }
  return results;
}

/** The backend's report for a batch item that did not authenticate (its status, described). */
export function batchCause(backend: string, batch: PackedBatch, i: number): Error {
  const len = batch.desc[i * DESC_FIELDS + D_DATA_LEN]!;
  return len < TAG_SIZE
    ? new Error(`${backend}: sealed item of ${len} bytes is shorter than the ${TAG_SIZE}-byte tag`)
    : new Error(`${backend}: GCM tag verification failed (item status 0)`);
}

/**
 * Validates a packed batch's descriptors against its buffers so no backend reads or writes out
 * of bounds. Throws CRYPTO_BACKEND (a caller bug, not an authentication failure).
 */
export function checkPacked(batch: PackedBatch, mode: BatchMode): void {
  if (!Number.isInteger(batch.count) || batch.count < 0) {
    throw new CryptoError('CRYPTO_BACKEND', `packed batch: invalid item count ${batch.count}`);
  }
  const { count, input, desc, output } = batch;
  if (!Number.isInteger(count) || count < 0 || desc.length < count * DESC_FIELDS) {
    throw new CryptoError('CRYPTO_BACKEND', `packed batch: descriptor table too short for ${count} items`);
  }
  for (let i = 0, d = 0; i < count; i++, d += DESC_FIELDS) {
    const nonce = desc[d + D_NONCE]!;
    const aad = desc[d + D_AAD]!;
    const data = desc[d + D_DATA]!;
    const dataLen = desc[d + D_DATA_LEN]!;
    const out = desc[d + D_OUT]!;
    if (
      nonce + NONCE_SIZE > input.length ||
      aad + desc[d + D_AAD_LEN]! > input.length ||
      data + dataLen > input.length ||
      out + outputLength(mode, dataLen) > output.length
    ) {
      throw new CryptoError('CRYPTO_BACKEND', `packed batch: item ${i} descriptor out of bounds`);
    }
  }
}

/** Item i of a packed batch as subarray views (for backends that work item by item). */
export function packedItem(batch: PackedBatch, i: number): { nonce: Uint8Array; aad: Uint8Array; data: Uint8Array; out: number } {
  const d = i * DESC_FIELDS;
  const { input, desc } = batch;
  const nonce = desc[d + D_NONCE]!;
  const aad = desc[d + D_AAD]!;
  const data = desc[d + D_DATA]!;
  return {
    nonce: input.subarray(nonce, nonce + NONCE_SIZE),
    aad: input.subarray(aad, aad + desc[d + D_AAD_LEN]!),
    data: input.subarray(data, data + desc[d + D_DATA_LEN]!),
    out: desc[d + D_OUT]!,
  };
}

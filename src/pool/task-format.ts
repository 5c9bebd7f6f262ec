// The buffers a pool task travels in (DESIGN.md §2: one transferred buffer per batch, no
// per-item messages, no copies across the thread boundary).
//
// A task is one ArrayBuffer, packed by the main thread and transferred to the worker:
//   header   16 u32 fields H_*, then the crypto time as f64 at H_CRYPTO_MS_BYTE
//   desc     u32 × DESC_FIELDS (seal/open, see crypto/aead.ts) or RS_FIELDS (reseal) per item
//   status   one byte per item, written by the executor (ST_*)
//   input    seal/open: nonce ‖ aad ‖ data per item (PackedBatch input)
//            reseal: per item raft envelope ‖ 6-byte raft-AAD scratch ‖ storage AAD ‖ storage nonce
// The worker allocates the output buffer (H_OUTPUT_LEN bytes) and transfers both back in one
// message: the results are views into the output buffer, and the task buffer goes back to the
// main thread's recycler. Why two: first touches of fresh memory cost about 1 ms per MiB on the
// reference VM (page faults), so the main thread reuses its task buffers and the fresh output
// memory is touched by the worker instead.
//
// Seal/open descriptors are exactly PackedBatch descriptors (input offsets relative to the input
// region, output offsets relative to the output buffer), so the executor hands the regions to
// Aead.sealPacked / openPacked unchanged.
//
// Reseal item (RS_* fields; input offsets relative to the input region, output offsets relative
// to the output buffer):
//   RS_ENV, RS_ENV_LEN     the raft envelope (RE-1) as committed in the log
//   RS_RAFT_AAD            6 bytes the executor fills with 0x52 ‖ version ‖ key_id (RE-2)
//   RS_SAAD, RS_SAAD_LEN   storage AAD (SE-2) = 01 00 ‖ storage key_id ‖ value header ‖ storage key,
//                          built on the main thread, which knows all four parts
//   RS_SNONCE              12-byte storage nonce (drawn from the storage NonceFactory when the
//                          batch is formed, KM-9)
//   RS_PLAIN               output offset of the opened payload (env_len − 34 bytes)
//   RS_STORE               output offset of the storage envelope (payload + 34 bytes)
// Reseal output buffer: plaintexts | executor scratch (H_SCRATCH_OFF) | storage envelopes (H_STORE_OFF).

import { checkNonce, DESC_FIELDS, NONCE_SIZE, TAG_SIZE } from '../crypto/aead.js';
import { checkItems } from '../crypto/batch.js';
import { byteLen, bytesArg, changedError, intact, itemArg, itemsArg } from '../crypto/bytes.js';
import { ENVELOPE_OVERHEAD } from '../crypto/envelope/framing.js';
import { RAFT_AAD_SIZE } from '../crypto/envelope/raft.js';
import { CryptoError } from '../errors.js';

export const TASK_MAGIC = 0x534b5031; // 'SKP1'

/** No work: a worker answers it once its backend has loaded (start-up readiness check). */
export const OP_PING = 0;
export const OP_SEAL = 1;
export const OP_OPEN = 2;
export const OP_RESEAL = 3;
export type TaskOp = typeof OP_PING | typeof OP_SEAL | typeof OP_OPEN | typeof OP_RESEAL;

// Header fields (u32 index).
export const H_MAGIC = 0;
export const H_OP = 1;
export const H_COUNT = 2;
/** seal/open: the DEK; reseal: the storage DEK the values are sealed with. */
export const H_KEY_ID = 3;
/** Key-table version the main thread had published when it formed the task. */
export const H_KEY_VERSION = 4;
export const H_DESC_OFF = 5;
export const H_STATUS_OFF = 6;
export const H_INPUT_OFF = 7;
export const H_INPUT_LEN = 8;
/** Bytes of the output buffer the executor allocates. */
export const H_OUTPUT_LEN = 9;
/** Reseal: start of the executor's scratch (storage AAD ‖ nonce copies) in the output buffer. */
export const H_SCRATCH_OFF = 10;
/** Reseal: start of the storage envelopes in the output buffer. */
export const H_STORE_OFF = 11;
/** Written by the executor: BATCH_* code; non-zero means no item was processed. */
export const H_BATCH_STATUS = 12;
/** Written by the executor: the key_id a batch-level failure names. */
export const H_BATCH_KEY = 13;
/** Written by a worker: its threadId (0 = ran inline); diagnostics and tests. */
export const H_WORKER_ID = 14;
const HEADER_U32 = 16;
/** f64, written by the executor: milliseconds spent on the batch. */
export const H_CRYPTO_MS_BYTE = 64;
export const HEADER_BYTES = 72;

export const RS_ENV = 0;
export const RS_ENV_LEN = 1;
export const RS_RAFT_AAD = 2;
export const RS_SAAD = 3;
export const RS_SAAD_LEN = 4;
export const RS_SNONCE = 5;
export const RS_PLAIN = 6;
export const RS_STORE = 7;
export const RS_FIELDS = 8;

// Per-item status codes (status region).
export const ST_OK = 1; // 0 = never processed, so an untouched byte can never read as success
export const ST_INTEGRITY = 2;
export const ST_ENVELOPE_SHORT = 3;
export const ST_ENVELOPE_VERSION = 4;
export const ST_ENVELOPE_FLAG = 5;
export const ST_UNKNOWN_KEY_ID = 6;

// Batch status codes (H_BATCH_STATUS).
export const BATCH_OK = 0;
export const BATCH_UNKNOWN_KEY_ID = 1;
export const BATCH_KEY_TABLE_BEHIND = 2;
export const BATCH_MALFORMED = 3;

function align8(n: number): number {
  return (n + 7) & ~7;
}

/** Region offsets of a task buffer. */
export function layout(count: number, descFields: number, inputLen: number): { desc: number; status: number; input: number; total: number } {
  const desc = HEADER_BYTES;
  const status = align8(desc + count * descFields * 4);
  const input = align8(status + count);
  return { desc, status, input, total: input + inputLen };
}

/** A task buffer with typed views over its regions. */
export interface TaskViews {
  buffer: ArrayBuffer;
  header: Uint32Array;
  desc: Uint32Array;
  status: Uint8Array;
  input: Uint8Array;
}

/** Views over a task buffer as described by its own header. */
export function viewTask(buffer: ArrayBuffer): TaskViews {
  const header = new Uint32Array(buffer, 0, HEADER_U32);
  const count = header[H_COUNT]!;
  const fields = header[H_OP] === OP_RESEAL ? RS_FIELDS : DESC_FIELDS;
  return {
    buffer,
    header,
    desc: new Uint32Array(buffer, header[H_DESC_OFF]!, count * fields),
    status: new Uint8Array(buffer, header[H_STATUS_OFF]!, count),
    input: new Uint8Array(buffer, header[H_INPUT_OFF]!, header[H_INPUT_LEN]!),
  };
}

/** Source of task buffers (the main thread's recycler); contents may be stale. */
export type TakeBuffer = (minBytes: number) => ArrayBuffer;

export const freshBuffer: TakeBuffer = (n) => new ArrayBuffer(n);

function allocTask(
  take: TakeBuffer,
  op: TaskOp,
  count: number,
  fields: number,
  inputLen: number,
  outputLen: number,
  keyId: number,
  keyVersion: number,
): TaskViews {
  const l = layout(count, fields, inputLen);
  const buffer = take(l.total);
  if (buffer.byteLength < l.total) throw new RangeError('task buffer too small');
  // The buffer may be recycled: zero everything up to the input region (header, descriptors,
  // statuses, padding); the packer writes every input byte.
  new Uint8Array(buffer, 0, l.input).fill(0);
  const header = new Uint32Array(buffer, 0, HEADER_U32);
  header[H_MAGIC] = TASK_MAGIC;
  header[H_OP] = op;
  header[H_COUNT] = count;
  header[H_KEY_ID] = keyId;
  header[H_KEY_VERSION] = keyVersion;
  header[H_DESC_OFF] = l.desc;
  header[H_STATUS_OFF] = l.status;
  header[H_INPUT_OFF] = l.input;
  header[H_INPUT_LEN] = inputLen;
  header[H_OUTPUT_LEN] = outputLen;
  return {
    buffer,
    header,
    desc: new Uint32Array(buffer, l.desc, count * fields),
    status: new Uint8Array(buffer, l.status, count),
    input: new Uint8Array(buffer, l.input, inputLen),
  };
}

/** A task with no items that only proves a worker is up. */
export function packPing(): TaskViews {
  return allocTask(freshBuffer, OP_PING, 0, DESC_FIELDS, 0, 0, 0, 0);
}

export interface SealOpenItem {
  nonce: Uint8Array;
  aad: Uint8Array;
  data: Uint8Array;
}

/** Packs a seal or open batch; nonce sizes are checked here so a bad item fails before crossing. */
export function packSealOpen(
  op: typeof OP_SEAL | typeof OP_OPEN,
  keyId: number,
  keyVersion: number,
  itemsIn: readonly SealOpenItem[],
  take: TakeBuffer = freshBuffer,
): TaskViews {
  // Type-checked before any byte is copied (a string nonce would otherwise pack as zeros: issue 8).
  const items = checkItems(itemsIn);
  const count = items.length;
  let inLen = 0;
  let outLen = 0;
  for (let i = 0; i < count; i++) {
    const it = items[i]!;
    inLen += NONCE_SIZE + byteLen(it.aad) + byteLen(it.data);
    outLen += itemOutLen(op, byteLen(it.data));
  }
  const t = allocTask(take, op, count, DESC_FIELDS, inLen, outLen, keyId, keyVersion);
  const { desc, input } = t;
  let off = 0;
  let out = 0;
  for (let i = 0, d = 0; i < count; i++, d += DESC_FIELDS) {
    const it = items[i]!;
    desc[d] = off; // D_NONCE
    copySmall(input, off, it.nonce);
    off += NONCE_SIZE;
    desc[d + 1] = off; // D_AAD
    desc[d + 2] = byteLen(it.aad); // D_AAD_LEN
    copySmall(input, off, it.aad);
    off += byteLen(it.aad);
    desc[d + 3] = off; // D_DATA
    desc[d + 4] = byteLen(it.data); // D_DATA_LEN
    input.set(it.data, off);
    off += byteLen(it.data);
    desc[d + 5] = out; // D_OUT
    out += itemOutLen(op, byteLen(it.data));
  }
  return t;
}

/** Byte loop for short fields (nonces, typical AADs): cheaper than a TypedArray#set call. */
function copySmall(dst: Uint8Array, at: number, src: Uint8Array): void {
  const n = byteLen(src); // never `.length`: an own accessor may lie after the check
  if (n > 32) {
    dst.set(src, at);
    return;
  }
  for (let i = 0; i < n; i++) dst[at + i] = src[i]!;
}

function itemOutLen(op: TaskOp, dataLen: number): number {
  if (op === OP_SEAL) return dataLen + TAG_SIZE;
  return dataLen >= TAG_SIZE ? dataLen - TAG_SIZE : 0;
}

/** Result views of a seal/open batch into its output buffer, in item order. */
export function sealOpenViews(t: TaskViews, output: ArrayBuffer): Uint8Array[] {
  const count = t.header[H_COUNT]!;
  const op = t.header[H_OP] as TaskOp;
  const out = new Uint8Array(output);
  const views = new Array<Uint8Array>(count);
  for (let i = 0, d = 0; i < count; i++, d += DESC_FIELDS) {
    const start = t.desc[d + 5]!;
    views[i] = out.subarray(start, start + itemOutLen(op, t.desc[d + 4]!));
  }
  return views;
}

/**
 * One reseal input: a committed raft envelope and the storage sealing parameters of the value
 * it carries. The opened payload is sealed as-is into the storage envelope.
 */
export interface ResealItem {
  /** The raft envelope (RE-1); its key_id names the raft DEK, which must be installed. */
  envelope: Uint8Array;
  /** The user key the value is stored under (the `kv` table key), bound into the AAD (SE-2). */
  storageKey: Uint8Array;
  /** The 9-byte value header stored with the value (SE-4), bound into the AAD. */
  valueHeader: Uint8Array;
  /** 12-byte storage nonce from the storage NonceFactory (SE-10). */
  nonce: Uint8Array;
}

export const VALUE_HEADER_BYTES = 9;
const SAAD_PREFIX = 6; // version ‖ flag ‖ key_id

/** Payload length of a raft envelope of `envLen` bytes (0 when it is too short to be one). */
export function payloadLength(envLen: number): number {
  return envLen >= ENVELOPE_OVERHEAD ? envLen - ENVELOPE_OVERHEAD : 0;
}

/** A reseal item with every field read once and type-checked (BAD_INPUT_TYPE / BAD_NONCE_SIZE). */
export function checkResealItem(x: unknown, i: number): ResealItem {
  const it = itemArg<ResealItem>(x, `reseal item ${i}`);
  return {
    envelope: bytesArg(it.envelope, `reseal item ${i} envelope`),
    storageKey: bytesArg(it.storageKey, `reseal item ${i} storageKey`),
    valueHeader: bytesArg(it.valueHeader, `reseal item ${i} valueHeader`),
    nonce: checkNonce(it.nonce, `reseal item ${i} nonce`),
  };
}

export function packReseal(storageKeyId: number, keyVersion: number, itemsIn: readonly ResealItem[], take: TakeBuffer = freshBuffer): TaskViews {
  const items = itemsArg<unknown>(itemsIn, 'reseal items').map(checkResealItem);
  // A later item's getter may have detached a field checked above; no user code runs after this.
  for (let i = 0; i < items.length; i++) {
    const it = items[i]!;
    if (!intact(it.envelope) || !intact(it.storageKey) || !intact(it.valueHeader) || !intact(it.nonce, NONCE_SIZE)) throw changedError(`a field of reseal item ${i}`);
  }
  const count = items.length;
  let inLen = 0;
  let plainLen = 0;
  let scratchLen = 0;
  for (let i = 0; i < count; i++) {
    const it = items[i]!;
    if (byteLen(it.valueHeader) !== VALUE_HEADER_BYTES) {
      throw new CryptoError('BAD_INPUT_TYPE', `reseal item ${i}: value header must be ${VALUE_HEADER_BYTES} bytes, got ${byteLen(it.valueHeader)}`);
    }
    const saad = SAAD_PREFIX + VALUE_HEADER_BYTES + byteLen(it.storageKey);
    inLen += byteLen(it.envelope) + RAFT_AAD_SIZE + saad + NONCE_SIZE;
    plainLen += payloadLength(byteLen(it.envelope));
    scratchLen += saad + NONCE_SIZE;
  }
  const scratchOff = align8(plainLen);
  const storeOff = align8(scratchOff + scratchLen);
  const outLen = storeOff + plainLen + count * ENVELOPE_OVERHEAD;
  const t = allocTask(take, OP_RESEAL, count, RS_FIELDS, inLen, outLen, storageKeyId, keyVersion);
  t.header[H_SCRATCH_OFF] = scratchOff;
  t.header[H_STORE_OFF] = storeOff;
  const { desc, input } = t;
  let off = 0;
  let plain = 0;
  let store = storeOff;
  for (let i = 0, d = 0; i < count; i++, d += RS_FIELDS) {
    const it = items[i]!;
    const pl = payloadLength(byteLen(it.envelope));
    desc[d + RS_ENV] = off;
    desc[d + RS_ENV_LEN] = byteLen(it.envelope);
    input.set(it.envelope, off);
    off += byteLen(it.envelope);
    desc[d + RS_RAFT_AAD] = off;
    input.fill(0, off, off + RAFT_AAD_SIZE);
    off += RAFT_AAD_SIZE;
    desc[d + RS_SAAD] = off;
    desc[d + RS_SAAD_LEN] = SAAD_PREFIX + VALUE_HEADER_BYTES + byteLen(it.storageKey);
    input[off] = 0x01; // SE-2: version ‖ flag ‖ key_id ‖ header ‖ storage key
    input[off + 1] = 0x00;
    input[off + 2] = storageKeyId >>> 24;
    input[off + 3] = (storageKeyId >>> 16) & 0xff;
    input[off + 4] = (storageKeyId >>> 8) & 0xff;
    input[off + 5] = storageKeyId & 0xff;
    input.set(it.valueHeader, off + SAAD_PREFIX);
    input.set(it.storageKey, off + SAAD_PREFIX + VALUE_HEADER_BYTES);
    off += SAAD_PREFIX + VALUE_HEADER_BYTES + byteLen(it.storageKey);
    desc[d + RS_SNONCE] = off;
    copySmall(input, off, it.nonce);
    off += NONCE_SIZE;
    desc[d + RS_PLAIN] = plain;
    plain += pl;
    desc[d + RS_STORE] = store;
    store += pl + ENVELOPE_OVERHEAD;
  }
  return t;
}

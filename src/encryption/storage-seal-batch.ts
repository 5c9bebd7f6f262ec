// The storage seals of one apply batch under one storage DEK, collected as they are encoded in the
// packed layout the cipher takes in one call (SE-1, SE-2, SE-6; DESIGN §6 batching).
//
// Each SET's value is copied once, into this batch's input buffer next to its nonce and SE-2 AAD;
// the cipher then seals every item in one call and the ciphertexts are copied into the records the
// state machine already staged. That replaces, per value, two defensive copies, a task buffer
// packing copy and several small allocations (issue 11 throughput). The input buffer holds
// cleartext: it is wiped as soon as the batch is sealed or abandoned, and never written anywhere.

import { D_AAD, D_AAD_LEN, D_DATA, D_DATA_LEN, D_NONCE, D_OUT, DESC_FIELDS, NONCE_SIZE, type PackedBatch, TAG_SIZE } from '../crypto/aead.js';
import { ENV_NONCE_OFFSET, ENVELOPE_FLAG_NONE, ENVELOPE_HEADER_SIZE, ENVELOPE_VERSION, writeU32 } from '../crypto/envelope/framing.js';
import type { NonceFactory } from '../crypto/envelope/nonce.js';
import { VALUE_HEADER_SIZE } from '../crypto/envelope/value-header.js';

/** AAD bytes before the value header and the storage key (SE-2: version, flag, key_id). */
const AAD_PREFIX = 6;
const INITIAL_INPUT = 16 * 1024;
const INITIAL_ITEMS = 64;

export class StorageSealBatch {
  private input = new Uint8Array(INITIAL_INPUT);
  private inLen = 0;
  private desc = new Uint32Array(INITIAL_ITEMS * DESC_FIELDS);
  private outLen = 0;
  private readonly records: Uint8Array[] = [];
  private output: Uint8Array | null = null;
  /** The batch's nonces, back to back, as reserved (copied into the input and the records). */
  private nonces = new Uint8Array(128 * NONCE_SIZE);

  constructor(public keyId: number) {}

  /** Empties a wiped batch for reuse under `keyId` (its buffers stay allocated). */
  reset(keyId: number): void {
    this.keyId = keyId;
    this.inLen = 0;
    this.outLen = 0;
    this.dataBytes = 0;
    this.records.length = 0;
  }

  get count(): number {
    return this.records.length;
  }

  /** Bytes of plaintext in the batch (the pool's inline-or-worker estimate). */
  dataBytes = 0;

  /**
   * Adds the value of `record`, whose value header and envelope key_id are already written (its
   * nonce is drawn for the whole batch in `packed`); returns the item's position. `storageKey`
   * and `value` are copied now, so the caller's buffers may be reused at once.
   */
  add(record: Uint8Array, storageKey: Uint8Array, value: Uint8Array): number {
    const aadLen = AAD_PREFIX + VALUE_HEADER_SIZE + storageKey.length;
    const need = NONCE_SIZE + aadLen + value.length;
    if (this.inLen + need > this.input.length) this.growInput(this.inLen + need);
    const i = this.records.length;
    if ((i + 1) * DESC_FIELDS > this.desc.length) {
      const d = new Uint32Array(this.desc.length * 2);
      d.set(this.desc);
      this.desc = d;
    }
    const inp = this.input;
    const d = i * DESC_FIELDS;
    let off = this.inLen;
    this.desc[d + D_NONCE] = off; // filled in packed()
    off += NONCE_SIZE;
    // SE-2 AAD: 0x01 ‖ 0x00 ‖ key_id ‖ the record's 9 header bytes ‖ storage key.
    this.desc[d + D_AAD] = off;
    this.desc[d + D_AAD_LEN] = aadLen;
    inp[off] = ENVELOPE_VERSION;
    inp[off + 1] = ENVELOPE_FLAG_NONE;
    writeU32(inp, off + 2, this.keyId);
    for (let k = 0; k < VALUE_HEADER_SIZE; k++) inp[off + AAD_PREFIX + k] = record[k]!;
    inp.set(storageKey, off + AAD_PREFIX + VALUE_HEADER_SIZE);
    off += aadLen;
    this.desc[d + D_DATA] = off;
    this.desc[d + D_DATA_LEN] = value.length;
    inp.set(value, off);
    off += value.length;
    this.desc[d + D_OUT] = this.outLen;
    this.outLen += value.length + TAG_SIZE;
    this.inLen = off;
    this.dataBytes += value.length;
    this.records.push(record);
    return i;
  }

  /** A copy of item `i`'s plaintext (read-your-writes inside the batch, before the seal). */
  plaintext(i: number): Uint8Array {
    const d = i * DESC_FIELDS;
    const at = this.desc[d + D_DATA]!;
    return this.input.slice(at, at + this.desc[d + D_DATA_LEN]!);
  }

  /**
   * The batch in the cipher's packed layout; its output receives ciphertext ‖ tag per item. The
   * nonces of all items are reserved here in one atomic step (KM-9) and written both into the
   * packed input and into each record's envelope header.
   */
  packed(nonces: NonceFactory): PackedBatch {
    const n = this.records.length;
    if (this.nonces.length < n * NONCE_SIZE) this.nonces = new Uint8Array(Math.max(n, 64) * 2 * NONCE_SIZE);
    nonces.nextBatchInto(n, this.nonces, 0);
    const inp = this.input;
    const src = this.nonces;
    const nonceAt = VALUE_HEADER_SIZE + ENV_NONCE_OFFSET;
    for (let i = 0; i < n; i++) {
      const at = this.desc[i * DESC_FIELDS + D_NONCE]!;
      const rec = this.records[i]!;
      for (let k = 0, s = i * NONCE_SIZE; k < NONCE_SIZE; k++, s++) {
        inp[at + k] = src[s]!;
        rec[nonceAt + k] = src[s]!;
      }
    }
    // Reused between batches: deliver() copies the results out before the next use.
    if (this.output === null || this.output.length < this.outLen) this.output = new Uint8Array(Math.max(this.outLen, INITIAL_INPUT));
    return {
      count: n,
      input: this.input.subarray(0, this.inLen),
      desc: this.desc.subarray(0, n * DESC_FIELDS),
      output: this.output.subarray(0, this.outLen),
    };
  }

  /** Copies each sealed body into its record, after the envelope header (SE-1 layout). */
  deliver(): void {
    const out = this.output;
    if (out === null) throw new Error('StorageSealBatch.deliver before packed()');
    const body = VALUE_HEADER_SIZE + ENVELOPE_HEADER_SIZE;
    for (let i = 0; i < this.records.length; i++) {
      const d = i * DESC_FIELDS;
      const at = this.desc[d + D_OUT]!;
      this.records[i]!.set(out.subarray(at, at + this.desc[d + D_DATA_LEN]! + TAG_SIZE), body);
    }
  }

  /** The staged records of this batch, in item order. */
  staged(): readonly Uint8Array[] {
    return this.records;
  }

  /** Zeroes the cleartext copies (always called, sealed or not). */
  wipe(): void {
    this.input.fill(0, 0, this.inLen);
  }

  private growInput(min: number): void {
    let n = this.input.length * 2;
    while (n < min) n *= 2;
    const next = new Uint8Array(n);
    next.set(this.input.subarray(0, this.inLen));
    this.input.fill(0, 0, this.inLen); // the old buffer held cleartext too
    this.input = next;
  }
}

// Reused input and descriptor buffers for packed cipher batches (raft wrap and unwrap).
//
// A fresh ArrayBuffer costs an allocation, zero-filling and GC bookkeeping; a busy node packs a
// few batches per event-loop turn, so their input and descriptors come from here. Outputs are
// never from here: envelopes and plaintexts outlive the batch. One batch at a time holds the
// buffers; a batch that overlaps (a worker-path batch still in flight) gets fresh ones.

import { DESC_FIELDS } from '../crypto/aead.js';

export interface PackBuffers {
  input: Uint8Array;
  desc: Uint32Array;
  status: Uint8Array;
  /** Zeroes the used input (it may hold cleartext) and returns the buffers for reuse. */
  release(): void;
}

export class PackScratch {
  private input = new Uint8Array(16 * 1024);
  private desc = new Uint32Array(64 * DESC_FIELDS);
  private status = new Uint8Array(64);
  private busy = false;

  /** Buffers of exactly `inLen` input bytes and `count` items. */
  take(inLen: number, count: number): PackBuffers {
    if (this.busy) {
      const input = new Uint8Array(inLen);
      return { input, desc: new Uint32Array(count * DESC_FIELDS), status: new Uint8Array(count), release: () => input.fill(0) };
    }
    this.busy = true;
    if (this.input.length < inLen) this.input = new Uint8Array(Math.max(inLen, this.input.length * 2));
    if (this.desc.length < count * DESC_FIELDS) this.desc = new Uint32Array(Math.max(count, this.desc.length / DESC_FIELDS * 2) * DESC_FIELDS);
    if (this.status.length < count) this.status = new Uint8Array(Math.max(count, this.status.length * 2));
    const input = this.input.subarray(0, inLen);
    const status = this.status.subarray(0, count);
    status.fill(0);
    return {
      input,
      desc: this.desc.subarray(0, count * DESC_FIELDS),
      status,
      release: () => {
        input.fill(0);
        this.busy = false;
      },
    };
  }
}

// Raft unwrap of apply batches in the crypto pool (EH-8): framing and key checks per envelope
// here (RE-6 steps 1–4), one packed pool open per raft key_id for the AEAD (step 5), each item its own
// result. Single entries (and the pipeline's in-order recompute, `unwrapOne`) stay inline.

import { type Aead, D_AAD, D_AAD_LEN, D_DATA, D_DATA_LEN, D_NONCE, D_OUT, DESC_FIELDS, NONCE_SIZE, type PackedBatch, TAG_SIZE } from '../crypto/aead.js';
import {
  checkEnvelopeFraming,
  ENV_KEY_ID_OFFSET,
  ENV_NONCE_OFFSET,
  ENVELOPE_HEADER_SIZE,
  ENVELOPE_OVERHEAD,
  readU32,
} from '../crypto/envelope/framing.js';
import { RAFT_AAD_PURPOSE, RAFT_AAD_SIZE } from '../crypto/envelope/raft.js';
import type { Keystore } from '../crypto/keystore.js';
import { EnvelopeError, IntegrityError, SealkvError } from '../errors.js';
import type { RaftUnwrapper, UnwrapResult } from '../node/apply-pipeline.js';
import { InlineRaftUnwrapper } from '../node/raft-unwrapper.js';

export interface RaftOpener {
  /** Opens a packed batch into its output; status[i] = 1 when item i authenticated (the crypto pool). */
  openPacked(keyId: number, batch: PackedBatch, status: Uint8Array): Promise<void>;
}

export class PoolRaftUnwrapper implements RaftUnwrapper {
  private readonly inline: InlineRaftUnwrapper;

  constructor(
    aead: Aead,
    private readonly keystore: Keystore,
    private readonly pool: RaftOpener,
    /** Batches below this many envelopes unwrap inline. */
    private readonly minBatch = 2,
  ) {
    this.inline = new InlineRaftUnwrapper(aead, keystore);
  }

  generation(): number {
    return this.keystore.version;
  }

  async unwrapBatch(envelopes: Uint8Array[]): Promise<(UnwrapResult | SealkvError)[]> {
    if (envelopes.length < this.minBatch) return this.inline.unwrapBatch(envelopes);
    const out = new Array<UnwrapResult | SealkvError>(envelopes.length);
    // RE-6 steps 1–4 per envelope here; envelopes that pass are grouped by raft key_id.
    const byKey = new Map<number, number[]>();
    for (let i = 0; i < envelopes.length; i++) {
      const e = envelopes[i]!;
      if (!(e instanceof Uint8Array) || checkEnvelopeFraming(e, 0, e.length) !== null) {
        out[i] = this.tryInline(e); // the exact typed framing error
        continue;
      }
      const keyId = readU32(e, ENV_KEY_ID_OFFSET);
      if (!this.keystore.has(keyId)) {
        out[i] = new EnvelopeError('UNKNOWN_KEY_ID', `raft envelope: raft DEK key_id ${keyId} is not loaded`);
        continue;
      }
      const list = byKey.get(keyId);
      if (list === undefined) byKey.set(keyId, [i]);
      else list.push(i);
    }
    await Promise.all([...byKey].map(([keyId, idx]) => this.openGroup(keyId, idx, envelopes, out)));
    return out;
  }

  /**
   * One packed open (step 5) for the envelopes at `idx`, all under raft DEK `keyId`. Plaintexts
   * are views into one fresh output buffer, never into the envelopes (RE-6). An item that fails
   * here, or a batch the pool cannot take, is decided again inline, which reports its exact RE-6
   * error with the backend's cause (CK-3).
   */
  private async openGroup(keyId: number, idx: number[], envelopes: Uint8Array[], out: (UnwrapResult | SealkvError)[]): Promise<void> {
    const n = idx.length;
    let inLen = 0;
    let outLen = 0;
    for (const i of idx) {
      const len = envelopes[i]!.length;
      inLen += NONCE_SIZE + RAFT_AAD_SIZE + len - ENVELOPE_HEADER_SIZE;
      outLen += len - ENVELOPE_OVERHEAD;
    }
    const input = new Uint8Array(inLen);
    const output = new Uint8Array(outLen);
    const desc = new Uint32Array(n * DESC_FIELDS);
    const status = new Uint8Array(n);
    let inOff = 0;
    let outOff = 0;
    for (let k = 0, d = 0; k < n; k++, d += DESC_FIELDS) {
      const e = envelopes[idx[k]!]!;
      desc[d + D_NONCE] = inOff;
      input.set(e.subarray(ENV_NONCE_OFFSET, ENVELOPE_HEADER_SIZE), inOff);
      inOff += NONCE_SIZE;
      // RE-2 AAD from the envelope's own version and key_id.
      desc[d + D_AAD] = inOff;
      desc[d + D_AAD_LEN] = RAFT_AAD_SIZE;
      input[inOff] = RAFT_AAD_PURPOSE;
      input[inOff + 1] = e[0]!;
      input[inOff + 2] = e[ENV_KEY_ID_OFFSET]!;
      input[inOff + 3] = e[ENV_KEY_ID_OFFSET + 1]!;
      input[inOff + 4] = e[ENV_KEY_ID_OFFSET + 2]!;
      input[inOff + 5] = e[ENV_KEY_ID_OFFSET + 3]!;
      inOff += RAFT_AAD_SIZE;
      const bodyLen = e.length - ENVELOPE_HEADER_SIZE;
      desc[d + D_DATA] = inOff;
      desc[d + D_DATA_LEN] = bodyLen;
      input.set(e.subarray(ENVELOPE_HEADER_SIZE), inOff);
      inOff += bodyLen;
      desc[d + D_OUT] = outOff;
      outOff += bodyLen - TAG_SIZE;
    }
    try {
      await this.pool.openPacked(keyId, { count: n, input, desc, output }, status);
    } catch {
      // The pool could not take the batch (e.g. the key is not in the workers yet).
      for (const i of idx) out[i] = this.tryInline(envelopes[i]!);
      return;
    }
    for (let k = 0, d = 0; k < n; k++, d += DESC_FIELDS) {
      const i = idx[k]!;
      if (status[k] !== 1) {
        out[i] = this.tryInline(envelopes[i]!);
        continue;
      }
      const at = desc[d + D_OUT]!;
      out[i] = { payload: output.subarray(at, at + desc[d + D_DATA_LEN]! - TAG_SIZE), extra: null };
    }
  }

  unwrapOne(envelope: Uint8Array): UnwrapResult {
    return this.inline.unwrapOne(envelope);
  }

  private tryInline(envelope: Uint8Array): UnwrapResult | SealkvError {
    try {
      return this.inline.unwrapOne(envelope);
    } catch (e) {
      return e instanceof SealkvError ? e : new IntegrityError(String(e));
    }
  }
}

// Builds a full Aead from single-message seal/open functions. Used by the `node` and `js`
// backends, which have no batch primitive of their own: their batch methods loop per item but
// keep the batch contract (one output buffer per batch, per-item failure positions).

import { IntegrityError } from '../../errors.js';
import { type Aead, type BackendName, type BatchItem, checkKey, checkNonce, type PackedBatch, TAG_SIZE } from '../aead.js';
import { checkPacked, openResults, outputViews, packedItem, packItems } from '../batch.js';

export interface MessageCipher {
  /** Writes ciphertext ‖ tag (data.length + 16 bytes) into out at outOff. */
  sealInto(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, data: Uint8Array, out: Uint8Array, outOff: number): void;
  /** Writes the plaintext into out at outOff and returns true, or returns false when authentication fails. */
  openInto(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, sealed: Uint8Array, out: Uint8Array, outOff: number): boolean;
}

export function aeadFromMessageCipher(name: BackendName, hardwareAes: boolean, c: MessageCipher): Aead {
  function sealPacked(key: Uint8Array, batch: PackedBatch): void {
    checkKey(key);
    checkPacked(batch, 'seal');
    for (let i = 0; i < batch.count; i++) {
      const it = packedItem(batch, i);
      c.sealInto(key, it.nonce, it.aad, it.data, batch.output, it.out);
    }
  }

  function openPacked(key: Uint8Array, batch: PackedBatch, status: Uint8Array): void {
    checkKey(key);
    checkPacked(batch, 'open');
    for (let i = 0; i < batch.count; i++) {
      const it = packedItem(batch, i);
      const ok = it.data.length >= TAG_SIZE && c.openInto(key, it.nonce, it.aad, it.data, batch.output, it.out);
      status[i] = ok ? 1 : 0;
      // Never leave partial plaintext of a failed item behind.
      if (!ok && it.data.length > TAG_SIZE) batch.output.fill(0, it.out, it.out + it.data.length - TAG_SIZE);
    }
  }

  return {
    name,
    hardwareAes,
    seal(key, nonce, aad, plaintext) {
      checkKey(key);
      checkNonce(nonce);
      const out = new Uint8Array(plaintext.length + TAG_SIZE);
      c.sealInto(key, nonce, aad, plaintext, out, 0);
      return out;
    },
    open(key, nonce, aad, sealed) {
      checkKey(key);
      checkNonce(nonce);
      if (sealed.length < TAG_SIZE) throw new IntegrityError(`sealed input shorter than the tag (${name})`);
      const out = new Uint8Array(sealed.length - TAG_SIZE);
      if (!c.openInto(key, nonce, aad, sealed, out, 0)) {
        throw new IntegrityError(`authentication failed (${name})`);
      }
      return out;
    },
    sealBatch(key: Uint8Array, items: BatchItem[]) {
      checkKey(key);
      const batch = packItems(items, 'seal');
      sealPacked(key, batch);
      return outputViews(batch, 'seal');
    },
    openBatch(key: Uint8Array, items: BatchItem[]) {
      checkKey(key);
      const batch = packItems(items, 'open');
      const status = new Uint8Array(batch.count);
      openPacked(key, batch, status);
      return openResults(batch, status, name);
    },
    sealPacked,
    openPacked,
  };
}

// Builds a full Aead from single-message seal/open functions. Used by the `node` and `js`
// backends, which have no batch primitive of their own: their batch methods loop per item but
// keep the batch contract (one output buffer per batch, per-item failure positions).

import { CryptoError } from '../../errors.js';
import { type Aead, type BackendName, type BatchItem, checkKey, checkNonce, integrityError, type PackedBatch, TAG_SIZE } from '../aead.js';
import { batchCause, checkPacked, openResults, outputViews, packedArg, packedItem, packItems } from '../batch.js';
import { bytesArg } from '../bytes.js';

export interface MessageCipher {
  /** Writes ciphertext ‖ tag (data.length + 16 bytes) into out at outOff. */
  sealInto(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, data: Uint8Array, out: Uint8Array, outOff: number): void;
  /**
   * Writes the plaintext into out at outOff and returns true, or returns the backend's error
   * (the CK-3 cause) when authentication fails; nothing is written then.
   */
  openInto(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, sealed: Uint8Array, out: Uint8Array, outOff: number): true | Error;
}

export function aeadFromMessageCipher(name: BackendName, hardwareAes: boolean, c: MessageCipher): Aead {
  function sealPacked(keyIn: Uint8Array, batchIn: PackedBatch): void {
    const key = checkKey(keyIn);
    const batch = packedArg(batchIn);
    checkPacked(batch, 'seal');
    for (let i = 0; i < batch.count; i++) {
      const it = packedItem(batch, i);
      c.sealInto(key, it.nonce, it.aad, it.data, batch.output, it.out);
    }
  }

  /** Opens every item; returns each failed item's backend error (the CK-3 cause) by position. */
  function openAll(key: Uint8Array, batch: PackedBatch, status: Uint8Array): (Error | undefined)[] {
    checkPacked(batch, 'open');
    const causes = new Array<Error | undefined>(batch.count);
    for (let i = 0; i < batch.count; i++) {
      const it = packedItem(batch, i);
      const r = it.data.length >= TAG_SIZE ? c.openInto(key, it.nonce, it.aad, it.data, batch.output, it.out) : batchCause(name, batch, i);
      status[i] = r === true ? 1 : 0;
      if (r !== true) {
        causes[i] = r;
        // Never leave partial plaintext of a failed item behind.
        if (it.data.length > TAG_SIZE) batch.output.fill(0, it.out, it.out + it.data.length - TAG_SIZE);
      }
    }
    return causes;
  }

  function openPacked(keyIn: Uint8Array, batchIn: PackedBatch, statusIn: Uint8Array): void {
    const key = checkKey(keyIn);
    const batch = packedArg(batchIn);
    const status = bytesArg(statusIn, 'status');
    if (status.length < batch.count) throw new CryptoError('CRYPTO_BACKEND', `status holds ${status.length} entries for ${batch.count} items`);
    openAll(key, batch, status);
  }

  return {
    name,
    hardwareAes,
    seal(keyIn, nonceIn, aadIn, plaintextIn) {
      const key = checkKey(keyIn);
      const nonce = checkNonce(nonceIn);
      const aad = bytesArg(aadIn, 'aad');
      const plaintext = bytesArg(plaintextIn, 'plaintext');
      const out = new Uint8Array(plaintext.length + TAG_SIZE);
      c.sealInto(key, nonce, aad, plaintext, out, 0);
      return out;
    },
    open(keyIn, nonceIn, aadIn, sealedIn) {
      const key = checkKey(keyIn);
      const nonce = checkNonce(nonceIn);
      const aad = bytesArg(aadIn, 'aad');
      const sealed = bytesArg(sealedIn, 'sealed');
      if (sealed.length < TAG_SIZE) {
        throw integrityError(`sealed input shorter than the tag (${name})`, new Error(`${name}: ${sealed.length} bytes cannot hold a ${TAG_SIZE}-byte tag`));
      }
      const out = new Uint8Array(sealed.length - TAG_SIZE);
      const r = c.openInto(key, nonce, aad, sealed, out, 0);
      if (r !== true) throw integrityError(`authentication failed (${name})`, r);
      return out;
    },
    sealBatch(keyIn: Uint8Array, items: BatchItem[]) {
      const key = checkKey(keyIn);
      const batch = packItems(items, 'seal');
      sealPacked(key, batch);
      return outputViews(batch, 'seal');
    },
    openBatch(keyIn: Uint8Array, items: BatchItem[]) {
      const key = checkKey(keyIn);
      const batch = packItems(items, 'open');
      const status = new Uint8Array(batch.count);
      const causes = openAll(key, batch, status);
      return openResults(batch, status, name, causes);
    },
    sealPacked,
    openPacked,
  };
}

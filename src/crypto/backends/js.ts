// `js` backend: pure-JavaScript AES-256-GCM from @noble/ciphers — no native code, no WASM, the
// comparison mode. Slow (tens of MB/s) but byte-identical with the others (CK-4).

import { gcm } from '@noble/ciphers/aes.js';
import { IntegrityError } from '../../errors.js';
import { type Aead, checkKey, checkNonce, TAG_SIZE } from '../aead.js';
import { aeadFromMessageCipher } from './per-message.js';

export function createJsAead(): Aead {
  const base = aeadFromMessageCipher('js', false, {
    sealInto(key, nonce, aad, data, out, outOff) {
      out.set(gcm(key, nonce, aad).encrypt(data), outOff);
    },
    openInto(key, nonce, aad, sealed, out, outOff) {
      let plain: Uint8Array;
      try {
        // noble checks the tag before decrypting, so no unauthenticated plaintext exists.
        plain = gcm(key, nonce, aad).decrypt(sealed);
      } catch {
        return false;
      }
      out.set(plain, outOff);
      return true;
    },
  });
  return {
    ...base,
    // Single open calls noble directly so the IntegrityError carries noble's error as cause (CK-3)
    // and the result needs no extra copy (noble returns a fresh buffer).
    open(key, nonce, aad, sealed) {
      checkKey(key);
      checkNonce(nonce);
      if (sealed.length < TAG_SIZE) throw new IntegrityError('sealed input shorter than the tag (js)');
      try {
        return gcm(key, nonce, aad).decrypt(sealed);
      } catch (e) {
        throw new IntegrityError('authentication failed (js)', { cause: e });
      }
    },
  };
}

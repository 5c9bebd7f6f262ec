// `js` backend: pure-JavaScript AES-256-GCM from @noble/ciphers — no native code, no WASM, the
// comparison mode. Slow (tens of MB/s) but byte-identical with the others (CK-4).

import { gcm } from '@noble/ciphers/aes.js';
import { type Aead, checkKey, checkNonce, integrityError, TAG_SIZE } from '../aead.js';
import { bytesArg } from '../bytes.js';
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
      } catch (e) {
        return e instanceof Error ? e : new Error(String(e));
      }
      out.set(plain, outOff);
      return true;
    },
  });
  return {
    ...base,
    // Single open calls noble directly so the IntegrityError carries noble's error as cause (CK-3)
    // and the result needs no extra copy (noble returns a fresh buffer).
    open(keyIn, nonceIn, aadIn, sealedIn) {
      const key = checkKey(keyIn);
      const nonce = checkNonce(nonceIn);
      const aad = bytesArg(aadIn, 'aad');
      const sealed = bytesArg(sealedIn, 'sealed');
      if (sealed.length < TAG_SIZE) {
        throw integrityError('sealed input shorter than the tag (js)', new Error(`js: ${sealed.length} bytes cannot hold a ${TAG_SIZE}-byte tag`));
      }
      try {
        return gcm(key, nonce, aad).decrypt(sealed);
      } catch (e) {
        throw integrityError('authentication failed (js)', e);
      }
    },
  };
}

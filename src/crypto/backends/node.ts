// `node` backend: node:crypto createCipheriv per message — what a Node developer would write,
// and the baseline the batch backends are measured against.

import { createCipheriv, createDecipheriv } from 'node:crypto';
import type { Aead } from '../aead.js';
import { TAG_SIZE } from '../aead.js';
import { aeadFromMessageCipher } from './per-message.js';

export function createNodeAead(hardwareAes: boolean): Aead {
  return aeadFromMessageCipher('node', hardwareAes, {
    sealInto(key, nonce, aad, data, out, outOff) {
      const c = createCipheriv('aes-256-gcm', key, nonce);
      c.setAAD(aad);
      let off = outOff;
      const body = c.update(data);
      out.set(body, off);
      off += body.length;
      const fin = c.final();
      out.set(fin, off);
      off += fin.length;
      out.set(c.getAuthTag(), off);
    },
    openInto(key, nonce, aad, sealed, out, outOff) {
      const ctLen = sealed.length - TAG_SIZE;
      const d = createDecipheriv('aes-256-gcm', key, nonce);
      d.setAAD(aad);
      d.setAuthTag(sealed.subarray(ctLen));
      const body = d.update(sealed.subarray(0, ctLen));
      try {
        d.final();
      } catch (e) {
        // Authentication failed: the decrypted bytes are discarded, never returned; node's
        // error becomes the IntegrityError's cause (CK-3).
        body.fill(0);
        return e instanceof Error ? e : new Error(String(e));
      }
      out.set(body, outOff);
      return true;
    },
  });
}

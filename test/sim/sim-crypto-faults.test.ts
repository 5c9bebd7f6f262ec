// The simulator's injected cipher failures (issue 14, Build item 2): the wrapped backend fails
// exactly when asked, with CRYPTO_BACKEND whose cause is the injection, and is otherwise the backend.
import { describe, expect, it } from 'vitest';
import { loadAead } from '../../src/crypto/index.js';
import { CryptoError } from '../../src/errors.js';
import { causedByInjection, faultyAead, InjectedCryptoFault } from '../../src/sim/sim-crypto-faults.js';

const key = new Uint8Array(32).fill(7);
const nonce = new Uint8Array(12).fill(1);
const aad = new Uint8Array([1, 2, 3]);
const data = new Uint8Array(100).fill(9);

describe('simulator cipher faults', () => {
  it('CK-3: passes calls through unchanged when no failure is drawn', async () => {
    const real = await loadAead('node');
    const calls: string[] = [];
    const aead = faultyAead(real, (m) => {
      calls.push(m);
      return false;
    });
    const sealed = aead.seal(key, nonce, aad, data);
    expect(Buffer.from(sealed)).toEqual(Buffer.from(real.seal(key, nonce, aad, data)));
    expect(Buffer.from(aead.open(key, nonce, aad, sealed))).toEqual(Buffer.from(data));
    expect(aead.name).toBe(real.name);
    expect(calls).toEqual(['seal', 'open']);
  });

  it('CK-3: an injected failure is CRYPTO_BACKEND whose cause chain carries the injection', async () => {
    const aead = faultyAead(await loadAead('node'), (m) => m === 'open');
    const sealed = aead.seal(key, nonce, aad, data);
    let err: unknown;
    try {
      aead.open(key, nonce, aad, sealed);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(CryptoError);
    expect((err as CryptoError).code).toBe('CRYPTO_BACKEND');
    expect((err as CryptoError).cause).toBeInstanceOf(InjectedCryptoFault);
    expect(causedByInjection(new Error('outer', { cause: new Error('mid', { cause: err }) }))).toBe(true);
    expect(causedByInjection(new Error('unrelated', { cause: new Error('x') }))).toBe(false);
  });
});

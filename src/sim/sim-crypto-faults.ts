// Injected cipher failures of the whole-node simulator (issue 14, Build item 2): a backend whose
// seal and open calls fail now and then, as a crashing or misbehaving crypto library would. The
// node must fail closed: a failed wrap fails only its proposals, a failed storage seal or raft
// unwrap HALTs at the right entry (never skips it), a failed read answers an error. A HALT is then
// the correct outcome exactly when an injected failure is in its cause chain.

import type { Aead } from '../crypto/aead.js';
import { CryptoError } from '../errors.js';

/** The root cause every injected failure carries (recognised by `causedByInjection`). */
export class InjectedCryptoFault extends Error {
  constructor(readonly method: string) {
    super(`simulator: injected ${method} failure`);
    this.name = 'InjectedCryptoFault';
  }
}

const FAILING = new Set(['seal', 'open', 'sealBatch', 'openBatch', 'sealPacked', 'openPacked']);

/**
 * `aead` whose cipher calls throw CRYPTO_BACKEND (cause: InjectedCryptoFault) whenever `fail()`
 * says so; `fail` is drawn per call in call order, so a run stays a function of its seed.
 */
export function faultyAead(aead: Aead, fail: (method: string) => boolean): Aead {
  return new Proxy(aead, {
    get(target, prop) {
      const v = Reflect.get(target, prop, target) as unknown;
      if (typeof v !== 'function') return v;
      const fn = v as (...args: unknown[]) => unknown;
      if (typeof prop !== 'string' || !FAILING.has(prop)) return fn.bind(target);
      return (...args: unknown[]) => {
        if (fail(prop)) throw new CryptoError('CRYPTO_BACKEND', `injected ${prop} failure`, { cause: new InjectedCryptoFault(prop) });
        return fn.apply(target, args);
      };
    },
  });
}

/** True when an InjectedCryptoFault is somewhere in `e`'s cause chain. */
export function causedByInjection(e: unknown): boolean {
  let x: unknown = e;
  for (let depth = 0; depth < 16 && x !== null && x !== undefined; depth++) {
    if (x instanceof InjectedCryptoFault) return true;
    x = (x as { cause?: unknown }).cause;
  }
  return false;
}

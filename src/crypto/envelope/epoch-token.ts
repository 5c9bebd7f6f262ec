// The proof that a nonce factory's epoch was persisted (SPEC KM-8).
//
// A NonceFactory may only be built from a PersistedEpoch, and a PersistedEpoch can only be minted
// by mintPersistedEpoch, which the keys module calls after the sidecar holding the bumped
// local_epoch has been written and fsynced. So no code path can issue nonces under an epoch that
// a crash could roll back (which would reuse nonces of the previous process load).
// The brand is module-private (a WeakSet): an object literal or a subclass instance never passes.

import { CryptoError } from '../../errors.js';

export type NoncePurpose = 'raft' | 'storage';

const minted = new WeakSet<PersistedEpoch>();
const spent = new WeakSet<PersistedEpoch>();
/** Construction is only allowed while mintPersistedEpoch runs. */
let minting = false;

export class PersistedEpoch {
  readonly purpose: NoncePurpose;
  readonly nodeId16: number;
  readonly localEpoch: number;

  /** Not callable from outside this module: use mintPersistedEpoch after the fsync. */
  constructor(purpose: NoncePurpose, nodeId16: number, localEpoch: number) {
    if (!minting) {
      throw new CryptoError('NONCE_FACTORY_CONFLICT', 'a PersistedEpoch is minted only by mintPersistedEpoch after the local_epoch bump is fsynced (KM-8)');
    }
    this.purpose = purpose;
    this.nodeId16 = nodeId16;
    this.localEpoch = localEpoch;
    Object.freeze(this);
  }
}

function checkU16(name: string, v: number): void {
  if (!Number.isInteger(v) || v < 0 || v > 0xffff) throw new CryptoError('BAD_INPUT_TYPE', `${name} must be a u16, got ${v}`);
}

/**
 * Mints the token for a persisted, fsynced local_epoch bump. Call it ONLY after the sidecar write
 * holding `localEpoch` has been fsynced (KM-7, KM-8): the token is the caller's promise of that.
 */
export function mintPersistedEpoch(p: { purpose: NoncePurpose; nodeId16: number; localEpoch: number }): PersistedEpoch {
  if (p.purpose !== 'raft' && p.purpose !== 'storage') throw new CryptoError('BAD_INPUT_TYPE', `nonce purpose must be 'raft' or 'storage', got ${String(p.purpose)}`);
  checkU16('node_id16', p.nodeId16);
  checkU16('local_epoch', p.localEpoch);
  minting = true;
  let t: PersistedEpoch;
  try {
    t = new PersistedEpoch(p.purpose, p.nodeId16, p.localEpoch);
  } finally {
    minting = false;
  }
  minted.add(t);
  return t;
}

/** Marks the token used and returns it; throws when it is forged or was already used (single use). */
export function spendPersistedEpoch(t: unknown): PersistedEpoch {
  if (typeof t !== 'object' || t === null || !minted.has(t as PersistedEpoch)) {
    throw new CryptoError('NONCE_FACTORY_CONFLICT', 'a nonce factory needs a PersistedEpoch minted after the fsynced local_epoch bump (KM-8)');
  }
  const token = t as PersistedEpoch;
  if (spent.has(token)) throw new CryptoError('NONCE_FACTORY_CONFLICT', `this ${token.purpose} PersistedEpoch was already used to build a nonce factory`);
  spent.add(token);
  return token;
}

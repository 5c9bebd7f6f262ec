// The DEK keystore (SPEC CK-1, CK-2): key_id (u32, non-zero) → 32-byte DEK.
//
// The map is an immutable snapshot replaced as a whole on every change, so a reader (the hot
// path: wrap, unwrap, seal, open) takes no lock, awaits nothing and sees either the old or the new
// set of keys, never a mixture. Workers receive DEKs through the change hook (the pool installs
// each new DEK in every worker once), never per task.

import { CryptoError } from '../errors.js';
import { KEY_SIZE } from './aead.js';
import { bytesArg } from './bytes.js';

/** What the envelope functions need from a keystore; worker-side key maps implement it too. */
export interface KeyLookup {
  /** The DEK for `keyId`, or undefined when it is not loaded. The bytes must not be mutated. */
  get(keyId: number): Uint8Array | undefined;
  /** Every loaded key_id, ascending. */
  loadedKeyIds(): readonly number[];
}

export type KeystoreChange =
  | { readonly kind: 'set'; readonly keyId: number; readonly version: number }
  | { readonly kind: 'delete'; readonly keyId: number; readonly version: number };

export type KeystoreListener = (change: KeystoreChange) => void;

const U32_MAX = 0xffffffff;

function checkKeyId(keyId: number): void {
  if (!Number.isInteger(keyId) || keyId < 0 || keyId > U32_MAX) {
    throw new RangeError(`key_id must be a u32, got ${keyId}`);
  }
  if (keyId === 0) throw new CryptoError('RESERVED_KEY_ID', 'key_id 0 is reserved');
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  // Not secret-dependent timing in a way that matters: both operands are keys we already hold.
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

export class Keystore implements KeyLookup {
  private snap: ReadonlyMap<number, Uint8Array> = new Map();
  private ids: readonly number[] = Object.freeze([]);
  private ver = 0;
  private readonly listeners = new Set<KeystoreListener>();

  /** Bumped on every effective change (a no-op set does not bump it). */
  get version(): number {
    return this.ver;
  }

  get size(): number {
    return this.snap.size;
  }

  /**
   * Loads a DEK once (CK-2): key_id 0 → RESERVED_KEY_ID, length ≠ 32 → BAD_KEY_SIZE, same id with
   * identical bytes → no-op, same id with different bytes → KEY_CONFLICT (never overwritten).
   * The keystore keeps its own copy of `dek`.
   */
  set(keyId: number, dek: Uint8Array): void {
    checkKeyId(keyId);
    dek = bytesArg(dek, `DEK for key_id ${keyId}`);
    if (dek.length !== KEY_SIZE) {
      throw new CryptoError('BAD_KEY_SIZE', `DEK for key_id ${keyId} must be ${KEY_SIZE} bytes, got ${dek.length}`);
    }
    const existing = this.snap.get(keyId);
    if (existing !== undefined) {
      if (equalBytes(existing, dek)) return;
      throw new CryptoError('KEY_CONFLICT', `key_id ${keyId} is already loaded with different key material`);
    }
    const next = new Map(this.snap);
    next.set(keyId, Uint8Array.from(dek));
    this.publish(next, { kind: 'set', keyId, version: this.ver + 1 });
  }

  /** Internal hot-path read: the stored DEK itself, no copy. Callers must not mutate it. */
  get(keyId: number): Uint8Array | undefined {
    return this.snap.get(keyId);
  }

  has(keyId: number): boolean {
    return this.snap.has(keyId);
  }

  /** A copy of the DEK bytes (CK-1); UNKNOWN_KEY_ID when not loaded. */
  exportKey(keyId: number): Uint8Array {
    const k = this.snap.get(keyId);
    if (k === undefined) throw new CryptoError('UNKNOWN_KEY_ID', `key_id ${keyId} is not loaded`);
    return Uint8Array.from(k);
  }

  /** Removes a DEK; does nothing when absent (CK-2). Returns whether a key was removed. */
  delete(keyId: number): boolean {
    if (!this.snap.has(keyId)) return false;
    const next = new Map(this.snap);
    next.delete(keyId);
    this.publish(next, { kind: 'delete', keyId, version: this.ver + 1 });
    return true;
  }

  /** Every loaded key_id, ascending (CK-1, CK-3). The array is frozen and shared; do not mutate. */
  loadedKeyIds(): readonly number[] {
    return this.ids;
  }

  /** The current immutable snapshot (for handing every DEK to a freshly started worker). */
  snapshot(): ReadonlyMap<number, Uint8Array> {
    return this.snap;
  }

  /**
   * Subscribes to changes; the listener runs synchronously after the new snapshot is published.
   * Returns the unsubscribe function. A throwing listener does not stop the others; the first
   * error is rethrown once all have run (the change itself has already happened).
   */
  onChange(listener: KeystoreListener): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  private publish(next: Map<number, Uint8Array>, change: KeystoreChange): void {
    // One assignment of each field: a synchronous reader cannot interleave with it, and the
    // sorted id list is computed before either is published.
    const ids = Object.freeze([...next.keys()].sort((a, b) => a - b));
    this.snap = next;
    this.ids = ids;
    this.ver = change.version;
    let firstError: unknown;
    let failed = false;
    for (const l of [...this.listeners]) {
      try {
        l(change);
      } catch (e) {
        if (!failed) {
          failed = true;
          firstError = e;
        }
      }
    }
    if (failed) throw firstError;
  }
}

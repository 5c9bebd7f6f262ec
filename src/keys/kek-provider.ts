// The KEK handle and the provider interface (SPEC KM-1, KM-2).
//
// The key bytes live only in an ECMAScript private field: they never appear in toString, JSON,
// util.inspect or structuredClone, and no accessor returns them (OP-5: never log key material).
// Callers get wrap/unwrap, nothing else.

import { inspect } from 'node:util';
import { KeyError } from '../errors.js';
import { cryptoRandom, KEK_BYTES, type RandomSource, unwrapDek, wrapDek } from './dek-wrap.js';

/** The three local sources of KM-1; KMS providers would add names behind the same interface (§16). */
export type KekSourceName = 'file' | 'env' | 'passphrase';

/** KM-1: the provider contract; safe for concurrent calls (every call is self-contained). */
export interface KekProvider {
  name(): string;
  wrap(dek: Uint8Array): Promise<Uint8Array>;
  unwrap(wrapped: Uint8Array): Promise<Uint8Array>;
}

/** A loaded KEK. Build one with the file / env / passphrase loaders, or `Kek.fromBytes` in tests. */
export class Kek implements KekProvider {
  readonly #key: Uint8Array;
  readonly #name: KekSourceName;
  readonly #random: RandomSource;

  private constructor(name: KekSourceName, key: Uint8Array, random: RandomSource) {
    this.#name = name;
    this.#key = key;
    this.#random = random;
  }

  /**
   * Takes a copy of `bytes` (the caller should zero its own buffer). A length other than 32 is
   * KEK_INVALID. `random` supplies wrap nonces (C-9: tests only may inject one).
   */
  static fromBytes(name: KekSourceName, bytes: Uint8Array, random: RandomSource = cryptoRandom): Kek {
    if (bytes.length !== KEK_BYTES) {
      throw new KeyError('KEK_INVALID', `${name} KEK: ${bytes.length} bytes, expected ${KEK_BYTES}`);
    }
    return new Kek(name, new Uint8Array(bytes), random);
  }

  name(): KekSourceName {
    return this.#name;
  }

  /** Synchronous wrap, for the leader's bootstrap / rotate handlers. */
  wrapSync(dek: Uint8Array): Uint8Array {
    return wrapDek(this.#key, dek, this.#random);
  }

  /** Synchronous unwrap, for the apply path (KEK_UNWRAP_FAILED on failure). */
  unwrapSync(wrapped: Uint8Array, what?: string): Uint8Array {
    return unwrapDek(this.#key, wrapped, what);
  }

  async wrap(dek: Uint8Array): Promise<Uint8Array> {
    return this.wrapSync(dek);
  }

  async unwrap(wrapped: Uint8Array): Promise<Uint8Array> {
    return this.unwrapSync(wrapped);
  }

  /** Overwrites the key bytes; the handle is unusable afterwards (wrap/unwrap then fail to authenticate). */
  destroy(): void {
    this.#key.fill(0);
  }

  toString(): string {
    return `Kek(${this.#name})`;
  }

  toJSON(): { kek: KekSourceName } {
    return { kek: this.#name };
  }

  [inspect.custom](): string {
    return this.toString();
  }
}

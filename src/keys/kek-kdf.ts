// Argon2id parameters of the passphrase KEK source (SPEC KM-2, KM-5 `kek_kdf`), created once per
// cluster by `kek-params` and stored in every node's sidecar.

import { argon2id } from 'hash-wasm';
import { cryptoRandom, KEK_BYTES, type RandomSource } from './dek-wrap.js';

export const KDF_SALT_BYTES = 16;
/** Argon2 version 0x13 (= 19), the only one accepted. */
export const KDF_ARGON2_VERSION = 19;
/** Floors of KM-5: a sidecar below them is malformed, so a tampered file cannot weaken the KDF. */
export const KDF_MIN_ITERATIONS = 2;
export const KDF_MIN_MEMORY_KIB = 19456;
export const KDF_MAX_PARALLELISM = 16;
/**
 * Ceilings (ours, not the SPEC's): an edited sidecar must not make start-up allocate without bound;
 * 4 GiB is also the WASM32 memory limit hash-wasm runs under.
 */
export const KDF_MAX_MEMORY_KIB = 4 * 1024 * 1024;
export const KDF_MAX_ITERATIONS = 0xffffffff;

/** `kek-params` defaults (KM-5). */
export const KDF_DEFAULTS = { iterations: 3, memoryKib: 65536, parallelism: 4 } as const;

export interface KdfParams {
  readonly algorithm: 'argon2id';
  readonly version: 19;
  readonly salt: Uint8Array;
  readonly iterations: number;
  readonly memoryKib: number;
  readonly parallelism: number;
}

function isIntIn(v: number, min: number, max: number): boolean {
  return Number.isInteger(v) && v >= min && v <= max;
}

/** Why `p` is not acceptable, or null. Used by the sidecar schema (→ SIDECAR_MALFORMED) and `createKdfParams`. */
export function kdfParamsProblem(p: KdfParams): string | null {
  if (p.algorithm !== 'argon2id') return `algorithm must be "argon2id"`;
  if (p.version !== KDF_ARGON2_VERSION) return `version must be ${KDF_ARGON2_VERSION}`;
  if (!(p.salt instanceof Uint8Array) || p.salt.length !== KDF_SALT_BYTES) return `salt must be ${KDF_SALT_BYTES} bytes`;
  if (!isIntIn(p.iterations, KDF_MIN_ITERATIONS, KDF_MAX_ITERATIONS)) return `iterations must be an integer ≥ ${KDF_MIN_ITERATIONS}`;
  if (!isIntIn(p.memoryKib, KDF_MIN_MEMORY_KIB, KDF_MAX_MEMORY_KIB)) {
    return `memory_kib must be an integer in [${KDF_MIN_MEMORY_KIB}, ${KDF_MAX_MEMORY_KIB}]`;
  }
  if (!isIntIn(p.parallelism, 1, KDF_MAX_PARALLELISM)) return `parallelism must be an integer in [1, ${KDF_MAX_PARALLELISM}]`;
  return null;
}

/** A new parameter set with a fresh random salt (`kek-params`); refuses values below the floors. */
export function createKdfParams(
  opts: { iterations?: number; memoryKib?: number; parallelism?: number } = {},
  random: RandomSource = cryptoRandom,
): KdfParams {
  const p: KdfParams = {
    algorithm: 'argon2id',
    version: KDF_ARGON2_VERSION,
    salt: random(KDF_SALT_BYTES),
    iterations: opts.iterations ?? KDF_DEFAULTS.iterations,
    memoryKib: opts.memoryKib ?? KDF_DEFAULTS.memoryKib,
    parallelism: opts.parallelism ?? KDF_DEFAULTS.parallelism,
  };
  const problem = kdfParamsProblem(p);
  if (problem !== null) throw new RangeError(`kek_kdf: ${problem}`);
  return p;
}

/** True when both parameter sets are the same (OP-3 `kek-params --install` refuses a different one). */
export function sameKdfParams(a: KdfParams, b: KdfParams): boolean {
  return (
    a.algorithm === b.algorithm &&
    a.version === b.version &&
    a.iterations === b.iterations &&
    a.memoryKib === b.memoryKib &&
    a.parallelism === b.parallelism &&
    Buffer.from(a.salt).equals(Buffer.from(b.salt))
  );
}

/** KEK = Argon2id(passphrase, salt, t, m, p, 32), version 0x13, via hash-wasm (KM-2). */
export async function deriveKek(passphrase: Uint8Array, p: KdfParams): Promise<Uint8Array> {
  const problem = kdfParamsProblem(p);
  if (problem !== null) throw new RangeError(`kek_kdf: ${problem}`);
  return argon2id({
    password: passphrase,
    salt: p.salt,
    iterations: p.iterations,
    memorySize: p.memoryKib,
    parallelism: p.parallelism,
    hashLength: KEK_BYTES,
    outputType: 'binary',
  });
}

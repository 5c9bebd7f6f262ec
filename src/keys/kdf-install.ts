// `sealkv admin encryption kek-params [--install FILE --sidecar PATH]` (SPEC OP-3, KM-2, KM-5):
// print a fresh `kek_kdf` object, or install one into a stopped node's sidecar.

import { KeyError } from '../errors.js';
import { type KdfParams, sameKdfParams } from './kek-kdf.js';
import { emptySidecar, sidecarFromJson } from './sidecar-schema.js';
import type { SidecarStore } from './sidecar-store.js';

/** The JSON form of `kek_kdf` (as printed by `kek-params` and stored in the sidecar). */
export function kdfParamsJson(p: KdfParams): Record<string, unknown> {
  return {
    algorithm: p.algorithm,
    version: p.version,
    salt: Buffer.from(p.salt).toString('base64'),
    iterations: p.iterations,
    memory_kib: p.memoryKib,
    parallelism: p.parallelism,
  };
}

/** Parses a printed `kek_kdf` object (the `--install FILE` input); invalid → SIDECAR_MALFORMED. */
export function parseKdfParamsJson(doc: unknown): KdfParams {
  const s = sidecarFromJson({ ...emptySidecarJson(), kek_kdf: doc });
  return s.kekKdf!;
}

function emptySidecarJson(): Record<string, unknown> {
  return {
    version: 1,
    raft_applied_index: '0',
    storage_envelope_active: false,
    storage_envelope_cutover_index: '0',
    raft_envelope_cutover_index: '0',
    active: { storage: 0, raft: 0 },
    keys: {},
  };
}

/**
 * Installs `kdf` into the sidecar: creates a sidecar with no keys when there is none, adds the
 * object when absent, does nothing when the same object is there, and refuses with KEK_MISMATCH
 * when a different one is (changing it would orphan every wrapped DEK).
 */
export async function installKdfParams(store: SidecarStore, kdf: KdfParams): Promise<'created' | 'installed' | 'unchanged'> {
  const current = await store.read();
  if (current === undefined) {
    await store.write(emptySidecar(kdf));
    return 'created';
  }
  if (current.kekKdf !== undefined) {
    if (sameKdfParams(current.kekKdf, kdf)) return 'unchanged';
    throw new KeyError('KEK_MISMATCH', `sidecar ${store.path} already holds different kek_kdf parameters; installing others would make its keys unreadable`);
  }
  await store.write({ ...current, kekKdf: kdf });
  return 'installed';
}

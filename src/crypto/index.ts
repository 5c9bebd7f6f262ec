// sealkv/crypto: one AEAD interface over four interchangeable backends (CK-4).

import { CryptoError } from '../errors.js';
import type { Aead, BackendName } from './aead.js';
import { cpuHasAesInstructions } from './cpu.js';

export type { Aead, BackendName, BatchItem, PackedBatch } from './aead.js';
export { DESC_FIELDS, KEY_SIZE, NONCE_SIZE, TAG_SIZE } from './aead.js';
export { packItems, outputViews } from './batch.js';
export { CryptoError, IntegrityError } from '../errors.js';
export { Keystore } from './keystore.js';
export type { KeyLookup, KeystoreChange, KeystoreListener } from './keystore.js';

export const BACKENDS: readonly BackendName[] = ['native', 'wasm', 'js', 'node'];

const loaded = new Map<BackendName, Promise<Aead>>();

/** Loads a backend once per process; throws BACKEND_UNAVAILABLE with the reason when it cannot. */
export function loadAead(name: BackendName): Promise<Aead> {
  let p = loaded.get(name);
  if (!p) {
    p = load(name);
    loaded.set(name, p);
    // A failed load is not cached, so a later build can be picked up by a new call.
    p.catch(() => loaded.delete(name));
  }
  return p;
}

async function load(name: BackendName): Promise<Aead> {
  switch (name) {
    case 'node': {
      const m = await import('./backends/node.js');
      return m.createNodeAead(cpuHasAesInstructions());
    }
    case 'js': {
      const m = await import('./backends/js.js');
      return m.createJsAead();
    }
    case 'wasm': {
      const m = await importBackend('wasm', () => import('./backends/wasm.js'));
      return m.createWasmAead();
    }
    case 'native': {
      const m = await importBackend('native', () => import('./backends/native.js'));
      return m.createNativeAead();
    }
    default:
      throw new CryptoError('BACKEND_UNAVAILABLE', `unknown cipher backend '${String(name)}' (expected native, wasm, js or node)`);
  }
}

/**
 * Imports a backend module whose build may be absent. A missing module (or a missing build
 * artifact it imports) means "not built": BACKEND_UNAVAILABLE with the reason. Any other failure
 * (a bug in the module) propagates unchanged so it is never mistaken for a missing build.
 */
async function importBackend<T>(name: BackendName, load: () => Promise<T>): Promise<T> {
  try {
    return await load();
  } catch (e) {
    const code = (e as { code?: unknown } | null)?.code;
    const message = e instanceof Error ? e.message : String(e);
    if (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND' || /Cannot find module|Failed to load url/.test(message)) {
      throw new CryptoError('BACKEND_UNAVAILABLE', `${name} cipher backend is not built: ${message}`, { cause: e });
    }
    throw e;
  }
}

/**
 * Loads `preferred`, falling back to `wasm` when the native module is unavailable. The caller
 * logs `warning` (the node prints it at start-up), so a silent downgrade never happens.
 */
export async function loadAeadWithFallback(preferred: BackendName): Promise<{ aead: Aead; warning?: string }> {
  try {
    return { aead: await loadAead(preferred) };
  } catch (e) {
    if (preferred !== 'native' || !(e instanceof CryptoError) || e.code !== 'BACKEND_UNAVAILABLE') throw e;
    const aead = await loadAead('wasm');
    return { aead, warning: `native cipher backend unavailable (${e.message}); using wasm` };
  }
}

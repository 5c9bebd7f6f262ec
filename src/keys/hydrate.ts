// KM-8 step 2 / OP-4 group A step 5: KEK-unwrap every key of the sidecar, in ascending key_id
// order, so a wrong KEK is reported on the first key it fails on.

import { KeyError } from '../errors.js';
import type { Kek } from './kek-provider.js';
import type { Sidecar } from './sidecar-schema.js';

/** key_id → DEK bytes for every key (active or not); KEK_MISMATCH naming key_id and purpose. */
export function unwrapSidecarKeys(sidecar: Sidecar, kek: Kek): ReadonlyMap<number, Uint8Array> {
  const out = new Map<number, Uint8Array>();
  for (const id of [...sidecar.keys.keys()].sort((a, b) => a - b)) {
    const k = sidecar.keys.get(id)!;
    try {
      out.set(id, kek.unwrapSync(k.wrapped, `key_id ${id} (${k.purpose})`));
    } catch (e) {
      for (const dek of out.values()) dek.fill(0);
      throw new KeyError('KEK_MISMATCH', `key_id ${id} (${k.purpose}) does not unwrap under the configured ${kek.name()} KEK`, { cause: e });
    }
  }
  return out;
}

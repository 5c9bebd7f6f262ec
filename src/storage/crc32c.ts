// CRC-32C (Castagnoli, reflected polynomial 0x82f63b78) through hash-wasm. The hasher is
// created once per process (it is async to create) and then used synchronously: every call
// runs init/update/digest to completion on the main thread, so sharing one instance is safe.

import { createCRC32, type IHasher } from 'hash-wasm';

let hasher: IHasher | null = null;
let loading: Promise<IHasher> | null = null;

/** Loads the CRC-32C hasher; must be awaited once before `crc32c` is used (env open does it). */
export function loadCrc32c(): Promise<IHasher> {
  if (hasher) return Promise.resolve(hasher);
  loading ??= createCRC32(0x82f63b78).then((h) => {
    hasher = h;
    return h;
  });
  return loading;
}

/** CRC-32C over the concatenation of `parts`, as an unsigned 32-bit number. */
export function crc32c(...parts: Uint8Array[]): number {
  const h = hasher;
  if (!h) throw new Error('crc32c used before loadCrc32c() resolved');
  h.init();
  for (const p of parts) h.update(p);
  const d = h.digest('binary');
  // hash-wasm emits the CRC big-endian (CRC-32C("123456789") = e3 06 92 83).
  return ((d[0] << 24) | (d[1] << 16) | (d[2] << 8) | d[3]) >>> 0;
}

/** A private incremental CRC-32C for one stream (the shared hasher must not span awaits). */
export async function createCrc32cStream(): Promise<{ update(b: Uint8Array): void; value(): number }> {
  const h = await createCRC32(0x82f63b78);
  h.init();
  return {
    update(b: Uint8Array): void {
      h.update(b);
    },
    value(): number {
      const d = h.digest('binary');
      return ((d[0] << 24) | (d[1] << 16) | (d[2] << 8) | d[3]) >>> 0;
    },
  };
}

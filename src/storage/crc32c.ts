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

// Slice-by-8 tables for short inputs (issue 13, lever 3): a WAL record of a 256 B SET is ~290
// bytes, and the wasm call's fixed cost (init, copy in, digest into a new array) was ~2.4 µs per
// record against ~0.35 µs here (measured in node 20 on this machine); above SHORT_MAX the wasm
// hasher is faster.
const SHORT_MAX = 8192;
const T = new Int32Array(8 * 256);
for (let n = 0; n < 256; n++) {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
  T[n] = c;
}
for (let n = 0; n < 256; n++) {
  let c = T[n];
  for (let s = 1; s < 8; s++) {
    c = T[c & 0xff] ^ (c >>> 8);
    T[s * 256 + n] = c;
  }
}

/** Continues a CRC-32C (pre-inverted state `c`) over `b`; slice-by-8. */
function update(c: number, b: Uint8Array): number {
  const n = b.length;
  let i = 0;
  for (; i + 8 <= n; i += 8) {
    const a = (b[i] | (b[i + 1] << 8) | (b[i + 2] << 16) | (b[i + 3] << 24)) ^ c;
    c =
      T[1792 + (a & 0xff)] ^
      T[1536 + ((a >>> 8) & 0xff)] ^
      T[1280 + ((a >>> 16) & 0xff)] ^
      T[1024 + (a >>> 24)] ^
      T[768 + b[i + 4]] ^
      T[512 + b[i + 5]] ^
      T[256 + b[i + 6]] ^
      T[b[i + 7]];
  }
  for (; i < n; i++) c = T[(c ^ b[i]) & 0xff] ^ (c >>> 8);
  return c;
}

/** CRC-32C over the concatenation of `parts`, as an unsigned 32-bit number. */
export function crc32c(...parts: Uint8Array[]): number {
  let total = 0;
  for (const p of parts) total += p.length;
  if (total <= SHORT_MAX) {
    let c = ~0;
    for (const p of parts) c = update(c, p);
    return ~c >>> 0;
  }
  const h = hasher;
  if (!h) throw new Error('crc32c used before loadCrc32c() resolved');
  h.init();
  for (const p of parts) h.update(p);
  const d = h.digest('binary');
  // hash-wasm emits the CRC big-endian (CRC-32C("123456789") = e3 06 92 83).
  return ((d[0] << 24) | (d[1] << 16) | (d[2] << 8) | d[3]) >>> 0;
}

/**
 * A private incremental CRC-32C for one stream: its state is saved out of the shared hasher after
 * every update and loaded back before the next (the shared hasher must not span awaits). Creating a
 * wasm hasher per stream instead resolved through a real event-loop task (WebAssembly
 * instantiation), which the whole-node simulator cannot order: a snapshot stream's first chunk
 * went out after however many real turns the instantiation took (issue 14).
 */
export async function createCrc32cStream(): Promise<{ update(b: Uint8Array): void; value(): number }> {
  const h = await loadCrc32c();
  h.init();
  let state = h.save();
  return {
    update(b: Uint8Array): void {
      h.load(state);
      h.update(b);
      state = h.save();
    },
    value(): number {
      h.load(state);
      const d = h.digest('binary');
      return ((d[0] << 24) | (d[1] << 16) | (d[2] << 8) | d[3]) >>> 0;
    },
  };
}

// The two narrow views of the `kv` table that the state machine and the read path use.
// Keys are user key bytes; values are records (`value header ‖ body`, DESIGN.md §3).

/**
 * One write transaction (the apply pipeline implements it over one LMDB write transaction per
 * batch). Synchronous, and it must read its own writes: a `get` after a `put`/`del` in the same
 * batch sees them (lmdb-js does inside `transactionSync`/`transaction` callbacks; otherwise wrap
 * it in an overlay such as `MemoryKv` semantics). The state machine copies nothing it is given
 * and never keeps a returned record beyond the call.
 */
export interface KvTxn {
  get(key: Uint8Array): Uint8Array | undefined;
  put(key: Uint8Array, record: Uint8Array): void;
  del(key: Uint8Array): void;
}

export interface KvEntry {
  key: Uint8Array;
  record: Uint8Array;
}

/**
 * A read view (an LMDB read transaction or snapshot). `range` yields entries in ascending
 * unsigned-byte order of the key (LMDB's binary key order), starting strictly after `after`
 * when given. Callers stop iterating early; implementations must tolerate that.
 */
export interface KvReadView {
  get(key: Uint8Array): Uint8Array | undefined;
  range(after?: Uint8Array): Iterable<KvEntry>;
}

/** Unsigned lexicographic byte order (memcmp, shorter prefix first), the order of LMDB binary keys. */
export function compareKeys(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const d = a[i]! - b[i]!;
    if (d !== 0) return d;
  }
  return a.length - b.length;
}

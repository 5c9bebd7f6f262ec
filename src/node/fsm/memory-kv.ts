// An in-memory `kv` table implementing both KvTxn and KvReadView, kept sorted by key.
// For tests and simulations: inserts are O(n) (array splice), which is fine at test sizes.

import { compareKeys, type KvEntry, type KvReadView, type KvTxn } from './kv-store.js';

export class MemoryKv implements KvTxn, KvReadView {
  private keys: Uint8Array[] = [];
  private records: Uint8Array[] = [];

  /** Index of `key`, or -(insertion point) - 1 when absent. */
  private find(key: Uint8Array): number {
    let lo = 0;
    let hi = this.keys.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const c = compareKeys(this.keys[mid]!, key);
      if (c === 0) return mid;
      if (c < 0) lo = mid + 1;
      else hi = mid - 1;
    }
    return -lo - 1;
  }

  get(key: Uint8Array): Uint8Array | undefined {
    const i = this.find(key);
    return i >= 0 ? this.records[i] : undefined;
  }

  put(key: Uint8Array, record: Uint8Array): void {
    // Copies both: callers may reuse their buffers (EH-7).
    const i = this.find(key);
    if (i >= 0) {
      this.records[i] = record.slice();
    } else {
      const at = -i - 1;
      this.keys.splice(at, 0, key.slice());
      this.records.splice(at, 0, record.slice());
    }
  }

  del(key: Uint8Array): void {
    const i = this.find(key);
    if (i >= 0) {
      this.keys.splice(i, 1);
      this.records.splice(i, 1);
    }
  }

  *range(after?: Uint8Array): Iterable<KvEntry> {
    let i = 0;
    if (after !== undefined) {
      const f = this.find(after);
      i = f >= 0 ? f + 1 : -f - 1;
    }
    // Re-locate after each yield so that deletes made by the consumer do not skip entries.
    while (i < this.keys.length) {
      const key = this.keys[i]!;
      yield { key, record: this.records[i]! };
      const f = this.find(key);
      i = f >= 0 ? f + 1 : -f - 1;
    }
  }

  get size(): number {
    return this.keys.length;
  }

  /** All entries in key order (copies), for byte-for-byte comparison of two tables. */
  dump(): KvEntry[] {
    return this.keys.map((k, i) => ({ key: k.slice(), record: this.records[i]!.slice() }));
  }
}

// Thin accessors for the `kv` table: user key bytes → value header ‖ body (SPEC SE-4), stored
// exactly as given (C-8). This layer never interprets values; the state machine builds the
// headers and storage envelopes on top. Reads copy out of LMDB (safe to keep); writes run
// inside a write transaction (an ApplyBatch or a snapshot install), never one promise per put.

import type { Transaction } from 'lmdb';
import { type BinaryDb, MAX_KEY_BYTES } from './env.js';
import { StorageError } from './errors.js';

export interface KvRecord {
  key: Uint8Array;
  value: Uint8Array;
}

export interface ScanOptions {
  /** First key to return (inclusive unless `exclusiveStart`); omitted = from the first key. */
  start?: Uint8Array;
  exclusiveStart?: boolean;
  /** Maximum records to return (≥ 1). */
  limit: number;
  /** Pin a read transaction (consistent view across calls). */
  txn?: Transaction;
}

export interface ScanPage {
  records: KvRecord[];
  /** Key to pass as `start` (inclusive) for the next page; null when the table is exhausted. */
  next: Uint8Array | null;
}

/** True when LMDB can store `key` (1..MAX_KEY_BYTES bytes). */
export function isStorableKey(key: Uint8Array): boolean {
  return key.length > 0 && key.length <= MAX_KEY_BYTES;
}

function checkKey(key: Uint8Array): void {
  if (!isStorableKey(key)) {
    throw new StorageError('KV_KEY_INVALID', `kv key of ${key.length} bytes (allowed 1..${MAX_KEY_BYTES})`);
  }
}

export class KvStore {
  constructor(private readonly db: BinaryDb) {}

  /** Raw stored bytes (header ‖ body) or undefined when absent. */
  get(key: Uint8Array, txn?: Transaction): Uint8Array | undefined {
    if (!isStorableKey(key)) return undefined;
    return (txn === undefined ? this.db.get(key) : this.db.get(key, { transaction: txn })) as Uint8Array | undefined;
  }

  has(key: Uint8Array): boolean {
    return isStorableKey(key) && this.db.doesExist(key);
  }

  /** Inside a write-transaction callback only: stores raw bytes. */
  stagePut(key: Uint8Array, value: Uint8Array): void {
    checkKey(key);
    this.db.putSync(key, value);
  }

  /** Inside a write-transaction callback only: deletes; true when a record existed. */
  stageDelete(key: Uint8Array): boolean {
    if (!isStorableKey(key)) return false;
    return this.db.removeSync(key);
  }

  /**
   * One page of a key-ordered scan (for SCAN). The cursor is the next key, so a scan resumes
   * correctly after writes; with `txn` the pages come from one consistent snapshot.
   */
  scan(opts: ScanOptions): ScanPage {
    const limit = Math.max(1, Math.floor(opts.limit));
    const records: KvRecord[] = [];
    let next: Uint8Array | null = null;
    // Read one record past the page to learn the next cursor without a second lookup.
    for (const { key, value } of this.db.getRange({
      start: opts.start,
      exclusiveStart: opts.exclusiveStart ?? false,
      limit: limit + 1,
      transaction: opts.txn,
    })) {
      if (records.length === limit) {
        next = key;
        break;
      }
      records.push({ key, value });
    }
    return { records, next };
  }

  /** Iterates every record in key order from one read snapshot (lmdb-js range default). */
  *all(txn?: Transaction): Generator<KvRecord> {
    for (const { key, value } of this.db.getRange(txn === undefined ? {} : { transaction: txn })) yield { key, value };
  }

  /** Number of records (LMDB's B-tree statistics: no scan). */
  count(): number {
    const stats = this.db.getStats() as { entryCount?: unknown };
    if (typeof stats.entryCount === 'number') return stats.entryCount;
    return this.db.getCount();
  }
}

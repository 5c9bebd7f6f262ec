// Buffered writes of one apply batch, with a per-entry layer on top.
//
// The state machine sees read-your-writes across the batch, an entry that HALTs leaves no trace
// (its layer is dropped), and the whole batch reaches LMDB in one transaction together with the
// applied index (DESIGN.md §2 step 4).

import { latin1 } from '../util/latin1.js';

export interface KvTxn {
  get(key: Uint8Array): Uint8Array | undefined;
  put(key: Uint8Array, value: Uint8Array): void;
  del(key: Uint8Array): void;
}

export type TableName = 'kv' | 'registry' | 'kvmod';

/** One buffered write: `value === null` deletes. */
export interface BufferedWrite {
  table: TableName;
  key: Uint8Array;
  value: Uint8Array | null;
}

/** Committed (durable) state the overlay falls back to. */
export interface CommittedReader {
  get(table: TableName, key: Uint8Array): Uint8Array | undefined;
}

// Keys are raw bytes; latin1 maps every byte to one UTF-16 unit, so the string key is 1:1.
function mapKey(table: TableName, key: Uint8Array): string {
  return table + latin1(key);
}

export class WriteOverlay {
  private readonly batch = new Map<string, BufferedWrite>();
  private readonly entry = new Map<string, BufferedWrite>();

  constructor(private readonly committed: CommittedReader) {}

  /** A transaction view of one table for the current entry. */
  table(table: TableName): KvTxn {
    return {
      get: (key) => this.get(table, key),
      // No copies: the state machine hands over buffers it built for this write or views of the
      // entry's payload, and neither is mutated afterwards (the proposer copied the payload).
      put: (key, value) => {
        this.entry.set(mapKey(table, key), { table, key, value });
      },
      del: (key) => {
        this.entry.set(mapKey(table, key), { table, key, value: null });
      },
    };
  }

  get(table: TableName, key: Uint8Array): Uint8Array | undefined {
    const k = mapKey(table, key);
    const w = this.entry.get(k) ?? this.batch.get(k);
    if (w) return w.value ?? undefined;
    return this.committed.get(table, key);
  }

  /** The current entry applied: its writes join the batch. */
  commitEntry(): void {
    if (this.entry.size === 0) return;
    for (const [k, w] of this.entry) this.batch.set(k, w);
    this.entry.clear();
  }

  /** The current entry HALTed or was rejected: drop its writes. */
  discardEntry(): void {
    this.entry.clear();
  }

  writes(): BufferedWrite[] {
    return [...this.batch.values()];
  }
}

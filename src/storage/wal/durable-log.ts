// The write side the run loop needs from a Raft log, shared by the LMDB log store and the WAL so
// the run loop can take either (LmdbLogStorage satisfies it structurally; checked in
// test/storage/wal/wal-interface.test.ts).

import type { HardState, LogStorage } from '../../raft/types.js';
import type { PersistRequest } from '../log-store.js';

export type { PersistRequest };

export interface DurableLog extends LogStorage {
  /**
   * Persists, in this order, a snapshot reset, appended entries (replacing the conflicting
   * suffix) and the hard state; resolves only when all of it is durable. Reads reflect the
   * request at once. Calls made while a write is in flight are written together (group commit).
   */
  persist(req: PersistRequest): Promise<void>;
  /** Drops entries ≤ upToIndex (which the caller guarantees are durably applied). */
  compact(upToIndex: number): Promise<void>;
  /** First start of a founding member: a snapshot at (1, 1) with the configuration. */
  bootstrap(voters: string[], learners?: string[]): Promise<boolean>;
  hardState(): HardState;
}

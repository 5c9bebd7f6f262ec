// The one apply contract of the node (issue 10 Step 0): every state machine the pipeline drives
// implements this signature, and its effects come back as VALUES that the pipeline commits with
// the applied index (no side channel, no call up into the proposer).

import type { HaltError } from '../errors.js';
import type { KvTxn } from './fsm/kv-store.js';

/** The batch's tables as the entry sees them (read-your-writes across the batch). */
export interface ApplyTables {
  kv: KvTxn;
  /** The writer registry (WR-1); absent only in unit tests of the KV commands. */
  registry?: KvTxn;
  /** Per-key modification index (WATCH); absent only in unit tests of the KV commands. */
  kvmod?: KvTxn;
}

/**
 * The result of one entry: its response and, for an encryption entry, the effect `X` the
 * pipeline persists (ending the batch there) before it publishes it; or the HALT at this entry.
 */
export type ApplyResult<R, X = never> = { response: R; effect?: X } | { halt: HaltError };

export interface StateMachine<R, X = never> {
  /**
   * Applies one cleartext payload at `index` (FW-6). `extra` carries what a reseal round trip
   * prepared for this entry (null when none; the FSM then seals inline).
   */
  apply(payload: Uint8Array, index: bigint, tables: ApplyTables, extra: unknown): ApplyResult<R, X>;
  /**
   * Optional: deferred work of the entries applied since the last call (the storage seals of a
   * batch in one crypto-pool round trip), awaited before the batch is committed. A rejection
   * HALTs at the batch's first entry: nothing of the batch is committed or answered.
   */
  finishBatch?(): Promise<void>;
}

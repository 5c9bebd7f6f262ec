// Result types of the KV state machine (PE-7) and the encryption-entry seam (FW-1).

import type { ApplyResult as NodeApplyResult } from '../state-machine.js';
import type { KvTxn } from './kv-store.js';

/**
 * The state machine's answer to a command. A subset of the server's RESP `Reply` union, with
 * the same shapes (`src/server/resp-codec.ts` `Reply`, defined structurally here because node/
 * must not import server/), so the RESP layer can send it as is. `error` is a business error (e.g.
 * `ERR value is not an integer or out of range`): the applied index still advances (PE-7).
 */
export type FsmResponse =
  | { readonly t: 'simple'; readonly v: string }
  /** Full error text, starting with the Redis prefix ("ERR ..."). */
  | { readonly t: 'error'; readonly v: string }
  | { readonly t: 'int'; readonly v: bigint }
  | { readonly t: 'bulk'; readonly v: Uint8Array | null }
  /** EXEC's per-command replies, MGET inside EXEC; null = EXEC aborted by WATCH. */
  | { readonly t: 'array'; readonly v: readonly FsmResponse[] | null };

/**
 * `halt`: the engine HALTs at this entry (no setApplied, no resolveProposal; PE-7, EH-5).
 * `effect`: what an encryption entry changes, carried out and published by the pipeline.
 */
export type ApplyResult<X = never> = NodeApplyResult<FsmResponse, X>;

/**
 * Decides the encryption entries `0x03..0x05` (FW-3..FW-5): registry rows go into `registry`
 * (the batch's table), everything else (keys, sidecar, cutover) comes back as the effect value.
 * It must HALT (`ENCRYPTION_APPLY` with a reason) on any refusal, and never do I/O.
 */
export interface EncryptionHandler<X = never> {
  apply(payload: Uint8Array, index: bigint, registry: KvTxn | undefined): ApplyResult<X>;
}

export const OK: FsmResponse = { t: 'simple', v: 'OK' };
export const NIL: FsmResponse = { t: 'bulk', v: null };

export function int(v: bigint | number): FsmResponse {
  return { t: 'int', v: BigInt(v) };
}
export function bulk(v: Uint8Array | null): FsmResponse {
  return { t: 'bulk', v };
}
export function array(v: readonly FsmResponse[] | null): FsmResponse {
  return { t: 'array', v };
}
export function err(message: string): FsmResponse {
  return { t: 'error', v: message };
}

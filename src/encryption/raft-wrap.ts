// Wrap-on-propose (SPEC PE-5, RE-1..RE-5, RO-12): seals a batch of proposal payloads into raft
// envelopes under one raft DEK, with the process's raft-purpose nonce factory (pinned from this
// load's PersistedEpoch token, KM-8). Batches go through the crypto pool, which runs small ones
// inline by its own policy. The raft wrap gate of WR-8 refuses every proposal until this node is
// registered for the DEK at its raft epoch, except this node's own registration (the proposer's
// 'registration' path, used only by `ClusterNode.submitAdmin`, which the registrars call).

import type { Aead } from '../crypto/aead.js';
import { D_AAD, D_AAD_LEN, D_DATA, D_DATA_LEN, D_NONCE, D_OUT, DESC_FIELDS, NONCE_SIZE, type PackedBatch } from '../crypto/aead.js';
import { bytesArg } from '../crypto/bytes.js';
import { ENV_NONCE_OFFSET, ENVELOPE_HEADER_SIZE, ENVELOPE_OVERHEAD, writeEnvelopeKeyId, writeU32 } from '../crypto/envelope/framing.js';
import type { NonceFactory } from '../crypto/envelope/nonce.js';
import { RAFT_AAD_PURPOSE, RAFT_AAD_SIZE, wrapRaftBatch } from '../crypto/envelope/raft.js';
import type { Keystore } from '../crypto/keystore.js';
import { ProposalError, SealkvError } from '../errors.js';
import type { WrapFn, WrapPath } from '../node/proposer.js';

/** Raft envelope version (RE-1). */
const RAFT_ENVELOPE_VERSION = 0x01;

export interface RaftSealer {
  /** Seals a packed batch into its output (the crypto pool: inline or in a worker). */
  sealPacked(keyId: number, batch: PackedBatch): Promise<void>;
}

export interface RaftWrapDeps {
  readonly aead: Aead;
  readonly keystore: Keystore;
  /** The one raft-purpose factory of this process. */
  readonly nonces: NonceFactory;
  /** The crypto pool (null: inline with `aead`). */
  readonly sealer: RaftSealer | null;
  /** WR-8: this node is registered for `dekId` at its pinned raft epoch. */
  registered(dekId: number): boolean;
}

/** Builds the wrap function for raft DEK `dekId` (order preserved; a failure rejects the whole batch). */
export function buildRaftWrap(deps: RaftWrapDeps, dekId: number): WrapFn {
  let registered = false;
  return async (payloads: Uint8Array[], path: WrapPath): Promise<Uint8Array[]> => {
    if (path !== 'registration' && !registered) {
      // Cached once true: a registration for (dekId, this epoch) is never undone in this load.
      registered = deps.registered(dekId);
      if (!registered) throw new ProposalError('WRITER_NOT_REGISTERED', `this node is not yet registered for raft DEK ${dekId}; retry`);
    }
    if (payloads.length === 0) return [];
    try {
      if (deps.sealer === null) {
        const nonces = payloads.map(() => deps.nonces.next());
        return wrapRaftBatch(deps.aead, deps.keystore, dekId, payloads.map((payload, i) => ({ nonce: nonces[i]!, payload })));
      }
      return await sealPackedBatch(deps, dekId, payloads);
    } catch (e) {
      if (e instanceof SealkvError) throw e;
      throw new ProposalError('UNAVAILABLE', `raft wrap failed: ${(e as Error)?.message ?? String(e)}`, { cause: e });
    }
  };
}

/**
 * The pool path: payloads packed once (nonce ‖ AAD ‖ payload per item) and sealed straight into
 * one buffer of envelopes, each a view (PF-2). Nonces are reserved for the whole batch in one
 * atomic step (KM-9). The packed input holds cleartext and is wiped before returning.
 */
async function sealPackedBatch(deps: RaftWrapDeps, dekId: number, payloadsIn: Uint8Array[]): Promise<Uint8Array[]> {
  const n = payloadsIn.length;
  const payloads = new Array<Uint8Array>(n);
  let inLen = n * NONCE_SIZE;
  let outLen = 0;
  for (let i = 0; i < n; i++) {
    const p = bytesArg(payloadsIn[i], 'raft payload', i);
    payloads[i] = p;
    inLen += RAFT_AAD_SIZE + p.length;
    outLen += ENVELOPE_OVERHEAD + p.length;
  }
  const input = new Uint8Array(inLen);
  const out = new Uint8Array(outLen);
  const desc = new Uint32Array(n * DESC_FIELDS);
  const envelopes = new Array<Uint8Array>(n);
  deps.nonces.nextBatchInto(n, input, 0);
  let inOff = n * NONCE_SIZE;
  let outOff = 0;
  for (let i = 0, d = 0; i < n; i++, d += DESC_FIELDS) {
    const p = payloads[i]!;
    const nonceAt = i * NONCE_SIZE;
    desc[d + D_NONCE] = nonceAt;
    desc[d + D_AAD] = inOff;
    desc[d + D_AAD_LEN] = RAFT_AAD_SIZE;
    // RE-2 AAD: 0x52 ‖ version ‖ key_id.
    input[inOff] = RAFT_AAD_PURPOSE;
    input[inOff + 1] = RAFT_ENVELOPE_VERSION;
    writeU32(input, inOff + 2, dekId);
    inOff += RAFT_AAD_SIZE;
    desc[d + D_DATA] = inOff;
    desc[d + D_DATA_LEN] = p.length;
    input.set(p, inOff);
    inOff += p.length;
    writeEnvelopeKeyId(out, outOff, dekId);
    for (let k = 0; k < NONCE_SIZE; k++) out[outOff + ENV_NONCE_OFFSET + k] = input[nonceAt + k]!;
    desc[d + D_OUT] = outOff + ENVELOPE_HEADER_SIZE;
    const len = ENVELOPE_OVERHEAD + p.length;
    envelopes[i] = out.subarray(outOff, outOff + len);
    outOff += len;
  }
  try {
    await deps.sealer!.sealPacked(dekId, { count: n, input, desc, output: out });
  } finally {
    input.fill(0);
  }
  return envelopes;
}

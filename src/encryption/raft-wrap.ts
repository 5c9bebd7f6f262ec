// Wrap-on-propose (SPEC PE-5, RE-1..RE-5, RO-12): seals a batch of proposal payloads into raft
// envelopes under one raft DEK, with the process's raft-purpose nonce factory (pinned from this
// load's PersistedEpoch token, KM-8). Batches go through the crypto pool, which runs small ones
// inline by its own policy. The raft wrap gate of WR-8 refuses every proposal until this node is
// registered for the DEK at its raft epoch, except this node's own registration (the proposer's
// 'registration' path, used only by `ClusterNode.submitAdmin`, which the registrars call).

import type { Aead } from '../crypto/aead.js';
import { ENVELOPE_HEADER_SIZE, writeEnvelopeHeader } from '../crypto/envelope/framing.js';
import type { NonceFactory } from '../crypto/envelope/nonce.js';
import { buildRaftAad, wrapRaftBatch } from '../crypto/envelope/raft.js';
import type { Keystore } from '../crypto/keystore.js';
import { ProposalError, SealkvError } from '../errors.js';
import type { WrapFn, WrapPath } from '../node/proposer.js';

/** Raft envelope version (RE-1). */
const RAFT_ENVELOPE_VERSION = 0x01;

export interface RaftSealer {
  seal(keyId: number, items: readonly { nonce: Uint8Array; aad: Uint8Array; data: Uint8Array }[]): Promise<Uint8Array[]>;
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
      const nonces = payloads.map(() => deps.nonces.next());
      if (deps.sealer === null) return wrapRaftBatch(deps.aead, deps.keystore, dekId, payloads.map((payload, i) => ({ nonce: nonces[i]!, payload })));
      const aad = buildRaftAad(RAFT_ENVELOPE_VERSION, dekId);
      const sealed = await deps.sealer.seal(
        dekId,
        payloads.map((data, i) => ({ nonce: nonces[i]!, aad, data })),
      );
      return sealed.map((s, i) => {
        const out = new Uint8Array(ENVELOPE_HEADER_SIZE + s.length);
        writeEnvelopeHeader(out, 0, dekId, nonces[i]!);
        out.set(s, ENVELOPE_HEADER_SIZE);
        return out;
      });
    } catch (e) {
      if (e instanceof SealkvError) throw e;
      throw new ProposalError('UNAVAILABLE', `raft wrap failed: ${(e as Error)?.message ?? String(e)}`, { cause: e });
    }
  };
}

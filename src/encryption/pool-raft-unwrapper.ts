// Raft unwrap of apply batches in the crypto pool (EH-8): framing and key checks per envelope
// here (RE-6 steps 1–4), one pool `open` per raft key_id for the AEAD (step 5), each item its own
// result. Single entries (and the pipeline's in-order recompute, `unwrapOne`) stay inline.

import type { Aead } from '../crypto/aead.js';
import { parseEnvelope } from '../crypto/envelope/framing.js';
import { buildRaftAad } from '../crypto/envelope/raft.js';
import type { Keystore } from '../crypto/keystore.js';
import { EnvelopeError, IntegrityError, SealkvError } from '../errors.js';
import type { RaftUnwrapper, UnwrapResult } from '../node/apply-pipeline.js';
import { InlineRaftUnwrapper } from '../node/raft-unwrapper.js';

export interface RaftOpener {
  open(keyId: number, items: readonly { nonce: Uint8Array; aad: Uint8Array; data: Uint8Array }[]): Promise<(Uint8Array | IntegrityError)[]>;
}

export class PoolRaftUnwrapper implements RaftUnwrapper {
  private readonly inline: InlineRaftUnwrapper;

  constructor(
    aead: Aead,
    private readonly keystore: Keystore,
    private readonly pool: RaftOpener,
    /** Batches below this many envelopes unwrap inline. */
    private readonly minBatch = 2,
  ) {
    this.inline = new InlineRaftUnwrapper(aead, keystore);
  }

  generation(): number {
    return this.keystore.version;
  }

  async unwrapBatch(envelopes: Uint8Array[]): Promise<(UnwrapResult | SealkvError)[]> {
    if (envelopes.length < this.minBatch) return this.inline.unwrapBatch(envelopes);
    const out = new Array<UnwrapResult | SealkvError>(envelopes.length);
    const byKey = new Map<number, { i: number; nonce: Uint8Array; aad: Uint8Array; data: Uint8Array }[]>();
    envelopes.forEach((e, i) => {
      try {
        const env = parseEnvelope(e, 'raft');
        if (!this.keystore.has(env.keyId)) {
          out[i] = new EnvelopeError('UNKNOWN_KEY_ID', `raft envelope: raft DEK key_id ${env.keyId} is not loaded`);
          return;
        }
        let list = byKey.get(env.keyId);
        if (list === undefined) {
          list = [];
          byKey.set(env.keyId, list);
        }
        list.push({ i, nonce: env.nonce, aad: buildRaftAad(env.version, env.keyId), data: env.body });
      } catch (err) {
        out[i] = err instanceof SealkvError ? err : new EnvelopeError('ENVELOPE_SHORT', String(err));
      }
    });
    await Promise.all(
      [...byKey].map(async ([keyId, items]) => {
        let res: (Uint8Array | IntegrityError)[];
        try {
          res = await this.pool.open(keyId, items);
        } catch {
          // The pool could not take the batch (e.g. the key is not in the workers yet): the
          // inline opener decides each item, with its exact RE-6 error.
          for (const it of items) out[it.i] = this.tryInline(envelopes[it.i]!);
          return;
        }
        res.forEach((r, k) => {
          const i = items[k]!.i;
          out[i] =
            r instanceof IntegrityError
              ? new IntegrityError(`raft envelope under key_id ${keyId} failed authentication`, { cause: r })
              : { payload: r.slice(), extra: null }; // a fresh buffer (RE-6)
        });
      }),
    );
    return out;
  }

  unwrapOne(envelope: Uint8Array): UnwrapResult {
    return this.inline.unwrapOne(envelope);
  }

  private tryInline(envelope: Uint8Array): UnwrapResult | SealkvError {
    try {
      return this.inline.unwrapOne(envelope);
    } catch (e) {
      return e instanceof SealkvError ? e : new IntegrityError(String(e));
    }
  }
}

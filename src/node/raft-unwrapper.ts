// The opener behind the apply gate (EH-3, EH-8): raft envelopes → cleartext payloads.
//
// Batches unwrap in one call; results are fresh buffers (RE-6). `generation()` follows the
// keystore version, so a speculative result computed before a raft rotate-dek applied inside the
// same batch is recomputed under the new keystore (EH-8). The crypto worker pool plugs in behind
// the same interface (`unwrapBatch` off the main thread); the in-order recompute stays inline.

import type { Aead } from '../crypto/aead.js';
import { unwrapRaft, unwrapRaftBatch } from '../crypto/envelope/raft.js';
import type { Keystore } from '../crypto/keystore.js';
import { SealkvError } from '../errors.js';
import type { RaftUnwrapper, UnwrapResult } from './apply-pipeline.js';

export class InlineRaftUnwrapper implements RaftUnwrapper {
  constructor(
    private readonly aead: Aead,
    private readonly keystore: Keystore,
  ) {}

  generation(): number {
    return this.keystore.version;
  }

  async unwrapBatch(envelopes: Uint8Array[]): Promise<(UnwrapResult | SealkvError)[]> {
    return unwrapRaftBatch(this.aead, this.keystore, envelopes).map((r) =>
      r instanceof SealkvError ? r : { payload: r, extra: null },
    );
  }

  unwrapOne(envelope: Uint8Array): UnwrapResult {
    return { payload: unwrapRaft(this.aead, this.keystore, envelope), extra: null };
  }
}

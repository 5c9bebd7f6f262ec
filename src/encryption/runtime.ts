// Composition of an encrypting node's crypto (issue 10 item 6): the cipher backend, the
// keystore hydrated from the preflight's DEKs, the two nonce factories built ONLY from the
// PersistedEpoch tokens of the KM-8 bump, and the crypto pool (`--cipher`, `--crypto-workers`)
// following the keystore, so keys reach the workers at start, bootstrap and rotation.

import { loadAead } from '../crypto/index.js';
import type { BackendName } from '../crypto/aead.js';
import { NonceFactory } from '../crypto/envelope/nonce.js';
import { Keystore } from '../crypto/keystore.js';
import type { EncryptionEffect } from '../keys/entry-apply.js';
import type { PreflightResult } from '../keys/startup.js';
import type { SidecarStore } from '../keys/sidecar-store.js';
import type { EncryptionStatus, NodeEncryption } from '../node/encryption-port.js';
import { CryptoPool } from '../pool/index.js';
import type { PoolMetrics } from '../pool/metrics.js';
import { EntryExecutor } from './entry-executor.js';
import { EncryptionStateCell } from './state-cell.js';
import { type CodecCounters, SealingValueCodec } from './value-codec.js';

export interface EncryptionRuntimeOptions {
  cipher: BackendName;
  /** `--crypto-workers`; 0 runs every batch inline (one idle worker is still started). */
  cryptoWorkers: number;
  preflight: PreflightResult;
  sidecar: SidecarStore;
}

export interface EncryptionRuntime extends NodeEncryption<EncryptionEffect> {
  readonly pool: CryptoPool;
  readonly keystore: Keystore;
  readonly state: EncryptionStateCell;
  readonly counters: CodecCounters;
  poolMetrics(): PoolMetrics;
}

export async function createEncryptionRuntime(opts: EncryptionRuntimeOptions): Promise<EncryptionRuntime> {
  const pre = opts.preflight;
  const keystore = new Keystore();
  try {
    for (const [id, dek] of pre.deks) keystore.set(id, dek);
  } finally {
    for (const dek of pre.deks.values()) dek.fill(0);
  }
  const storageNonces = NonceFactory.fromPersistedEpoch(pre.tokens.storage);
  // The raft factory is pinned now (its only source is this load's token); part 2 uses it.
  NonceFactory.fromPersistedEpoch(pre.tokens.raft);
  const aead = await loadAead(opts.cipher);
  const pool = await CryptoPool.create({
    backend: opts.cipher,
    workers: Math.max(1, opts.cryptoWorkers),
    ...(opts.cryptoWorkers === 0 ? { inlineThreshold: Number.POSITIVE_INFINITY } : {}),
    storageNonces,
  });
  const unfollow = pool.followKeystore(keystore);
  const state = new EncryptionStateCell(pre.sidecar);
  const codec = new SealingValueCodec(aead, keystore, state, storageNonces);
  const executor = new EntryExecutor({
    kek: pre.kek,
    sidecar: opts.sidecar,
    state,
    keystore,
    pinned: { storage: pre.pinned.storage.localEpoch, raft: pre.pinned.raft.localEpoch },
  });
  return {
    pool,
    keystore,
    state,
    codec,
    counters: codec.counters,
    handler: executor,
    persist: (i, e) => executor.persist(i, e),
    publish: (i, e) => executor.publish(i, e),
    poolMetrics: () => pool.metrics,
    status: (): EncryptionStatus => {
      const s = state.sidecar();
      return {
        enabled: true,
        storageEnvelope: s?.storageEnvelopeActive === true,
        storageCutoverIndex: s?.storageEnvelopeCutoverIndex ?? 0n,
        raftCutoverIndex: s?.raftEnvelopeCutoverIndex ?? 0n,
        activeDekIds: { storage: s?.active.storage ?? 0, raft: s?.active.raft ?? 0 },
      };
    },
    close: async () => {
      unfollow();
      await pool.close();
    },
  };
}

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
import { decodeProposal } from '../crypto/envelope/proposal.js';
import { CryptoError, StartupRefusedError } from '../errors.js';
import type { Aead } from '../crypto/aead.js';
import { unwrapRaft } from '../crypto/envelope/raft.js';
import { lowNodeId16 } from '../keys/node-identity.js';
import { checkRaftWrapAvailable } from '../keys/startup-guards.js';
import { PoolRaftUnwrapper } from './pool-raft-unwrapper.js';
import { PackScratch } from './pack-scratch.js';
import { buildRaftWrap } from './raft-wrap.js';
import { WrapInstaller } from './wrap-installer.js';
import { deriveNodeIdentity } from '../keys/node-identity.js';
import { type PeerRegistryAnswer, peerCheckQuorum } from '../keys/registry-rules.js';
import { runGroupBGuards } from '../keys/startup-guards.js';
import type { EncryptionStatus, NodeEncryption, NodeStartView, RaftEnvelopePort } from '../node/encryption-port.js';
import { CryptoPool } from '../pool/index.js';
import { realScheduler, type Scheduler } from '../node/scheduler.js';
import type { PoolMetrics } from '../pool/metrics.js';
import { EntryExecutor } from './entry-executor.js';
import { createSnapshotHooks, snapshotGuardInputs } from './snapshot-install.js';
import { EncryptionStateCell } from './state-cell.js';
import { type CodecCounters, SealingValueCodec } from './value-codec.js';

export interface EncryptionRuntimeOptions {
  cipher: BackendName;
  /** `--crypto-workers`; 0 runs every batch inline (one idle worker is still started). */
  cryptoWorkers: number;
  preflight: PreflightResult;
  sidecar: SidecarStore;
  /**
   * Test-only faults of the §17 harness, off unless the CLI sets them under NODE_ENV=test:
   * `withholdRaftCipher` arms the raft wrap and cutover but gives the engine no unwrapper (AS-4:
   * an active cutover without a cipher HALTs NO_CIPHER); `failInstaller` makes the apply-time wrap
   * installer throw when a marker or raft rotation applies (AS-14: INSTALLER_FAILED), while the
   * start-up install from the sidecar (RO-11) runs normally.
   */
  testFaults?: { withholdRaftCipher?: boolean; failInstaller?: boolean };
  /** No worker threads: every crypto batch inline (the whole-node simulator; deterministic). */
  inlineOnly?: boolean;
  /** Timers (default the real ones; the whole-node simulator passes its virtual scheduler). */
  scheduler?: Scheduler;
  /**
   * Test seam (the whole-node simulator): wraps the cipher backend of this process, inline pool
   * path included, e.g. to inject seal/open failures. Production passes none.
   */
  wrapAead?: (aead: Aead) => Aead;
}

export interface EncryptionRuntime extends NodeEncryption<EncryptionEffect> {
  readonly pool: CryptoPool;
  readonly keystore: Keystore;
  readonly state: EncryptionStateCell;
  readonly counters: CodecCounters;
  poolMetrics(): PoolMetrics;
  /** Barrier step 5 (RO-7): converge the wrap for (cutover, active raft DEK); throws when not wired. */
  installRaftWrap(cutoverIndex: bigint, activeRaftDekId: number): void;
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
  // The one raft-purpose factory of this process (wrap-on-propose), from this load's token only.
  const raftNonces = NonceFactory.fromPersistedEpoch(pre.tokens.raft);
  const loaded = await loadAead(opts.cipher);
  const aead = opts.wrapAead ? opts.wrapAead(loaded) : loaded;
  const pool = await CryptoPool.create({
    backend: opts.cipher,
    // 0 crypto workers: everything inline on the main thread, and no worker threads at all.
    workers: opts.inlineOnly === true || opts.cryptoWorkers === 0 ? 0 : opts.cryptoWorkers,
    ...(opts.cryptoWorkers === 0 ? { inlineThreshold: Number.POSITIVE_INFINITY } : {}),
    storageNonces,
    ...(opts.wrapAead ? { wrapInlineAead: opts.wrapAead } : {}),
  });
  const unfollow = pool.followKeystore(keystore);
  const state = new EncryptionStateCell(pre.sidecar);
  const codec = new SealingValueCodec(aead, keystore, state, storageNonces, pool);
  const executor = new EntryExecutor({
    kek: pre.kek,
    sidecar: opts.sidecar,
    state,
    keystore,
    pinned: { storage: pre.pinned.storage.localEpoch, raft: pre.pinned.raft.localEpoch },
  });
  const fullNodeId = pre.identity.fullNodeId;
  const pinnedRaft = pre.pinned.raft.localEpoch;
  let installer: WrapInstaller | null = null;
  const armRaft = (port: RaftEnvelopePort): void => {
    // EH-2: the engine gets the cipher whenever encryption is on, so a runtime cutover needs no
    // restart. Batches unwrap in the crypto pool (which runs small ones inline by its policy); the
    // in-order recompute and single entries are inline. Wrap goes through the pool too.
    if (opts.testFaults?.withholdRaftCipher !== true) port.setUnwrapper(new PoolRaftUnwrapper(aead, keystore, pool));
    const wrapScratch = new PackScratch();
    const wi = new WrapInstaller({
      buildWrap: (dekId) => {
        if (!keystore.has(dekId)) throw new CryptoError('UNKNOWN_KEY_ID', `raft DEK ${dekId} is not loaded`);
        return buildRaftWrap(
          {
            aead,
            keystore,
            nonces: raftNonces,
            sealer: pool,
            scratch: wrapScratch,
            registered: (d) => {
              const row = port.registryRow(d, lowNodeId16(fullNodeId));
              return row !== undefined && row.fullNodeId === fullNodeId && row.lastSeenLocalEpoch === pinnedRaft;
            },
          },
          dekId,
        );
      },
      publishWrap: (w) => port.setWrap(w),
      setCutover: (i) => port.setCutover(i),
    });
    installer = wi;
    executor.setInstaller(
      opts.testFaults?.failInstaller === true
        ? () => {
            throw new Error('injected installer failure (SEALKV_TEST_FAIL_INSTALLER)');
          }
        : (c, d) => wi.install(c, d),
    );
    // RO-11 / KM-14 step 9: re-arm from the sidecar before anything applies or is served.
    const s = state.sidecar();
    checkRaftWrapAvailable(s, (id) => keystore.has(id));
    if (s !== undefined && s.raftEnvelopeCutoverIndex !== 0n) {
      try {
        wi.install(s.raftEnvelopeCutoverIndex, s.active.raft);
      } catch (e) {
        throw new StartupRefusedError('RAFT_WRAP_UNAVAILABLE', `cannot install the raft wrap: ${(e as Error).message}`, { cause: e });
      }
    }
  };
  return {
    beforeRun: (view) => runGuards(view, pre, state, keystore, aead, opts.scheduler ?? realScheduler),
    armRaft,
    installRaftWrap: (c, d) => {
      if (installer === null) throw new CryptoError('NO_CIPHER', 'the raft-envelope installer is not wired (the node has not started)');
      installer.install(c, d);
    },
    pool,
    keystore,
    state,
    codec,
    counters: codec.counters,
    handler: executor,
    // Issue 11 item 7: snapshots carry the encryption state and rebuild a lagging sidecar.
    snapshot: createSnapshotHooks({
      kek: pre.kek,
      sidecar: opts.sidecar,
      state,
      keystore,
      identity: pre.identity,
      pinned: { storage: pre.pinned.storage.localEpoch, raft: pre.pinned.raft.localEpoch },
      installRaftWrap: (c, d) => {
        if (installer === null) throw new CryptoError('NO_CIPHER', 'the raft-envelope installer is not wired');
        installer.install(c, d);
      },
    }),
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

/** WR-11 retry pace while a majority of the voters has not answered. */
const PEER_QUERY_TIMEOUT_MS = 2000;

/** KM-14 step 8: the group B guards over the node's LMDB view and its peers (OP-4 rows 8–12). */
function runGuards(view: NodeStartView, pre: PreflightResult, state: EncryptionStateCell, keystore: Keystore, aead: Aead, sched: Scheduler): Promise<readonly string[]> {
  const s = state.sidecar();
  const snap = snapshotGuardInputs(view);
  return runGroupBGuards({
    encryption: true,
    identity: pre.identity,
    sidecar: s,
    pinned: pre.pinned,
    lag: {
      sidecarIndex: s?.raftAppliedIndex ?? 0n,
      appliedIndex: view.appliedIndex,
      snapshotIndex: view.snapshotIndex,
      snapshotSidecarIndex: snap.snapshotSidecarIndex,
      raftCutoverIndex: s?.raftEnvelopeCutoverIndex ?? 0n,
      log: { firstIndex: () => view.firstLogIndex, entries: (lo, hi) => view.logEntries(lo, hi) },
      payloadOf: (e, wrapped) => {
        const payload = decodeProposal(e.data).payload;
        return wrapped ? unwrapRaft(aead, keystore, payload) : payload;
      },
    },
    registry: { get: (d, n) => view.registryRow(d, n) },
    members: [...new Set([...view.voters, ...view.learners])].map((raftId) => ({ raftId, fullNodeId: deriveNodeIdentity(raftId).fullNodeId })),
    queryPeers: (dekIds) => queryPeers(view, pre.identity.fullNodeId, dekIds, sched),
    snapshot: snap.snapshot,
    isKeyLoaded: (id) => keystore.has(id),
  });
}

/** WR-11: asks every other voter until a majority of the voters (this node included) answered. */
async function queryPeers(view: NodeStartView, fullNodeId: bigint, dekIds: readonly number[], sched: Scheduler): Promise<PeerRegistryAnswer[]> {
  const answers = new Map<string, PeerRegistryAnswer>();
  const others = view.voters.filter((v) => v !== view.selfId);
  for (;;) {
    await Promise.all(
      others
        .filter((p) => !answers.has(p))
        .map(async (peer) => {
          try {
            const rows = await view.queryPeerRegistry(peer, fullNodeId, dekIds, PEER_QUERY_TIMEOUT_MS);
            answers.set(peer, { peer, rows: rows.map((r) => ({ dekId: r.dekId, row: r })) });
          } catch {
            // unanswered: asked again below
          }
        }),
    );
    if (peerCheckQuorum(view.voters, view.selfId, answers.keys())) return [...answers.values()];
    await new Promise<void>((r) => sched.setTimeout(r, 200));
  }
}

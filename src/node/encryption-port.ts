// What the node needs from the encryption wing (src/encryption/ implements it; cli/ wires it).
// The node owns this interface so node/ never imports encryption/.

import type { EncryptionCopies } from '../storage/apply-txn.js';
import type { SnapshotHeader } from '../storage/snapshot-header.js';
import type { RaftUnwrapper } from './apply-pipeline.js';
import type { EncryptionHandler } from './fsm/fsm-types.js';
import type { WrapFn } from './proposer.js';
import type { ValueCodec } from './fsm/value-codec.js';

/** The published encryption state (after persistence), for /v1/status and metrics. */
export interface EncryptionStatus {
  /** `--encryption` was given (a KEK is configured). */
  enabled: boolean;
  /** The sidecar's storage-envelope flag (SE-10). */
  storageEnvelope: boolean;
  storageCutoverIndex: bigint;
  raftCutoverIndex: bigint;
  /** Active key_id per purpose; 0 = none. */
  activeDekIds: { storage: number; raft: number };
}

/** One registry row as a peer returns it for the WR-11 query. */
export interface PeerRegistryRow {
  dekId: number;
  fullNodeId: bigint;
  firstSeenLocalEpoch: number;
  lastSeenLocalEpoch: number;
}

/** What the start-up guards see of a node whose LMDB is open and whose run loop has not started. */
export interface NodeStartView {
  appliedIndex: bigint;
  snapshotIndex: bigint;
  firstLogIndex: bigint;
  /** Normal/conf-change entries in (lo, hi]. */
  logEntries(lo: bigint, hi: bigint): Iterable<{ index: bigint; kind: 'normal' | 'conf-change'; data: Uint8Array }>;
  /** The row (dekId, nodeId16) of the local registry (a malformed row throws). */
  registryRow(dekId: number, nodeId16: number): { fullNodeId: bigint; firstSeenLocalEpoch: number; lastSeenLocalEpoch: number } | undefined;
  voters: readonly string[];
  learners: readonly string[];
  selfId: string;
  /**
   * SH-1/OP-4 row 11: what the node recorded with its latest snapshot point in `meta` (undefined
   * when it has none): the cutover (null = not recorded) and the sidecar_applied_index.
   */
  snapshotRecord?: { index: bigint; raftCutoverIndex: bigint | null; sidecarAppliedIndex: bigint };
  /** WR-11: a peer's rows of `fullNodeId` for `dekIds` (rejects when the peer does not answer in time). */
  queryPeerRegistry(peer: string, fullNodeId: bigint, dekIds: readonly number[], timeoutMs: number): Promise<PeerRegistryRow[]>;
}

/** The encryption side of snapshots (issue 11 item 7; src/encryption/snapshot-install.ts). */
export interface SnapshotEncryptionHooks {
  /** SH-1: the meta copies to commit with the applied index of an encryption entry (after publish). */
  copies(): EncryptionCopies;
  /** SH-4: the highest raft cutover this process has seen, and the sidecar's current one. */
  cutoverSeen(): { seen: bigint; sidecar: bigint };
  /** SH-5 / SH-6 on a received header, before anything is staged; throws the HaltError. */
  check(header: SnapshotHeader): void;
  /**
   * The stream verified, nothing installed yet: rebuild a lagging sidecar from the snapshot's
   * encryption state (`registryRow`: the snapshot's staged registry row, raw). Throws the HaltError.
   */
  staged(header: SnapshotHeader, registryRow: (dekId: number, nodeId16: number) => Uint8Array | undefined): Promise<void>;
}

/** What the raft-envelope wiring needs of the node (KM-14 step 9, RO-11, WI-1, EH-2). */
export interface RaftEnvelopePort {
  /** The proposer's wrap reference (RO-12). */
  setWrap(wrap: WrapFn): void;
  /** The engine's cutover cell (EH-2). */
  setCutover(index: bigint): void;
  /** The apply gate's opener (EH-3, EH-4). */
  setUnwrapper(u: RaftUnwrapper | null): void;
  registryRow(dekId: number, nodeId16: number): { fullNodeId: bigint; lastSeenLocalEpoch: number } | undefined;
}

export interface NodeEncryption<X> {
  /** Snapshots carry and restore the encryption state (absent: the node does neither). */
  readonly snapshot?: SnapshotEncryptionHooks;
  /**
   * KM-14 step 9, after the guards and before the run loop applies anything: wire the unwrapper
   * and the installer, and re-arm wrapping from the sidecar (RO-11). Throws a
   * StartupRefusedError (RAFT_WRAP_UNAVAILABLE) to refuse the start.
   */
  armRaft?(port: RaftEnvelopePort): void;
  /**
   * KM-14 step 8 (group B guards) before any entry is applied; returns warning lines, throws a
   * StartupRefusedError to refuse the start.
   */
  beforeRun?(view: NodeStartView): Promise<readonly string[]>;
  /** The `kv` value codec the state machine and the read path use (SE-5, SE-6). */
  readonly codec: ValueCodec;
  /** Decides `0x03..0x05` entries as effect values (FW-6); registry rows go to the batch. */
  readonly handler: EncryptionHandler<X>;
  /**
   * Carries out the durable part of an effect of entry `index`: keystore/worker key install and
   * the KM-7 sidecar write. Called after the batch's writes (registry rows included) are
   * committed with applied = index−1, before the applied index passes `index`. A rejection HALTs.
   */
  persist(index: bigint, effect: X): Promise<void>;
  /** The effect is durable: publish it (state cell, metrics). */
  publish(index: bigint, effect: X): void;
  status(): EncryptionStatus;
  close(): Promise<void>;
}

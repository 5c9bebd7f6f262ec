// The group B start-up guards (SPEC KM-14 step 8, OP-4 rows 8–12): after LMDB has opened and
// before the run loop applies any entry. Pure decisions over injected views of the log, the
// registry, the membership and the peers' WR-11 answers; every refusal is a StartupRefusedError.

import { isCipherBackendFailure, KeyError, SealkvError, StartupRefusedError } from '../errors.js';
import { decodeEncryptionEntry, SUBTAG_ROTATE_DEK } from './encryption-entries.js';
import type { PinnedEpochs } from './epochs.js';
import type { NodeIdentity } from './node-identity.js';
import {
  checkLocalEpochRollback,
  checkMembershipCollisions,
  checkPeerRegistryAnswers,
  type PeerRegistryAnswer,
  type RegistryView,
} from './registry-rules.js';
import type { Sidecar } from './sidecar-schema.js';

/** One log entry as KM-12 needs it. */
export interface LogEntryView {
  readonly index: bigint;
  /** Only normal entries matter; empty and conf-change entries are skipped (KM-12). */
  readonly kind: 'normal' | 'conf-change';
  readonly data: Uint8Array;
}

/** Read access to the `log` table: entries in (lo, hi], or a throw (STORAGE_IO) on an LMDB error. */
export interface LogView {
  /** The first index still in the log (entries below it were compacted). */
  firstIndex(): bigint;
  entries(afterIndex: bigint, upToIndex: bigint): Iterable<LogEntryView>;
}

export interface SidecarLagInput {
  /** R: the sidecar's raft_applied_index (0 without a sidecar). */
  readonly sidecarIndex: bigint;
  /** E: the state machine's durable applied index. */
  readonly appliedIndex: bigint;
  /** S: the latest snapshot's index (0 if none). */
  readonly snapshotIndex: bigint;
  /** L: the sidecar_applied_index recorded with that snapshot (SH-1; 0 if none). */
  readonly snapshotSidecarIndex: bigint;
  /** C: the sidecar's raft_envelope_cutover_index. */
  readonly raftCutoverIndex: bigint;
  readonly log: LogView;
  /**
   * The FSM payload of a normal entry's data: the proposal envelope stripped, and the raft envelope
   * opened with the hydrated keystore when `wrapped` (index > C ≠ 0). Throws on failure.
   */
  readonly payloadOf: (entry: LogEntryView, wrapped: boolean) => Uint8Array;
}

/**
 * KM-12: the sidecar must not lag the Raft log. Returns a warning line when R > E (sidecar ahead:
 * the replay follows FW-7), null otherwise.
 */
export function checkSidecarNotBehind(x: SidecarLagInput): string | null {
  const R = x.sidecarIndex;
  const E = x.appliedIndex;
  if (R > E) return `sidecar ahead of the Raft log (sidecar ${R}, applied ${E}); replayed encryption entries will not rewrite it`;
  if (R === E) return null;
  if (R < x.snapshotSidecarIndex) {
    throw new KeyError('SIDECAR_BEHIND_RAFT_LOG', `sidecar at ${R} misses encryption entries inside the snapshot (its sidecar index ${x.snapshotSidecarIndex}); run resync-sidecar`);
  }
  let lo = x.snapshotIndex;
  if (R > lo) lo = R;
  if (lo >= E) return null;
  if (lo + 1n < x.log.firstIndex()) {
    throw new KeyError('LOG_COMPACTED_PAST_SIDECAR', `entries (${lo}, ${E}] are needed to check the sidecar (at ${R}) but the log starts at ${x.log.firstIndex()}; run resync-sidecar with the leader's report`);
  }
  for (const entry of x.log.entries(lo, E)) {
    if (entry.kind !== 'normal' || entry.data.length === 0) continue;
    const wrapped = x.raftCutoverIndex !== 0n && entry.index > x.raftCutoverIndex;
    let payload: Uint8Array;
    try {
      payload = x.payloadOf(entry, wrapped);
    } catch (e) {
      // A failing cipher backend says nothing about the sidecar: refuse the start with the
      // backend's own error (the remedy is a retry or a working backend, not a resync).
      if (isCipherBackendFailure(e)) throw e;
      // Fail closed (KM-12): an entry we cannot read might be a rotation.
      throw new KeyError('SIDECAR_BEHIND_RAFT_LOG', `entry ${entry.index} above the sidecar (${R}) cannot be read: ${(e as Error).message}; run resync-sidecar`, { cause: e });
    }
    const op = payload.length > 0 ? payload[0]! : -1;
    if (op >= 0x04 && op <= 0x07) {
      throw new KeyError('SIDECAR_BEHIND_RAFT_LOG', `sidecar at ${R} misses the encryption entry at ${entry.index} (applied index ${E}); run resync-sidecar`);
    }
  }
  return null;
}

/** SH-5 (OP-4 row 11): the node's latest snapshot's recorded raft cutover against the sidecar's. */
export function checkCutoverDivergence(sidecarCutover: bigint, snapshot: { readonly recordedCutover: bigint | null } | undefined): void {
  if (snapshot === undefined) return;
  const rec = snapshot.recordedCutover;
  if ((rec === null && sidecarCutover !== 0n) || (rec !== null && rec !== 0n && rec !== sidecarCutover)) {
    throw new StartupRefusedError(
      'ENVELOPE_CUTOVER_DIVERGENCE',
      `the snapshot records raft cutover ${rec ?? 'none'} but the sidecar says ${sidecarCutover}; run resync-sidecar with the leader's report`,
    );
  }
}

/** RO-11 (OP-4 row 12): a non-zero raft cutover needs an active, loaded raft DEK to wrap with. */
export function checkRaftWrapAvailable(s: Sidecar | undefined, loaded: (keyId: number) => boolean): void {
  if (s === undefined || s.raftEnvelopeCutoverIndex === 0n) return;
  if (s.active.raft === 0 || !loaded(s.active.raft)) {
    throw new StartupRefusedError(
      'RAFT_WRAP_UNAVAILABLE',
      `raft cutover is ${s.raftEnvelopeCutoverIndex} but the active raft DEK ${s.active.raft} is not loaded; run resync-sidecar`,
    );
  }
}

export interface GroupBInput {
  readonly encryption: boolean;
  readonly identity: NodeIdentity;
  readonly sidecar: Sidecar | undefined;
  readonly pinned: PinnedEpochs;
  /** KM-12 inputs, or undefined when encryption is off. */
  readonly lag: SidecarLagInput | undefined;
  readonly registry: RegistryView;
  /** Voters and learners of the local membership view. */
  readonly members: readonly { readonly raftId: string; readonly fullNodeId: bigint }[];
  /**
   * WR-11: asks the members for their rows of this node for `dekIds` and resolves once a majority
   * of the voters (this node included) answered. Only called when the storage envelope or the raft
   * cutover is active.
   */
  readonly queryPeers: (dekIds: readonly number[]) => Promise<readonly PeerRegistryAnswer[]>;
  readonly snapshot: { readonly recordedCutover: bigint | null } | undefined;
  readonly isKeyLoaded: (keyId: number) => boolean;
}

function refuse(e: unknown): never {
  if (e instanceof StartupRefusedError) throw e;
  if (e instanceof SealkvError) throw new StartupRefusedError(e.code, e.message, { cause: e });
  throw e;
}

/**
 * True when the sidecar is ahead of the applied index (R > E) and the entry that made the active
 * storage DEK active — a storage `rotate-dek` — lies in (E, R]: it will be replayed (FW-7), and
 * until then no registry row of this node for that DEK can exist (WR-10's missing-row rule would
 * otherwise refuse a node killed between the sidecar write and the applied index commit, AS-16).
 * Any read or decode failure answers false, so the guard stays as strict as before (fail closed).
 */
export function activeStorageRotationAboveApplied(s: Sidecar, lag: SidecarLagInput): boolean {
  const E = lag.appliedIndex;
  const R = s.raftAppliedIndex;
  if (R <= E || s.active.storage === 0) return false;
  try {
    for (const entry of lag.log.entries(E, R)) {
      if (entry.kind !== 'normal' || entry.data.length === 0) continue;
      const C = lag.raftCutoverIndex;
      const payload = lag.payloadOf(entry, C !== 0n && entry.index > C);
      if (payload[0] !== 0x05) continue;
      const e = decodeEncryptionEntry(payload);
      if (e.kind === 'rotation' && e.subTag === SUBTAG_ROTATE_DEK && e.purpose === 'storage' && e.dekId === s.active.storage) return true;
    }
  } catch {
    return false;
  }
  return false;
}

/** OP-4 rows 8–12 in order; returns warning lines. Nothing to check when encryption is off. */
export async function runGroupBGuards(x: GroupBInput): Promise<readonly string[]> {
  if (!x.encryption) return [];
  const warnings: string[] = [];
  try {
    // 8: KM-12
    if (x.lag !== undefined) {
      const w = checkSidecarNotBehind(x.lag);
      if (w !== null) warnings.push(w);
    }
    // 9: WR-10 collisions
    checkMembershipCollisions(x.encryption, x.members);
    // 10: WR-10 rollback, then the WR-11 peer check
    const s = x.sidecar;
    checkLocalEpochRollback(x.registry, {
      encryptionOn: x.encryption,
      activeStorageDekId: s?.active.storage ?? 0,
      storageEnvelopeActive: s?.storageEnvelopeActive ?? false,
      fullNodeId: x.identity.fullNodeId,
      pinnedStorageEpoch: x.pinned.storage.localEpoch,
      activeStorageAboveApplied: s !== undefined && x.lag !== undefined && activeStorageRotationAboveApplied(s, x.lag),
    });
    if (s !== undefined && (s.storageEnvelopeActive || s.raftEnvelopeCutoverIndex !== 0n)) {
      const pinnedByDek = new Map<number, number>();
      if (s.active.storage !== 0) pinnedByDek.set(s.active.storage, x.pinned.storage.localEpoch);
      if (s.active.raft !== 0) pinnedByDek.set(s.active.raft, x.pinned.raft.localEpoch);
      const answers = await x.queryPeers([...pinnedByDek.keys()]);
      checkPeerRegistryAnswers(answers, x.identity.fullNodeId, pinnedByDek);
    }
    // 11: SH-5
    checkCutoverDivergence(s?.raftEnvelopeCutoverIndex ?? 0n, x.snapshot);
    // 12: RO-11
    checkRaftWrapAvailable(s, x.isKeyLoaded);
  } catch (e) {
    refuse(e);
  }
  return warnings;
}

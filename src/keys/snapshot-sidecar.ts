// The sidecar and snapshots (SPEC SH-5, SH-6 as changed by issue 11 item 7): what the snapshot
// carries of the sidecar, and what a node does with a received snapshot's encryption state.
// Pure decisions; the node wires them into its install (src/encryption/snapshot-install.ts).
//
// A node whose sidecar is behind the snapshot (raft_applied_index < header.sidecar_applied_index)
// no longer HALTs with SIDECAR_BEHIND_RAFT_LOG when the snapshot carries the encryption state
// (format v2): it rebuilds its sidecar from that state, after checking that every wrapped DEK
// unwraps under its own KEK (else KEK_MISMATCH, nothing written). A v1 snapshot does not carry
// the state, so the SH-6 HALT stays for it. Divergence (SH-5) always refuses.

import { HaltError } from '../errors.js';
import type { SnapshotEncryptionState } from '../storage/snapshot-header.js';
import { unwrapSidecarKeys } from './hydrate.js';
import type { Kek } from './kek-provider.js';
import type { Purpose, Sidecar, SidecarKey } from './sidecar-schema.js';
import { U16_MAX, validateSidecar } from './sidecar-schema.js';

/** What the node needs of a received header. */
export interface SnapshotEncryptionHeader {
  readonly lastIndex: bigint;
  readonly raftEnvelopeCutoverIndex: bigint;
  readonly sidecarAppliedIndex: bigint;
  /** v2: the state (null = not bootstrapped); undefined = a v1 stream that does not say. */
  readonly encryption?: SnapshotEncryptionState | null;
}

const PURPOSE_OF_WIRE: Readonly<Record<1 | 2, Purpose>> = { 1: 'storage', 2: 'raft' };

/** The replicated part of a sidecar (no local_epoch, kek_kdf, raft_applied_index); null before bootstrap. */
export function snapshotStateOf(s: Sidecar | undefined): SnapshotEncryptionState | null {
  if (s === undefined || s.keys.size === 0) return null;
  return {
    storageEnvelopeActive: s.storageEnvelopeActive,
    storageEnvelopeCutoverIndex: s.storageEnvelopeCutoverIndex,
    activeStorage: s.active.storage,
    activeRaft: s.active.raft,
    keys: [...s.keys.entries()]
      .sort(([a], [b]) => a - b)
      .map(([keyId, k]) => ({ keyId, purpose: k.purpose === 'storage' ? (1 as const) : (2 as const), wrapped: k.wrapped })),
  };
}

export type SnapshotSidecarPlan =
  /** The sidecar is at least as far as the snapshot's sidecar index: install, sidecar unchanged. */
  | { readonly kind: 'keep' }
  /** The sidecar is behind and the snapshot carries the state: rebuild it before installing. */
  | { readonly kind: 'rebuild'; readonly state: SnapshotEncryptionState | null };

/**
 * SH-5 then SH-6 for a received snapshot, before anything of it is written. Throws the HALT:
 * ENVELOPE_CUTOVER_DIVERGENCE when the header's non-zero cutover differs from the sidecar's
 * non-zero cutover (or, with an up-to-date sidecar, from its cutover at all); SIDECAR_BEHIND_RAFT_LOG
 * when the sidecar is behind and the snapshot does not carry the state (v1).
 */
export function planSnapshotInstall(local: Sidecar | undefined, h: SnapshotEncryptionHeader): SnapshotSidecarPlan {
  const R = local?.raftAppliedIndex ?? 0n;
  const C = local?.raftEnvelopeCutoverIndex ?? 0n;
  const N = h.raftEnvelopeCutoverIndex;
  const behind = R < h.sidecarAppliedIndex;
  // A lagging sidecar may legitimately not know the cutover yet (0); any two non-zero values
  // that differ are two different histories.
  if (N !== 0n && N !== C && (C !== 0n || !behind)) {
    throw new HaltError(
      'ENVELOPE_CUTOVER_DIVERGENCE',
      `snapshot ${h.lastIndex} carries raft cutover ${N} but the sidecar says ${C}; not installed (run resync-sidecar with the leader's report)`,
      { index: h.lastIndex, reason: 'ENVELOPE_CUTOVER_DIVERGENCE' },
    );
  }
  if (!behind) return { kind: 'keep' };
  if (h.encryption === undefined) {
    throw new HaltError(
      'SIDECAR_BEHIND_RAFT_LOG',
      `snapshot ${h.lastIndex} covers encryption entries up to ${h.sidecarAppliedIndex} but the sidecar is at ${R}, and the snapshot (format v1) does not carry the encryption state; not installed (run resync-sidecar)`,
      { index: h.lastIndex, reason: 'SIDECAR_BEHIND_RAFT_LOG' },
    );
  }
  return { kind: 'rebuild', state: h.encryption };
}

export interface RebuildInput {
  readonly local: Sidecar | undefined;
  readonly header: SnapshotEncryptionHeader;
  readonly state: SnapshotEncryptionState | null;
  readonly kek: Kek;
  /** This node's last_seen_local_epoch for `keyId` in the SNAPSHOT's registry rows (own full_node_id only), or undefined. */
  readonly registryEpoch: (keyId: number) => number | undefined;
  /** This load's pinned epoch per purpose (KM-8). */
  readonly pinned: Readonly<Record<Purpose, number>>;
  /** `created` for keys new to this node. */
  readonly now: string;
}

/**
 * The sidecar rebuilt from a snapshot's encryption state. Keys, active ids, the storage flag and
 * cutover and the raft cutover come from the snapshot; raft_applied_index = the header's
 * sidecar_applied_index (the last entry inside the snapshot that wrote the sidecar, KM-11);
 * kek_kdf stays the local one.
 *
 * local_epoch (WR-1, KM-8; never lowered, WR-6): for each key, the maximum of
 *   - its local value (a key this node already had),
 *   - this load's pinned epoch of the key's purpose (this load may already issue nonces there),
 *   - the snapshot registry's last_seen_local_epoch of this node's full_node_id for the key, + 1.
 * The registry row says which epochs this node id has already used under the key (for example a
 * member re-added with an empty disk), so the next start, which bumps above the sidecar value,
 * can never reuse a (node_id16, epoch) pair. The +1 is the safe choice: the row's own epoch was
 * used by some earlier load. A fresh node registered at 0 by WR-7 thus records 1 and starts its
 * next load at 2; it does not lose anything but one epoch value.
 *
 * Every wrapped DEK must unwrap under the local KEK before anything is written: KEK_MISMATCH
 * (a HALT: the snapshot is not installed, the sidecar is unchanged).
 */
export function rebuildSidecarFromSnapshot(x: RebuildInput): Sidecar {
  const keys = new Map<number, SidecarKey>();
  for (const k of x.state?.keys ?? []) {
    const purpose = PURPOSE_OF_WIRE[k.purpose];
    const mine = x.local?.keys.get(k.keyId);
    const reg = x.registryEpoch(k.keyId);
    const epoch = Math.max(mine?.localEpoch ?? 0, x.pinned[purpose], reg === undefined ? 0 : reg + 1);
    if (epoch > U16_MAX) {
      throw new HaltError('ENCRYPTION_APPLY', `snapshot ${x.header.lastIndex}: key_id ${k.keyId} would need local_epoch ${epoch}`, {
        index: x.header.lastIndex,
        reason: 'LOCAL_EPOCH_EXHAUSTED',
      });
    }
    keys.set(k.keyId, { purpose, wrapped: k.wrapped, created: mine?.created ?? x.now, localEpoch: epoch });
  }
  // Keys this node knows that the snapshot does not (none in a consistent history; kept rather
  // than dropped, so no DEK this node may have written under is lost).
  for (const [id, k] of x.local?.keys ?? []) if (!keys.has(id)) keys.set(id, k);
  const base: Sidecar = {
    version: 1,
    raftAppliedIndex: x.header.sidecarAppliedIndex > (x.local?.raftAppliedIndex ?? 0n) ? x.header.sidecarAppliedIndex : (x.local?.raftAppliedIndex ?? 0n),
    storageEnvelopeActive: x.state?.storageEnvelopeActive ?? false,
    storageEnvelopeCutoverIndex: x.state?.storageEnvelopeCutoverIndex ?? 0n,
    raftEnvelopeCutoverIndex: x.header.raftEnvelopeCutoverIndex,
    active: { storage: x.state?.activeStorage ?? 0, raft: x.state?.activeRaft ?? 0 },
    keys,
  };
  const next: Sidecar = x.local?.kekKdf === undefined ? base : { ...base, kekKdf: x.local.kekKdf };
  try {
    validateSidecar(next);
  } catch (e) {
    throw new HaltError('ENCRYPTION_APPLY', `snapshot ${x.header.lastIndex}: the rebuilt sidecar is invalid: ${(e as Error).message}`, {
      index: x.header.lastIndex,
      reason: (e as { code?: string }).code ?? 'SIDECAR_MALFORMED',
      cause: e,
    });
  }
  return next;
}

/** KEK-unwraps every key of the rebuilt sidecar (key_id → DEK); a failure is the KEK_MISMATCH HALT. */
export function unwrapRebuiltKeys(s: Sidecar, kek: Kek, snapshotIndex: bigint): ReadonlyMap<number, Uint8Array> {
  try {
    return unwrapSidecarKeys(s, kek);
  } catch (e) {
    throw new HaltError('KEK_MISMATCH', `snapshot ${snapshotIndex}: ${(e as Error).message}; not installed`, { index: snapshotIndex, reason: 'KEK_MISMATCH', cause: e });
  }
}

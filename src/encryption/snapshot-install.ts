// The encryption side of snapshots for one node (issue 11 item 7; SPEC SH-1, SH-4, SH-5, SH-6):
// - `copies()`: the SH-1 meta copies committed with the applied index of an encryption entry;
// - `cutoverSeen()`: the SH-4 never-downgrade watermark for the headers this process writes;
// - `check(header)`: SH-5 (and SH-6 for v1 streams) before anything of a snapshot is staged;
// - `staged(header, row)`: once the stream verified, a sidecar behind the snapshot is rebuilt from
//   the snapshot's encryption state: every wrapped DEK must unwrap under this node's KEK
//   (KEK_MISMATCH otherwise), the keys go into the keystore (the pool follows it), and the new
//   sidecar is written with the KM-7 protocol — all BEFORE the snapshot's data is installed, so a
//   crash leaves a sidecar ahead of the state (the normal FW-7 case), never state under DEKs the
//   sidecar lacks. Every failure is a HaltError and the snapshot is not installed.

import type { Keystore } from '../crypto/keystore.js';
import { HaltError } from '../errors.js';
import type { Kek } from '../keys/kek-provider.js';
import type { NodeIdentity } from '../keys/node-identity.js';
import type { Purpose } from '../keys/sidecar-schema.js';
import type { SidecarStore } from '../keys/sidecar-store.js';
import { planSnapshotInstall, rebuildSidecarFromSnapshot, snapshotStateOf, unwrapRebuiltKeys } from '../keys/snapshot-sidecar.js';
import type { NodeStartView, SnapshotEncryptionHooks } from '../node/encryption-port.js';
import { decodeRegistryValue } from '../storage/registry-store.js';
import { encodeEncryptionState } from '../storage/snapshot-header.js';
import type { EncryptionStateCell } from './state-cell.js';

export interface SnapshotHooksDeps {
  readonly kek: Kek | null;
  readonly sidecar: SidecarStore;
  readonly state: EncryptionStateCell;
  readonly keystore: Keystore;
  readonly identity: NodeIdentity;
  readonly pinned: Readonly<Record<Purpose, number>>;
  readonly now?: () => string;
  /**
   * SH-5: a rebuilt sidecar with a raft cutover gives the engine that cutover and the wrap for its
   * active raft DEK (the installer, WI-5), before the snapshot's data is installed.
   */
  readonly installRaftWrap?: (cutoverIndex: bigint, activeRaftDekId: number) => void;
}

export function createSnapshotHooks(deps: SnapshotHooksDeps): SnapshotEncryptionHooks {
  // SH-4: the highest raft cutover this process has seen (the sidecar at start-up, then every
  // published state); a later 0 never lowers it.
  let seen = deps.state.sidecar()?.raftEnvelopeCutoverIndex ?? 0n;
  deps.state.subscribe(() => {
    const c = deps.state.sidecar()?.raftEnvelopeCutoverIndex ?? 0n;
    if (c > seen) seen = c;
  });
  return {
    copies: () => {
      const s = deps.state.sidecar();
      return {
        raftCutoverIndex: s?.raftEnvelopeCutoverIndex ?? 0n,
        sidecarAppliedIndex: s?.raftAppliedIndex ?? 0n,
        state: encodeEncryptionState(snapshotStateOf(s)),
      };
    },
    cutoverSeen: () => ({ seen, sidecar: deps.state.sidecar()?.raftEnvelopeCutoverIndex ?? 0n }),
    check: (h) => {
      planSnapshotInstall(deps.state.sidecar(), h);
    },
    staged: async (h, registryRow) => {
      const local = deps.state.sidecar();
      const plan = planSnapshotInstall(local, h);
      if (plan.kind === 'keep') return;
      const kek = deps.kek;
      if (kek === null) {
        throw new HaltError('ENCRYPTION_APPLY', `snapshot ${h.lastIndex}: its encryption state needs a KEK and none is configured`, {
          index: h.lastIndex,
          reason: 'KEK_NOT_CONFIGURED',
        });
      }
      const { fullNodeId, nodeId16 } = deps.identity;
      const next = rebuildSidecarFromSnapshot({
        local,
        header: h,
        state: plan.state,
        kek,
        registryEpoch: (keyId) => {
          const raw = registryRow(keyId, nodeId16);
          if (raw === undefined) return undefined;
          const row = decodeRegistryValue(raw, `snapshot registry row (${keyId}, ${nodeId16})`);
          return row.fullNodeId === fullNodeId ? row.lastSeenLocalEpoch : undefined;
        },
        pinned: deps.pinned,
        now: (deps.now ?? (() => new Date().toISOString()))(),
      });
      const deks = unwrapRebuiltKeys(next, kek, h.lastIndex);
      try {
        for (const [id, dek] of deks) deps.keystore.set(id, dek); // the pool follows the keystore
      } catch (e) {
        throw new HaltError('ENCRYPTION_APPLY', `snapshot ${h.lastIndex}: ${(e as Error).message}`, { index: h.lastIndex, reason: 'KEY_CONFLICT', cause: e });
      } finally {
        for (const dek of deks.values()) dek.fill(0);
      }
      try {
        await deps.sidecar.write(next);
      } catch (e) {
        throw new HaltError('ENCRYPTION_APPLY', `snapshot ${h.lastIndex}: sidecar write failed: ${(e as Error).message}`, {
          index: h.lastIndex,
          reason: 'SIDECAR_WRITE_FAILED',
          cause: e,
        });
      }
      deps.state.publish(next);
      if (next.raftEnvelopeCutoverIndex !== 0n) {
        try {
          if (deps.installRaftWrap === undefined) throw new Error('no raft-envelope installer is wired');
          deps.installRaftWrap(next.raftEnvelopeCutoverIndex, next.active.raft);
        } catch (e) {
          throw new HaltError('ENCRYPTION_APPLY', `snapshot ${h.lastIndex}: installing the raft wrap (cutover ${next.raftEnvelopeCutoverIndex}) failed: ${(e as Error).message}`, {
            index: h.lastIndex,
            reason: 'INSTALLER_FAILED',
            cause: e,
          });
        }
      }
    },
  };
}

/**
 * The group B guard inputs from the node's recorded snapshot point (SH-1): L for KM-12 and the
 * recorded cutover for SH-5 (OP-4 row 11). The founding point (index 1, written before any entry
 * applied) counts as cutover 0 even when an older build recorded it as "none".
 */
export function snapshotGuardInputs(view: NodeStartView): {
  snapshotSidecarIndex: bigint;
  snapshot: { recordedCutover: bigint | null } | undefined;
} {
  const r = view.snapshotRecord;
  if (r === undefined) return { snapshotSidecarIndex: 0n, snapshot: undefined };
  const recordedCutover = r.raftCutoverIndex === null && r.index <= 1n ? 0n : r.raftCutoverIndex;
  return { snapshotSidecarIndex: r.sidecarAppliedIndex, snapshot: { recordedCutover } };
}

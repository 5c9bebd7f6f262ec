// `resync-sidecar` planning (SPEC KM-13): compute a repaired sidecar offline, from local replay of
// the Raft log or from the leader's sidecar report. Pure apart from the injected log and registry
// views; the caller writes the result with SidecarStore.write (KM-7) only if this returns, so a
// refusal writes nothing and the node keeps refusing to start.

import { isCipherBackendFailure, KeyError } from '../errors.js';
import { decideEncryptionEntry } from './entry-apply.js';
import { unwrapSidecarKeys } from './hydrate.js';
import type { Kek } from './kek-provider.js';
import type { RegistryView } from './registry-rules.js';
import { emptySidecar, type Sidecar, type SidecarKey, U16_MAX, validateSidecar, withKeys } from './sidecar-schema.js';
import type { SidecarReport } from './sidecar-report.js';
import type { LogEntryView, LogView } from './startup-guards.js';

export interface ResyncBase {
  /** The node's current sidecar (undefined when it has none). */
  readonly local: Sidecar | undefined;
  /** E: the state machine's durable applied index. */
  readonly appliedIndex: bigint;
  readonly kek: Kek;
  /** The local `registry` table, for this node's last_seen epochs. */
  readonly registry: RegistryView;
  readonly fullNodeId: bigint;
  readonly nodeId16: number;
  /** `created` for keys first seen during a replay. */
  readonly now: string;
}

const LEADER_HINT = 'pass --leader-admin ADDR or --leader-report FILE';

/** Every wrapped DEK must unwrap under the local KEK before anything is written (KEK_MISMATCH). */
function checkUnwraps(s: Sidecar, kek: Kek): void {
  for (const dek of unwrapSidecarKeys(s, kek).values()) dek.fill(0);
}

function registryEpoch(b: ResyncBase, keyId: number): number {
  const row = b.registry.get(keyId, b.nodeId16);
  return row !== undefined && row.fullNodeId === b.fullNodeId ? row.lastSeenLocalEpoch : 0;
}

/**
 * KM-13, leader report: keys, active ids, flags and cutovers from the report; raft_applied_index =
 * its latest_applied_index; each key's local_epoch = max(local, writer_registry_for_caller) + 1;
 * the local kek_kdf is kept. A report behind the local applied index is INVALID_ARGUMENT.
 */
export function resyncFromReport(b: ResyncBase, report: SidecarReport): Sidecar {
  if (report.latestAppliedIndex < b.appliedIndex) {
    throw new KeyError('INVALID_ARGUMENT', `the leader report is stale: latest_applied_index ${report.latestAppliedIndex} is below this node's applied index ${b.appliedIndex}`);
  }
  const keys = new Map<number, SidecarKey>();
  for (const [id, k] of report.keys) {
    // The local registry row is included too: it can only be at or below the leader's, but a
    // report saved earlier than this node's last registration must not produce a reused epoch.
    const epoch = Math.max(b.local?.keys.get(id)?.localEpoch ?? 0, report.writerRegistryForCaller?.get(id) ?? 0, registryEpoch(b, id)) + 1;
    if (epoch > U16_MAX) throw new KeyError('LOCAL_EPOCH_EXHAUSTED', `key_id ${id} (${k.purpose}) would need local_epoch ${epoch}; rotate the ${k.purpose} DEK first`);
    keys.set(id, { purpose: k.purpose, wrapped: k.wrapped, created: k.created, localEpoch: epoch });
  }
  const base: Sidecar = {
    version: 1,
    raftAppliedIndex: report.latestAppliedIndex,
    storageEnvelopeActive: report.storageEnvelopeActive,
    storageEnvelopeCutoverIndex: report.storageEnvelopeCutoverIndex,
    raftEnvelopeCutoverIndex: report.raftEnvelopeCutoverIndex,
    active: { ...report.active },
    keys,
  };
  const next: Sidecar = b.local?.kekKdf === undefined ? base : { ...base, kekKdf: b.local.kekKdf };
  validateSidecar(next);
  checkUnwraps(next, b.kek);
  return next;
}

export interface LocalReplayInput extends ResyncBase {
  /** S: the latest snapshot's index (0 if none). */
  readonly snapshotIndex: bigint;
  /** L: the sidecar_applied_index recorded with that snapshot (0 if none). */
  readonly snapshotSidecarIndex: bigint;
  readonly log: LogView;
  /** As in KM-12: the FSM payload of a normal entry, unwrapped when `wrapped`. */
  readonly payloadOf: (entry: LogEntryView, wrapped: boolean) => Uint8Array;
}

/** Registrations are not replayed into the registry (the state machine already applied them). */
const NO_ROWS: RegistryView = { get: () => undefined };

/**
 * KM-13, local replay: re-run every `0x04`/`0x05` entry of `(max(R, S), E]` through the apply
 * decision, keeping only its sidecar effect; then every key's local_epoch = max(sidecar, this
 * node's registry last_seen) (the next start bumps above both). Needs R ≥ L and the whole range
 * in the log; otherwise SIDECAR_BEHIND_RAFT_LOG / LOG_COMPACTED_PAST_SIDECAR with a hint.
 */
export function resyncByLocalReplay(x: LocalReplayInput): Sidecar {
  let s = x.local ?? emptySidecar();
  const R = s.raftAppliedIndex;
  if (R < x.snapshotSidecarIndex) {
    throw new KeyError('SIDECAR_BEHIND_RAFT_LOG', `the sidecar (${R}) is behind the snapshot's sidecar index ${x.snapshotSidecarIndex}; local replay is impossible: ${LEADER_HINT}`);
  }
  let lo = x.snapshotIndex;
  if (R > lo) lo = R;
  if (lo < x.appliedIndex && lo + 1n < x.log.firstIndex()) {
    throw new KeyError('LOG_COMPACTED_PAST_SIDECAR', `entries (${lo}, ${x.appliedIndex}] are no longer all in the log (it starts at ${x.log.firstIndex()}): ${LEADER_HINT}`);
  }
  if (lo < x.appliedIndex) {
    for (const entry of x.log.entries(lo, x.appliedIndex)) {
      if (entry.kind !== 'normal' || entry.data.length === 0) continue;
      const C = s.raftEnvelopeCutoverIndex;
      let payload: Uint8Array;
      try {
        payload = x.payloadOf(entry, C !== 0n && entry.index > C);
      } catch (e) {
        // A failing cipher backend is not an unreadable entry: its own error, not the leader hint.
        if (isCipherBackendFailure(e)) throw e;
        throw new KeyError('SIDECAR_BEHIND_RAFT_LOG', `entry ${entry.index} cannot be read for replay (${(e as Error).message}): ${LEADER_HINT}`, { cause: e });
      }
      const op = payload.length > 0 ? payload[0]! : -1;
      if (op !== 0x04 && op !== 0x05) continue;
      const d = decideEncryptionEntry(payload, { index: entry.index, sidecar: s, registry: NO_ROWS, pinned: { storage: 0, raft: 0 }, kekConfigured: true, now: x.now });
      if ('halt' in d) {
        throw new KeyError('SIDECAR_BEHIND_RAFT_LOG', `entry ${entry.index} does not replay (${d.halt.reason}): ${LEADER_HINT}`, { cause: d.halt });
      }
      if (d.effect.sidecar !== null) s = d.effect.sidecar;
    }
  }
  const next = withKeys(s, (keys) => {
    for (const [id, k] of keys) keys.set(id, { ...k, localEpoch: Math.max(k.localEpoch, registryEpoch(x, id)) });
  });
  validateSidecar(next);
  checkUnwraps(next, x.kek);
  return next;
}

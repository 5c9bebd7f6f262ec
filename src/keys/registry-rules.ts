// Writer registry rules (SPEC WR-1..WR-11) as pure, deterministic functions over a read-only view
// of the `registry` table (src/storage/registry-store.ts holds the storage). Nothing here does
// I/O: callers pass the rows they read and persist the writes these functions return.

import { KeyError } from '../errors.js';
import type { RegistryRow } from '../storage/registry-store.js';
import { lowNodeId16 } from './node-identity.js';
import { U16_MAX } from './sidecar-schema.js';

export type { RegistryRow } from '../storage/registry-store.js';

/** One registration: the body of a `0x03` entry, a bootstrap batch row, or a proposer row (FW-3). */
export interface Registration {
  readonly dekId: number;
  readonly fullNodeId: bigint;
  readonly localEpoch: number;
}

/** Read access to the registry (applied rows, plus the batch's own earlier writes inside apply). */
export interface RegistryView {
  /** The row, undefined when absent; a malformed row throws (WR-2), it is never "absent". */
  get(dekId: number, nodeId16: number): RegistryRow | undefined;
}

/** A row to put (registry rows are never deleted by these rules, WR-9). */
export interface RegistryWrite {
  readonly dekId: number;
  readonly nodeId16: number;
  readonly row: RegistryRow;
}

/** WR-3's five cases. */
export type RegistrationDecision =
  | { readonly kind: 'insert'; readonly write: RegistryWrite }
  | { readonly kind: 'bump'; readonly write: RegistryWrite }
  | { readonly kind: 'replay' }
  | { readonly kind: 'rollback'; readonly existing: RegistryRow }
  | { readonly kind: 'collision'; readonly existing: RegistryRow };

const hex16 = (n: number): string => `0x${n.toString(16).padStart(4, '0')}`;

/** WR-3: decides one registration against the current row of `(dek_id, low16(full_node_id))`. */
export function decideRegistration(existing: RegistryRow | undefined, reg: Registration): RegistrationDecision {
  const nodeId16 = lowNodeId16(reg.fullNodeId);
  if (existing === undefined) {
    return { kind: 'insert', write: { dekId: reg.dekId, nodeId16, row: { fullNodeId: reg.fullNodeId, firstSeenLocalEpoch: reg.localEpoch, lastSeenLocalEpoch: reg.localEpoch } } };
  }
  if (existing.fullNodeId !== reg.fullNodeId) return { kind: 'collision', existing };
  if (reg.localEpoch > existing.lastSeenLocalEpoch) {
    return { kind: 'bump', write: { dekId: reg.dekId, nodeId16, row: { ...existing, lastSeenLocalEpoch: reg.localEpoch } } };
  }
  if (reg.localEpoch === existing.lastSeenLocalEpoch) return { kind: 'replay' };
  return { kind: 'rollback', existing };
}

/** The error a rejected decision maps to (HALT reason at apply, 409 at the leader pre-check). */
export function registrationError(reg: Registration, d: RegistrationDecision): KeyError | null {
  const where = `dek_id ${reg.dekId} node_id16 ${hex16(lowNodeId16(reg.fullNodeId))}`;
  if (d.kind === 'rollback') {
    return new KeyError(
      'LOCAL_EPOCH_ROLLBACK',
      `${where}: local_epoch ${reg.localEpoch} is below the registered last_seen_local_epoch ${d.existing.lastSeenLocalEpoch}`,
    );
  }
  if (d.kind === 'collision') {
    return new KeyError(
      'NODE_ID_COLLISION',
      `${where}: full_node_id ${reg.fullNodeId} collides with registered full_node_id ${d.existing.fullNodeId}`,
    );
  }
  return null;
}

export type RegistrationsOutcome =
  | { readonly ok: true; readonly writes: readonly RegistryWrite[] }
  | { readonly ok: false; readonly error: KeyError };

/**
 * Applies registrations in order (a bootstrap batch, or one proposer row) with read-your-writes,
 * all or nothing: the first case 4 or 5 rejects the whole set and no write is returned.
 */
export function applyRegistrations(view: RegistryView, regs: readonly Registration[]): RegistrationsOutcome {
  const overlay = new Map<string, RegistryRow>();
  const writes: RegistryWrite[] = [];
  for (const reg of regs) {
    const nodeId16 = lowNodeId16(reg.fullNodeId);
    const k = `${reg.dekId}:${nodeId16}`;
    const d = decideRegistration(overlay.get(k) ?? view.get(reg.dekId, nodeId16), reg);
    const error = registrationError(reg, d);
    if (error !== null) return { ok: false, error };
    if (d.kind === 'insert' || d.kind === 'bump') {
      overlay.set(k, d.write.row);
      writes.push(d.write);
    }
  }
  return { ok: true, writes };
}

/** Leader pre-check verdict (WR-3): propose it, or answer success without proposing (case 3). */
export type PrecheckVerdict = 'propose' | 'already-registered';

/**
 * WR-3 leader pre-check: `reg` against the applied rows and the registrations already admitted
 * but not yet applied (in admission order). Case 4 → LOCAL_EPOCH_ROLLBACK, case 5 →
 * NODE_ID_COLLISION (the caller REJECTs with 409 and proposes nothing). The epoch range is
 * checked first (LOCAL_EPOCH_OUT_OF_RANGE, 400) before anything is narrowed to 16 bits.
 */
export function precheckRegistration(applied: RegistryView, pending: readonly Registration[], reg: Registration): PrecheckVerdict {
  checkWireEpoch(reg.localEpoch);
  checkRegistrationIds(reg);
  const nodeId16 = lowNodeId16(reg.fullNodeId);
  let row = applied.get(reg.dekId, nodeId16);
  for (const p of pending) {
    if (p.dekId !== reg.dekId || lowNodeId16(p.fullNodeId) !== nodeId16) continue;
    const d = decideRegistration(row, p);
    if (d.kind === 'insert' || d.kind === 'bump') row = d.write.row;
    // A pending registration that would itself HALT was rejected when admitted; ignore it here.
  }
  const d = decideRegistration(row, reg);
  const error = registrationError(reg, d);
  if (error !== null) throw error;
  return d.kind === 'replay' ? 'already-registered' : 'propose';
}

/** OP-2: every epoch from the wire is an integer ≤ 0xFFFF before it is narrowed. */
export function checkWireEpoch(epoch: number): void {
  if (!Number.isInteger(epoch) || epoch < 0 || epoch > U16_MAX) {
    throw new KeyError('LOCAL_EPOCH_OUT_OF_RANGE', `local_epoch ${epoch} is not an integer in [0, ${U16_MAX}]`);
  }
}

/** OP-2 / WR-4: non-zero dek_id and full_node_id. */
export function checkRegistrationIds(reg: Registration): void {
  if (!Number.isInteger(reg.dekId) || reg.dekId <= 0 || reg.dekId > 0xffffffff) throw new KeyError('RESERVED_KEY_ID', `dek_id ${reg.dekId} is not a non-zero u32`);
  if (reg.fullNodeId <= 0n || reg.fullNodeId > 0xffffffffffffffffn) throw new KeyError('NODE_ID_INVALID', `full_node_id ${reg.fullNodeId} is not a non-zero u64`);
}

// ---- membership (WR-7, WR-10) ----

/** Two distinct full_node_ids that share a node_id16. */
export interface NodeIdCollision {
  readonly nodeId16: number;
  readonly fullNodeIds: readonly [bigint, bigint];
}

/** Every pair of distinct full_node_ids sharing node_id16; duplicates of one id are not a collision. */
export function findNodeIdCollisions(fullNodeIds: Iterable<bigint>): NodeIdCollision[] {
  const byLow = new Map<number, bigint>();
  const out: NodeIdCollision[] = [];
  for (const f of new Set(fullNodeIds)) {
    const low = lowNodeId16(f);
    const seen = byLow.get(low);
    if (seen === undefined) byLow.set(low, f);
    else out.push({ nodeId16: low, fullNodeIds: [seen, f] });
  }
  return out;
}

/**
 * WR-10 (`NODE_ID_COLLISION` at start-up): the membership view (voters and learners) must not hold
 * two distinct full_node_ids with one node_id16. Skipped when encryption is off or with fewer
 * than two members.
 */
export function checkMembershipCollisions(encryptionOn: boolean, members: readonly { raftId: string; fullNodeId: bigint }[]): void {
  if (!encryptionOn || members.length < 2) return;
  const c = findNodeIdCollisions(members.map((m) => m.fullNodeId));
  if (c.length === 0) return;
  const name = (f: bigint): string => members.find((m) => m.fullNodeId === f)?.raftId ?? String(f);
  const first = c[0]!;
  throw new KeyError(
    'NODE_ID_COLLISION',
    `members '${name(first.fullNodeIds[0])}' and '${name(first.fullNodeIds[1])}' share node_id16 ${hex16(first.nodeId16)}; replace one of them with a member of another Raft id`,
  );
}

/** WR-7: what the leader does before adding a voter or learner, per active DEK. */
export type AddMemberStep =
  | { readonly kind: 'skip' }
  | { readonly kind: 'register'; readonly registration: Registration };

/**
 * WR-7 pre-step for one active DEK (`dekId` 0 = no active DEK → skip): same full_node_id already
 * registered → skip; another full_node_id → NODE_ID_COLLISION; no row → register at epoch 0.
 */
export function addMemberPreStep(view: RegistryView, dekId: number, newFullNodeId: bigint): AddMemberStep {
  if (dekId === 0) return { kind: 'skip' };
  const nodeId16 = lowNodeId16(newFullNodeId);
  const row = view.get(dekId, nodeId16);
  if (row === undefined) return { kind: 'register', registration: { dekId, fullNodeId: newFullNodeId, localEpoch: 0 } };
  if (row.fullNodeId === newFullNodeId) return { kind: 'skip' };
  throw new KeyError(
    'NODE_ID_COLLISION',
    `new member full_node_id ${newFullNodeId} shares node_id16 ${hex16(nodeId16)} with registered full_node_id ${row.fullNodeId} (dek_id ${dekId})`,
  );
}

// ---- start-up guards (WR-5, WR-10, WR-11) ----

export interface RollbackGuardInput {
  readonly encryptionOn: boolean;
  readonly activeStorageDekId: number;
  readonly storageEnvelopeActive: boolean;
  readonly fullNodeId: bigint;
  /** This load's pinned storage epoch (after the bump). */
  readonly pinnedStorageEpoch: number;
  /**
   * The active storage DEK came with a rotation whose index is above the durable applied index
   * (the sidecar is ahead, KM-12: a crash after the sidecar write, before the applied index
   * commit). Its rows cannot be in the registry yet (the replay applies them, then this node
   * registers, WR-6), so a missing row is expected, not a lost anchor (AS-16).
   */
  readonly activeStorageAboveApplied?: boolean;
}

/**
 * WR-10 (`LOCAL_EPOCH_ROLLBACK` at start-up), for the active storage DEK only: the pinned epoch
 * must be strictly above the local row's last_seen_local_epoch. A missing row or another node's
 * row refuses only once the storage envelope is active. A registry read error propagates with its
 * own code (STORAGE_IO, REGISTRY_VALUE_MALFORMED), never as a rollback.
 */
export function checkLocalEpochRollback(view: RegistryView, g: RollbackGuardInput): void {
  if (!g.encryptionOn || g.activeStorageDekId === 0) return;
  const nodeId16 = lowNodeId16(g.fullNodeId);
  const row = view.get(g.activeStorageDekId, nodeId16);
  const where = `active storage DEK key_id ${g.activeStorageDekId}, node_id16 ${hex16(nodeId16)}`;
  if (row === undefined || row.fullNodeId !== g.fullNodeId) {
    if (!g.storageEnvelopeActive) return;
    if (row === undefined && g.activeStorageAboveApplied === true) return;
    throw new KeyError(
      'LOCAL_EPOCH_ROLLBACK',
      `${where}: ${row === undefined ? 'no registry row' : `the registry row belongs to full_node_id ${row.fullNodeId}`} while the storage envelope is active; run resync-sidecar or replace this member`,
    );
  }
  if (g.pinnedStorageEpoch <= row.lastSeenLocalEpoch) {
    throw new KeyError(
      'LOCAL_EPOCH_ROLLBACK',
      `${where}: pinned local_epoch ${g.pinnedStorageEpoch} is not above the registered ${row.lastSeenLocalEpoch} (sidecar restored from an older copy?); run resync-sidecar or replace this member`,
    );
  }
}

/** One peer's WR-11 answer: its rows `(d, node_id16)` for the DEKs asked about. */
export interface PeerRegistryAnswer {
  readonly peer: string;
  readonly rows: readonly { readonly dekId: number; readonly row: RegistryRow }[];
}

/** True once a majority of the voters, this node included, has answered (WR-11). */
export function peerCheckQuorum(voters: readonly string[], self: string, answered: Iterable<string>): boolean {
  const set = new Set(answered);
  if (voters.includes(self)) set.add(self);
  let n = 0;
  for (const v of new Set(voters)) if (set.has(v)) n++;
  return n > Math.floor(new Set(voters).size / 2);
}

/**
 * WR-11: refuse when any peer holds a row with this node's full_node_id whose last_seen_local_epoch
 * is at least the epoch this load pinned for that DEK's purpose (the data directory was restored
 * in place). `pinnedByDek` maps each active DEK to its purpose's pinned epoch.
 */
export function checkPeerRegistryAnswers(
  answers: readonly PeerRegistryAnswer[],
  fullNodeId: bigint,
  pinnedByDek: ReadonlyMap<number, number>,
): void {
  for (const a of answers) {
    for (const { dekId, row } of a.rows) {
      const pinned = pinnedByDek.get(dekId);
      if (pinned === undefined || row.fullNodeId !== fullNodeId) continue;
      if (row.lastSeenLocalEpoch >= pinned) {
        throw new KeyError(
          'LOCAL_EPOCH_ROLLBACK',
          `peer '${a.peer}' has this node registered for dek_id ${dekId} at local_epoch ${row.lastSeenLocalEpoch}, not below this load's ${pinned}: the data directory was restored in place; run resync-sidecar with the leader's report or replace this member`,
        );
      }
    }
  }
}

/** WR-5: what process start does for one purpose whose envelope is active. */
export type StartRegistration = 'registered' | 'register';

/**
 * WR-5: registered when the local row's last_seen equals the pinned epoch (a missing row, or a row
 * of another node, counts as last = 0); otherwise arm the gate and propose a registration. (last
 * above the pinned epoch cannot reach here: the WR-10 guard refused the start.)
 */
export function startRegistration(row: RegistryRow | undefined, fullNodeId: bigint, pinnedEpoch: number): StartRegistration {
  const last = row !== undefined && row.fullNodeId === fullNodeId ? row.lastSeenLocalEpoch : 0;
  return last === pinnedEpoch ? 'registered' : 'register';
}

/** WR-1: registered for a DEK in this load = own row with last_seen equal to the pinned epoch. */
export function isRegistered(row: RegistryRow | undefined, fullNodeId: bigint, pinnedEpoch: number): boolean {
  return row !== undefined && row.fullNodeId === fullNodeId && row.lastSeenLocalEpoch === pinnedEpoch;
}

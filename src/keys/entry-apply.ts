// The apply decision of every encryption entry (SPEC FW-3..FW-7, RO-4, RO-5, RT-1, WI-2..WI-5,
// KM-11) as a pure function that returns an EFFECT VALUE. It never does I/O: the apply pipeline
// carries out the effect in this order, and only then publishes it (issue 10, Step 0):
//
//   1. KEK-unwrap `installKeys` and set them in the keystore (HALT KEK_UNWRAP_FAILED / KEY_CONFLICT);
//   2. commit `registryWrites` durably, with every earlier entry and the previous applied index (WR-2);
//   3. write `sidecar` with the KM-7 protocol (when non-null), before this entry's applied index
//      is committed;
//   4. refresh the state cache from the sidecar;
//   5. call the installer with `installer` (when non-null); an error HALTs with INSTALLER_FAILED (WI-6).
//
// A refusal comes back as `{ halt }`: HaltError ENCRYPTION_APPLY with the reason of SPEC §13.

import { defectOn } from '../defect-switches.js';
import { HaltError, SealkvError } from '../errors.js';
import {
  decodeEncryptionEntry,
  type BootstrapEntry,
  type EncryptionEntry,
  type RegisterWriterEntry,
  type RotationEntry,
  SUBTAG_ENABLE_RAFT_ENVELOPE,
  SUBTAG_ENABLE_STORAGE_ENVELOPE,
} from './encryption-entries.js';
import { applyRegistrations, type Registration, type RegistryView, type RegistryWrite } from './registry-rules.js';
import { advanceAppliedIndex, emptySidecar, type Purpose, type Sidecar, type SidecarKey, withKeys } from './sidecar-schema.js';

export interface KeyToInstall {
  readonly keyId: number;
  readonly purpose: Purpose;
  readonly wrapped: Uint8Array;
}

export interface InstallerCall {
  readonly cutoverIndex: bigint;
  /** WI-4: the sidecar's active raft DEK at apply time, never the entry's own dek_id. */
  readonly activeRaftDekId: number;
  /** WI-6: named in the INSTALLER_FAILED message. */
  readonly branch: 'fresh cutover' | 'already-active replay' | 'raft rotation';
}

export interface EncryptionEffect {
  /** applied: changed state; consumed: only the applied index moves (C-3); replayed: behind the sidecar (FW-7). */
  readonly outcome: 'applied' | 'consumed' | 'replayed';
  readonly installKeys: readonly KeyToInstall[];
  readonly registryWrites: readonly RegistryWrite[];
  /** The next sidecar to persist (KM-7), or null: this entry does not write the sidecar. */
  readonly sidecar: Sidecar | null;
  readonly installer: InstallerCall | null;
  /** The storage cutover index set by this entry (fresh enable-storage-envelope), for the state cache. */
  readonly storageCutoverIndex: bigint | null;
}

export type EntryDecision = { readonly effect: EncryptionEffect } | { readonly halt: HaltError };

export interface EntryApplyContext {
  /** The entry's Raft index (FW-6; 0 = not supplied). */
  readonly index: bigint;
  /** The current sidecar; undefined when this node has none yet. */
  readonly sidecar: Sidecar | undefined;
  /** Applied rows plus the rows earlier entries of the same batch wrote. */
  readonly registry: RegistryView;
  /** This load's pinned epochs (KM-8), for the rotation's local_epoch (WR-6, RT-1). */
  readonly pinned: Readonly<Record<Purpose, number>>;
  /** False when this node has no KEK / sidecar store (encryption off): bootstrap and rotations HALT. */
  readonly kekConfigured: boolean;
  /** `created` timestamp for new keys (RFC 3339 UTC); passed in so the decision stays deterministic. */
  readonly now: string;
}

class Refusal {
  constructor(
    readonly reason: string,
    readonly message: string,
    readonly cause?: unknown,
  ) {}
}

function refuse(reason: string, message: string, cause?: unknown): never {
  throw new Refusal(reason, message, cause);
}

const effect = (e: Partial<EncryptionEffect> & Pick<EncryptionEffect, 'outcome'>): EncryptionEffect => ({
  installKeys: [],
  registryWrites: [],
  sidecar: null,
  installer: null,
  storageCutoverIndex: null,
  ...e,
});

/** Decides the apply of one encryption payload (first byte in 0x03..0x07) at `ctx.index`. */
export function decideEncryptionEntry(payload: Uint8Array, ctx: EntryApplyContext): EntryDecision {
  try {
    const entry = decodeEncryptionEntry(payload);
    return { effect: decide(entry, ctx) };
  } catch (e) {
    const at = `entry ${ctx.index}`;
    if (e instanceof Refusal) {
      return { halt: new HaltError('ENCRYPTION_APPLY', `${at}: ${e.message}`, { reason: e.reason, cause: e.cause, index: ctx.index }) };
    }
    if (e instanceof SealkvError) {
      // Decode errors (FSM_WIRE_*, RESERVED_OPCODE) and registry read errors (REGISTRY_*, STORAGE_IO).
      return { halt: new HaltError('ENCRYPTION_APPLY', `${at}: ${e.message}`, { reason: e.code, cause: e, index: ctx.index }) };
    }
    throw e;
  }
}

function decide(entry: EncryptionEntry, ctx: EntryApplyContext): EncryptionEffect {
  switch (entry.kind) {
    case 'register-writer':
      return decideRegisterWriter(entry, ctx);
    case 'bootstrap':
      return decideBootstrap(entry, ctx);
    case 'rotation':
      if (entry.subTag === SUBTAG_ENABLE_STORAGE_ENVELOPE) return decideStorageCutover(entry, ctx);
      if (entry.subTag === SUBTAG_ENABLE_RAFT_ENVELOPE) return decideRaftCutover(entry, ctx);
      return decideRotateDek(entry, ctx);
  }
}

/** FW-7: an entry at or below the sidecar's raft_applied_index is already in the sidecar (index 0 never is). */
function isReplay(ctx: EntryApplyContext): boolean {
  return ctx.sidecar !== undefined && ctx.index !== 0n && ctx.index <= ctx.sidecar.raftAppliedIndex;
}

function registrations(ctx: EntryApplyContext, regs: readonly Registration[]): readonly RegistryWrite[] {
  const out = applyRegistrations(ctx.registry, regs);
  if (!out.ok) refuse(out.error.code, out.error.message, out.error);
  return out.writes;
}

/** The sidecar to write when only the applied index moves (CONSUME), or null when nothing changes. */
function consumed(ctx: EntryApplyContext, current: Sidecar): Sidecar | null {
  const next = advanceAppliedIndex(current, ctx.index);
  return next === current && ctx.sidecar !== undefined ? null : next;
}

function requireKek(ctx: EntryApplyContext, what: string): Sidecar {
  if (!ctx.kekConfigured) refuse('KEK_NOT_CONFIGURED', `${what} needs --encryption and a KEK on this node`);
  return ctx.sidecar ?? emptySidecar();
}

function checkNoConflict(s: Sidecar, keyId: number, purpose: Purpose, wrapped: Uint8Array): void {
  const have = s.keys.get(keyId);
  if (have !== undefined && (have.purpose !== purpose || !Buffer.from(have.wrapped).equals(Buffer.from(wrapped)))) {
    refuse('KEY_CONFLICT', `key_id ${keyId} (${purpose}) is already in the sidecar with other contents`);
  }
}

// FW-3 / WR-3: registrations never write the sidecar (KM-12) and always apply normally (FW-7).
function decideRegisterWriter(e: RegisterWriterEntry, ctx: EntryApplyContext): EncryptionEffect {
  return effect({ outcome: 'applied', registryWrites: registrations(ctx, [e.registration]) });
}

// FW-4 / RO-4 / WR-4 / KM-4
function decideBootstrap(e: BootstrapEntry, ctx: EntryApplyContext): EncryptionEffect {
  if (e.storageDekId === 0 || e.raftDekId === 0) refuse('RESERVED_KEY_ID', 'bootstrap names key_id 0');
  if (e.storageDekId === e.raftDekId) refuse('DUPLICATE_DEK_ID', `bootstrap storage and raft DEKs share key_id ${e.storageDekId}`);
  for (const r of e.batch) {
    if (r.dekId !== e.storageDekId && r.dekId !== e.raftDekId) {
      refuse('FOREIGN_BATCH_DEK', `bootstrap batch row names dek_id ${r.dekId}, neither ${e.storageDekId} nor ${e.raftDekId}`);
    }
  }
  const current = requireKek(ctx, 'bootstrap');
  const installKeys: KeyToInstall[] = [
    { keyId: e.storageDekId, purpose: 'storage', wrapped: e.storageWrapped },
    { keyId: e.raftDekId, purpose: 'raft', wrapped: e.raftWrapped },
  ];
  if (isReplay(ctx)) {
    return effect({ outcome: 'replayed', installKeys, registryWrites: registrations(ctx, e.batch) });
  }
  if (current.active.storage !== 0 || current.active.raft !== 0) {
    refuse('ENCRYPTION_ALREADY_BOOTSTRAPPED', `this node is already bootstrapped (storage ${current.active.storage}, raft ${current.active.raft})`);
  }
  checkNoConflict(current, e.storageDekId, 'storage', e.storageWrapped);
  checkNoConflict(current, e.raftDekId, 'raft', e.raftWrapped);
  const registryWrites = registrations(ctx, e.batch);
  const key = (purpose: Purpose, wrapped: Uint8Array): SidecarKey => ({ purpose, wrapped, created: ctx.now, localEpoch: 0 });
  const next = withKeys(advanceAppliedIndex(current, ctx.index), (keys) => {
    keys.set(e.storageDekId, key('storage', e.storageWrapped));
    keys.set(e.raftDekId, key('raft', e.raftWrapped));
  });
  return effect({ outcome: 'applied', installKeys, registryWrites, sidecar: { ...next, active: { storage: e.storageDekId, raft: e.raftDekId } } });
}

function checkCutoverShape(e: RotationEntry, purpose: Purpose, what: string): void {
  if (e.purpose !== purpose) refuse('INVALID_PAYLOAD', `${what} carries purpose ${e.purpose}, expected ${purpose}`);
  if (e.wrapped.length !== 0) refuse('INVALID_PAYLOAD', `${what} carries ${e.wrapped.length} wrapped bytes, expected none`);
  if (e.proposer.dekId !== e.dekId) refuse('INVALID_PAYLOAD', `${what} proposer dek_id ${e.proposer.dekId} differs from dek_id ${e.dekId}`);
}

// RO-5: stale check first, then already active (the opposite of the raft cutover, WI-3).
function decideStorageCutover(e: RotationEntry, ctx: EntryApplyContext): EncryptionEffect {
  checkCutoverShape(e, 'storage', 'enable-storage-envelope');
  const current = requireKek(ctx, 'enable-storage-envelope');
  if (isReplay(ctx)) {
    // FW-7: the proposer row only when this entry was the fresh cutover.
    const rows = ctx.index === current.storageEnvelopeCutoverIndex ? registrations(ctx, [e.proposer]) : [];
    return effect({ outcome: 'replayed', registryWrites: rows });
  }
  if (e.dekId !== current.active.storage || current.storageEnvelopeActive) {
    return effect({ outcome: 'consumed', sidecar: consumed(ctx, current) });
  }
  const registryWrites = registrations(ctx, [e.proposer]);
  const next: Sidecar = { ...advanceAppliedIndex(current, ctx.index), storageEnvelopeActive: true, storageEnvelopeCutoverIndex: ctx.index };
  return effect({ outcome: 'applied', registryWrites, sidecar: next, storageCutoverIndex: ctx.index });
}

// WI-2 / WI-3: index zero, shape, already active (before stale), stale, fresh.
function decideRaftCutover(e: RotationEntry, ctx: EntryApplyContext): EncryptionEffect {
  if (ctx.index === 0n) refuse('APPLY_INDEX_ZERO', 'enable-raft-envelope applied without its index');
  checkCutoverShape(e, 'raft', 'enable-raft-envelope');
  const current = requireKek(ctx, 'enable-raft-envelope');
  // (The defect switch, off in production, installs the marker's DEK instead of the active one.)
  const replayInstaller = (s: Sidecar): InstallerCall | null =>
    s.raftEnvelopeCutoverIndex !== 0n
      ? { cutoverIndex: s.raftEnvelopeCutoverIndex, activeRaftDekId: defectOn('installer-marker-dek') ? e.dekId : s.active.raft, branch: 'already-active replay' }
      : null;
  if (isReplay(ctx)) {
    const rows = ctx.index === current.raftEnvelopeCutoverIndex ? registrations(ctx, [e.proposer]) : [];
    return effect({ outcome: 'replayed', registryWrites: rows, installer: replayInstaller(current) });
  }
  if (current.raftEnvelopeCutoverIndex !== 0n) {
    return effect({ outcome: 'consumed', sidecar: consumed(ctx, current), installer: replayInstaller(current) });
  }
  if (e.dekId !== current.active.raft) return effect({ outcome: 'consumed', sidecar: consumed(ctx, current) });
  const registryWrites = registrations(ctx, [e.proposer]);
  const next: Sidecar = { ...advanceAppliedIndex(current, ctx.index), raftEnvelopeCutoverIndex: ctx.index };
  return effect({
    outcome: 'applied',
    registryWrites,
    sidecar: next,
    installer: { cutoverIndex: ctx.index, activeRaftDekId: next.active.raft, branch: 'fresh cutover' },
  });
}

// RT-1 / WR-6 / WI-4
function decideRotateDek(e: RotationEntry, ctx: EntryApplyContext): EncryptionEffect {
  if (e.dekId === 0) refuse('RESERVED_KEY_ID', 'rotate-dek names key_id 0');
  if (e.wrapped.length === 0) refuse('INVALID_PAYLOAD', `rotate-dek to key_id ${e.dekId} carries no wrapped DEK`);
  if (e.proposer.dekId !== e.dekId) refuse('INVALID_PAYLOAD', `rotate-dek proposer dek_id ${e.proposer.dekId} differs from the new key_id ${e.dekId}`);
  const current = requireKek(ctx, 'rotate-dek');
  const installKeys: KeyToInstall[] = [{ keyId: e.dekId, purpose: e.purpose, wrapped: e.wrapped }];
  if (isReplay(ctx)) {
    const installer: InstallerCall | null =
      e.purpose === 'raft' && current.raftEnvelopeCutoverIndex !== 0n
        ? { cutoverIndex: current.raftEnvelopeCutoverIndex, activeRaftDekId: current.active.raft, branch: 'raft rotation' }
        : null;
    return effect({ outcome: 'replayed', installKeys, registryWrites: registrations(ctx, [e.proposer]), installer });
  }
  checkNoConflict(current, e.dekId, e.purpose, e.wrapped);
  const registryWrites = registrations(ctx, [e.proposer]);
  const existing = current.keys.get(e.dekId)?.localEpoch ?? 0;
  const withKey = withKeys(advanceAppliedIndex(current, ctx.index), (keys) => {
    keys.set(e.dekId, { purpose: e.purpose, wrapped: e.wrapped, created: ctx.now, localEpoch: Math.max(existing, ctx.pinned[e.purpose]) });
  });
  const next: Sidecar = { ...withKey, active: { ...withKey.active, [e.purpose]: e.dekId } };
  const installer: InstallerCall | null =
    e.purpose === 'raft' && next.raftEnvelopeCutoverIndex !== 0n
      ? { cutoverIndex: next.raftEnvelopeCutoverIndex, activeRaftDekId: e.dekId, branch: 'raft rotation' }
      : null;
  return effect({ outcome: 'applied', installKeys, registryWrites, sidecar: next, installer });
}

/**
 * Step 1 of carrying out an effect: KEK-unwrap its keys (no I/O, but it needs the KEK). Returns the
 * DEKs by key_id, or the HALT (reason KEK_UNWRAP_FAILED) for the first key that does not unwrap.
 */
export function unwrapEffectKeys(
  effect: EncryptionEffect,
  unwrap: (wrapped: Uint8Array, what: string) => Uint8Array,
  index: bigint,
): { readonly deks: ReadonlyMap<number, Uint8Array> } | { readonly halt: HaltError } {
  const deks = new Map<number, Uint8Array>();
  for (const k of effect.installKeys) {
    try {
      deks.set(k.keyId, unwrap(k.wrapped, `key_id ${k.keyId} (${k.purpose})`));
    } catch (e) {
      for (const d of deks.values()) d.fill(0);
      if (!(e instanceof SealkvError)) throw e;
      return {
        halt: new HaltError('ENCRYPTION_APPLY', `entry ${index}: key_id ${k.keyId} (${k.purpose}) does not unwrap: ${e.message}`, {
          reason: 'KEK_UNWRAP_FAILED',
          cause: e,
          index,
        }),
      };
    }
  }
  return { deks };
}

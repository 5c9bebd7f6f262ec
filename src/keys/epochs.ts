// Per-purpose local_epoch (SPEC KM-8, KM-10).
//
// `bumpAndPinEpochs` is the ONE function that bumps the epochs, and it resolves only after the
// bumped sidecar is durable (KM-7 write, directory fsync included). The records it returns are
// the only legitimate seed of a nonce factory: the node turns each into a factory token, so no
// nonce can be issued under an epoch that is not on disk. Nothing else in sealkv computes an epoch.

import { mintPersistedEpoch, type PersistedEpoch } from '../crypto/envelope/epoch-token.js';
import { KeyError } from '../errors.js';
import { PURPOSES, type Purpose, type Sidecar, U16_MAX, withKeys } from './sidecar-schema.js';
import type { SidecarStore } from './sidecar-store.js';

/** KM-10: an active epoch above this leaves fewer than 256 restarts; start-up warns. */
export const EPOCH_WARN_ABOVE = 0xff00;

/** What a nonce factory is built from (RE-4): this load's node_id16 and pinned epoch for one purpose. */
export interface PinnedEpoch {
  readonly purpose: Purpose;
  readonly nodeId16: number;
  readonly localEpoch: number;
  /** The active DEK the epoch belongs to; 0 before bootstrap (then the epoch is 0, KM-8). */
  readonly keyId: number;
}

export type PinnedEpochs = Readonly<Record<Purpose, PinnedEpoch>>;

export interface EpochBump {
  /** The sidecar as persisted (undefined when there is none). */
  readonly sidecar: Sidecar | undefined;
  readonly pinned: PinnedEpochs;
  /** KM-10 warnings (key_id, purpose, epoch), one per active DEK above EPOCH_WARN_ABOVE. */
  readonly warnings: readonly string[];
}

/**
 * KM-10 / OP-4 group A step 6: an active DEK at 0xFFFF cannot be bumped → LOCAL_EPOCH_EXHAUSTED.
 * Inactive (rotated-out) keys do not count.
 */
export function checkEpochExhaustion(s: Sidecar): void {
  for (const p of PURPOSES) {
    const id = s.active[p];
    if (id === 0) continue;
    const epoch = s.keys.get(id)?.localEpoch ?? 0;
    if (epoch >= U16_MAX) {
      throw new KeyError(
        'LOCAL_EPOCH_EXHAUSTED',
        `active ${p} DEK key_id ${id} is at local_epoch ${epoch}; rotate the ${p} DEK from the running nodes, then resync-sidecar this node`,
      );
    }
  }
}

/** The pure part of KM-8 steps 3 and 5: the bumped sidecar and the pinned records. */
export function planEpochBump(s: Sidecar | undefined, nodeId16: number): EpochBump {
  if (!Number.isInteger(nodeId16) || nodeId16 < 0 || nodeId16 > U16_MAX) throw new RangeError(`node_id16 ${nodeId16} is not a u16`);
  const pin = (purpose: Purpose, keyId: number, localEpoch: number): PinnedEpoch => Object.freeze({ purpose, nodeId16, localEpoch, keyId });
  if (s === undefined) {
    return { sidecar: undefined, pinned: Object.freeze({ storage: pin('storage', 0, 0), raft: pin('raft', 0, 0) }), warnings: [] };
  }
  checkEpochExhaustion(s);
  const warnings: string[] = [];
  const next = withKeys(s, (keys) => {
    for (const p of PURPOSES) {
      const id = s.active[p];
      if (id === 0) continue;
      const k = keys.get(id)!; // validated: an active id has a key of its purpose
      keys.set(id, { ...k, localEpoch: k.localEpoch + 1 });
    }
  });
  const pinnedFor = (p: Purpose): PinnedEpoch => {
    const id = s.active[p];
    if (id === 0) return pin(p, 0, 0);
    const epoch = next.keys.get(id)!.localEpoch;
    if (epoch > EPOCH_WARN_ABOVE) {
      warnings.push(`active ${p} DEK key_id ${id} is at local_epoch ${epoch}: ${U16_MAX - epoch} restarts left before LOCAL_EPOCH_EXHAUSTED; rotate it`);
    }
    return pin(p, id, epoch);
  };
  return { sidecar: next, pinned: Object.freeze({ storage: pinnedFor('storage'), raft: pinnedFor('raft') }), warnings };
}

const bumped = new WeakSet<SidecarStore>();
/** Records returned by bumpAndPinEpochs, i.e. whose epoch is on disk (or needs none: no active DEK). */
const persisted = new WeakSet<PinnedEpoch>();

/**
 * True only for a record returned by `bumpAndPinEpochs` in this process. The nonce-factory
 * constructor of the node wiring checks it, so a factory can only be seeded from a persisted
 * epoch (KM-8, KM-14) — never from `planEpochBump` or a hand-made object.
 */
export function isPersistedEpoch(rec: PinnedEpoch): boolean {
  return persisted.has(rec);
}

/**
 * KM-8: bump every active purpose's local_epoch by one, persist the sidecar once (KM-7) and only
 * then return the pinned epochs. Call once per process load, after the group A guards and before
 * any nonce; a second call on the same store throws, because a factory never changes its epoch
 * within a load. Without a sidecar (or with no active DEK) nothing is written and the epochs are 0.
 */
/** The durable bump: the pinned records and the nonce-factory tokens minted from them. */
export interface PersistedEpochBump extends EpochBump {
  /** One single-use token per purpose for NonceFactory.fromPersistedEpoch (KM-8). */
  readonly tokens: Readonly<Record<Purpose, PersistedEpoch>>;
}

export async function bumpAndPinEpochs(store: SidecarStore, current: Sidecar | undefined, nodeId16: number): Promise<PersistedEpochBump> {
  if (bumped.has(store)) throw new Error(`local_epoch already bumped for ${store.path} in this process load`);
  const plan = planEpochBump(current, nodeId16);
  bumped.add(store);
  if (plan.sidecar !== undefined && plan.sidecar !== current && (current!.active.storage !== 0 || current!.active.raft !== 0)) {
    await store.write(plan.sidecar);
  }
  persisted.add(plan.pinned.storage);
  persisted.add(plan.pinned.raft);
  // Minted only here, after the write above is durable: the only way to a nonce factory.
  const token = (p: PinnedEpoch): PersistedEpoch => mintPersistedEpoch({ purpose: p.purpose, nodeId16: p.nodeId16, localEpoch: p.localEpoch });
  return { ...plan, tokens: Object.freeze({ storage: token(plan.pinned.storage), raft: token(plan.pinned.raft) }) };
}

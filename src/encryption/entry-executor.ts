// Carries out encryption entries for the node (issue 10 item 3; src/keys/README "Wiring contract").
//
// Inside apply (synchronous, no I/O): `decideEncryptionEntry` with the batch's registry view;
// its registry rows go into the batch's `registry` table (committed with every earlier entry,
// WR-2) and the rest comes back to the pipeline as the effect VALUE. Around the LMDB commit the
// node calls `persist` (KEK-unwrap the new keys → keystore and workers → the KM-7 sidecar write)
// and, once the applied index passed the entry, `publish` (the state cell).

import type { Keystore } from '../crypto/keystore.js';
import { HaltError, SealkvError } from '../errors.js';
import { decideEncryptionEntry, type EncryptionEffect, unwrapEffectKeys } from '../keys/entry-apply.js';
import type { Kek } from '../keys/kek-provider.js';
import type { RegistryView } from '../keys/registry-rules.js';
import type { Purpose } from '../keys/sidecar-schema.js';
import type { SidecarStore } from '../keys/sidecar-store.js';
import { crashPoint } from '../node/crash-points.js';
import type { ApplyResult, EncryptionHandler } from '../node/fsm/fsm-types.js';
import type { KvTxn } from '../node/fsm/kv-store.js';
import { decodeRegistryValue, encodeRegistryValue, registryKey } from '../storage/registry-store.js';
import type { EncryptionStateCell } from './state-cell.js';

/** The registry as the entry sees it: committed rows plus the batch's earlier writes. */
export function registryView(txn: KvTxn): RegistryView {
  return {
    get: (dekId, nodeId16) => {
      const v = txn.get(registryKey(dekId, nodeId16));
      return v === undefined ? undefined : decodeRegistryValue(v, `registry row (${dekId}, ${nodeId16})`);
    },
  };
}

export interface EntryExecutorDeps {
  readonly kek: Kek | null;
  readonly sidecar: SidecarStore;
  readonly state: EncryptionStateCell;
  readonly keystore: Keystore;
  /** This load's pinned local_epoch per purpose (KM-8). */
  readonly pinned: Readonly<Record<Purpose, number>>;
  /** RFC 3339 `created` stamp for new keys (informational, local to the sidecar). */
  readonly now?: () => string;
}

/**
 * Test-only (AS-10, AS-13): NODE_ENV=test with SEALKV_TEST_TRACE_INSTALLER=1 writes one stderr
 * line per apply-time installer call (entry index, branch, arguments), so a real-cluster test can
 * count the calls. Off in every other start.
 */
const TRACE_INSTALLER = process.env.NODE_ENV === 'test' && process.env.SEALKV_TEST_TRACE_INSTALLER === '1';

/** WI-1: `installer(cutoverIndex, activeRaftDekId)`; throws on failure. */
export type InstallerFn = (cutoverIndex: bigint, activeRaftDekId: number) => void;

export class EntryExecutor implements EncryptionHandler<EncryptionEffect> {
  private installer: InstallerFn | null = null;

  constructor(private readonly deps: EntryExecutorDeps) {}

  /** Wires the apply-time wrap installer (production always does, RO-13); null HALTs a cutover apply. */
  setInstaller(installer: InstallerFn | null): void {
    this.installer = installer;
  }

  apply(payload: Uint8Array, index: bigint, registry: KvTxn | undefined): ApplyResult<EncryptionEffect> {
    if (registry === undefined) {
      return { halt: new HaltError('ENCRYPTION_APPLY', `entry ${index}: no registry table in this apply`, { reason: 'INTERNAL', index }) };
    }
    const d = decideEncryptionEntry(payload, {
      index,
      sidecar: this.deps.state.sidecar(),
      registry: registryView(registry),
      pinned: this.deps.pinned,
      kekConfigured: this.deps.kek !== null,
      now: (this.deps.now ?? (() => new Date().toISOString()))(),
    });
    if ('halt' in d) return d;
    for (const w of d.effect.registryWrites) registry.put(registryKey(w.dekId, w.nodeId16), encodeRegistryValue(w.row));
    return { response: { t: 'simple', v: 'OK' }, effect: d.effect };
  }

  /** KEK-unwrap and install the effect's keys, then the KM-7 sidecar write; a failure is the HALT at `index`. */
  async persist(index: bigint, effect: EncryptionEffect): Promise<void> {
    const kek = this.deps.kek;
    if (effect.installKeys.length > 0) {
      if (kek === null) throw new HaltError('ENCRYPTION_APPLY', `entry ${index}: keys to install but no KEK`, { reason: 'KEK_NOT_CONFIGURED', index });
      const u = unwrapEffectKeys(effect, (w, what) => kek.unwrapSync(w, what), index);
      if ('halt' in u) throw u.halt;
      try {
        for (const [id, dek] of u.deks) this.deps.keystore.set(id, dek); // the pool follows the keystore
      } catch (e) {
        throw new HaltError('ENCRYPTION_APPLY', `entry ${index}: ${(e as Error).message}`, { reason: 'KEY_CONFLICT', cause: e, index });
      } finally {
        for (const dek of u.deks.values()) dek.fill(0);
      }
    }
    if (effect.sidecar !== null) {
      try {
        await this.deps.sidecar.write(effect.sidecar);
      } catch (e) {
        // The HALT reason is the sidecar's own code (KM-7: SIDECAR_IO, UNSUPPORTED_FILESYSTEM; AS-16).
        const reason = e instanceof SealkvError ? e.code : 'SIDECAR_IO';
        throw new HaltError('ENCRYPTION_APPLY', `entry ${index}: sidecar write failed: ${(e as Error).message}`, { reason, cause: e, index });
      }
      crashPoint('after-sidecar-write');
    }
    // WI-5: the installer runs only after the sidecar write is durable (a replay behind the
    // sidecar has no write, FW-7, and still installs: the already-active branch).
    const call = effect.installer;
    if (call !== null) {
      crashPoint('before-installer');
      const installer = this.installer;
      try {
        if (installer === null) throw new Error('no wrap installer is wired in this process');
        if (TRACE_INSTALLER) process.stderr.write(`test-trace: installer index=${index} branch=${JSON.stringify(call.branch)} cutover=${call.cutoverIndex} dek=${call.activeRaftDekId}\n`);
        installer(call.cutoverIndex, call.activeRaftDekId);
      } catch (e) {
        throw new HaltError('ENCRYPTION_APPLY', `entry ${index}: raft-envelope installer failed (${call.branch}): ${(e as Error)?.message ?? String(e)}`, {
          reason: 'INSTALLER_FAILED',
          cause: e,
          index,
        });
      }
    }
  }

  publish(_index: bigint, effect: EncryptionEffect): void {
    if (effect.sidecar !== null) this.deps.state.publish(effect.sidecar);
  }
}

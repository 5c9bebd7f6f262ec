// The encryption wing of one simulated process (issue 14): the CLI's composition (KM-14 preflight
// over the sidecar on the simulated disk, the encryption runtime with an inline crypto pool, then
// node-wing.ts around the started node), with the run's KEK and seeded randomness. Built anew for
// every process start, as the CLI builds it anew for every `sealkv start`.

import type { Aead } from '../crypto/aead.js';
import { NonceFactory } from '../crypto/envelope/nonce.js';
import { PROCESS_SCOPE_ACCESS } from '../crypto/envelope/nonce-internal.js';
import type { EncryptionAdmin } from '../encryption/admin-flows.js';
import type { CutoverBarrier } from '../encryption/cutover-barrier.js';
import { wireEncryptionWing } from '../encryption/node-wing.js';
import { createEncryptionRuntime, type EncryptionRuntime } from '../encryption/runtime.js';
import type { RandomSource } from '../keys/dek-wrap.js';
import { Kek } from '../keys/kek-provider.js';
import { SidecarStore } from '../keys/sidecar-store.js';
import { runStartupPreflight } from '../keys/startup.js';
import type { NodeConfig } from '../node/config.js';
import { crashPoint, sidecarWriteCrashPoint } from '../node/crash-points.js';
import type { Scheduler } from '../node/scheduler.js';
import type { SimDisk } from './sim-disk.js';
import type { ProcessWing } from './sim-machine.js';
import { faultyAead } from './sim-crypto-faults.js';
import { simSidecarFs } from './sim-media.js';

export interface SimWingParts {
  cfg: NodeConfig;
  disk: SimDisk;
  kek: Uint8Array;
  random: RandomSource;
  sched: () => Scheduler;
  /** Injected cipher failures: asked per seal/open call (sim-crypto-faults.ts); absent: none. */
  cryptoFault?: (method: string) => boolean;
  /** The process's admin flows once its node is up (the operator calls them). */
  onAdmin(admin: EncryptionAdmin, runtime: EncryptionRuntime, barrier: CutoverBarrier): void;
}

export async function buildSimWing(p: SimWingParts): Promise<ProcessWing> {
  const fs = simSidecarFs(p.disk);
  const preflightStore = SidecarStore.open(p.cfg.dataDir, undefined, { fs });
  const preflight = await runStartupPreflight({
    raftId: p.cfg.id,
    encryption: true,
    kekOptions: { kekFile: '/sim/kek' },
    sidecar: preflightStore,
    loadKek: async () => ({ kek: Kek.fromBytes('file', p.kek.slice(), p.random), warnings: [] }),
  });
  // The apply path's sidecar writes carry the named crash points per KM-7 step (as in the CLI).
  const applySidecar = SidecarStore.open(p.cfg.dataDir, undefined, {
    fs,
    onWriteStep: (step, phase) => crashPoint(sidecarWriteCrashPoint(step, phase)),
  });
  const sched = p.sched();
  // The runtime builds its two nonce factories synchronously at its start: under this simulated
  // process's own one-per-purpose set (KM-9 holds per process, and each simulated one is a process).
  NonceFactory[PROCESS_SCOPE_ACCESS](new Set());
  let creating: Promise<EncryptionRuntime>;
  try {
    creating = createEncryptionRuntime({
      cipher: 'node',
      cryptoWorkers: 0,
      inlineOnly: true,
      preflight,
      sidecar: applySidecar,
      scheduler: sched,
      ...(p.cryptoFault ? { wrapAead: (a: Aead) => faultyAead(a, p.cryptoFault!) } : {}),
    });
  } finally {
    NonceFactory[PROCESS_SCOPE_ACCESS](null);
  }
  const runtime = await creating;
  return {
    encryption: runtime,
    wire: (node) => {
      const wing = wireEncryptionWing({
        node,
        cfg: p.cfg,
        runtime,
        preflight,
        build: 'sealkv-sim',
        warn: () => undefined,
        sched,
        random: p.random,
      });
      p.onAdmin(wing.admin, runtime, wing.barrier);
    },
  };
}

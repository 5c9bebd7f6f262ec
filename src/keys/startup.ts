// Start-up up to the epoch bump (SPEC KM-14 steps 1–3 and 6, OP-4 "before the guards" and
// group A) as one function over injected parts. Every refusal is a StartupRefusedError with the
// OP-4 code and a one-line message naming the option or runbook; the CLI prints
// `error: <CODE>: <message>` and exits 2 (C-3 REFUSE-START).
//
// The node then creates the keystore from `deks`, the cipher (KM-14 steps 4–5), builds the two
// nonce factories from `pinned` — the records of `bumpAndPinEpochs`, the only source of epochs —
// and opens LMDB for the group B guards (startup-guards.ts).

import { SealkvError, StartupRefusedError } from '../errors.js';
import { bumpAndPinEpochs, checkEpochExhaustion, type PersistedEpochBump, type PinnedEpochs } from './epochs.js';
import { unwrapSidecarKeys } from './hydrate.js';
import { type KekOptions, type KekSource, type LoadedKek, loadKek, selectKekSource } from './kek-source.js';
import type { Kek } from './kek-provider.js';
import { deriveNodeIdentity, type NodeIdentity } from './node-identity.js';
import type { Sidecar } from './sidecar-schema.js';
import type { SidecarStore } from './sidecar-store.js';

export interface PreflightInput {
  readonly raftId: string;
  /** `--encryption` */
  readonly encryption: boolean;
  readonly kekOptions: KekOptions;
  readonly sidecar: SidecarStore;
  /** Injected for tests; defaults to the local providers of KM-2. */
  readonly loadKek?: (source: KekSource) => Promise<LoadedKek>;
  /** For `--kek-env` (default process.env). */
  readonly env?: NodeJS.ProcessEnv;
}

export interface PreflightResult {
  readonly identity: NodeIdentity;
  readonly encryption: boolean;
  /** Null when encryption is off. */
  readonly kek: Kek | null;
  /** The sidecar after the bump (undefined when there is none yet). */
  readonly sidecar: Sidecar | undefined;
  /** Every key of the sidecar, unwrapped (KM-8 step 2), for the keystore. */
  readonly deks: ReadonlyMap<number, Uint8Array>;
  /** KM-8 step 5: the node_id16 and epoch per purpose for the nonce factories. */
  readonly pinned: PinnedEpochs;
  /** The single-use tokens for NonceFactory.fromPersistedEpoch, minted after the bump is durable (KM-8). */
  readonly tokens: PersistedEpochBump['tokens'];
  /** Lines to log as warnings (KEK from env, KM-10 epochs close to exhaustion). */
  readonly warnings: readonly string[];
}

/** Runbook hints appended to a refusal line, by code. */
const HINTS: Readonly<Record<string, string>> = {
  KEK_REQUIRED_WITH_FLAG: 'pass --kek-file, --kek-env or --kek-passphrase-file',
  SIDECAR_PRESENT_WITHOUT_FLAG: 'start with --encryption and the KEK option (disabling encryption needs dump and reload, docs/OPERATIONS.md)',
  KEK_MISMATCH: 'this is not the KEK the sidecar was written with',
  LOCAL_EPOCH_EXHAUSTED: 'see docs/OPERATIONS.md "epoch exhaustion"',
  UNSUPPORTED_FILESYSTEM: 'put the sidecar on a filesystem that supports fsync of directories',
};

function refusal(e: unknown, where?: string): never {
  if (e instanceof StartupRefusedError) throw e;
  if (e instanceof SealkvError) {
    if (e.code === 'USAGE') throw e; // exit 1, not 2
    const hint = HINTS[e.code];
    const msg = `${where === undefined ? '' : `${where}: `}${e.message}${hint === undefined ? '' : ` (${hint})`}`;
    throw new StartupRefusedError(e.code, msg, { cause: e });
  }
  throw e;
}

async function step<T>(fn: () => T | Promise<T>, where?: string): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    return refusal(e, where);
  }
}

/** KM-14 steps 1, 2, 3 (group A) and 6, in the order OP-4 lists the refusals. */
export async function runStartupPreflight(input: PreflightInput): Promise<PreflightResult> {
  const store = input.sidecar;
  // Step 1: node identity.
  const identity = await step(() => deriveNodeIdentity(input.raftId));
  // Step 2: the KEK (source conflict, then the provider's own refusals).
  const source = await step(() => selectKekSource(input.encryption, input.kekOptions));
  const load = input.loadKek ?? ((s: KekSource) => loadKek(s, { readKdf: () => store.readKdf(), env: input.env }));
  const loaded = source === null ? null : await step(() => load(source));
  const warnings: string[] = [...(loaded?.warnings ?? [])];
  // Group A, 1–3.
  const exists = await step(() => store.exists(), `sidecar ${store.path}`);
  if (exists && !input.encryption) {
    refusal(new StartupRefusedError('SIDECAR_PRESENT_WITHOUT_FLAG', `a sidecar exists at ${store.path} but --encryption is off (${HINTS.SIDECAR_PRESENT_WITHOUT_FLAG})`));
  }
  if (input.encryption && loaded === null) {
    refusal(new StartupRefusedError('KEK_REQUIRED_WITH_FLAG', `--encryption needs a KEK source: ${HINTS.KEK_REQUIRED_WITH_FLAG}`));
  }
  if (!input.encryption || loaded === null) {
    // No sidecar and no DEK: epochs 0, nothing to persist (KM-8); still the one source of records.
    const none = await step(() => bumpAndPinEpochs(store, undefined, identity.nodeId16));
    return { identity, encryption: false, kek: null, sidecar: undefined, deks: new Map(), pinned: none.pinned, tokens: none.tokens, warnings };
  }
  const kek = loaded.kek;
  // Group A, 4–7: validation, KEK check, exhaustion, directory and durability probe.
  const current = exists ? await step(() => store.read(), `sidecar ${store.path}`) : undefined;
  const deks = current === undefined ? new Map<number, Uint8Array>() : await step(() => unwrapSidecarKeys(current, kek));
  if (current !== undefined) await step(() => checkEpochExhaustion(current));
  await step(() => store.probeDurability());
  // Step 6: bump and pin (KM-8). Persisted before anything can issue a nonce.
  const bump = await step(() => bumpAndPinEpochs(store, current, identity.nodeId16), `sidecar ${store.path}`);
  warnings.push(...bump.warnings);
  return { identity, encryption: true, kek, sidecar: bump.sidecar, deks, pinned: bump.pinned, tokens: bump.tokens, warnings };
}

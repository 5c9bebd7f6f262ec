// Which KEK source a start uses (SPEC KM-1, OP-1) and loading it (KM-2).

import { ConfigError, KeyError } from '../errors.js';
import type { RandomSource } from './dek-wrap.js';
import { KEK_ENV_WARNING, loadKekEnv } from './kek-env.js';
import { loadKekFile } from './kek-file.js';
import type { KdfParams } from './kek-kdf.js';
import { loadKekPassphrase } from './kek-passphrase.js';
import type { Kek } from './kek-provider.js';

export interface KekOptions {
  readonly kekFile?: string | undefined;
  readonly kekEnv?: string | undefined;
  readonly kekPassphraseFile?: string | undefined;
}

export type KekSource =
  | { readonly kind: 'file'; readonly path: string }
  | { readonly kind: 'env'; readonly name: string }
  | { readonly kind: 'passphrase'; readonly path: string };

/**
 * The configured source, or null when none is. More than one → KEK_SOURCE_CONFLICT. A KEK option
 * without `--encryption` is a usage error (OP-1, exit 1). "No source with --encryption" is NOT
 * decided here: OP-4 reports KEK_REQUIRED_WITH_FLAG only after the sidecar stat (group A).
 */
export function selectKekSource(encryption: boolean, o: KekOptions): KekSource | null {
  const given: KekSource[] = [];
  if (o.kekFile !== undefined) given.push({ kind: 'file', path: o.kekFile });
  if (o.kekEnv !== undefined) given.push({ kind: 'env', name: o.kekEnv });
  if (o.kekPassphraseFile !== undefined) given.push({ kind: 'passphrase', path: o.kekPassphraseFile });
  if (given.length > 0 && !encryption) {
    throw new ConfigError('USAGE', `--kek-${given[0]!.kind === 'passphrase' ? 'passphrase-file' : given[0]!.kind} needs --encryption`);
  }
  if (given.length > 1) {
    throw new KeyError('KEK_SOURCE_CONFLICT', `exactly one KEK source may be configured; got ${given.map((g) => `--kek-${g.kind === 'passphrase' ? 'passphrase-file' : g.kind}`).join(' and ')}`);
  }
  return given[0] ?? null;
}

export interface KekLoadDeps {
  /** The sidecar's `kek_kdf` object only (passphrase source). */
  readonly readKdf: () => Promise<KdfParams | undefined>;
  readonly env?: NodeJS.ProcessEnv;
  readonly random?: RandomSource;
}

export interface LoadedKek {
  readonly kek: Kek;
  readonly warnings: readonly string[];
}

/** KM-2: loads the KEK from its source; refusals are KeyErrors with the OP-4 codes. */
export async function loadKek(source: KekSource, deps: KekLoadDeps): Promise<LoadedKek> {
  switch (source.kind) {
    case 'file':
      return { kek: await loadKekFile(source.path, deps.random), warnings: [] };
    case 'env':
      return { kek: loadKekEnv(source.name, deps.env, deps.random), warnings: [KEK_ENV_WARNING] };
    case 'passphrase':
      return { kek: await loadKekPassphrase(source.path, deps.readKdf, deps.random), warnings: [] };
  }
}

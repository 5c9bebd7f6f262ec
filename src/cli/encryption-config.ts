// The encryption options of `sealkv start` (SPEC OP-1): `--encryption`, one KEK source, `--sidecar`
// and `--rotate-on-startup`, from flags or the same keys in `--config file.json` (flags win).
// Kept apart from config.ts so the node configuration and the encryption wing evolve separately.

import { readFileSync } from 'node:fs';
import { ConfigError } from '../errors.js';
import type { KekOptions } from '../keys/kek-source.js';

export interface EncryptionConfig {
  readonly encryption: boolean;
  readonly kek: KekOptions;
  /** `--sidecar PATH`; undefined = `<data-dir>/encryption/keys.json`. */
  readonly sidecarPath: string | undefined;
  readonly rotateOnStartup: boolean;
}

function readConfigFile(path: unknown): Record<string, unknown> {
  if (typeof path !== 'string') return {};
  try {
    const parsed: unknown = JSON.parse(readFileSync(path, 'utf8'));
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('not a JSON object');
    return parsed as Record<string, unknown>;
  } catch (e) {
    throw new ConfigError('CONFIG_INVALID', `--config ${path}: ${(e as Error).message}`);
  }
}

function str(v: unknown, name: string): string | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || v === '') throw new ConfigError('CONFIG_INVALID', `--${name} must be a non-empty string`);
  return v;
}

function bool(v: unknown, name: string): boolean {
  if (v === undefined) return false;
  if (v === true || v === 'true') return true;
  if (v === false || v === 'false') return false;
  throw new ConfigError('CONFIG_INVALID', `--${name} must be true or false`);
}

/** Validated encryption options; source conflicts and missing sources are decided by the preflight (OP-4 order). */
export function buildEncryptionConfig(flags: Record<string, string | boolean>): EncryptionConfig {
  const file = readConfigFile(flags.config);
  const get = (k: string): unknown => (flags[k] !== undefined ? flags[k] : file[k]);
  return {
    encryption: bool(get('encryption'), 'encryption'),
    kek: {
      kekFile: str(get('kek-file'), 'kek-file'),
      kekEnv: str(get('kek-env'), 'kek-env'),
      kekPassphraseFile: str(get('kek-passphrase-file'), 'kek-passphrase-file'),
    },
    sidecarPath: str(get('sidecar'), 'sidecar'),
    rotateOnStartup: bool(get('rotate-on-startup'), 'rotate-on-startup'),
  };
}

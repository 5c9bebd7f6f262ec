// `--kek-env NAME` (SPEC KM-2, name "env"): standard base64 of 32 bytes, for tests and development.
// The variable is deleted from the environment as soon as it is read, whether or not it decodes,
// so child processes and later diagnostics never see it.

import { KeyError } from '../errors.js';
import { KEK_BYTES, type RandomSource } from './dek-wrap.js';
import { Kek } from './kek-provider.js';

/** Canonical standard base64 (RFC 4648 §4, padded). Node's decoder alone is too lenient. */
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

export const KEK_ENV_WARNING = 'the KEK comes from an environment variable (--kek-env): for tests and development only';

export function loadKekEnv(name: string, env: NodeJS.ProcessEnv = process.env, random?: RandomSource): Kek {
  const value = env[name];
  delete env[name];
  if (value === undefined || value === '') throw new KeyError('KEK_INVALID', `--kek-env ${name}: the variable is unset or empty`);
  if (!BASE64.test(value)) throw new KeyError('KEK_INVALID', `--kek-env ${name}: not standard base64`);
  const bytes = new Uint8Array(Buffer.from(value, 'base64'));
  try {
    if (bytes.length !== KEK_BYTES) {
      throw new KeyError('KEK_INVALID', `--kek-env ${name}: decodes to ${bytes.length} bytes, expected ${KEK_BYTES}`);
    }
    return Kek.fromBytes('env', bytes, random);
  } finally {
    bytes.fill(0);
  }
}

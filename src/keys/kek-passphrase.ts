// `--kek-passphrase-file PATH` (SPEC KM-2, name "passphrase"): a UTF-8 passphrase (same mode rule
// as the key file) stretched with Argon2id under the cluster's `kek_kdf` parameters.

import { KeyError } from '../errors.js';
import type { RandomSource } from './dek-wrap.js';
import { deriveKek, type KdfParams } from './kek-kdf.js';
import { Kek } from './kek-provider.js';
import { readSecretFile } from './secret-file.js';

export const PASSPHRASE_MIN_BYTES = 16;
/** Upper bound on what we read; a passphrase file larger than this is refused. */
export const PASSPHRASE_MAX_BYTES = 4096;

/**
 * `readKdf` reads only the sidecar's `kek_kdf` object (undefined when there is no sidecar or no
 * object); it reports sidecar read errors with the KM-6 codes. The file is checked first, so the
 * refusals come in the OP-4 order: INSECURE_KEK_FILE, KEK_INVALID, KEK_KDF_PARAMS_MISSING.
 */
export async function loadKekPassphrase(
  path: string,
  readKdf: () => Promise<KdfParams | undefined>,
  random?: RandomSource,
): Promise<Kek> {
  const raw = await readSecretFile(path, PASSPHRASE_MAX_BYTES + 1, '--kek-passphrase-file');
  let end = raw.length;
  try {
    if (raw.length > PASSPHRASE_MAX_BYTES) {
      throw new KeyError('KEK_INVALID', `--kek-passphrase-file ${path}: longer than ${PASSPHRASE_MAX_BYTES} bytes`);
    }
    // Exactly one trailing "\n" or "\r\n" is removed (KM-2).
    if (end > 0 && raw[end - 1] === 0x0a) end -= end > 1 && raw[end - 2] === 0x0d ? 2 : 1;
    if (end < PASSPHRASE_MIN_BYTES) {
      throw new KeyError('KEK_INVALID', `--kek-passphrase-file ${path}: passphrase shorter than ${PASSPHRASE_MIN_BYTES} bytes`);
    }
    const kdf = await readKdf();
    if (kdf === undefined) {
      throw new KeyError(
        'KEK_KDF_PARAMS_MISSING',
        'the passphrase KEK source needs a kek_kdf object in the sidecar (sealkv admin encryption kek-params --install)',
      );
    }
    const kek = await deriveKek(raw.subarray(0, end), kdf);
    try {
      return Kek.fromBytes('passphrase', kek, random);
    } finally {
      kek.fill(0);
    }
  } finally {
    raw.fill(0);
  }
}

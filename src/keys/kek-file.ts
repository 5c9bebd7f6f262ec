// `--kek-file PATH` (SPEC KM-2, name "file"): exactly 32 raw bytes, mode 0600 or stricter.

import { KeyError } from '../errors.js';
import { KEK_BYTES, type RandomSource } from './dek-wrap.js';
import { Kek } from './kek-provider.js';
import { readSecretFile } from './secret-file.js';

export async function loadKekFile(path: string, random?: RandomSource): Promise<Kek> {
  // Read one byte more than a KEK so "too long" is told apart from "exactly 32" (KM-2).
  const bytes = await readSecretFile(path, KEK_BYTES + 1, '--kek-file');
  try {
    if (bytes.length !== KEK_BYTES) {
      const size = bytes.length > KEK_BYTES ? `more than ${KEK_BYTES}` : String(bytes.length);
      throw new KeyError('KEK_INVALID', `--kek-file ${path}: ${size} bytes, expected exactly ${KEK_BYTES}`);
    }
    return Kek.fromBytes('file', bytes, random);
  } finally {
    bytes.fill(0);
  }
}

// The Wycheproof AES-GCM cases sealkv supports (AES-256, 96-bit IV, 128-bit tag), read from
// ../shared/vectors beside the repository (as on the dev machines and in CI).

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export interface WycheproofTest {
  tcId: number;
  comment: string;
  flags: string[];
  key: string;
  iv: string;
  aad: string;
  msg: string;
  ct: string;
  tag: string;
  result: 'valid' | 'invalid' | 'acceptable';
}

interface WycheproofGroup {
  keySize: number;
  ivSize: number;
  tagSize: number;
  tests: WycheproofTest[];
}

export const WYCHEPROOF_FILE = fileURLToPath(new URL('../../../../shared/vectors/aes_gcm_test.json', import.meta.url));

export function loadWycheproof(): WycheproofTest[] {
  return (JSON.parse(readFileSync(WYCHEPROOF_FILE, 'utf8')) as { testGroups: WycheproofGroup[] }).testGroups
    .filter((g) => g.keySize === 256 && g.ivSize === 96 && g.tagSize === 128)
    .flatMap((g) => g.tests);
}

// The Wycheproof AES-GCM cases sealkv supports (AES-256, 96-bit IV, 128-bit tag), from the copy
// vendored in test/crypto/vectors (a clean clone has no ../shared beside it).

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

export const WYCHEPROOF_FILE = fileURLToPath(new URL('../vectors/wycheproof-aes-gcm.json', import.meta.url));

export function loadWycheproof(): WycheproofTest[] {
  return (JSON.parse(readFileSync(WYCHEPROOF_FILE, 'utf8')) as { testGroups: WycheproofGroup[] }).testGroups
    .filter((g) => g.keySize === 256 && g.ivSize === 96 && g.tagSize === 128)
    .flatMap((g) => g.tests);
}

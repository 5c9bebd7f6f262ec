// Whether this CPU has AES and carry-less-multiply instructions (what OpenSSL's AES-GCM uses).
// Read once from /proc/cpuinfo; on other platforms we cannot tell cheaply, so report false.

import { readFileSync } from 'node:fs';

let cached: boolean | undefined;

export function cpuHasAesInstructions(): boolean {
  if (cached !== undefined) return cached;
  try {
    const flags = /^flags\s*:(.*)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? '';
    const set = new Set(flags.trim().split(/\s+/));
    cached = (set.has('aes') && set.has('pclmulqdq')) || (set.has('aes') && set.has('pmull'));
  } catch {
    cached = false;
  }
  return cached;
}

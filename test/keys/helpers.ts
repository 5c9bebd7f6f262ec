// Shared fixtures for the key-management tests: temp dirs, fast Argon2 parameters (at the KM-5
// floor), a deterministic random source, and a sidecar builder.

import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import { SealkvError } from '../../src/errors.js';
import { Kek } from '../../src/keys/kek-provider.js';
import { emptySidecar, type Purpose, type Sidecar, type SidecarKey } from '../../src/keys/sidecar-schema.js';

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

export function tmp(prefix = 'sealkv-keys-'): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(d);
  return d;
}

export function writeSecret(dir: string, name: string, bytes: Uint8Array | string, mode = 0o600): string {
  const p = join(dir, name);
  writeFileSync(p, bytes);
  chmodSync(p, mode);
  return p;
}

/** Counter-based bytes: deterministic and distinct per call (tests only; production is a CSPRNG). */
export function seqRandom(start = 1): (n: number) => Uint8Array {
  let c = start;
  return (n) => {
    const b = new Uint8Array(n);
    for (let i = 0; i < n; i++) b[i] = (c + i * 7) & 0xff;
    c++;
    return b;
  };
}

export function bytes32(fill: number): Uint8Array {
  return new Uint8Array(32).fill(fill);
}

export function testKek(fill = 0x42): Kek {
  return Kek.fromBytes('env', bytes32(fill));
}

/** The error's code, or 'no error'. */
export async function codeOf(fn: () => unknown): Promise<string> {
  try {
    await fn();
  } catch (e) {
    if (e instanceof SealkvError) return e.code;
    throw e;
  }
  return 'no error';
}

export function codeOfSync(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (e instanceof SealkvError) return e.code;
    throw e;
  }
  return 'no error';
}

export const CREATED = '2025-03-01T10:00:00.000Z';

/** A bootstrapped sidecar with real wrapped keys under `kek`. */
export function bootstrappedSidecar(
  kek: Kek,
  opts: { storage?: number; raft?: number; epoch?: number; index?: bigint; extra?: [number, Purpose][] } = {},
): Sidecar {
  const storage = opts.storage ?? 2882400001;
  const raft = opts.raft ?? 19088743;
  const keys = new Map<number, SidecarKey>();
  const key = (purpose: Purpose, fill: number): SidecarKey => ({ purpose, wrapped: kek.wrapSync(bytes32(fill)), created: CREATED, localEpoch: opts.epoch ?? 4 });
  keys.set(storage, key('storage', 1));
  keys.set(raft, key('raft', 2));
  for (const [id, p] of opts.extra ?? []) keys.set(id, key(p, id & 0xff));
  return { ...emptySidecar(), raftAppliedIndex: opts.index ?? 10n, active: { storage, raft }, keys };
}

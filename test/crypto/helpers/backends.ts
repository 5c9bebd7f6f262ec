// Loads every cipher backend once per test file. A backend that is not built (BACKEND_UNAVAILABLE)
// is recorded with its reason so its tests call ctx.skip(reason); any other load failure is a
// defect and fails the tests that need it.

import { hasCode } from '../../../src/errors.js';
import { type Aead, type BackendName, BACKENDS, loadAead } from '../../../src/crypto/index.js';

export type BackendSlot = { name: BackendName; aead: Aead } | { name: BackendName; unavailable: string } | { name: BackendName; error: unknown };

export async function loadBackends(): Promise<Map<BackendName, BackendSlot>> {
  const slots = new Map<BackendName, BackendSlot>();
  for (const name of BACKENDS) {
    try {
      slots.set(name, { name, aead: await loadAead(name) });
    } catch (e) {
      if (hasCode(e, 'BACKEND_UNAVAILABLE')) {
        slots.set(name, { name, unavailable: `${name} backend unavailable: ${(e as Error).message}` });
      } else {
        slots.set(name, { name, error: e });
      }
    }
  }
  return slots;
}

interface SkipContext {
  skip(note?: string): never;
}

/** The backend's Aead, or ctx.skip(reason) when it is not built; rethrows a broken load. */
export function need(ctx: SkipContext, slot: BackendSlot | undefined): Aead {
  if (!slot) throw new Error('backend slot missing');
  if ('aead' in slot) return slot.aead;
  if ('unavailable' in slot) ctx.skip(slot.unavailable);
  throw (slot as { error: unknown }).error;
}

/** Every backend that loaded (node and js always do). */
export function loadedAeads(slots: Map<BackendName, BackendSlot>): Aead[] {
  const out: Aead[] = [];
  for (const s of slots.values()) if ('aead' in s) out.push(s.aead);
  return out;
}

export function hex(s: string): Uint8Array {
  return Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
}

export function toHex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.length).toString('hex');
}

/** Fast deterministic filler (xorshift32) so large fast-check plaintexts cost no per-byte arbitraries. */
export function pseudoRandomBytes(len: number, seed: number): Uint8Array {
  const out = new Uint8Array(len);
  let x = seed | 0 || 0x9e3779b9;
  let i = 0;
  for (; i + 4 <= len; i += 4) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x;
    out[i + 1] = x >>> 8;
    out[i + 2] = x >>> 16;
    out[i + 3] = x >>> 24;
  }
  for (; i < len; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x;
  }
  return out;
}

/** Runs fn, asserts it throws an error with `code`, and returns that error. */
export function expectCode(fn: () => unknown, code: string): Error & { code: string; cause?: unknown } {
  let thrown: unknown;
  let result: unknown;
  try {
    result = fn();
  } catch (e) {
    thrown = e;
  }
  if (thrown === undefined) throw new Error(`expected ${code}, got a result: ${String(result)}`);
  const err = thrown as Error & { code?: string };
  if (err.code !== code) throw new Error(`expected ${code}, got ${err.code ?? 'untyped'}: ${err.message}`);
  return err as Error & { code: string; cause?: unknown };
}

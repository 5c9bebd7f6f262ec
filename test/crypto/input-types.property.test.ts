// Issue 8 item 1 / CK-3, CK-4: every public crypto entry point refuses anything but a byte view
// (ArrayBuffer.isView(x) && BYTES_PER_ELEMENT === 1, not SharedArrayBuffer-backed, not detached)
// with a typed SealkvError carrying a stable code — never a bare TypeError/RangeError, never a
// silent coercion (a string nonce used to become twelve zero bytes: a reused nonce).
// Pool workers run compiled JS: run `npx tsc -p tsconfig.json` first.

import { inlineAndWorkerPools } from './helpers/pools.js';
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Aead, BatchItem, PackedBatch } from '../../src/crypto/aead.js';
import { packItems } from '../../src/crypto/batch.js';
import {
  decodeProposal,
  encodeProposal,
  encodeValueHeader,
  openValue,
  openValueBatch,
  sealValue,
  sealValueBatch,
  STATE_ENCRYPTED,
  unwrapRaft,
  unwrapRaftBatch,
  wrapRaft,
  wrapRaftBatch,
} from '../../src/crypto/envelope/index.js';
import { Keystore } from '../../src/crypto/keystore.js';
import { SealkvError } from '../../src/errors.js';
import { loadBackends, need } from './helpers/backends.js';

/** The codes an invalid argument may produce: the type refusal, or a size error for its length. */
const STABLE = new Set(['BAD_INPUT_TYPE', 'BAD_KEY_SIZE', 'BAD_NONCE_SIZE']);

type Kind = 'string' | 'number' | 'null' | 'undefined' | 'array' | 'uint16' | 'float64' | 'dataview' | 'detached' | 'shared';
const KINDS: Kind[] = ['string', 'number', 'null', 'undefined', 'array', 'uint16', 'float64', 'dataview', 'detached', 'shared'];

/** A fresh invalid value of `kind` whose `.length` (where it has one) equals `len`, varied by `seed`. */
function invalid(kind: Kind, len: number, seed: number): unknown {
  switch (kind) {
    case 'string':
      return Array.from({ length: len }, (_, i) => String.fromCharCode(0x41 + ((seed + i * 7) % 26))).join('');
    case 'number':
      return seed;
    case 'null':
      return null;
    case 'undefined':
      return undefined;
    case 'array':
      return Array.from({ length: len }, (_, i) => (seed + i) & 0xff);
    case 'uint16':
      return Uint16Array.from({ length: len }, (_, i) => ((seed + i) & 0xff) | 0x100);
    case 'float64':
      return Float64Array.from({ length: len }, (_, i) => (seed + i) & 0xff);
    case 'dataview':
      return new DataView(Uint8Array.from({ length: len }, (_, i) => (seed + i) & 0xff).buffer);
    case 'detached': {
      const b = new ArrayBuffer(len);
      const v = new Uint8Array(b);
      structuredClone(b, { transfer: [b] });
      return v;
    }
    case 'shared': {
      const v = new Uint8Array(new SharedArrayBuffer(len));
      for (let i = 0; i < len; i++) v[i] = (seed + i) & 0xff;
      return v;
    }
  }
}

/** Runs `fn`; it must throw a SealkvError with a stable code. Returns what it returned otherwise. */
function expectTyped(label: string, fn: () => unknown): void {
  let thrown: unknown;
  let result: unknown;
  try {
    result = fn();
  } catch (e) {
    thrown = e;
  }
  if (thrown === undefined) throw new Error(`${label}: returned ${describe1(result)} instead of throwing`);
  if (!(thrown instanceof SealkvError) || !STABLE.has(thrown.code)) {
    const e = thrown as Error & { code?: unknown };
    throw new Error(`${label}: threw ${e?.constructor?.name ?? typeof e} ${String(e?.code ?? '')}: ${e?.message ?? String(e)}`);
  }
}

async function expectTypedAsync(label: string, fn: () => Promise<unknown>): Promise<void> {
  let thrown: unknown;
  let result: unknown;
  try {
    result = await fn();
  } catch (e) {
    thrown = e;
  }
  if (thrown === undefined) throw new Error(`${label}: returned ${describe1(result)} instead of throwing`);
  if (!(thrown instanceof SealkvError) || !STABLE.has(thrown.code)) {
    const e = thrown as Error & { code?: unknown };
    throw new Error(`${label}: threw ${e?.constructor?.name ?? typeof e} ${String(e?.code ?? '')}: ${e?.message ?? String(e)}`);
  }
}

function describe1(v: unknown): string {
  if (Array.isArray(v)) return `an array of ${v.length}`;
  if (v instanceof Uint8Array) return `${v.length} bytes`;
  return typeof v;
}

const KEY = new Uint8Array(32).fill(7);
const NONCE = new Uint8Array(12).fill(1);
const AAD = new Uint8Array(5).fill(2);
const DATA = new Uint8Array(40).fill(3);
const seeds = fc.integer({ min: 0, max: 0xffff });
const RUNS = 4;

/** The four argument positions of a single call and the lengths a valid value would have. */
const POSITIONS = [
  ['key', 32],
  ['nonce', 12],
  ['aad', 5],
  ['data', 40],
] as const;

const slots = await loadBackends();

describe('issue 8 item 1: every backend entry point refuses wrong-typed inputs with a typed error', () => {
  for (const [name, slot] of slots) {
    describe(name, () => {
      let aead: Aead;
      let sealed: Uint8Array;
      beforeAll(() => {
        if ('aead' in slot) {
          aead = slot.aead;
          sealed = aead.seal(KEY, NONCE, AAD, DATA);
        }
      });

      for (const kind of KINDS) {
        it(`seal/open/sealBatch/openBatch with a ${kind} as key, nonce, aad or data`, (ctx) => {
          need(ctx, slot);
          fc.assert(
            fc.property(seeds, (seed) => {
              for (const [pos, len] of POSITIONS) {
                const bad = invalid(kind, pos === 'data' ? 56 : len, seed) as Uint8Array;
                const args = { key: KEY, nonce: NONCE, aad: AAD, data: DATA, [pos]: bad };
                const openArgs = { ...args, data: pos === 'data' ? bad : sealed };
                expectTyped(`${name}.seal(${pos}=${kind})`, () => aead.seal(args.key, args.nonce, args.aad, args.data));
                expectTyped(`${name}.open(${pos}=${kind})`, () => aead.open(openArgs.key, openArgs.nonce, openArgs.aad, openArgs.data));
                const item = { nonce: args.nonce, aad: args.aad, data: args.data };
                expectTyped(`${name}.sealBatch(${pos}=${kind})`, () => aead.sealBatch(args.key, [item]));
                expectTyped(`${name}.openBatch(${pos}=${kind})`, () => aead.openBatch(openArgs.key, [{ ...item, data: openArgs.data }]));
              }
            }),
            { numRuns: RUNS },
          );
        });

        it(`sealPacked/openPacked with a ${kind} as key, input, output or status`, (ctx) => {
          need(ctx, slot);
          fc.assert(
            fc.property(seeds, (seed) => {
              const good = (): PackedBatch => packItems([{ nonce: NONCE, aad: AAD, data: DATA }], 'seal');
              const goodOpen = (): PackedBatch => packItems([{ nonce: NONCE, aad: AAD, data: sealed }], 'open');
              for (const field of ['key', 'input', 'desc', 'output', 'status'] as const) {
                const b = good();
                const o = goodOpen();
                const len = field === 'key' ? 32 : field === 'status' ? 1 : field === 'desc' ? b.desc.length : field === 'input' ? b.input.length : b.output.length;
                const bad = invalid(kind, len, seed) as never;
                const key = field === 'key' ? bad : KEY;
                const status = field === 'status' ? bad : new Uint8Array(1);
                if (field !== 'key' && field !== 'status') {
                  (b as unknown as Record<string, unknown>)[field] = bad;
                  (o as unknown as Record<string, unknown>)[field] = bad;
                }
                if (field !== 'status') expectTyped(`${name}.sealPacked(${field}=${kind})`, () => aead.sealPacked(key, b));
                expectTyped(`${name}.openPacked(${field}=${kind})`, () => aead.openPacked(key, o, status));
              }
            }),
            { numRuns: RUNS },
          );
        });

        it(`sealBatch never turns two distinct ${kind} nonces into ciphertexts`, (ctx) => {
          need(ctx, slot);
          fc.assert(
            fc.property(seeds, seeds, (s1, s2) => {
              fc.pre(s1 !== s2);
              const n1 = invalid(kind, 12, s1) as Uint8Array;
              const n2 = invalid(kind, 12, s2) as Uint8Array;
              let out: Uint8Array[] | undefined;
              try {
                out = aead.sealBatch(KEY, [
                  { nonce: n1, aad: AAD, data: DATA },
                  { nonce: n2, aad: AAD, data: DATA },
                ]);
              } catch (e) {
                expect(e).toBeInstanceOf(SealkvError);
                return;
              }
              const same = Buffer.from(out[0]!).equals(Buffer.from(out[1]!));
              throw new Error(`${name}.sealBatch accepted ${kind} nonces and produced ${same ? 'IDENTICAL' : 'distinct'} ciphertexts`);
            }),
            { numRuns: RUNS },
          );
        });
      }

      it('refuses a batch that is not an array of items', (ctx) => {
        need(ctx, slot);
        for (const items of [null, undefined, 'abc', 42, [null], [42], [{}]]) {
          expectTyped(`${name}.sealBatch(items=${String(items)})`, () => aead.sealBatch(KEY, items as unknown as BatchItem[]));
          expectTyped(`${name}.openBatch(items=${String(items)})`, () => aead.openBatch(KEY, items as unknown as BatchItem[]));
        }
      });
    });
  }
});

describe('issue 8 item 1: the envelope helpers refuse wrong-typed inputs', () => {
  const aead = [...slots.values()].find((s) => s.name === 'node') as { aead: Aead };
  const ks = new Keystore();
  ks.set(7, KEY);
  const header = encodeValueHeader({ tombstone: false, state: STATE_ENCRYPTED, expireAt: 0n });
  for (const kind of KINDS) {
    it(`raft, storage and proposal helpers with a ${kind}`, () => {
      fc.assert(
        fc.property(seeds, (seed) => {
          const a = aead.aead;
          const bad = (len: number) => invalid(kind, len, seed) as Uint8Array;
          const env = wrapRaft(a, ks, 7, NONCE, DATA);
          const rec = sealValue(a, ks, 7, NONCE, AAD, DATA);
          expectTyped(`wrapRaft(nonce=${kind})`, () => wrapRaft(a, ks, 7, bad(12), DATA));
          expectTyped(`wrapRaft(payload=${kind})`, () => wrapRaft(a, ks, 7, NONCE, bad(40)));
          expectTyped(`wrapRaftBatch(nonce=${kind})`, () => wrapRaftBatch(a, ks, 7, [{ nonce: bad(12), payload: DATA }]));
          expectTyped(`wrapRaftBatch(payload=${kind})`, () => wrapRaftBatch(a, ks, 7, [{ nonce: NONCE, payload: bad(40) }]));
          expectTyped(`unwrapRaft(envelope=${kind})`, () => unwrapRaft(a, ks, bad(env.length)));
          expectTyped(`unwrapRaftBatch(envelope=${kind})`, () => unwrapRaftBatch(a, ks, [bad(env.length)]));
          expectTyped(`sealValue(nonce=${kind})`, () => sealValue(a, ks, 7, bad(12), AAD, DATA));
          expectTyped(`sealValue(storageKey=${kind})`, () => sealValue(a, ks, 7, NONCE, bad(5), DATA));
          expectTyped(`sealValue(value=${kind})`, () => sealValue(a, ks, 7, NONCE, AAD, bad(40)));
          expectTyped(`sealValueBatch(nonce=${kind})`, () => sealValueBatch(a, ks, 7, [{ nonce: bad(12), storageKey: AAD, value: DATA }]));
          expectTyped(`sealValueBatch(value=${kind})`, () => sealValueBatch(a, ks, 7, [{ nonce: NONCE, storageKey: AAD, value: bad(40) }]));
          expectTyped(`openValue(record=${kind})`, () => openValue(a, ks, AAD, bad(rec.length)));
          expectTyped(`openValue(storageKey=${kind})`, () => openValue(a, ks, bad(5), rec));
          expectTyped(`openValueBatch(record=${kind})`, () => openValueBatch(a, ks, [{ storageKey: AAD, record: bad(rec.length) }]));
          expectTyped(`encodeProposal(payload=${kind})`, () => encodeProposal(1n, bad(40)));
          expectTyped(`decodeProposal(data=${kind})`, () => decodeProposal(bad(20)));
          expectTyped(`Keystore.set(dek=${kind})`, () => new Keystore().set(9, bad(32)));
          void header;
        }),
        { numRuns: RUNS },
      );
    });
  }
});

describe('issue 8 item 1: the pool refuses wrong-typed inputs (inline and worker paths)', () => {
  const pools = inlineAndWorkerPools([
    [5, KEY],
    [6, new Uint8Array(32).fill(9)],
  ]);

  for (const kind of KINDS) {
    it(`seal/open/reseal/installKey with a ${kind}`, async () => {
      const ks = new Keystore();
      ks.set(6, new Uint8Array(32).fill(9));
      const env = wrapRaft((slots.get('node') as { aead: Aead }).aead, ks, 6, NONCE, DATA);
      const header = encodeValueHeader({ tombstone: false, state: STATE_ENCRYPTED, expireAt: 0n });
      await fc.assert(
        fc.asyncProperty(seeds, async (seed) => {
          for (const [mode, p] of pools) {
            for (const [pos, len] of POSITIONS) {
              if (pos === 'key') {
                expectTyped(`pool(${mode}).installKey(dek=${kind})`, () => p.installKey(8, invalid(kind, len, seed) as Uint8Array));
                continue;
              }
              const bad = invalid(kind, len, seed) as Uint8Array;
              const item = { nonce: NONCE, aad: AAD, data: DATA, [pos]: bad };
              await expectTypedAsync(`pool(${mode}).seal(${pos}=${kind})`, () => p.seal(5, [item]));
              await expectTypedAsync(`pool(${mode}).open(${pos}=${kind})`, () => p.open(5, [item]));
            }
            const r = { envelope: env, storageKey: AAD, valueHeader: header, nonce: NONCE };
            for (const [field, len] of [['envelope', env.length], ['storageKey', 5], ['valueHeader', 9], ['nonce', 12]] as const) {
              // An absent storage nonce means "draw it from the pool's factory" (documented), not a bad type.
              if (field === 'nonce' && kind === 'undefined') continue;
              const bad = invalid(kind, len, seed) as Uint8Array;
              await expectTypedAsync(`pool(${mode}).reseal(${field}=${kind})`, () => p.reseal(5, [{ ...r, [field]: bad }]));
            }
            // Two distinct invalid nonces must never both become ciphertext.
            const n1 = invalid(kind, 12, seed) as Uint8Array;
            const n2 = invalid(kind, 12, seed + 1) as Uint8Array;
            let out: Uint8Array[] | undefined;
            try {
              out = await p.seal(5, [
                { nonce: n1, aad: AAD, data: DATA },
                { nonce: n2, aad: AAD, data: DATA },
              ]);
            } catch (e) {
              expect(e).toBeInstanceOf(SealkvError);
            }
            if (out) {
              const same = Buffer.from(out[0]!).equals(Buffer.from(out[1]!));
              throw new Error(`pool(${mode}).seal accepted ${kind} nonces and produced ${same ? 'IDENTICAL' : 'distinct'} ciphertexts`);
            }
          }
        }),
        { numRuns: 2 },
      );
    });
  }

  it('valid inputs still seal and open through both paths', async () => {
    for (const [, p] of pools) {
      const items = [{ nonce: randomBytes(12), aad: AAD, data: DATA }];
      const [ct] = await p.seal(5, items);
      const [pt] = await p.open(5, [{ ...items[0]!, data: ct! }]);
      expect(pt).toEqual(DATA);
    }
  });
});

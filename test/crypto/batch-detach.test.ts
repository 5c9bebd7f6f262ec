// Issue 8 item 1 (follow-up): a batch item's getter runs user code between the check of one field
// and the copy of another. If that code detaches (transfers) a nonce that was already checked, an
// element-by-element copy reads `undefined` for every byte and seals under twelve zero bytes: two
// distinct nonces give the same keystream. A batch must either throw a typed SealkvError or seal
// each item under exactly the nonce bytes it checked.
// Pool workers run compiled JS: run `npx tsc -p tsconfig.json` first.

import { createCipheriv, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BatchItem } from '../../src/crypto/aead.js';
import { SealkvError } from '../../src/errors.js';
import { CryptoPool } from '../../src/pool/crypto-pool.js';
import { loadBackends, need } from './helpers/backends.js';

const KEY = new Uint8Array(randomBytes(32));
const DATA = new Uint8Array(64).fill(7);
const AAD = new Uint8Array(8).fill(3);

function reference(nonce: Uint8Array, aad: Uint8Array, data: Uint8Array): Uint8Array {
  const c = createCipheriv('aes-256-gcm', KEY, nonce);
  c.setAAD(aad);
  return new Uint8Array(Buffer.concat([c.update(data), c.final(), c.getAuthTag()]));
}

function detach(v: Uint8Array): void {
  const b = v.buffer as ArrayBuffer;
  structuredClone(b, { transfer: [b] });
}

/** A nonce over its own ArrayBuffer (so detaching it touches nothing else). */
function ownNonce(): Uint8Array {
  const n = new Uint8Array(new ArrayBuffer(12));
  n.set(randomBytes(12));
  return n;
}

type Where = 'own aad getter' | 'own data getter' | 'next item getter';

/** Two items with distinct nonces and equal AAD and data; a getter detaches nonces already read. */
function items(where: Where): { items: BatchItem[]; nonces: Uint8Array[] } {
  const nonces = [ownNonce(), ownNonce()];
  const copies = nonces.map((n) => n.slice());
  const out: BatchItem[] = nonces.map((n, i) => {
    if (where === 'own aad getter') {
      return {
        nonce: n,
        get aad() {
          detach(n);
          return AAD;
        },
        data: DATA,
      } as BatchItem;
    }
    if (where === 'own data getter') {
      return {
        nonce: n,
        aad: AAD,
        get data() {
          detach(n);
          return DATA;
        },
      } as BatchItem;
    }
    // The second item's nonce getter detaches the first item's (checked) nonce.
    if (i === 0) return { nonce: n, aad: AAD, data: DATA };
    return {
      get nonce() {
        detach(nonces[0]!);
        return n;
      },
      aad: AAD,
      data: DATA,
    } as BatchItem;
  });
  return { items: out, nonces: copies };
}

/** Either a typed SealkvError, or every item sealed under exactly the nonce bytes it had when read. */
function expectSafe(run: () => Uint8Array[], nonces: Uint8Array[]): void {
  let result: Uint8Array[] | undefined;
  try {
    result = run();
  } catch (e) {
    expect(e).toBeInstanceOf(SealkvError);
    return;
  }
  expect(Buffer.compare(result[0]!, result[1]!)).not.toBe(0);
  for (let i = 0; i < 2; i++) expect(Buffer.from(result[i]!).toString('hex')).toBe(Buffer.from(reference(nonces[i]!, AAD, DATA)).toString('hex'));
}

const WHERE: Where[] = ['own aad getter', 'own data getter', 'next item getter'];
const slots = await loadBackends();

describe('issue 8 item 1: a nonce detached by a getter during sealBatch is never sealed as zeros', () => {
  for (const [name, slot] of slots) {
    for (const where of WHERE) {
      it(`${name}: nonce detached by the ${where}`, (ctx) => {
        const aead = need(ctx, slot);
        const { items: its, nonces } = items(where);
        expectSafe(() => aead.sealBatch(KEY, its), nonces);
      });
    }
  }
});

describe('issue 8 item 1: the pool never seals a nonce detached by a getter as zeros (inline and worker)', () => {
  const pools: [string, CryptoPool][] = [];
  beforeAll(async () => {
    pools.push(['inline', await CryptoPool.create({ backend: 'node', workers: 1, inlineThreshold: Number.POSITIVE_INFINITY })]);
    pools.push(['worker', await CryptoPool.create({ backend: 'node', workers: 1, inlineThreshold: 0 })]);
    for (const [, p] of pools) p.installKey(5, KEY);
  });
  afterAll(async () => {
    for (const [, p] of pools) await p.close();
  });
  for (const where of WHERE) {
    it(`pool seal: nonce detached by the ${where}`, async () => {
      for (const [, p] of pools) {
        const { items: its, nonces } = items(where);
        let result: Uint8Array[] | undefined;
        try {
          result = await p.seal(5, its);
        } catch (e) {
          expect(e).toBeInstanceOf(SealkvError);
          continue;
        }
        expectSafe(() => result!, nonces);
      }
    });
  }
});

// CK-3 (issue 8 item 1): a failed decrypt is INTEGRITY with the backend's own error attached as
// `cause`, on every path — single open, openBatch, the pool's open and reseal, the envelopes.
// Pool workers run compiled JS: run `npx tsc -p tsconfig.json` first.

import { inlineAndWorkerPools } from './helpers/pools.js';
import { describe, expect, it } from 'vitest';
import { encodeValueHeader, STATE_ENCRYPTED, unwrapRaftBatch, wrapRaft } from '../../src/crypto/envelope/index.js';
import { Keystore } from '../../src/crypto/keystore.js';
import { IntegrityError } from '../../src/errors.js';
import { loadBackends, need } from './helpers/backends.js';

const KEY = new Uint8Array(32).fill(4);
const NONCE = new Uint8Array(12).fill(8);
const AAD = new Uint8Array(3).fill(1);
const slots = await loadBackends();

function expectCause(e: unknown, label: string): void {
  expect(e, label).toBeInstanceOf(IntegrityError);
  expect((e as IntegrityError).code, label).toBe('INTEGRITY');
  expect((e as Error).cause, `${label}: cause`).toBeInstanceOf(Error);
}

describe('CK-3 every INTEGRITY carries the backend error as cause', () => {
  for (const [name, slot] of slots) {
    it(`${name}: open (tag flipped, too short) and openBatch`, (ctx) => {
      const aead = need(ctx, slot);
      const sealed = aead.seal(KEY, NONCE, AAD, new Uint8Array(40));
      const bad = sealed.slice();
      bad[bad.length - 1]! ^= 1;
      for (const input of [bad, new Uint8Array(5)]) {
        let thrown: unknown;
        try {
          aead.open(KEY, NONCE, AAD, input);
        } catch (e) {
          thrown = e;
        }
        expectCause(thrown, `${name}.open(${input.length} bytes)`);
      }
      const res = aead.openBatch(KEY, [
        { nonce: NONCE, aad: AAD, data: sealed },
        { nonce: NONCE, aad: AAD, data: bad },
        { nonce: NONCE, aad: AAD, data: new Uint8Array(3) },
      ]);
      expect(res[0]).toBeInstanceOf(Uint8Array);
      expectCause(res[1], `${name}.openBatch tag`);
      expectCause(res[2], `${name}.openBatch short`);
    });
  }

  it('envelopes: unwrapRaftBatch wraps the backend IntegrityError (which has its own cause)', () => {
    const aead = (slots.get('node') as { aead: import('../../src/crypto/aead.js').Aead }).aead;
    const ks = new Keystore();
    ks.set(3, KEY);
    const env = wrapRaft(aead, ks, 3, NONCE, new Uint8Array(10));
    env[env.length - 1]! ^= 1;
    const [r] = unwrapRaftBatch(aead, ks, [env]);
    expectCause(r, 'unwrapRaftBatch');
    expectCause((r as Error).cause, 'unwrapRaftBatch inner');
  });
});

describe('CK-3 the pool reports INTEGRITY with a cause (inline and worker paths)', () => {
  const pools = inlineAndWorkerPools([
    [5, KEY],
    [6, new Uint8Array(32).fill(6)],
  ]);

  it('open and reseal', async () => {
    const aead = (slots.get('node') as { aead: import('../../src/crypto/aead.js').Aead }).aead;
    const ks = new Keystore();
    ks.set(6, new Uint8Array(32).fill(6));
    const env = wrapRaft(aead, ks, 6, NONCE, new Uint8Array(10));
    env[env.length - 1]! ^= 1;
    const header = encodeValueHeader({ tombstone: false, state: STATE_ENCRYPTED, expireAt: 0n });
    for (const [mode, p] of pools) {
      const [ct] = await p.seal(5, [{ nonce: NONCE, aad: AAD, data: new Uint8Array(9) }]);
      const bad = ct!.slice();
      bad[0]! ^= 1;
      const [r] = await p.open(5, [{ nonce: NONCE, aad: AAD, data: bad }]);
      expectCause(r, `pool(${mode}).open`);
      const [rs] = await p.reseal(5, [{ envelope: env, storageKey: AAD, valueHeader: header, nonce: NONCE }]);
      expectCause(rs, `pool(${mode}).reseal`);
    }
  });
});

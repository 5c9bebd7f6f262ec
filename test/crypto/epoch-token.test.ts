// Issue 8 item 2 / KM-8, KM-9: a nonce factory exists only from the token of a persisted,
// fsynced local_epoch bump, once per purpose per process; no public call mints an unreserved nonce.
import { describe, expect, it } from 'vitest';
import * as envelopeApi from '../../src/crypto/envelope/index.js';
import { mintPersistedEpoch, NonceFactory, PersistedEpoch, parseNonce } from '../../src/crypto/envelope/nonce.js';
import { expectCode } from './helpers/backends.js';

describe('KM-8 nonce factories only from a persisted epoch (issue 8 item 2)', () => {
  it('KM-8 the NonceFactory constructor refuses every caller (no factory from a bare epoch)', () => {
    const Ctor = NonceFactory as unknown as new (...a: unknown[]) => NonceFactory;
    expectCode(() => new Ctor(0x1234, 7), 'NONCE_FACTORY_CONFLICT');
    expectCode(() => new Ctor(Symbol('build'), 0x1234, 7, undefined, 0n), 'NONCE_FACTORY_CONFLICT');
  });

  it('KM-8 a PersistedEpoch cannot be constructed or forged outside mintPersistedEpoch', () => {
    const Ctor = PersistedEpoch as unknown as new (...a: unknown[]) => PersistedEpoch;
    expectCode(() => new Ctor('raft', 1, 2), 'NONCE_FACTORY_CONFLICT');
    const forged = Object.create(PersistedEpoch.prototype, { purpose: { value: 'raft' }, nodeId16: { value: 1 }, localEpoch: { value: 2 } });
    expectCode(() => NonceFactory.fromPersistedEpoch(forged), 'NONCE_FACTORY_CONFLICT');
    expectCode(() => NonceFactory.fromPersistedEpoch({ purpose: 'raft', nodeId16: 1, localEpoch: 2 } as unknown as PersistedEpoch), 'NONCE_FACTORY_CONFLICT');
  });

  it('KM-8/KM-9 one factory per purpose per process, tokens single use; nonces carry the pinned epoch', () => {
    const raftToken = mintPersistedEpoch({ purpose: 'raft', nodeId16: 0xabcd, localEpoch: 41 });
    const f = NonceFactory.fromPersistedEpoch(raftToken);
    expect(parseNonce(f.next())).toEqual({ nodeId16: 0xabcd, epoch: 41, writeCount: 1n });
    // The same token again, and a fresh token for the same purpose: both refused.
    expectCode(() => NonceFactory.fromPersistedEpoch(raftToken), 'NONCE_FACTORY_CONFLICT');
    expectCode(() => NonceFactory.fromPersistedEpoch(mintPersistedEpoch({ purpose: 'raft', nodeId16: 0xabcd, localEpoch: 42 })), 'NONCE_FACTORY_CONFLICT');
    // The other purpose gets its own factory, with its own counter.
    const s = NonceFactory.fromPersistedEpoch(mintPersistedEpoch({ purpose: 'storage', nodeId16: 0xabcd, localEpoch: 9 }));
    expect(parseNonce(s.next())).toEqual({ nodeId16: 0xabcd, epoch: 9, writeCount: 1n });
    // Workers attach to the same counter.
    const w = NonceFactory.fromShared(f.shared());
    expect(parseNonce(w.next()).writeCount).toBe(2n);
    expect(parseNonce(f.next()).writeCount).toBe(3n);
  });

  it('KM-9 no public call mints a nonce without reserving it, and the test-only seed is not public', () => {
    expect((NonceFactory.prototype as unknown as Record<string, unknown>).nonceFor).toBeUndefined();
    expect(Object.keys(envelopeApi)).not.toContain('TEST_ONLY_ACCESS');
    expectCode(() => mintPersistedEpoch({ purpose: 'raft', nodeId16: 0x1_0000, localEpoch: 1 }), 'BAD_INPUT_TYPE');
    expectCode(() => mintPersistedEpoch({ purpose: 'other' as 'raft', nodeId16: 1, localEpoch: 1 }), 'BAD_INPUT_TYPE');
  });
});

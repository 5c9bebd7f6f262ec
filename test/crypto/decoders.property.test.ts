// PF-5 (property): arbitrary or mutated bytes fed to the decoders never yield data they should
// not, and never throw anything but a typed SealkvError.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  decodeProposal,
  decodeValueHeader,
  encodeProposal,
  encodeValueHeader,
  proposalPayload,
  openValue,
  sealValue,
  STATE_CLEARTEXT,
  unwrapRaft,
  unwrapRaftBatch,
  type ValueHeader,
  wrapRaft,
} from '../../src/crypto/envelope/index.js';
import { loadAead } from '../../src/crypto/index.js';
import { Keystore } from '../../src/crypto/keystore.js';
import { SealkvError } from '../../src/errors.js';
import { testNonceFactory } from './helpers/nonce-factory.js';

const node = await loadAead('node');
const ks = new Keystore();
ks.set(7, new Uint8Array(32).fill(1));
ks.set(8, new Uint8Array(32).fill(2));
const factory = testNonceFactory(0xabcd, 3);

/** Applies 1–4 byte mutations (xor with a non-zero value), a truncation, or an extension. */
const mutationArb = fc.oneof(
  fc.array(fc.record({ at: fc.nat(), x: fc.integer({ min: 1, max: 255 }) }), { minLength: 1, maxLength: 4 }).map((ms) => ({ kind: 'xor' as const, ms })),
  fc.nat().map((n) => ({ kind: 'truncate' as const, n })),
  fc.uint8Array({ minLength: 1, maxLength: 8 }).map((extra) => ({ kind: 'extend' as const, extra })),
);

type Mutation = typeof mutationArb extends fc.Arbitrary<infer T> ? T : never;

function mutate(b: Uint8Array, m: Mutation): Uint8Array {
  if (m.kind === 'truncate') return b.slice(0, m.n % b.length);
  if (m.kind === 'extend') return Uint8Array.from([...b, ...m.extra]);
  const out = Uint8Array.from(b);
  for (const { at, x } of m.ms) out[at % out.length]! ^= x;
  return out;
}

function typedOrNothing(fn: () => unknown): unknown {
  try {
    return fn();
  } catch (e) {
    if (!(e instanceof SealkvError)) throw new Error(`untyped error: ${String(e)}`);
    return e;
  }
}

describe('PF-5 decoders over arbitrary and mutated bytes', () => {
  it('PF-5 decodeProposal: decodes exactly the PE-2 shape, otherwise PROPOSAL_MALFORMED', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (b) => {
        const r = typedOrNothing(() => decodeProposal(b));
        if (b.length >= 9 && b[0] === 0x01) {
          const d = r as { id: bigint; payload: Uint8Array };
          expect(d.id).toBe(Buffer.from(b).readBigUInt64BE(1));
          expect(Buffer.from(d.payload).equals(Buffer.from(b.subarray(9)))).toBe(true);
          expect(proposalPayload(b)).toEqual(d.payload);
        } else {
          expect((r as SealkvError).code).toBe('PROPOSAL_MALFORMED');
          expect((typedOrNothing(() => proposalPayload(b)) as SealkvError).code).toBe('PROPOSAL_MALFORMED');
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('PE-1 encodeProposal: 0x01 ‖ id as u64 big-endian ‖ payload for any id up to 2^64-1, and decodeProposal inverts it', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), fc.uint8Array({ maxLength: 32 }), (id, payload) => {
        const e = encodeProposal(id, payload);
        expect(e[0]).toBe(0x01);
        expect(Buffer.from(e).readBigUInt64BE(1)).toBe(id);
        expect(decodeProposal(e)).toEqual({ id, payload: Uint8Array.from(payload) });
      }),
      { numRuns: 2000 },
    );
  });

  it('PF-5 decodeValueHeader: valid flags decode and round-trip, anything else is a typed error', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 16 }), (b) => {
        const r = typedOrNothing(() => decodeValueHeader(b));
        if (b.length < 9) expect((r as SealkvError).code).toBe('ENVELOPE_SHORT');
        else if ((b[0]! & 0xf8) !== 0 || (b[0]! & 0x06) > 0x02) expect((r as SealkvError).code).toBe('ENCRYPTED_VALUE_RESERVED_STATE');
        else {
          expect(r).not.toBeInstanceOf(SealkvError);
          // Round trip: the decoded header encodes back to the same 9 bytes (u64 BE expiry).
          expect(Buffer.from(encodeValueHeader(r as ValueHeader)).equals(Buffer.from(b.subarray(0, 9)))).toBe(true);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('SE-4 encodeValueHeader: the expiry is written as u64 big-endian for any value up to 2^64-1', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), fc.boolean(), (expireAt, tombstone) => {
        const h = encodeValueHeader({ tombstone, state: 0b01, expireAt });
        expect(Buffer.from(h).readBigUInt64BE(1)).toBe(expireAt);
        expect(h[0]).toBe((tombstone ? 1 : 0) | 0b010);
      }),
      { numRuns: 2000 },
    );
  });

  it('PF-5 unwrapRaft: arbitrary bytes never yield data', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 96 }), fc.constantFrom(0, 7, 8), (b, keyId) => {
        // Bias towards well-framed envelopes so the key and tag checks are reached too.
        const env = Uint8Array.from(b);
        if (env.length >= 6 && keyId !== 0) {
          env[0] = 1;
          env[1] = 0;
          env[5] = keyId;
          env.fill(0, 2, 5);
        }
        const r = typedOrNothing(() => unwrapRaft(node, ks, env));
        expect(r).toBeInstanceOf(SealkvError);
        const [br] = unwrapRaftBatch(node, ks, [env]);
        expect(br).toBeInstanceOf(SealkvError);
      }),
      { numRuns: 2000 },
    );
  });

  it('PF-5 unwrapRaft / decodeProposal: a mutated wrapped entry never yields data', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), mutationArb, (payload, id, m) => {
        const entry = encodeProposal(id, wrapRaft(node, ks, 7, factory.next(), payload));
        const bad = mutate(entry, m);
        const d = typedOrNothing(() => decodeProposal(bad));
        if (d instanceof SealkvError) return;
        const { payload: env } = d as { payload: Uint8Array };
        // Only a mutation confined to the proposal header can leave the envelope intact.
        if (Buffer.from(env).equals(Buffer.from(entry.subarray(9)))) return;
        const r = typedOrNothing(() => unwrapRaft(node, ks, env));
        expect(r).toBeInstanceOf(SealkvError);
      }),
      { numRuns: 1500 },
    );
  });

  it('PF-5 openValue: a mutated encrypted record never yields the plaintext; errors are typed', () => {
    const storageKey = new TextEncoder().encode('user:42');
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 8, maxLength: 200 }),
        fc.constantFrom(0n, 1_700_000_000_000n),
        mutationArb,
        (value, expireAt, m) => {
          const rec = sealValue(node, ks, 8, factory.next(), storageKey, value, expireAt);
          const bad = mutate(rec, m);
          // Two xors at one position can cancel out; an unchanged record is not a mutation.
          if (Buffer.from(bad).equals(Buffer.from(rec))) return;
          const r = typedOrNothing(() => openValue(node, ks, storageKey, bad));
          if (r instanceof SealkvError) return;
          // Returned data is only possible for a record now labelled cleartext (the SE-9 gap);
          // it is then the stored body, never the plaintext.
          const out = r as { header: { state: number }; value: Uint8Array };
          expect(out.header.state).toBe(STATE_CLEARTEXT);
          expect(Buffer.from(out.value).equals(Buffer.from(value))).toBe(false);
          expect(Buffer.from(out.value).equals(Buffer.from(bad.subarray(9)))).toBe(true);
        },
      ),
      { numRuns: 1500 },
    );
  });

  it('PF-5 openValue: arbitrary records are a typed error or a cleartext body, never an untyped throw', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 80 }), (b) => {
        const r = typedOrNothing(() => openValue(node, ks, new Uint8Array([1]), b));
        if (!(r instanceof SealkvError)) {
          const out = r as { header: { state: number }; value: Uint8Array };
          expect(out.header.state).toBe(STATE_CLEARTEXT);
          expect(Buffer.from(out.value).equals(Buffer.from(b.subarray(9)))).toBe(true);
        }
      }),
      { numRuns: 2000 },
    );
  });
});

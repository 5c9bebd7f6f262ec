// The SPEC tests for the proposal, raft and storage envelopes, the value header, the nonce
// factory and the keystore (PE-1, PE-2, PE-5, RE-1..RE-7, SE-1..SE-9, KM-9, CK-1..CK-3, C-5).

import { describe, expect, it } from 'vitest';
import {
  buildRaftAad,
  buildStorageAad,
  decodeProposal,
  decodeValueHeader,
  encodeProposal,
  encodeValueHeader,
  fnv1a64,
  fullNodeId,
  guardRelabelledCleartext,
  isProposal,
  NonceFactory,
  nodeId16Of,
  openStorageEnvelope,
  openValueBatch,
  openValue,
  parseNonce,
  sealValue,
  sealValueBatch,
  STATE_CLEARTEXT,
  STATE_ENCRYPTED,
  unwrapRaft,
  unwrapRaftBatch,
  wrapRaft,
  wrapRaftBatch,
} from '../../src/crypto/envelope/index.js';
import { BACKENDS, loadAead } from '../../src/crypto/index.js';
import { Keystore } from '../../src/crypto/keystore.js';
import { EnvelopeError, IntegrityError, type SealkvError } from '../../src/errors.js';
import { expectCode, hex, loadBackends, need, toHex } from './helpers/backends.js';
import { testNonceFactory } from './helpers/nonce-factory.js';

const slots = await loadBackends();
const node = await loadAead('node');

const RAFT_KEY = 0x0000_0007;
const DEK_A = new Uint8Array(32).fill(0xa1);
const DEK_B = new Uint8Array(32).fill(0xb2);
const enc = (s: string) => new TextEncoder().encode(s);

function keystore(): Keystore {
  const ks = new Keystore();
  ks.set(RAFT_KEY, DEK_A);
  return ks;
}

function nonces(): NonceFactory {
  return testNonceFactory(0x1234, 0x0007);
}

describe('PE-1 / PE-2 / PE-5 proposal envelope', () => {
  it('PE-1 id 7 with payload P encodes as 01 00 00 00 00 00 00 00 07 ‖ P and decodes to (7n, P)', () => {
    const p = enc('SET k v');
    const e = encodeProposal(7n, p);
    expect(toHex(e)).toBe('010000000000000007' + toHex(p));
    const d = decodeProposal(e);
    expect(d.id).toBe(7n);
    expect(toHex(d.payload)).toBe(toHex(p));
  });

  it('PE-1 / C-1 ids are u64 big-endian (2^64−1 round-trips)', () => {
    const e = encodeProposal((1n << 64n) - 1n, new Uint8Array(0));
    expect(toHex(e)).toBe('01ffffffffffffffff');
    expect(decodeProposal(e).id).toBe((1n << 64n) - 1n);
    expect(() => encodeProposal(1n << 64n, new Uint8Array(0))).toThrow(RangeError);
  });

  it('PE-2 decode succeeds only for length ≥ 9 and data[0] == 0x01; 0x02/0x03 contexts never decode', () => {
    expectCode(() => decodeProposal(hex('02 00 00 00 00 00 00 00 01 AA')), 'PROPOSAL_MALFORMED');
    expectCode(() => decodeProposal(hex('03 00 00 00 00 00 00 00 01 AA')), 'PROPOSAL_MALFORMED');
    expectCode(() => decodeProposal(hex('01 00 00 00 00 00 00 00')), 'PROPOSAL_MALFORMED');
    expectCode(() => decodeProposal(new Uint8Array(0)), 'PROPOSAL_MALFORMED');
    expect(isProposal(hex('02 00 00 00 00 00 00 00 01 AA'))).toBe(false);
    const nine = decodeProposal(hex('01 00 00 00 00 00 00 00 05'));
    expect(nine.id).toBe(5n);
    expect(nine.payload.length).toBe(0);
  });

  it('PE-5 after the cutover entry.data[0] is 0x01, [1..8] the id, and [9..] a raft envelope of the payload', () => {
    const ks = keystore();
    const payload = enc('SET user:1 alice');
    const entry = encodeProposal(42n, wrapRaft(node, ks, RAFT_KEY, nonces().next(), payload));
    expect(entry[0]).toBe(0x01);
    expect(decodeProposal(entry).id).toBe(42n);
    expect(toHex(unwrapRaft(node, ks, entry.subarray(9)))).toBe(toHex(payload));
  });
});

describe('RE-1..RE-7 raft envelope', () => {
  it('RE-1 a 100-byte payload wraps to exactly 134 bytes: 01 ‖ 00 ‖ key_id BE ‖ nonce ‖ ct ‖ tag', () => {
    const ks = keystore();
    const nonce = nonces().next();
    const payload = new Uint8Array(100).fill(0x5a);
    const env = wrapRaft(node, ks, RAFT_KEY, nonce, payload);
    expect(env.length).toBe(134);
    expect(env[0]).toBe(0x01);
    expect(env[1]).toBe(0x00);
    expect(toHex(env.subarray(2, 6))).toBe('00000007');
    expect(toHex(env.subarray(6, 18))).toBe(toHex(nonce));
    expect(toHex(env.subarray(18))).toBe(toHex(node.seal(DEK_A, nonce, hex('52 01 00 00 00 07'), payload)));
    // Smallest envelope: empty plaintext → 34 bytes.
    expect(wrapRaft(node, ks, RAFT_KEY, nonces().next(), new Uint8Array(0)).length).toBe(34);
  });

  it('RE-2 buildRaftAad(0x01, 0xDEADBEEF) = 52 01 DE AD BE EF', () => {
    expect(toHex(buildRaftAad(0x01, 0xdeadbeef))).toBe('5201deadbeef');
    expect(buildRaftAad(0x01, 7).length).toBe(6);
  });

  it('RE-2 a different key_id in the AAD fails with INTEGRITY (re-tagged envelope, same DEK bytes)', () => {
    const ks = keystore();
    ks.set(8, DEK_A); // same bytes under another id: only the AAD tells them apart
    const env = wrapRaft(node, ks, RAFT_KEY, nonces().next(), enc('payload'));
    env[5] = 8;
    expectCode(() => unwrapRaft(node, ks, env), 'INTEGRITY');
  });

  it('RE-3 wrap never emits a non-zero flag; any non-zero flag fails unwrap with ENVELOPE_FLAG', () => {
    const ks = keystore();
    const f = nonces();
    for (let i = 0; i < 20; i++) expect(wrapRaft(node, ks, RAFT_KEY, f.next(), new Uint8Array(i))[1]).toBe(0);
    const env = wrapRaft(node, ks, RAFT_KEY, f.next(), enc('payload'));
    for (const flag of [0x01, 0x02, 0x80, 0xff]) {
      const t = Uint8Array.from(env);
      t[1] = flag;
      expectCode(() => unwrapRaft(node, ks, t), 'ENVELOPE_FLAG');
    }
  });

  it('RE-4 FNV-1a-64 vectors and node_id16', () => {
    expect(fnv1a64('')).toBe(0xcbf29ce484222325n);
    expect(fnv1a64('a')).toBe(0xaf63dc4c8601ec8cn);
    expect(fnv1a64('node-1')).toBe(0xe696ecc2207879c3n);
    expect(fullNodeId('node-1')).toBe(0xe696ecc2207879c3n);
    expect(nodeId16Of('node-1')).toBe(0x79c3);
  });

  it('RE-4 factory (0x1234, 0x0007) emits 12 34 00 07 00 00 00 00 00 00 00 01 first, then …02', () => {
    const f = nonces();
    expect(toHex(f.next())).toBe('123400070000000000000001');
    const buf = new Uint8Array(20);
    expect(f.nextInto(buf, 4)).toBe(2n);
    expect(toHex(buf.subarray(4, 16))).toBe('123400070000000000000002');
    expect(parseNonce(f.next())).toEqual({ nodeId16: 0x1234, epoch: 7, writeCount: 3n });
    const batch = new Uint8Array(36);
    expect(f.nextBatchInto(3, batch)).toBe(4n);
    expect(toHex(batch)).toBe('123400070000000000000004' + '123400070000000000000005' + '123400070000000000000006');
    expect(f.writeCount).toBe(6n);
  });

  it('RE-4: a batch of nonces carries the write_count across the 2^32 boundary (u64 big-endian, no skipped or repeated count)', () => {
    const f = testNonceFactory(0x1234, 7, { seed: 0xffff_fffdn });
    const batch = new Uint8Array(48);
    expect(f.nextBatchInto(4, batch)).toBe(0xffff_fffen);
    expect(toHex(batch)).toBe('1234000700000000fffffffe' + '1234000700000000ffffffff' + '123400070000000100000000' + '123400070000000100000001');
    const hiCarry = testNonceFactory(0x1234, 7, { seed: 0x0000_00ff_ffff_ffffn });
    const b2 = new Uint8Array(24);
    hiCarry.nextBatchInto(2, b2);
    expect(toHex(b2)).toBe('123400070000010000000000' + '123400070000010000000001');
  });

  it('RE-5 preconditions run in order: NIL_KEYSTORE, BAD_NONCE_SIZE, RESERVED_KEY_ID, UNKNOWN_KEY_ID', () => {
    const ks = keystore();
    const bad = new Uint8Array(8);
    const good = nonces().next();
    const p = enc('x');
    expectCode(() => wrapRaft(null, ks, 0, bad, p), 'NIL_KEYSTORE');
    expectCode(() => wrapRaft(node, undefined, 0, bad, p), 'NIL_KEYSTORE');
    expectCode(() => wrapRaft(node, ks, 0, bad, p), 'BAD_NONCE_SIZE');
    expectCode(() => wrapRaft(node, ks, 0, good, p), 'RESERVED_KEY_ID');
    expectCode(() => wrapRaft(node, ks, 99, good, p), 'UNKNOWN_KEY_ID');
    // Same order for the batch form.
    expectCode(() => wrapRaftBatch(null, ks, 0, [{ nonce: bad, payload: p }]), 'NIL_KEYSTORE');
    expectCode(() => wrapRaftBatch(node, ks, 0, [{ nonce: good, payload: p }, { nonce: bad, payload: p }]), 'BAD_NONCE_SIZE');
    expectCode(() => wrapRaftBatch(node, ks, 0, [{ nonce: good, payload: p }]), 'RESERVED_KEY_ID');
    expectCode(() => wrapRaftBatch(node, ks, 99, [{ nonce: good, payload: p }]), 'UNKNOWN_KEY_ID');
  });

  it('RE-5 wrapping with key_id 0 returns RESERVED_KEY_ID; the output is a fresh buffer', () => {
    const ks = keystore();
    expectCode(() => wrapRaft(node, ks, 0, nonces().next(), enc('x')), 'RESERVED_KEY_ID');
    const payload = enc('payload');
    const nonce = nonces().next();
    const env = wrapRaft(node, ks, RAFT_KEY, nonce, payload);
    expect(env.buffer).not.toBe(payload.buffer);
    expect(env.buffer).not.toBe(nonce.buffer);
    expect(env.byteOffset).toBe(0);
    expect(env.buffer.byteLength).toBe(env.length);
  });

  it('RE-6 checks run in order: ENVELOPE_SHORT, ENVELOPE_VERSION, ENVELOPE_FLAG, UNKNOWN_KEY_ID, INTEGRITY', () => {
    const ks = keystore();
    const env = wrapRaft(node, ks, RAFT_KEY, nonces().next(), new Uint8Array(0));
    expect(env.length).toBe(34);
    // Short beats everything else (bad version, flag and key in the first bytes).
    expectCode(() => unwrapRaft(node, ks, hex('ff ff 00 00 00 00').subarray(0, 6)), 'ENVELOPE_SHORT');
    expectCode(() => unwrapRaft(node, ks, env.subarray(0, 33)), 'ENVELOPE_SHORT');
    // Version beats flag and key.
    for (const v of [0x00, 0x02, 0x03, 0x0f, 0x52, 0xff]) {
      const t = Uint8Array.from(env);
      t[0] = v;
      t[1] = 0x01;
      t[5] = 0x63;
      expectCode(() => unwrapRaft(node, ks, t), 'ENVELOPE_VERSION');
    }
    // Flag beats key.
    const f = Uint8Array.from(env);
    f[1] = 0x01;
    f[5] = 0x63;
    expectCode(() => unwrapRaft(node, ks, f), 'ENVELOPE_FLAG');
    // Key (including 0) beats tag.
    for (const id of [0, 0x63]) {
      const k = Uint8Array.from(env);
      k[5] = id;
      k[33] ^= 1;
      expectCode(() => unwrapRaft(node, ks, k), 'UNKNOWN_KEY_ID');
    }
    const t = Uint8Array.from(env);
    t[33] ^= 1;
    expectCode(() => unwrapRaft(node, ks, t), 'INTEGRITY');
  });

  it('RE-6 flipping one tag byte yields INTEGRITY (typed, with the backend error as cause)', () => {
    const ks = keystore();
    const env = wrapRaft(node, ks, RAFT_KEY, nonces().next(), enc('hello raft'));
    env[env.length - 1]! ^= 0x80;
    const e = expectCode(() => unwrapRaft(node, ks, env), 'INTEGRITY');
    expect(e).toBeInstanceOf(IntegrityError);
    expect(e.cause).toBeInstanceOf(IntegrityError);
  });

  it('RE-6 removing the DEK from the keystore yields UNKNOWN_KEY_ID', () => {
    const ks = keystore();
    const env = wrapRaft(node, ks, RAFT_KEY, nonces().next(), enc('hello raft'));
    expect(toHex(unwrapRaft(node, ks, env))).toBe(toHex(enc('hello raft')));
    ks.delete(RAFT_KEY);
    const e = expectCode(() => unwrapRaft(node, ks, env), 'UNKNOWN_KEY_ID');
    expect(e).toBeInstanceOf(EnvelopeError);
    expect(e.message).toContain('7');
  });

  it('RE-6 mutating the returned plaintext leaves the input bytes unchanged (no aliasing)', () => {
    const ks = keystore();
    const env = wrapRaft(node, ks, RAFT_KEY, nonces().next(), enc('hello raft'));
    // Put the envelope inside a larger entry buffer, as entry.data[9..] would be.
    const entry = encodeProposal(1n, env);
    const before = toHex(entry);
    const plain = unwrapRaft(node, ks, entry.subarray(9));
    expect(plain.buffer).not.toBe(entry.buffer);
    plain.fill(0xee);
    expect(toHex(entry)).toBe(before);
  });

  it('RE-6 batch: each item gets its own result; plaintexts never alias the inputs', () => {
    const ks = keystore();
    ks.set(9, DEK_B);
    const f = nonces();
    const good = wrapRaft(node, ks, RAFT_KEY, f.next(), enc('one'));
    const other = wrapRaft(node, ks, 9, f.next(), enc('two'));
    const tampered = wrapRaft(node, ks, RAFT_KEY, f.next(), enc('three'));
    tampered[20]! ^= 1;
    const flagged = Uint8Array.from(good);
    flagged[1] = 1;
    const unknown = Uint8Array.from(good);
    unknown[5] = 0x44;
    const res = unwrapRaftBatch(node, ks, [good, other, tampered, good.subarray(0, 20), flagged, unknown]);
    expect(toHex(res[0] as Uint8Array)).toBe(toHex(enc('one')));
    expect(toHex(res[1] as Uint8Array)).toBe(toHex(enc('two')));
    expect((res[2] as SealkvError).code).toBe('INTEGRITY');
    expect((res[3] as SealkvError).code).toBe('ENVELOPE_SHORT');
    expect((res[4] as SealkvError).code).toBe('ENVELOPE_FLAG');
    expect((res[5] as SealkvError).code).toBe('UNKNOWN_KEY_ID');
    expect((res[0] as Uint8Array).buffer).not.toBe(good.buffer);
    expectCode(() => unwrapRaftBatch(null, ks, [good]), 'NIL_KEYSTORE');
  });

  it('RE-7 a storage-style envelope under the raft DEK fails raft unwrap with INTEGRITY', () => {
    const ks = keystore();
    const nonce = nonces().next();
    const header = hex('02 00 00 00 00 00 00 00 00');
    const storageAad = Uint8Array.from([...hex('01 00 00 00 00 07'), ...header, ...enc('k')]);
    const sealed = node.seal(DEK_A, nonce, storageAad, enc('value'));
    const env = Uint8Array.from([...hex('01 00 00 00 00 07'), ...nonce, ...sealed]);
    expectCode(() => unwrapRaft(node, ks, env), 'INTEGRITY');
    // And the storage helper's own output, same key_id and DEK bytes.
    const record = sealValue(node, ks, RAFT_KEY, nonces().next(), enc('k'), enc('value'));
    expectCode(() => unwrapRaft(node, ks, record.subarray(9)), 'INTEGRITY');
  });

  it('RE-7 a raft envelope fed to storage decrypt fails (ENCRYPTED_READ_INTEGRITY, cause INTEGRITY)', () => {
    const ks = keystore();
    const env = wrapRaft(node, ks, RAFT_KEY, nonces().next(), enc('value'));
    for (const key of [enc('k'), new Uint8Array(0)]) {
      const record = Uint8Array.from([...hex('02 00 00 00 00 00 00 00 00'), ...env]);
      const e = expectCode(() => openValue(node, ks, key, record), 'ENCRYPTED_READ_INTEGRITY');
      expect((e.cause as SealkvError).code).toBe('INTEGRITY');
      // Labelled cleartext, the SE-9 guard does not mistake it for a storage envelope either.
      const clear = Uint8Array.from([...hex('00 00 00 00 00 00 00 00 00'), ...env]);
      expect(toHex(openValue(node, ks, key, clear).value)).toBe(toHex(env));
    }
  });
});

describe('SE-1..SE-9 storage envelope and value header', () => {
  const K1 = enc('k1');
  const K2 = enc('k2');

  it('SE-1 an encrypted value reads back verbatim; 34 bytes of overhead after the 9-byte header', () => {
    const ks = keystore();
    const value = enc('the value');
    const rec = sealValue(node, ks, RAFT_KEY, nonces().next(), K1, value);
    expect(rec.length).toBe(9 + 34 + value.length);
    expect(rec[0]).toBe(0x02);
    expect(toHex(rec.subarray(9, 15))).toBe('010000000007');
    const out = openValue(node, ks, K1, rec);
    expect(toHex(out.value)).toBe(toHex(value));
    expect(out.header).toEqual({ tombstone: false, state: STATE_ENCRYPTED, expireAt: 0n });
    expect(out.value.buffer).not.toBe(rec.buffer);
  });

  it('SE-1 flag byte 0x01 fails with ENCRYPTED_READ_INTEGRITY (cause ENVELOPE_FLAG)', () => {
    const ks = keystore();
    const rec = sealValue(node, ks, RAFT_KEY, nonces().next(), K1, enc('the value'));
    rec[10] = 0x01;
    const e = expectCode(() => openValue(node, ks, K1, rec), 'ENCRYPTED_READ_INTEGRITY');
    expect((e.cause as SealkvError).code).toBe('ENVELOPE_FLAG');
  });

  it('SE-1 check order: short (cause ENVELOPE_SHORT), ENVELOPE_VERSION, flag, UNKNOWN_KEY_ID, integrity', () => {
    const ks = keystore();
    const rec = sealValue(node, ks, RAFT_KEY, nonces().next(), K1, new Uint8Array(0));
    expect(rec.length).toBe(9 + 34);
    const short = expectCode(() => openValue(node, ks, K1, rec.subarray(0, 42)), 'ENCRYPTED_READ_INTEGRITY');
    expect((short.cause as SealkvError).code).toBe('ENVELOPE_SHORT');
    const v = Uint8Array.from(rec);
    v[9] = 0x02;
    v[10] = 0x01;
    expectCode(() => openValue(node, ks, K1, v), 'ENVELOPE_VERSION');
    const k = Uint8Array.from(rec);
    k[14] = 0x63;
    k[42]! ^= 1;
    expectCode(() => openValue(node, ks, K1, k), 'UNKNOWN_KEY_ID');
    const t = Uint8Array.from(rec);
    t[42]! ^= 1;
    const e = expectCode(() => openValue(node, ks, K1, t), 'ENCRYPTED_READ_INTEGRITY');
    expect((e.cause as SealkvError).code).toBe('INTEGRITY');
  });

  it('SE-2 AAD for key k, key_id 7, live, encrypted, no expiry = 01 00 00 00 00 07 02 00 00 00 00 00 00 00 00 6B', () => {
    const h = { tombstone: false, state: STATE_ENCRYPTED, expireAt: 0n } as const;
    expect(toHex(buildStorageAad(7, h, enc('k')))).toBe('0100000000070200000000000000006b');
    expect(toHex(buildStorageAad(7, encodeValueHeader(h), enc('k')))).toBe('0100000000070200000000000000006b');
    // The sealed value uses exactly this AAD.
    const ks = keystore();
    const nonce = nonces().next();
    const rec = sealValue(node, ks, 7, nonce, enc('k'), enc('v'));
    expect(toHex(node.open(DEK_A, nonce, hex('0100000000070200000000000000006b'), rec.subarray(27)))).toBe('76');
  });

  it('SE-2 flipping the tombstone bit or changing expireAt on disk fails with ENCRYPTED_READ_INTEGRITY', () => {
    const ks = keystore();
    const rec = sealValue(node, ks, RAFT_KEY, nonces().next(), K1, enc('v'), 1_700_000_000_000n);
    expect(openValue(node, ks, K1, rec).header.expireAt).toBe(1_700_000_000_000n);
    const tomb = Uint8Array.from(rec);
    tomb[0]! |= 0x01;
    expectCode(() => openValue(node, ks, K1, tomb), 'ENCRYPTED_READ_INTEGRITY');
    const exp = Uint8Array.from(rec);
    exp[8]! ^= 0x01;
    expectCode(() => openValue(node, ks, K1, exp), 'ENCRYPTED_READ_INTEGRITY');
    const noExp = Uint8Array.from(rec);
    noExp.fill(0, 1, 9);
    expectCode(() => openValue(node, ks, K1, noExp), 'ENCRYPTED_READ_INTEGRITY');
  });

  it('SE-3 cut-and-paste: the record of k1 copied onto k2 fails; re-tagging the key_id fails', () => {
    const ks = keystore();
    ks.set(8, DEK_A);
    const rec = sealValue(node, ks, RAFT_KEY, nonces().next(), K1, enc('secret'));
    expect(toHex(openValue(node, ks, K1, rec).value)).toBe(toHex(enc('secret')));
    const e = expectCode(() => openValue(node, ks, K2, rec), 'ENCRYPTED_READ_INTEGRITY');
    expect((e.cause as SealkvError).code).toBe('INTEGRITY');
    const retag = Uint8Array.from(rec);
    retag[14] = 8;
    expectCode(() => openValue(node, ks, K1, retag), 'ENCRYPTED_READ_INTEGRITY');
  });

  it('SE-4 header bytes 0x08, 0x04 and 0x06 are rejected; 0x02 is live encrypted, 0x00 live cleartext', () => {
    const rest = '0000000000000000';
    for (const b of ['08', '04', '06', '10', '80', 'f8', '0e']) {
      expectCode(() => decodeValueHeader(hex(b + rest)), 'ENCRYPTED_VALUE_RESERVED_STATE');
    }
    expect(decodeValueHeader(hex('02' + rest))).toEqual({ tombstone: false, state: STATE_ENCRYPTED, expireAt: 0n });
    expect(decodeValueHeader(hex('00' + rest))).toEqual({ tombstone: false, state: STATE_CLEARTEXT, expireAt: 0n });
    expect(decodeValueHeader(hex('01' + rest)).tombstone).toBe(true);
    expectCode(() => decodeValueHeader(hex('00 00')), 'ENVELOPE_SHORT');
  });

  it('SE-4 / C-1 expireAt 1700000000000 encodes big-endian as 00 00 01 8B CF E5 68 00', () => {
    const h = encodeValueHeader({ tombstone: false, state: STATE_ENCRYPTED, expireAt: 1_700_000_000_000n });
    expect(toHex(h)).toBe('020000018bcfe56800');
    expect(decodeValueHeader(h).expireAt).toBe(1_700_000_000_000n);
    const max = encodeValueHeader({ tombstone: true, state: STATE_CLEARTEXT, expireAt: (1n << 64n) - 1n });
    expect(toHex(max)).toBe('01ffffffffffffffff');
  });

  it('SE-5 a 41-byte cleartext value starting with 0x01 reads back unchanged (cipher wired)', () => {
    const ks = keystore();
    const value = Uint8Array.from({ length: 41 }, (_, i) => (i === 0 ? 0x01 : i));
    const rec = Uint8Array.from([...encodeValueHeader({ tombstone: false, state: STATE_CLEARTEXT, expireAt: 0n }), ...value]);
    const out = openValue(node, ks, K1, rec);
    expect(out.header.state).toBe(STATE_CLEARTEXT);
    expect(toHex(out.value)).toBe(toHex(value));
    expect(toHex(openValue(null, null, K1, rec).value)).toBe(toHex(value));
  });

  it('SE-6 reading an encrypted record with no cipher wired fails with NO_CIPHER, never the raw envelope', () => {
    const ks = keystore();
    const rec = sealValue(node, ks, RAFT_KEY, nonces().next(), K1, enc('v'));
    expectCode(() => openValue(null, ks, K1, rec), 'NO_CIPHER');
    expectCode(() => openValue(node, null, K1, rec), 'NO_CIPHER');
    expectCode(() => sealValue(null, ks, RAFT_KEY, nonces().next(), K1, enc('v')), 'NO_CIPHER');
    expectCode(() => sealValue(node, null, RAFT_KEY, nonces().next(), K1, enc('v')), 'NIL_KEYSTORE');
    expectCode(() => sealValue(node, ks, RAFT_KEY, new Uint8Array(11), K1, enc('v')), 'BAD_NONCE_SIZE');
    expectCode(() => sealValue(node, ks, 0, nonces().next(), K1, enc('v')), 'RESERVED_KEY_ID');
    expectCode(() => sealValue(node, ks, 5, nonces().next(), K1, enc('v')), 'UNKNOWN_KEY_ID');
  });

  it('SE-7 a highly compressible 4 KiB value is stored with flag 0x00 and a body of exactly 4096 + 34 bytes', () => {
    const ks = keystore();
    const rec = sealValue(node, ks, RAFT_KEY, nonces().next(), K1, new Uint8Array(4096).fill(0x61));
    const body = rec.subarray(9);
    expect(body[1]).toBe(0x00);
    expect(body.length).toBe(4096 + 34);
  });

  it('SE-9 a header relabelled 0x02 → 0x00 is detected (ENCRYPTED_READ_INTEGRITY), not returned as envelope bytes', () => {
    const ks = keystore();
    ks.set(3, DEK_B);
    for (const keyId of [3, RAFT_KEY]) {
      for (const expireAt of [0n, 1_700_000_000_000n]) {
        const rec = sealValue(node, ks, keyId, nonces().next(), K1, enc('secret value'), expireAt);
        const relabelled = Uint8Array.from(rec);
        relabelled[0] = 0x00;
        expectCode(() => openValue(node, ks, K1, relabelled), 'ENCRYPTED_READ_INTEGRITY');
        // A no-expiry record relabelled and given an expiry is caught by the expireAt = 0 attempt.
        if (expireAt === 0n) {
          const expiring = Uint8Array.from(relabelled);
          expiring[8] = 0x2a;
          expectCode(() => openValue(node, ks, K1, expiring), 'ENCRYPTED_READ_INTEGRITY');
        }
        // The body's own key_id/version bytes are not trusted by the guard.
        const rewritten = Uint8Array.from(relabelled);
        rewritten.fill(0, 9, 15);
        expectCode(() => openValue(node, ks, K1, rewritten), 'ENCRYPTED_READ_INTEGRITY');
      }
    }
  });

  it('SE-9 documented gap: relabel plus corrupted ciphertext returns the envelope bytes, never the plaintext', () => {
    const ks = keystore();
    const rec = sealValue(node, ks, RAFT_KEY, nonces().next(), K1, enc('secret value'));
    const t = Uint8Array.from(rec);
    t[0] = 0x00;
    t[30]! ^= 1;
    const out = openValue(node, ks, K1, t);
    expect(toHex(out.value)).toBe(toHex(t.subarray(9)));
    expect(Buffer.from(out.value).includes(Buffer.from('secret value'))).toBe(false);
    // The guard on its own is silent for this body.
    expect(() =>
      guardRelabelledCleartext(node, ks, { tombstone: false, state: STATE_CLEARTEXT, expireAt: 0n }, t.subarray(9), K1),
    ).not.toThrow();
  });

  it('SE-9 gap (as the SPEC algorithm defines it): relabel plus a non-zero expireAt changed — to another value or to 0 — returns envelope bytes, never plaintext', () => {
    const ks = keystore();
    const rec = sealValue(node, ks, RAFT_KEY, nonces().next(), K1, enc('secret value'), 1_700_000_000_000n);
    for (const fill of [0x00, 0x07]) {
      const t = Uint8Array.from(rec);
      t[0] = 0x00;
      t.fill(fill, 1, 9);
      const out = openValue(node, ks, K1, t);
      expect(toHex(out.value)).toBe(toHex(t.subarray(9)));
      expect(Buffer.from(out.value).includes(Buffer.from('secret value'))).toBe(false);
    }
  });

  it('SE-1 sealValueBatch records equal the single-call records and open', () => {
    const ks = keystore();
    const f1 = testNonceFactory(1, 1);
    const f2 = testNonceFactory(1, 1);
    const items = [
      { storageKey: K1, value: enc('a'), expireAt: 5n },
      { storageKey: K2, value: new Uint8Array(0) },
      { storageKey: enc('long'), value: new Uint8Array(5000).fill(3) },
    ];
    const batch = sealValueBatch(node, ks, RAFT_KEY, items.map((it) => ({ ...it, nonce: f1.next() })));
    items.forEach((it, i) => {
      const single = sealValue(node, ks, RAFT_KEY, f2.next(), it.storageKey, it.value, it.expireAt ?? 0n);
      expect(toHex(batch[i]!)).toBe(toHex(single));
      expect(toHex(openValue(node, ks, it.storageKey, batch[i]!).value)).toBe(toHex(it.value));
    });
  });
});

describe('KM-9 write_count', () => {
  it('KM-9 a factory seeded at 2^64−1 returns WRITE_COUNT_EXHAUSTED on the next call and on every call after', () => {
    const f = testNonceFactory(1, 2, { seed: (1n << 64n) - 1n });
    for (let i = 0; i < 5; i++) expectCode(() => f.next(), 'WRITE_COUNT_EXHAUSTED');
    expectCode(() => f.nextInto(new Uint8Array(12)), 'WRITE_COUNT_EXHAUSTED');
    expectCode(() => f.nextBatchInto(1, new Uint8Array(12)), 'WRITE_COUNT_EXHAUSTED');
    expect(f.exhausted).toBe(true);
  });

  it('KM-9 a factory seeded at 2^64−2 first returns 2^64−1, then is exhausted forever', () => {
    const f = testNonceFactory(0x1234, 7, { seed: (1n << 64n) - 2n });
    expect(toHex(f.next())).toBe('12340007ffffffffffffffff');
    for (let i = 0; i < 3; i++) expectCode(() => f.next(), 'WRITE_COUNT_EXHAUSTED');
    expect(f.writeCount).toBe((1n << 64n) - 1n);
  });

  it('KM-9 a batch reservation that would pass 2^64−1 latches; the counter never wraps to reuse 1', () => {
    const f = testNonceFactory(1, 1, { seed: (1n << 64n) - 3n });
    expectCode(() => f.nextBatchInto(3, new Uint8Array(36)), 'WRITE_COUNT_EXHAUSTED');
    expectCode(() => f.next(), 'WRITE_COUNT_EXHAUSTED');
  });

  it('KM-9 the latch is shared: a worker-side factory sees the exhaustion of the main one', () => {
    const f = testNonceFactory(1, 1, { seed: (1n << 64n) - 1n });
    const w = NonceFactory.fromShared(f.shared());
    expectCode(() => f.next(), 'WRITE_COUNT_EXHAUSTED');
    expectCode(() => w.next(), 'WRITE_COUNT_EXHAUSTED');
  });

  it('KM-9 pre-incremented, one counter per purpose shared through the SAB: fromShared continues the same count', () => {
    const f = testNonceFactory(0x0102, 0x0304);
    const w = NonceFactory.fromShared(f.shared());
    expect(w.nodeId16).toBe(0x0102);
    expect(w.epoch).toBe(0x0304);
    const seen = new Set<bigint>();
    for (let i = 0; i < 100; i++) {
      seen.add(parseNonce(f.next()).writeCount);
      seen.add(parseNonce(w.next()).writeCount);
    }
    expect(seen.size).toBe(200);
    expect(Math.min(...[...seen].map(Number))).toBe(1);
    expect(f.writeCount).toBe(200n);
  });

  it('KM-9 concurrent worker threads drawing from one shared counter get unique values', async (ctx) => {
    const { existsSync } = await import('node:fs');
    const { Worker } = await import('node:worker_threads');
    const compiled = new URL('../../dist/crypto/envelope/nonce.js', import.meta.url);
    if (!existsSync(compiled)) ctx.skip('dist/crypto/envelope/nonce.js not built (run `npx tsc -p tsconfig.json`)');
    const f = testNonceFactory(9, 9);
    const PER = 3000;
    const code = `
      const { parentPort, workerData } = require('node:worker_threads');
      import(workerData.url).then(({ NonceFactory }) => {
        const f = NonceFactory.fromShared(workerData.state);
        const out = [];
        for (let i = 0; i < workerData.n; i++) out.push(f.nextBatchInto(1, new Uint8Array(12)).toString());
        parentPort.postMessage(out);
      });`;
    const run = () =>
      new Promise<string[]>((resolve, reject) => {
        const w = new Worker(code, { eval: true, workerData: { url: compiled.href, state: f.shared(), n: PER } });
        w.once('message', resolve);
        w.once('error', reject);
      });
    const mainDraws: string[] = [];
    const pending = [run(), run()];
    for (let i = 0; i < PER; i++) mainDraws.push(f.nextBatchInto(1, new Uint8Array(12)).toString());
    const all = [...mainDraws, ...(await pending[0]!), ...(await pending[1]!)];
    expect(new Set(all).size).toBe(3 * PER);
    expect(f.writeCount).toBe(BigInt(3 * PER));
  });
});

describe('CK-1 / CK-2 / CK-3 keystore', () => {
  it('CK-2 set(5, A), set(5, A), set(5, B) gives ok, ok, KEY_CONFLICT; A is never overwritten', () => {
    const ks = new Keystore();
    ks.set(5, DEK_A);
    const v = ks.version;
    ks.set(5, Uint8Array.from(DEK_A));
    expect(ks.version).toBe(v);
    expectCode(() => ks.set(5, DEK_B), 'KEY_CONFLICT');
    expect(toHex(ks.exportKey(5))).toBe(toHex(DEK_A));
  });

  it('CK-2 key_id 0 → RESERVED_KEY_ID; a DEK other than 32 bytes → BAD_KEY_SIZE; delete of an absent key is a no-op', () => {
    const ks = new Keystore();
    expectCode(() => ks.set(0, DEK_A), 'RESERVED_KEY_ID');
    expectCode(() => ks.set(1, new Uint8Array(16)), 'BAD_KEY_SIZE');
    expectCode(() => ks.set(1, new Uint8Array(33)), 'BAD_KEY_SIZE');
    expect(ks.delete(77)).toBe(false);
    expect(ks.version).toBe(0);
  });

  it('CK-1 ids are sorted ascending; exportKey returns a copy; the keystore keeps its own copy of the DEK', () => {
    const ks = new Keystore();
    const dek = Uint8Array.from(DEK_A);
    for (const id of [0xffffffff, 3, 1000, 2]) ks.set(id, dek);
    expect(ks.loadedKeyIds()).toEqual([2, 3, 1000, 0xffffffff]);
    dek.fill(0);
    const copy = ks.exportKey(3);
    expect(toHex(copy)).toBe(toHex(DEK_A));
    copy.fill(0);
    expect(toHex(ks.get(3)!)).toBe(toHex(DEK_A));
    expectCode(() => ks.exportKey(4), 'UNKNOWN_KEY_ID');
  });

  it('CK-1 every change replaces the snapshot whole: a held snapshot never changes; listeners see the new one', () => {
    const ks = new Keystore();
    ks.set(1, DEK_A);
    const old = ks.snapshot();
    const oldIds = ks.loadedKeyIds();
    const seen: string[] = [];
    const off = ks.onChange((c) => seen.push(`${c.kind}:${c.keyId}:${c.version}:${ks.loadedKeyIds().join(',')}`));
    ks.set(2, DEK_B);
    ks.delete(1);
    off();
    ks.set(3, DEK_B);
    expect([...old.keys()]).toEqual([1]);
    expect(oldIds).toEqual([1]);
    expect(seen).toEqual(['set:2:2:1,2', 'delete:1:3:2']);
    expect(ks.version).toBe(4);
  });

  it('CK-1 while set runs, concurrent readers observe the old id set or the new one, never a mixture', async () => {
    const ks = new Keystore();
    let stop = false;
    let reads = 0;
    const bad: string[] = [];
    const reader = async () => {
      while (!stop) {
        const ids = ks.loadedKeyIds();
        const snap = ks.snapshot();
        const n = ids.length;
        // Ids are set in order 1..n, so a consistent view is exactly {1..n} everywhere.
        if (!ids.every((id, i) => id === i + 1) || snap.size < n || !ids.every((id) => ks.get(id) !== undefined)) {
          bad.push(ids.join(','));
        }
        reads++;
        await new Promise((r) => setImmediate(r));
      }
    };
    const readers = [reader(), reader(), reader()];
    for (let id = 1; id <= 200; id++) {
      ks.set(id, DEK_A);
      if (id % 10 === 0) await new Promise((r) => setImmediate(r));
    }
    stop = true;
    await Promise.all(readers);
    expect(bad).toEqual([]);
    expect(reads).toBeGreaterThan(0);
    expect(ks.loadedKeyIds().length).toBe(200);
  });

  it('CK-3 an uninitialised cipher (no keystore / no aead) returns NIL_KEYSTORE instead of a generic error', () => {
    expectCode(() => wrapRaft(undefined, undefined, 1, new Uint8Array(12), new Uint8Array(0)), 'NIL_KEYSTORE');
    expectCode(() => unwrapRaft(undefined, new Keystore(), new Uint8Array(40)), 'NIL_KEYSTORE');
  });

  it('CK-3 the js backend attaches noble’s error as the cause of INTEGRITY', async () => {
    const js = await loadAead('js');
    const key = new Uint8Array(32);
    const sealed = js.seal(key, new Uint8Array(12), new Uint8Array(0), enc('x'));
    sealed[0]! ^= 1;
    const e = expectCode(() => js.open(key, new Uint8Array(12), new Uint8Array(0), sealed), 'INTEGRITY');
    expect(e.cause).toBeInstanceOf(Error);
    expect((e.cause as Error).message).toMatch(/tag/);
    expect(js.hardwareAes).toBe(false);
  });
});

describe.each(BACKENDS)('C-5 every decrypt path fails closed, backend %s', (name) => {
  const slot = slots.get(name);

  it('C-5 flipped tag byte: raft unwrap, raft batch unwrap, storage read → typed error, no bytes', (ctx) => {
    const aead = need(ctx, slot);
    const ks = keystore();
    const f = nonces();
    const env = wrapRaft(aead, ks, RAFT_KEY, f.next(), enc('payload'));
    expect(toHex(unwrapRaft(aead, ks, env))).toBe(toHex(enc('payload')));
    env[env.length - 1]! ^= 1;
    expectCode(() => unwrapRaft(aead, ks, env), 'INTEGRITY');
    const [r] = unwrapRaftBatch(aead, ks, [env]);
    expect(r).toBeInstanceOf(IntegrityError);
    const rec = sealValue(aead, ks, RAFT_KEY, f.next(), enc('k'), enc('value'));
    expect(toHex(openValue(aead, ks, enc('k'), rec).value)).toBe(toHex(enc('value')));
    rec[rec.length - 1]! ^= 1;
    expectCode(() => openValue(aead, ks, enc('k'), rec), 'ENCRYPTED_READ_INTEGRITY');
    expectCode(() => openStorageEnvelope(aead, ks, rec.subarray(0, 9), rec.subarray(9), enc('k')), 'ENCRYPTED_READ_INTEGRITY');
  });

  it('CK-4 envelopes are byte-identical across backends (same nonces)', (ctx) => {
    const aead = need(ctx, slot);
    const ks = keystore();
    const payloads = [new Uint8Array(0), enc('x'), new Uint8Array(1000).fill(7)];
    const a = wrapRaftBatch(aead, ks, RAFT_KEY, payloads.map((payload) => ({ nonce: nonces().next(), payload })));
    const b = payloads.map((p) => wrapRaft(node, ks, RAFT_KEY, nonces().next(), p));
    expect(a.map(toHex)).toEqual(b.map(toHex));
    expect(unwrapRaftBatch(aead, ks, b).map((x) => toHex(x as Uint8Array))).toEqual(payloads.map(toHex));
  });
});

describe('SE-1 / SE-8 / SE-9 openValueBatch', () => {
  it('SE-1 per-item results match openValue: values, relabel, flag, cut-and-paste, unknown key, cleartext', () => {
    const ks = keystore();
    ks.set(3, DEK_B);
    const f = nonces();
    const k = (s: string) => enc(s);
    const good7 = sealValue(node, ks, RAFT_KEY, f.next(), k('a'), enc('alpha'));
    const good3 = sealValue(node, ks, 3, f.next(), k('b'), enc('beta'), 99n);
    const relabelled = Uint8Array.from(good7);
    relabelled[0] = 0;
    const flagged = Uint8Array.from(good3);
    flagged[10] = 1;
    const unknown = Uint8Array.from(good7);
    unknown[14] = 0x55;
    const clear = Uint8Array.from([...encodeValueHeader({ tombstone: false, state: STATE_CLEARTEXT, expireAt: 0n }), ...enc('plain')]);
    const items = [
      { storageKey: k('a'), record: good7 },
      { storageKey: k('b'), record: good3 },
      { storageKey: k('a'), record: relabelled },
      { storageKey: k('b'), record: flagged },
      { storageKey: k('c'), record: good7 },
      { storageKey: k('a'), record: unknown },
      { storageKey: k('d'), record: clear },
      { storageKey: k('e'), record: hex('08 00 00 00 00 00 00 00 00') },
    ];
    const res = openValueBatch(node, ks, items);
    const codes = res.map((r) => (r instanceof Error ? (r as SealkvError).code : toHex((r as { value: Uint8Array }).value)));
    expect(codes).toEqual([
      toHex(enc('alpha')),
      toHex(enc('beta')),
      'ENCRYPTED_READ_INTEGRITY',
      'ENCRYPTED_READ_INTEGRITY',
      'ENCRYPTED_READ_INTEGRITY',
      'UNKNOWN_KEY_ID',
      toHex(enc('plain')),
      'ENCRYPTED_VALUE_RESERVED_STATE',
    ]);
    items.forEach((it, i) => {
      let single: string;
      try {
        single = toHex(openValue(node, ks, it.storageKey, it.record).value);
      } catch (e) {
        single = (e as SealkvError).code;
      }
      expect(single).toBe(codes[i]);
    });
    expect((res[1] as { header: { expireAt: bigint } }).header.expireAt).toBe(99n);
    expect((openValueBatch(null, ks, [{ storageKey: k('a'), record: good7 }])[0] as SealkvError).code).toBe('NO_CIPHER');
  });
});

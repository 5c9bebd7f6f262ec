// CK-4: known-answer tests on every backend — the AES-256 cases of the GCM specification
// (McGrew–Viega, test cases 13–18) and the Wycheproof AES-GCM groups sealkv supports.

import { createCipheriv } from 'node:crypto';
import { loadWycheproof, type WycheproofTest } from './helpers/wycheproof.js';
import { describe, expect, it } from 'vitest';
import { BACKENDS } from '../../src/crypto/index.js';
import { IntegrityError } from '../../src/errors.js';
import { hex, loadBackends, need, toHex } from './helpers/backends.js';

const slots = await loadBackends();

const K0 = '00'.repeat(32);
const K = 'feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308';
const P64 =
  'd9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72' +
  '1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255';
const P60 = P64.slice(0, 120);
const A = 'feedfacedeadbeeffeedfacedeadbeefabaddad2';

interface GcmCase {
  n: number;
  key: string;
  iv: string;
  pt: string;
  aad: string;
  ct: string;
  tag: string;
}

// GCM specification (McGrew & Viega, "The Galois/Counter Mode of Operation"), Appendix B.
const GCM_SPEC: GcmCase[] = [
  { n: 13, key: K0, iv: '00'.repeat(12), pt: '', aad: '', ct: '', tag: '530f8afbc74536b9a963b4f1c4cb738b' },
  {
    n: 14,
    key: K0,
    iv: '00'.repeat(12),
    pt: '00'.repeat(16),
    aad: '',
    ct: 'cea7403d4d606b6e074ec5d3baf39d18',
    tag: 'd0d1c8a799996bf0265b98b5d48ab919',
  },
  {
    n: 15,
    key: K,
    iv: 'cafebabefacedbaddecaf888',
    pt: P64,
    aad: '',
    ct:
      '522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa' +
      '8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662898015ad',
    tag: 'b094dac5d93471bdec1a502270e3cc6c',
  },
  {
    n: 16,
    key: K,
    iv: 'cafebabefacedbaddecaf888',
    pt: P60,
    aad: A,
    ct:
      '522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa' +
      '8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662',
    tag: '76fc6ece0f4e1768cddf8853bb2d551b',
  },
  {
    n: 17, // 64-bit IV
    key: K,
    iv: 'cafebabefacedbad',
    pt: P60,
    aad: A,
    ct:
      'c3762df1ca787d32ae47c13bf19844cbaf1ae14d0b976afac52ff7d79bba9de0' +
      'feb582d33934a4f0954cc2363bc73f7862ac430e64abe499f47c9b1f',
    tag: '3a337dbf46a792c45e454913fe2ea8f2',
  },
  {
    n: 18, // 480-bit IV
    key: K,
    iv:
      '9313225df88406e555909c5aff5269aa6a7a9538534f7da1e4c303d2a318a728' +
      'c3c0c95156809539fcf0e2429a6b525416aedbf5a0de6a57a637b39b',
    pt: P60,
    aad: A,
    ct:
      '5a8def2f0c9e53f1f75d7853659e2a20eeb2b22aafde6419a058ab4f6f746bf4' +
      '0fc0c3b780f244452da3ebf1c5d82cdea2418997200ef82e44ae7e3f',
    tag: 'a44a8266ee1c8eb0c8b5d4cf5ae9f19a',
  },
];

describe('CK-4 GCM specification vectors are themselves right (node:crypto, any IV length)', () => {
  it.each(GCM_SPEC)('CK-4 test case $n matches OpenSSL', (c) => {
    const ci = createCipheriv('aes-256-gcm', hex(c.key), hex(c.iv));
    ci.setAAD(hex(c.aad));
    const ct = Buffer.concat([ci.update(hex(c.pt)), ci.final()]);
    expect(toHex(ct)).toBe(c.ct);
    expect(toHex(ci.getAuthTag())).toBe(c.tag);
  });
});

const wycheproof = loadWycheproof();

describe('CK-4 Wycheproof selection', () => {
  it('CK-4 has 66 AES-256 / 96-bit IV / 128-bit tag cases: 39 valid, 27 invalid', () => {
    expect(wycheproof.length).toBe(66);
    expect(wycheproof.filter((t) => t.result === 'valid').length).toBe(39);
    expect(wycheproof.filter((t) => t.result === 'invalid').length).toBe(27);
  });
});

describe.each(BACKENDS)('CK-4 known answers, backend %s', (name) => {
  const slot = slots.get(name);

  it.for(GCM_SPEC.filter((c) => c.iv.length === 24))('CK-4 GCM spec test case $n: exact seal and open', (c, ctx) => {
    const aead = need(ctx, slot);
    const key = hex(c.key);
    const nonce = hex(c.iv);
    const aad = hex(c.aad);
    const sealed = aead.seal(key, nonce, aad, hex(c.pt));
    expect(toHex(sealed)).toBe(c.ct + c.tag);
    expect(toHex(aead.open(key, nonce, aad, sealed))).toBe(c.pt);
    const [b] = aead.sealBatch(key, [{ nonce, aad, data: hex(c.pt) }]);
    expect(toHex(b!)).toBe(c.ct + c.tag);
    const [o] = aead.openBatch(key, [{ nonce, aad, data: sealed }]);
    expect(o).toBeInstanceOf(Uint8Array);
    expect(toHex(o as Uint8Array)).toBe(c.pt);
  });

  it.for(GCM_SPEC.filter((c) => c.iv.length !== 24))(
    'CK-4 / C-4 GCM spec test case $n (non-96-bit IV) is refused with BAD_NONCE_SIZE',
    (c, ctx) => {
      const aead = need(ctx, slot);
      const key = hex(c.key);
      const nonce = hex(c.iv);
      const aad = hex(c.aad);
      const sealed = hex(c.ct + c.tag);
      expect(() => aead.seal(key, nonce, aad, hex(c.pt))).toThrow(expect.objectContaining({ code: 'BAD_NONCE_SIZE' }));
      expect(() => aead.open(key, nonce, aad, sealed)).toThrow(expect.objectContaining({ code: 'BAD_NONCE_SIZE' }));
      expect(() => aead.sealBatch(key, [{ nonce, aad, data: hex(c.pt) }])).toThrow(
        expect.objectContaining({ code: 'BAD_NONCE_SIZE' }),
      );
      expect(() => aead.openBatch(key, [{ nonce, aad, data: sealed }])).toThrow(
        expect.objectContaining({ code: 'BAD_NONCE_SIZE' }),
      );
    },
  );

  it('C-4 rejects keys that are not 32 bytes with BAD_KEY_SIZE', (ctx) => {
    const aead = need(ctx, slot);
    const nonce = new Uint8Array(12);
    for (const len of [0, 16, 24, 31, 33]) {
      const key = new Uint8Array(len);
      expect(() => aead.seal(key, nonce, new Uint8Array(0), new Uint8Array(1))).toThrow(
        expect.objectContaining({ code: 'BAD_KEY_SIZE' }),
      );
      expect(() => aead.open(key, nonce, new Uint8Array(0), new Uint8Array(17))).toThrow(
        expect.objectContaining({ code: 'BAD_KEY_SIZE' }),
      );
      expect(() => aead.sealBatch(key, [])).toThrow(expect.objectContaining({ code: 'BAD_KEY_SIZE' }));
      expect(() => aead.openBatch(key, [])).toThrow(expect.objectContaining({ code: 'BAD_KEY_SIZE' }));
    }
  });

  it('CK-4 Wycheproof: valid cases seal and open exactly, invalid cases throw INTEGRITY (single and batch)', (ctx) => {
    const aead = need(ctx, slot);
    let valid = 0;
    let invalid = 0;
    for (const t of wycheproof) {
      const key = hex(t.key);
      const nonce = hex(t.iv);
      const aad = hex(t.aad);
      const sealed = hex(t.ct + t.tag);
      const what = `tcId ${t.tcId} ${t.comment}`;
      if (t.result === 'valid') {
        valid++;
        expect(toHex(aead.seal(key, nonce, aad, hex(t.msg))), what).toBe(t.ct + t.tag);
        expect(toHex(aead.open(key, nonce, aad, sealed)), what).toBe(t.msg);
        const [r] = aead.openBatch(key, [{ nonce, aad, data: sealed }]);
        expect(r, what).toBeInstanceOf(Uint8Array);
        expect(toHex(r as Uint8Array), what).toBe(t.msg);
      } else {
        invalid++;
        let thrown: unknown;
        try {
          aead.open(key, nonce, aad, sealed);
        } catch (e) {
          thrown = e;
        }
        expect(thrown, what).toBeInstanceOf(IntegrityError);
        expect((thrown as IntegrityError).code).toBe('INTEGRITY');
        const [r] = aead.openBatch(key, [{ nonce, aad, data: sealed }]);
        expect(r, what).toBeInstanceOf(IntegrityError);
      }
    }
    expect([valid, invalid]).toEqual([39, 27]);
  });

  it('CK-4 Wycheproof: all 66 cases in one openBatch per key fail exactly the invalid ones', (ctx) => {
    const aead = need(ctx, slot);
    const byKey = new Map<string, WycheproofTest[]>();
    for (const t of wycheproof) byKey.set(t.key, [...(byKey.get(t.key) ?? []), t]);
    for (const [k, tests] of byKey) {
      const res = aead.openBatch(
        hex(k),
        tests.map((t) => ({ nonce: hex(t.iv), aad: hex(t.aad), data: hex(t.ct + t.tag) })),
      );
      tests.forEach((t, i) => {
        if (t.result === 'valid') expect(toHex(res[i] as Uint8Array), `tcId ${t.tcId}`).toBe(t.msg);
        else expect(res[i], `tcId ${t.tcId}`).toBeInstanceOf(IntegrityError);
      });
    }
  });
});

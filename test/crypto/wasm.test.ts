// The constant-time WebAssembly AES-256-GCM backend (CK-4, C-4, C-5).
//
// Needs wasm/build/aesgcm.wasm (built at install by scripts/build-wasm.mjs; `npm run build:wasm`).

import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { loadWycheproof } from './helpers/wycheproof.js';
import { nodeOpen, nodeSeal, prng, toHex } from './helpers/reference.js';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { type Aead, DESC_FIELDS, type PackedBatch } from '../../src/crypto/aead.js';
import { createWasmAead, KEY_SLOTS, WASM_MODULE_URL } from '../../src/crypto/backends/wasm.js';
import { CryptoError, IntegrityError } from '../../src/errors.js';

const hex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'hex'));

function expectCode(fn: () => unknown, code: string): void {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(caught, `expected ${code}`).toBeDefined();
  expect((caught as { code?: string }).code).toBe(code);
}

let aead: Aead;
beforeAll(async () => {
  aead = await createWasmAead();
});

describe('wasm backend: identity', () => {
  it('reports its name and no hardware AES', () => {
    expect(aead.name).toBe('wasm');
    expect(aead.hardwareAes).toBe(false);
  });
});

// CK-4: the AES-256 test cases of the GCM specification (McGrew & Viega), 13-18.
describe('wasm backend: GCM specification test cases 13-18', () => {
  const K = 'feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308';
  const P =
    'd9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255';
  const C15 =
    '522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662898015ad';
  const cases = [
    { tc: 13, k: '00'.repeat(32), iv: '00'.repeat(12), p: '', a: '', c: '', t: '530f8afbc74536b9a963b4f1c4cb738b' },
    {
      tc: 14,
      k: '00'.repeat(32),
      iv: '00'.repeat(12),
      p: '00'.repeat(16),
      a: '',
      c: 'cea7403d4d606b6e074ec5d3baf39d18',
      t: 'd0d1c8a799996bf0265b98b5d48ab919',
    },
    { tc: 15, k: K, iv: 'cafebabefacedbaddecaf888', p: P, a: '', c: C15, t: 'b094dac5d93471bdec1a502270e3cc6c' },
    {
      tc: 16,
      k: K,
      iv: 'cafebabefacedbaddecaf888',
      p: P.slice(0, 120),
      a: 'feedfacedeadbeeffeedfacedeadbeefabaddad2',
      c: C15.slice(0, 120),
      t: '76fc6ece0f4e1768cddf8853bb2d551b',
    },
  ];
  for (const v of cases) {
    it(`test case ${v.tc}: seal is exact, open returns the plaintext`, () => {
      const sealed = aead.seal(hex(v.k), hex(v.iv), hex(v.a), hex(v.p));
      expect(toHex(sealed)).toBe(v.c + v.t);
      expect(toHex(aead.open(hex(v.k), hex(v.iv), hex(v.a), sealed))).toBe(v.p);
      const [batched] = aead.sealBatch(hex(v.k), [{ nonce: hex(v.iv), aad: hex(v.a), data: hex(v.p) }]);
      expect(toHex(batched!)).toBe(v.c + v.t);
    });
  }
  // Test cases 17 (64-bit IV) and 18 (480-bit IV): sealkv accepts 96-bit nonces only (C-4).
  for (const [tc, iv] of [
    [17, 'cafebabefacedbad'],
    [
      18,
      '9313225df88406e555909c5aff5269aa6a7a9538534f7da1e4c303d2a318a728c3c0c95156809539fcf0e2429a6b525416aedbf5a0de6a57a637b39b',
    ],
  ] as const) {
    it(`test case ${tc}: a ${iv.length * 4}-bit IV is BAD_NONCE_SIZE`, () => {
      const key = hex(K);
      expectCode(() => aead.seal(key, hex(iv), new Uint8Array(0), hex(P)), 'BAD_NONCE_SIZE');
      expectCode(() => aead.open(key, hex(iv), new Uint8Array(0), new Uint8Array(32)), 'BAD_NONCE_SIZE');
      expectCode(() => aead.sealBatch(key, [{ nonce: hex(iv), aad: new Uint8Array(0), data: hex(P) }]), 'BAD_NONCE_SIZE');
    });
  }
});

describe('wasm backend: Wycheproof AES-256, 96-bit IV, 128-bit tag', () => {
  const load = loadWycheproof;

  it('selects the 66 cases (39 valid, 27 invalid)', () => {
    const tests = load();
    expect(tests.length).toBe(66);
    expect(tests.filter((t) => t.result === 'valid').length).toBe(39);
  });

  it('valid cases seal exactly and open; invalid cases are rejected with INTEGRITY', () => {
    for (const t of load()) {
      const key = hex(t.key);
      const nonce = hex(t.iv);
      const aad = hex(t.aad);
      const sealed = hex(t.ct + t.tag);
      if (t.result === 'valid') {
        expect(toHex(aead.seal(key, nonce, aad, hex(t.msg))), `tcId ${t.tcId}`).toBe(t.ct + t.tag);
        expect(toHex(aead.open(key, nonce, aad, sealed)), `tcId ${t.tcId}`).toBe(t.msg);
      } else {
        expectCode(() => aead.open(key, nonce, aad, sealed), 'INTEGRITY');
        const [r] = aead.openBatch(key, [{ nonce, aad, data: sealed }]);
        expect(r, `tcId ${t.tcId}`).toBeInstanceOf(IntegrityError);
      }
    }
  });
});

describe('wasm backend: random cases against node:crypto', () => {
  it('matches node:crypto on 400 random (key, nonce, aad 0-64 B, plaintext 0-64 KiB) cases', () => {
    const rnd = prng(0x5ea1);
    const edge = [0, 1, 15, 16, 17, 31, 63, 64, 65, 111, 112, 113, 127, 128, 129, 255, 256, 257, 4095, 4096, 65535, 65536];
    const sizes: number[] = [...edge];
    while (sizes.length < 400) {
      const r = rnd();
      // Mostly small records, some up to 8 KiB, a few up to 64 KiB.
      sizes.push(Math.floor(r < 0.75 ? rnd() * 600 : r < 0.95 ? rnd() * 8192 : rnd() * 65537));
    }
    for (const size of sizes) {
      const key = randomBytes(32);
      const nonce = randomBytes(12);
      const aad = randomBytes(Math.floor(rnd() * 65));
      const pt = randomBytes(size);
      const expected = nodeSeal(key, nonce, aad, pt);
      const sealed = aead.seal(key, nonce, aad, pt);
      if (toHex(sealed) !== toHex(expected)) throw new Error(`seal mismatch at size ${size}, aad ${aad.length}`);
      const opened = aead.open(key, nonce, aad, expected);
      if (toHex(opened) !== toHex(pt)) throw new Error(`open mismatch at size ${size}, aad ${aad.length}`);
    }
  });

  it('node:crypto opens what wasm seals under one cached key (many messages)', () => {
    const key = randomBytes(32);
    for (let i = 0; i < 200; i++) {
      const nonce = randomBytes(12);
      const aad = randomBytes(i % 40);
      const pt = randomBytes((i * 37) % 1500);
      expect(toHex(nodeOpen(key, nonce, aad, aead.seal(key, nonce, aad, pt)))).toBe(toHex(pt));
    }
  });
});

describe('wasm backend: any single bit flip fails with INTEGRITY (C-5)', () => {
  it('flips every bit of nonce, AAD, ciphertext and tag', () => {
    const key = randomBytes(32);
    const nonce = randomBytes(12);
    const aad = randomBytes(21);
    const pt = randomBytes(45); // 2 full blocks and a partial one
    const sealed = aead.seal(key, nonce, aad, pt);
    const flip = (b: Uint8Array, bit: number): Uint8Array => {
      const c = Uint8Array.from(b);
      c[bit >> 3]! ^= 1 << (bit & 7);
      return c;
    };
    let checked = 0;
    for (let bit = 0; bit < nonce.length * 8; bit++, checked++) {
      expectCode(() => aead.open(key, flip(nonce, bit), aad, sealed), 'INTEGRITY');
    }
    for (let bit = 0; bit < aad.length * 8; bit++, checked++) {
      expectCode(() => aead.open(key, nonce, flip(aad, bit), sealed), 'INTEGRITY');
    }
    // Ciphertext and tag bits (the tag is the last 16 bytes of `sealed`).
    for (let bit = 0; bit < sealed.length * 8; bit++, checked++) {
      expectCode(() => aead.open(key, nonce, aad, flip(sealed, bit)), 'INTEGRITY');
    }
    expect(checked).toBe(96 + 168 + 61 * 8);
    // Truncation and extension are rejected too; a sealed input shorter than a tag as well.
    expectCode(() => aead.open(key, nonce, aad, sealed.subarray(0, sealed.length - 1)), 'INTEGRITY');
    expectCode(() => aead.open(key, nonce, aad, Uint8Array.of(...sealed, 0)), 'INTEGRITY');
    expectCode(() => aead.open(key, nonce, aad, new Uint8Array(15)), 'INTEGRITY');
    // A wrong key is INTEGRITY, never bytes.
    expectCode(() => aead.open(randomBytes(32), nonce, aad, sealed), 'INTEGRITY');
    expect(toHex(aead.open(key, nonce, aad, sealed))).toBe(toHex(pt));
  });
});

describe('wasm backend: batches', () => {
  const key = randomBytes(32);
  const items = Array.from({ length: 9 }, (_, i) => ({
    nonce: randomBytes(12),
    aad: randomBytes(i * 3),
    data: randomBytes([0, 1, 16, 100, 255, 1024, 4097, 33, 7][i]!),
  }));

  it('sealBatch: views into one output buffer, identical to single seals and to node:crypto', () => {
    const out = aead.sealBatch(key, items);
    expect(out.length).toBe(items.length);
    const buffer = out[0]!.buffer;
    out.forEach((v, i) => {
      const it = items[i]!;
      expect(v.buffer).toBe(buffer);
      expect(toHex(v)).toBe(toHex(nodeSeal(key, it.nonce, it.aad, it.data)));
    });
    expect(aead.sealBatch(key, [])).toEqual([]);
  });

  it('openBatch: a bad item in the middle fails alone with IntegrityError', () => {
    const sealed = aead.sealBatch(key, items).map((s) => Uint8Array.from(s));
    const bad = 4;
    sealed[bad]![0]! ^= 0x80;
    const res = aead.openBatch(
      key,
      items.map((it, i) => ({ nonce: it.nonce, aad: it.aad, data: sealed[i]! })),
    );
    res.forEach((r, i) => {
      if (i === bad) {
        expect(r).toBeInstanceOf(IntegrityError);
        expect((r as IntegrityError).code).toBe('INTEGRITY');
      } else {
        expect(r).toBeInstanceOf(Uint8Array);
        expect(toHex(r as Uint8Array)).toBe(toHex(items[i]!.data));
      }
    });
    // A too-short item is a per-item failure as well.
    const [short] = aead.openBatch(key, [{ nonce: items[0]!.nonce, aad: items[0]!.aad, data: new Uint8Array(5) }]);
    expect(short).toBeInstanceOf(IntegrityError);
  });

  /** Packs items with output slots in reverse order and a gap, to exercise the offsets. */
  function pack(list: { nonce: Uint8Array; aad: Uint8Array; data: Uint8Array }[], mode: 'seal' | 'open'): PackedBatch {
    const outLen = (n: number): number => (mode === 'seal' ? n + 16 : Math.max(0, n - 16));
    const input = new Uint8Array(list.reduce((s, it) => s + 12 + it.aad.length + it.data.length, 0) + 7);
    const desc = new Uint32Array(list.length * DESC_FIELDS);
    let off = 7; // items do not start at 0
    let out = list.reduce((s, it) => s + outLen(it.data.length) + 3, 5);
    const output = new Uint8Array(out).fill(0xee);
    list.forEach((it, i) => {
      const d = i * DESC_FIELDS;
      desc[d] = off;
      input.set(it.nonce, off);
      off += 12;
      desc[d + 1] = off;
      desc[d + 2] = it.aad.length;
      input.set(it.aad, off);
      off += it.aad.length;
      desc[d + 3] = off;
      desc[d + 4] = it.data.length;
      input.set(it.data, off);
      off += it.data.length;
      out -= outLen(it.data.length) + 3;
      desc[d + 5] = out;
    });
    return { count: list.length, input, desc, output };
  }

  it('sealPacked / openPacked: offsets honoured, bad item zeroed with status 0', () => {
    const sb = pack(items, 'seal');
    aead.sealPacked(key, sb);
    const sealed = items.map((it, i) => {
      const start = sb.desc[i * DESC_FIELDS + 5]!;
      const s = sb.output.slice(start, start + it.data.length + 16);
      expect(toHex(s)).toBe(toHex(nodeSeal(key, it.nonce, it.aad, it.data)));
      return s;
    });
    // Bytes outside the item outputs are the caller's and stay as they were (gaps and tail).
    expect(sb.output[sb.output.length - 1]).toBe(0xee);
    const first = sb.desc[5]!;
    expect([...sb.output.subarray(first - 3, first)]).toEqual([0xee, 0xee, 0xee]);

    const bad = 5;
    sealed[bad]![sealed[bad]!.length - 1]! ^= 1; // last tag byte
    const ob = pack(
      items.map((it, i) => ({ nonce: it.nonce, aad: it.aad, data: sealed[i]! })),
      'open',
    );
    const status = new Uint8Array(items.length).fill(7);
    aead.openPacked(key, ob, status);
    items.forEach((it, i) => {
      const start = ob.desc[i * DESC_FIELDS + 5]!;
      const view = ob.output.subarray(start, start + it.data.length);
      if (i === bad) {
        expect(status[i]).toBe(0);
        expect(view.every((b) => b === 0)).toBe(true); // never partial plaintext
      } else {
        expect(status[i]).toBe(1);
        expect(toHex(view)).toBe(toHex(it.data));
      }
    });
  });

  it('packed descriptors out of bounds are refused before any work', () => {
    const b = pack(items.slice(0, 2), 'seal');
    b.desc[4] = b.input.length; // data length past the end of input
    expect(() => aead.sealPacked(key, b)).toThrow(CryptoError);
    const o = pack(items.slice(0, 2), 'open');
    expect(() => aead.openPacked(key, o, new Uint8Array(1))).toThrow(CryptoError);
  });

  it('a batch larger than the current linear memory grows it', () => {
    const big = Array.from({ length: 40 }, () => ({ nonce: randomBytes(12), aad: randomBytes(13), data: randomBytes(40_000) }));
    const sealed = aead.sealBatch(key, big);
    sealed.forEach((s, i) => {
      expect(toHex(s)).toBe(toHex(nodeSeal(key, big[i]!.nonce, big[i]!.aad, big[i]!.data)));
    });
    const opened = aead.openBatch(
      key,
      big.map((it, i) => ({ nonce: it.nonce, aad: it.aad, data: sealed[i]! })),
    );
    opened.forEach((p, i) => {
      expect(toHex(p as Uint8Array)).toBe(toHex(big[i]!.data));
    });
  });
});

describe('wasm backend: bad sizes', () => {
  const nonce = new Uint8Array(12);
  const none = new Uint8Array(0);
  for (const n of [0, 16, 24, 31, 33, 64]) {
    it(`a ${n}-byte key is BAD_KEY_SIZE on every entry point`, () => {
      const key = new Uint8Array(n);
      const batch: PackedBatch = { count: 0, input: none, desc: new Uint32Array(0), output: none };
      expectCode(() => aead.seal(key, nonce, none, none), 'BAD_KEY_SIZE');
      expectCode(() => aead.open(key, nonce, none, new Uint8Array(16)), 'BAD_KEY_SIZE');
      expectCode(() => aead.sealBatch(key, []), 'BAD_KEY_SIZE');
      expectCode(() => aead.openBatch(key, []), 'BAD_KEY_SIZE');
      expectCode(() => aead.sealPacked(key, batch), 'BAD_KEY_SIZE');
      expectCode(() => aead.openPacked(key, batch, none), 'BAD_KEY_SIZE');
    });
  }
  for (const n of [0, 8, 11, 13, 16]) {
    it(`a ${n}-byte nonce is BAD_NONCE_SIZE`, () => {
      const key = new Uint8Array(32);
      const bad = new Uint8Array(n);
      expectCode(() => aead.seal(key, bad, none, none), 'BAD_NONCE_SIZE');
      expectCode(() => aead.open(key, bad, none, new Uint8Array(16)), 'BAD_NONCE_SIZE');
      expectCode(() => aead.openBatch(key, [{ nonce: bad, aad: none, data: new Uint8Array(16) }]), 'BAD_NONCE_SIZE');
    });
  }
});

describe('wasm backend: key-schedule cache', () => {
  it('stays correct across more keys than slots, equal keys in different arrays, and keys rewritten in place', () => {
    const keys = Array.from({ length: KEY_SLOTS * 2 + 3 }, () => randomBytes(32));
    const nonce = randomBytes(12);
    const pt = randomBytes(50);
    for (let round = 0; round < 3; round++) {
      for (const k of keys) {
        expect(toHex(aead.seal(k, nonce, new Uint8Array(0), pt))).toBe(toHex(nodeSeal(k, nonce, new Uint8Array(0), pt)));
        const copy = Uint8Array.from(k);
        expect(toHex(aead.seal(copy, nonce, new Uint8Array(0), pt))).toBe(toHex(nodeSeal(k, nonce, new Uint8Array(0), pt)));
      }
    }
    // The same array object, mutated: the cache must notice (byte compare), not reuse the old schedule.
    const key = randomBytes(32);
    aead.seal(key, nonce, new Uint8Array(0), pt);
    key[17]! ^= 0x01;
    expect(toHex(aead.seal(key, nonce, new Uint8Array(0), pt))).toBe(toHex(nodeSeal(key, nonce, new Uint8Array(0), pt)));
  });
});

describe('wasm backend: constant-time structure of the compiled module', () => {
  /** Section ids present in a WebAssembly binary, with their sizes. */
  function sections(bytes: Uint8Array): Map<number, number> {
    const out = new Map<number, number>();
    let p = 8; // magic + version
    const leb = (): number => {
      let r = 0;
      let shift = 0;
      for (;;) {
        const b = bytes[p++]!;
        r += (b & 0x7f) * 2 ** shift;
        if ((b & 0x80) === 0) return r;
        shift += 7;
      }
    };
    while (p < bytes.length) {
      const id = bytes[p++]!;
      const size = leb();
      out.set(id, (out.get(id) ?? 0) + size);
      p += size;
    }
    return out;
  }

  it('has no data segments (so no S-box or GHASH lookup tables) and no imports', () => {
    const bytes = new Uint8Array(readFileSync(fileURLToPath(WASM_MODULE_URL)));
    const s = sections(bytes);
    expect(s.has(11), 'data section').toBe(false); // 11 = data: the module carries no tables at all
    // The project's `lib` does not declare the WebAssembly JS API; describe the two calls used.
    const wa = (globalThis as unknown as { WebAssembly: { Module: { new (b: Uint8Array): object; imports(m: object): unknown[] } } }).WebAssembly;
    const mod = new wa.Module(bytes);
    expect(wa.Module.imports(mod)).toEqual([]);
    expect(s.get(10)).toBeGreaterThan(0); // code is there
  });
});

describe('wasm backend: missing build', () => {
  it('createWasmAead throws BACKEND_UNAVAILABLE when the .wasm file is absent', async () => {
    vi.resetModules();
    vi.doMock('node:fs/promises', async (orig) => ({
      ...(await orig<typeof import('node:fs/promises')>()),
      readFile: async () => {
        throw Object.assign(new Error('ENOENT: no such file'), { code: 'ENOENT' });
      },
    }));
    try {
      const fresh = await import('../../src/crypto/backends/wasm.js');
      await expect(fresh.createWasmAead()).rejects.toMatchObject({ code: 'BACKEND_UNAVAILABLE' });
    } finally {
      vi.doUnmock('node:fs/promises');
      vi.resetModules();
    }
  });
});

// The native AES-256-GCM backend (Rust Node-API module over node's own OpenSSL; C-4).
//
// Needs native/sealkv_native.<platform>.node (built at install by scripts/build-native.mjs;
// `npm run build:native`). Where it is not built, every test calls ctx.skip with the
// BACKEND_UNAVAILABLE reason.

import { spawnSync } from 'node:child_process';
import { getFips, randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { nodeOpen, nodeSeal, prng, toHex } from './helpers/reference.js';
import { describe, expect, it } from 'vitest';
import {
  type BatchItem,
  D_AAD,
  D_AAD_LEN,
  D_DATA,
  D_DATA_LEN,
  D_NONCE,
  D_OUT,
  DESC_FIELDS,
  type PackedBatch,
} from '../../src/crypto/aead.js';
import { createNativeAead, type NativeAead, type NativeBinding, nativeBinding } from '../../src/crypto/backends/native.js';
import { evpLoop, opensslSpeed } from '../../src/bench/native-ref.js';
import { CryptoError, hasCode, IntegrityError } from '../../src/errors.js';

let loaded: { aead: NativeAead; binding: NativeBinding } | { unavailable: string };
try {
  loaded = { aead: createNativeAead(), binding: nativeBinding() };
} catch (e) {
  if (!hasCode(e, 'BACKEND_UNAVAILABLE')) throw e;
  loaded = { unavailable: (e as Error).message };
}

interface SkipContext {
  skip(note?: string): never;
}
function need(ctx: SkipContext): NativeAead {
  if ('unavailable' in loaded) ctx.skip(loaded.unavailable);
  return loaded.aead;
}
function needBinding(ctx: SkipContext): NativeBinding {
  if ('unavailable' in loaded) ctx.skip(loaded.unavailable);
  return loaded.binding;
}

const hex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'hex'));
const rand = (n: number): Uint8Array => new Uint8Array(randomBytes(n));

/** Packs items the way the worker pool does (aead.ts PackedBatch), independently of the backend. */
function pack(items: BatchItem[], mode: 'seal' | 'open'): PackedBatch {
  const outLen = (n: number) => (mode === 'seal' ? n + 16 : Math.max(0, n - 16));
  const input = new Uint8Array(items.reduce((s, it) => s + 12 + it.aad.length + it.data.length, 0));
  const output = new Uint8Array(items.reduce((s, it) => s + outLen(it.data.length), 0));
  const desc = new Uint32Array(items.length * DESC_FIELDS);
  let m = 0;
  let o = 0;
  items.forEach((it, i) => {
    const d = i * DESC_FIELDS;
    desc[d + D_NONCE] = m;
    input.set(it.nonce, m);
    m += 12;
    desc[d + D_AAD] = m;
    desc[d + D_AAD_LEN] = it.aad.length;
    input.set(it.aad, m);
    m += it.aad.length;
    desc[d + D_DATA] = m;
    desc[d + D_DATA_LEN] = it.data.length;
    input.set(it.data, m);
    m += it.data.length;
    desc[d + D_OUT] = o;
    o += outLen(it.data.length);
  });
  return { count: items.length, input, desc, output };
}

function expectCode(fn: () => unknown, code: string): void {
  let thrown: unknown;
  try {
    fn();
  } catch (e) {
    thrown = e;
  }
  expect(thrown, `expected ${code}`).toBeInstanceOf(Error);
  expect((thrown as { code?: string }).code).toBe(code);
}

// McGrew & Viega, "The Galois/Counter Mode of Operation (GCM)", AES-256 test cases.
const K15 = 'feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308';
const P15 =
  'd9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255';
const C15 =
  '522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662898015ad';
const A16 = 'feedfacedeadbeeffeedfacedeadbeefabaddad2';
const GCM_VECTORS = [
  { n: 13, k: '00'.repeat(32), iv: '00'.repeat(12), a: '', p: '', c: '', t: '530f8afbc74536b9a963b4f1c4cb738b' },
  { n: 14, k: '00'.repeat(32), iv: '00'.repeat(12), a: '', p: '00'.repeat(16), c: 'cea7403d4d606b6e074ec5d3baf39d18', t: 'd0d1c8a799996bf0265b98b5d48ab919' },
  { n: 15, k: K15, iv: 'cafebabefacedbaddecaf888', a: '', p: P15, c: C15, t: 'b094dac5d93471bdec1a502270e3cc6c' },
  { n: 16, k: K15, iv: 'cafebabefacedbaddecaf888', a: A16, p: P15.slice(0, 120), c: C15.slice(0, 120), t: '76fc6ece0f4e1768cddf8853bb2d551b' },
];
// Cases 17 and 18 use a 64-bit and a 480-bit IV, which AES-GCM in sealkv (12-byte nonces) rejects.
const ODD_IV_VECTORS = [
  { n: 17, iv: 'cafebabefacedbad' },
  {
    n: 18,
    iv: '9313225df88406e555909c5aff5269aa6a7a9538534f7da1e4c303d2a318a728c3c0c95156809539fcf0e2429a6b525416aedbf5a0de6a57a637b39b',
  },
];

describe('native backend: identity', () => {
  it('is named native and reports hardwareAes as a boolean matching the CPU flags', (ctx) => {
    const aead = need(ctx);
    expect(aead.name).toBe('native');
    expect(typeof aead.hardwareAes).toBe('boolean');
    expect(typeof needBinding(ctx).paramsCallsInUse()).toBe('boolean');
    if (process.platform === 'linux' && process.arch === 'x64' && process.env.OPENSSL_ia32cap === undefined) {
      const flags = readFileSync('/proc/cpuinfo', 'utf8').match(/^flags\s*:(.*)$/m)?.[1]?.split(/\s+/) ?? [];
      expect(aead.hardwareAes).toBe(flags.includes('aes') && flags.includes('pclmulqdq'));
    }
  });

  it('reports hardwareAes false when OPENSSL_ia32cap masks AES-NI, and still encrypts correctly', (ctx) => {
    needBinding(ctx);
    if (process.arch !== 'x64') ctx.skip('OPENSSL_ia32cap applies to x86 only');
    const dir = fileURLToPath(new URL('../../native/', import.meta.url));
    const file = readdirSync(dir).find((f) => f.startsWith(`sealkv_native.${process.platform}-${process.arch}`) && f.endsWith('.node'));
    const script = `
      const m = require(${JSON.stringify(`${dir}${file}`)});
      const { createCipheriv, randomBytes } = require('node:crypto');
      const key = new Uint8Array(32).fill(1), nonce = new Uint8Array(12).fill(2);
      const ctx = m.createContext(key);
      let same = true;
      for (const [len, aadLen] of [[0, 0], [1, 13], [15, 0], [16, 17], [300, 0], [2048, 5], [2049, 0]]) {
        const pt = randomBytes(len), aad = randomBytes(aadLen);
        const out = new Uint8Array(len + 16);
        m.seal(ctx, key, nonce, aad, pt, out);
        const c = createCipheriv('aes-256-gcm', key, nonce).setAAD(aad);
        const ref = Buffer.concat([c.update(pt), c.final(), c.getAuthTag()]);
        const back = new Uint8Array(len);
        same = same && ref.equals(out) && m.open(ctx, key, nonce, aad, out, back) === 0 && pt.equals(back);
      }
      console.log(JSON.stringify({ hw: m.hardwareAes(), direct: m.directCallsInUse(), same }));`;
    const r = spawnSync(process.execPath, ['-e', script], {
      encoding: 'utf8',
      env: { ...process.env, OPENSSL_ia32cap: '~0x200000000000000' },
    });
    expect(r.status, r.stderr).toBe(0);
    // Without AES-NI the direct path (AES-NI primitives) is off: short messages use EVP too,
    // so this also checks the EVP calls at the lengths the direct path otherwise takes.
    expect(JSON.parse(r.stdout)).toEqual({ hw: false, direct: false, same: true });
  });

  it('SEALKV_NATIVE_EVP_ONLY=1 keeps every message on the public EVP API, with identical bytes', (ctx) => {
    needBinding(ctx);
    const dir = fileURLToPath(new URL('../../native/', import.meta.url));
    const file = readdirSync(dir).find((f) => f.startsWith(`sealkv_native.${process.platform}-${process.arch}`) && f.endsWith('.node'));
    const script = `
      const m = require(${JSON.stringify(`${dir}${file}`)});
      const { createCipheriv, randomBytes } = require('node:crypto');
      const key = new Uint8Array(32).fill(3), nonce = new Uint8Array(12).fill(4);
      const ctx = m.createContext(key);
      let same = true;
      for (const len of [0, 1, 16, 255, 2048]) {
        const pt = randomBytes(len), aad = randomBytes(7);
        const out = new Uint8Array(len + 16);
        m.seal(ctx, key, nonce, aad, pt, out);
        const c = createCipheriv('aes-256-gcm', key, nonce).setAAD(aad);
        same = same && Buffer.concat([c.update(pt), c.final(), c.getAuthTag()]).equals(out);
      }
      console.log(JSON.stringify({ direct: m.directCallsInUse(), same }));`;
    const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', env: { ...process.env, SEALKV_NATIVE_EVP_ONLY: '1' } });
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ direct: false, same: true });
  });

  it('takes the direct GCM128 path for short messages where node exports the AES-NI primitives', (ctx) => {
    const b = needBinding(ctx);
    expect(typeof b.directCallsInUse()).toBe('boolean');
    if (process.platform !== 'linux' || process.arch !== 'x64') ctx.skip('the direct path is built for linux-x64 only');
    if (!b.hardwareAes()) ctx.skip('no AES-NI on this host: the direct path needs it');
    if (getFips() !== 0) ctx.skip('FIPS mode: the direct path would bypass the FIPS provider, so it is off');
    // node's official linux-x64 binaries export all of OpenSSL, AES-NI entry points included.
    expect(b.directCallsInUse()).toBe(true);
  });
});

describe('native backend: seal / open', () => {
  it('round-trips, including empty plaintext and empty AAD', (ctx) => {
    const aead = need(ctx);
    const key = rand(32);
    for (const [ptLen, aadLen] of [
      [0, 0],
      [0, 7],
      [1, 0],
      [15, 16],
      [16, 1],
      [17, 64],
      [4096, 13],
      [65536, 0],
    ] as const) {
      const nonce = rand(12);
      const aad = rand(aadLen);
      const pt = rand(ptLen);
      const sealed = aead.seal(key, nonce, aad, pt);
      expect(sealed.length).toBe(ptLen + 16);
      expect(toHex(aead.open(key, nonce, aad, sealed))).toBe(toHex(pt));
    }
  });

  it('is byte-identical with node:crypto on 300 random inputs (AAD 0-64 B, plaintext 0-64 KiB), both directions', (ctx) => {
    const aead = need(ctx);
    const r = prng(0x5ea1);
    for (let i = 0; i < 300; i++) {
      const key = rand(32);
      const nonce = rand(12);
      const aad = rand(Math.floor(r() * 65));
      // Half the cases small (0-1 KiB), half anywhere up to 64 KiB.
      const ptLen = i % 2 === 0 ? Math.floor(r() * 1025) : Math.floor(r() * 65537);
      const pt = rand(ptLen);
      const mine = aead.seal(key, nonce, aad, pt);
      const ref = nodeSeal(key, nonce, aad, pt);
      expect(toHex(mine)).toBe(toHex(ref));
      expect(toHex(aead.open(key, nonce, aad, ref))).toBe(toHex(pt));
      expect(toHex(nodeOpen(key, nonce, aad, mine))).toBe(toHex(pt));
    }
  });

  it('is byte-identical with node:crypto at every short length and on both sides of the 2 KiB direct-path limit', (ctx) => {
    const aead = need(ctx);
    const key = rand(32);
    const lengths = [...Array.from({ length: 81 }, (_, i) => i), 255, 256, 257, 2047, 2048, 2049, 4096, 8192];
    for (const ptLen of lengths) {
      for (const aadLen of [0, 1, 13, 16, 17, 64]) {
        const nonce = rand(12);
        const aad = rand(aadLen);
        const pt = rand(ptLen);
        const ref = nodeSeal(key, nonce, aad, pt);
        const what = `plaintext ${ptLen} B, AAD ${aadLen} B`;
        expect(toHex(aead.seal(key, nonce, aad, pt)), what).toBe(toHex(ref));
        expect(toHex(aead.sealBatch(key, [{ nonce, aad, data: pt }])[0]!), what).toBe(toHex(ref));
        expect(toHex(aead.open(key, nonce, aad, ref)), what).toBe(toHex(pt));
        // A flipped last tag bit fails on either path, and the batch reports it per item.
        const bad = ref.slice();
        bad[bad.length - 1]! ^= 0x80;
        expectCode(() => aead.open(key, nonce, aad, bad), 'INTEGRITY');
        expect(aead.openBatch(key, [{ nonce, aad, data: bad }])[0], what).toBeInstanceOf(IntegrityError);
      }
    }
  });

  it('passes McGrew-Viega AES-256 test cases 13-16 (96-bit IVs), single and batch', (ctx) => {
    const aead = need(ctx);
    for (const v of GCM_VECTORS) {
      const key = hex(v.k);
      const item = { nonce: hex(v.iv), aad: hex(v.a), data: hex(v.p) };
      expect(toHex(aead.seal(key, item.nonce, item.aad, item.data)), `case ${v.n}`).toBe(v.c + v.t);
      expect(toHex(aead.open(key, item.nonce, item.aad, hex(v.c + v.t))), `case ${v.n}`).toBe(v.p);
      expect(toHex(aead.sealBatch(key, [item])[0]!), `case ${v.n} batch`).toBe(v.c + v.t);
      const opened = aead.openBatch(key, [{ ...item, data: hex(v.c + v.t) }])[0]!;
      expect(opened).toBeInstanceOf(Uint8Array);
      expect(toHex(opened as Uint8Array)).toBe(v.p);
    }
  });

  it('rejects the 64-bit and 480-bit IVs of McGrew-Viega cases 17 and 18 with BAD_NONCE_SIZE', (ctx) => {
    const aead = need(ctx);
    const key = hex(K15);
    for (const v of ODD_IV_VECTORS) {
      const nonce = hex(v.iv);
      const data = hex(P15.slice(0, 120));
      expectCode(() => aead.seal(key, nonce, hex(A16), data), 'BAD_NONCE_SIZE');
      expectCode(() => aead.open(key, nonce, hex(A16), rand(76)), 'BAD_NONCE_SIZE');
      expectCode(() => aead.sealBatch(key, [{ nonce, aad: hex(A16), data }]), 'BAD_NONCE_SIZE');
      expectCode(() => aead.openBatch(key, [{ nonce, aad: hex(A16), data: rand(76) }]), 'BAD_NONCE_SIZE');
    }
  });

  it('throws INTEGRITY (with the backend cause) for every single-bit flip of nonce, AAD, ciphertext and tag', (ctx) => {
    const aead = need(ctx);
    const key = rand(32);
    const nonce = rand(12);
    const aad = rand(20);
    const pt = rand(32);
    const sealed = aead.seal(key, nonce, aad, pt);
    const flip = (b: Uint8Array, bit: number): Uint8Array => {
      const c = b.slice();
      c[bit >> 3]! ^= 1 << (bit & 7);
      return c;
    };
    let checked = 0;
    const expectFail = (n: Uint8Array, a: Uint8Array, s: Uint8Array): void => {
      let thrown: unknown;
      try {
        aead.open(key, n, a, s);
      } catch (e) {
        thrown = e;
      }
      expect(thrown).toBeInstanceOf(IntegrityError);
      expect((thrown as IntegrityError).code).toBe('INTEGRITY');
      expect((thrown as Error).cause).toBeInstanceOf(Error);
      checked++;
    };
    for (let bit = 0; bit < 96; bit++) expectFail(flip(nonce, bit), aad, sealed);
    for (let bit = 0; bit < 160; bit++) expectFail(nonce, flip(aad, bit), sealed);
    // 256 ciphertext bits + 128 tag bits.
    for (let bit = 0; bit < sealed.length * 8; bit++) expectFail(nonce, aad, flip(sealed, bit));
    expect(checked).toBe(96 + 160 + 384);
    // The context is still good after all those failures.
    expect(toHex(aead.open(key, nonce, aad, sealed))).toBe(toHex(pt));
  });

  it('treats sealed data shorter than a tag as an authentication failure', (ctx) => {
    const aead = need(ctx);
    const key = rand(32);
    expect(() => aead.open(key, rand(12), rand(0), rand(15))).toThrow(IntegrityError);
    const r = aead.openBatch(key, [{ nonce: rand(12), aad: rand(0), data: rand(5) }]);
    expect(r[0]).toBeInstanceOf(IntegrityError);
  });

  it('rejects bad key sizes with BAD_KEY_SIZE in every method', (ctx) => {
    const aead = need(ctx);
    const item = { nonce: rand(12), aad: rand(3), data: rand(40) };
    const packed = pack([item], 'seal');
    for (const len of [0, 16, 24, 31, 33, 64]) {
      const key = rand(len);
      expectCode(() => aead.seal(key, item.nonce, item.aad, item.data), 'BAD_KEY_SIZE');
      expectCode(() => aead.open(key, item.nonce, item.aad, item.data), 'BAD_KEY_SIZE');
      expectCode(() => aead.sealBatch(key, [item]), 'BAD_KEY_SIZE');
      expectCode(() => aead.openBatch(key, [item]), 'BAD_KEY_SIZE');
      expectCode(() => aead.sealPacked(key, packed), 'BAD_KEY_SIZE');
      expectCode(() => aead.openPacked(key, packed, new Uint8Array(1)), 'BAD_KEY_SIZE');
    }
  });

  it('rejects bad nonce sizes with BAD_NONCE_SIZE', (ctx) => {
    const aead = need(ctx);
    const key = rand(32);
    for (const len of [0, 1, 8, 11, 13, 16, 60]) {
      const nonce = rand(len);
      expectCode(() => aead.seal(key, nonce, rand(0), rand(10)), 'BAD_NONCE_SIZE');
      expectCode(() => aead.open(key, nonce, rand(0), rand(30)), 'BAD_NONCE_SIZE');
      // One bad nonce in the middle fails the whole batch call up front.
      const items = [0, 1, 2].map((i) => ({ nonce: i === 1 ? nonce : rand(12), aad: rand(0), data: rand(20) }));
      expectCode(() => aead.sealBatch(key, items), 'BAD_NONCE_SIZE');
      expectCode(() => aead.openBatch(key, items), 'BAD_NONCE_SIZE');
    }
  });
});

describe('native backend: batches', () => {
  function items(count: number, seed: number): BatchItem[] {
    const r = prng(seed);
    return Array.from({ length: count }, () => ({
      nonce: rand(12),
      aad: rand(Math.floor(r() * 65)),
      data: rand(Math.floor(r() * 2049)),
    }));
  }

  it('sealBatch equals per-message node:crypto, and results are views into one buffer', (ctx) => {
    const aead = need(ctx);
    const key = rand(32);
    const its = items(200, 7);
    const out = aead.sealBatch(key, its);
    expect(out.length).toBe(its.length);
    const buffers = new Set(out.map((v) => v.buffer));
    expect(buffers.size).toBe(1);
    its.forEach((it, i) => {
      expect(toHex(out[i]!)).toBe(toHex(nodeSeal(key, it.nonce, it.aad, it.data)));
    });
    // Inputs are never modified (sealing happens in the output buffer).
    const again = aead.sealBatch(key, its);
    its.forEach((_, i) => {
      expect(toHex(again[i]!)).toBe(toHex(out[i]!));
    });
    expect(aead.sealBatch(key, [])).toEqual([]);
  });

  it('packs batches whose nonces, AAD and ciphertext outgrow the reused scratch buffer mid-batch', (ctx) => {
    const aead = need(ctx);
    const key = rand(32);
    // Far beyond anything earlier tests packed, so the scratch grows in the middle of these
    // batches: the items packed before the growth must survive it.
    for (const aadLen of [64 * 1024, 128 * 1024]) {
      const its = Array.from({ length: 40 }, (_, i) => ({ nonce: rand(12), aad: rand(aadLen - i), data: rand(i * 97) }));
      const sealed = aead.sealBatch(key, its);
      its.forEach((it, i) => {
        expect(toHex(sealed[i]!), `item ${i}`).toBe(toHex(nodeSeal(key, it.nonce, it.aad, it.data)));
      });
      const opened = aead.openBatch(
        key,
        its.map((it, i) => ({ ...it, data: sealed[i]! })),
      );
      opened.forEach((o, i) => {
        expect(o, `item ${i}`).toBeInstanceOf(Uint8Array);
        expect(toHex(o as Uint8Array), `item ${i}`).toBe(toHex(its[i]!.data));
      });
    }
  });

  it('openBatch result views are consecutive slots of one buffer, empty for failed and short items', (ctx) => {
    const aead = need(ctx);
    const key = rand(32);
    const its = [0, 5, 300, 16, 4097].map((n) => ({ nonce: rand(12), aad: rand(3), data: rand(n) }));
    const sealed = aead.sealBatch(key, its).map((v, i) => ({ ...its[i]!, data: v }));
    sealed[2] = { ...sealed[2]!, aad: rand(3) }; // fails authentication
    sealed.push({ nonce: rand(12), aad: rand(0), data: rand(15) }); // shorter than a tag
    const opened = aead.openBatch(key, sealed);
    expect(opened.map((o) => (o instanceof IntegrityError ? 'fail' : (o as Uint8Array).length))).toEqual([0, 5, 'fail', 16, 4097, 'fail']);
    const views = opened.filter((o): o is Uint8Array => o instanceof Uint8Array);
    expect(new Set(views.map((v) => v.buffer)).size).toBe(1);
    // Slots are laid out in item order; the failed item's slot (zeroed) sits between them.
    expect(views.map((v) => v.byteOffset)).toEqual([0, 0, 5 + 300, 5 + 300 + 16]);
    expect(new Uint8Array(views[0]!.buffer, 5, 300).every((x) => x === 0)).toBe(true);
    [0, 1, 3, 4].forEach((i, k) => {
      expect(toHex(views[k]!)).toBe(toHex(its[i]!.data));
    });
  });

  it('openBatch opens node:crypto output; a failed item in the middle leaves the others correct', (ctx) => {
    const aead = need(ctx);
    const key = rand(32);
    const its = items(64, 11);
    const sealed = its.map((it) => ({ ...it, data: nodeSeal(key, it.nonce, it.aad, it.data) }));
    const bad = new Set([0, 31, 32, 63]);
    for (const i of bad) {
      const d = sealed[i]!.data.slice();
      d[d.length - 1]! ^= 0x80; // tag bit
      sealed[i] = { ...sealed[i]!, data: d };
    }
    const out = aead.openBatch(key, sealed);
    const views = new Set<ArrayBufferLike>();
    out.forEach((r, i) => {
      if (bad.has(i)) {
        expect(r).toBeInstanceOf(IntegrityError);
        expect((r as IntegrityError).code).toBe('INTEGRITY');
      } else {
        expect(r).toBeInstanceOf(Uint8Array);
        views.add((r as Uint8Array).buffer);
        expect(toHex(r as Uint8Array)).toBe(toHex(its[i]!.data));
      }
    });
    expect(views.size).toBe(1);
  });

  it('every single-bit flip of an item fails only that item (openBatch and openPacked)', (ctx) => {
    const aead = need(ctx);
    const key = rand(32);
    const base = { nonce: rand(12), aad: rand(8), data: rand(24) };
    const sealed = aead.seal(key, base.nonce, base.aad, base.data);
    const good = { nonce: base.nonce, aad: base.aad, data: sealed };
    const variants: BatchItem[] = [good];
    const flip = (b: Uint8Array, bit: number): Uint8Array => {
      const c = b.slice();
      c[bit >> 3]! ^= 1 << (bit & 7);
      return c;
    };
    for (let bit = 0; bit < 96; bit++) variants.push({ ...good, nonce: flip(base.nonce, bit) });
    for (let bit = 0; bit < 64; bit++) variants.push({ ...good, aad: flip(base.aad, bit) });
    for (let bit = 0; bit < sealed.length * 8; bit++) variants.push({ ...good, data: flip(sealed, bit) });
    variants.push(good);
    const out = aead.openBatch(key, variants);
    expect(toHex(out[0] as Uint8Array)).toBe(toHex(base.data));
    expect(toHex(out[out.length - 1] as Uint8Array)).toBe(toHex(base.data));
    for (let i = 1; i < out.length - 1; i++) expect(out[i], `variant ${i}`).toBeInstanceOf(IntegrityError);

    const packed = pack(variants, 'open');
    packed.output.fill(0xee);
    const status = new Uint8Array(variants.length).fill(0xee);
    aead.openPacked(key, packed, status);
    expect(status[0]).toBe(1);
    expect(status[variants.length - 1]).toBe(1);
    for (let i = 1; i < variants.length - 1; i++) {
      expect(status[i]).toBe(0);
      const o = packed.desc[i * DESC_FIELDS + D_OUT]!;
      // Failed items' output is zeroed, never partial plaintext.
      expect(packed.output.subarray(o, o + 24).every((b) => b === 0)).toBe(true);
    }
  });

  it('sealPacked / openPacked follow the PackedBatch layout and match sealBatch', (ctx) => {
    const aead = need(ctx);
    const key = rand(32);
    const its = items(50, 23);
    const packed = pack(its, 'seal');
    aead.sealPacked(key, packed);
    const viaBatch = aead.sealBatch(key, its);
    its.forEach((it, i) => {
      const o = packed.desc[i * DESC_FIELDS + D_OUT]!;
      expect(toHex(packed.output.subarray(o, o + it.data.length + 16))).toBe(toHex(viaBatch[i]!));
    });
    const opened = pack(
      its.map((it, i) => ({ ...it, data: viaBatch[i]! })),
      'open',
    );
    const status = new Uint8Array(its.length);
    aead.openPacked(key, opened, status);
    expect([...status].every((s) => s === 1)).toBe(true);
    its.forEach((it, i) => {
      const o = opened.desc[i * DESC_FIELDS + D_OUT]!;
      expect(toHex(opened.output.subarray(o, o + it.data.length))).toBe(toHex(it.data));
    });
  });

  it('out-of-bounds descriptors throw CRYPTO_BACKEND before anything is written, never crash', (ctx) => {
    const aead = need(ctx);
    const key = rand(32);
    const its = items(3, 5).map((it) => ({ ...it, data: rand(100) }));
    const corrupt: [string, (b: PackedBatch) => void][] = [
      ['nonce past the end', (b) => b.desc.set([b.input.length - 11], DESC_FIELDS + D_NONCE)],
      ['aad length wraps u32', (b) => b.desc.set([0xffffffff], DESC_FIELDS + D_AAD_LEN)],
      ['aad offset huge', (b) => b.desc.set([0xfffffff0], DESC_FIELDS + D_AAD)],
      ['data past the end', (b) => b.desc.set([b.input.length], DESC_FIELDS + D_DATA_LEN)],
      ['output past the end', (b) => b.desc.set([b.output.length - 10], DESC_FIELDS + D_OUT)],
      [
        'count beyond desc',
        (b) => {
          b.count = 4;
        },
      ],
    ];
    for (const mode of ['seal', 'open'] as const) {
      for (const [label, mutate] of corrupt) {
        const src = mode === 'seal' ? its : its.map((it) => ({ ...it, data: aead.seal(key, it.nonce, it.aad, it.data) }));
        const b = pack(src, mode);
        mutate(b);
        b.output.fill(0xab);
        const status = new Uint8Array(4).fill(7);
        let thrown: unknown;
        try {
          if (mode === 'seal') aead.sealPacked(key, b);
          else aead.openPacked(key, b, status);
        } catch (e) {
          thrown = e;
        }
        expect(thrown, `${mode}: ${label}`).toBeInstanceOf(CryptoError);
        expect((thrown as CryptoError).code).toBe('CRYPTO_BACKEND');
        expect(b.output.every((x) => x === 0xab), `${mode}: ${label} wrote output`).toBe(true);
        expect(status.every((x) => x === 7)).toBe(true);
      }
    }
    // A status array shorter than the batch, and invalid counts.
    const b = pack(its, 'open');
    expectCode(() => aead.openPacked(key, b, new Uint8Array(2)), 'CRYPTO_BACKEND');
    for (const count of [-1, 1.5, Number.NaN, 2 ** 32]) {
      expectCode(() => aead.sealPacked(key, { ...pack(its, 'seal'), count }), 'CRYPTO_BACKEND');
    }
  });

  it('random descriptors either work or throw CRYPTO_BACKEND, never touch memory out of bounds', (ctx) => {
    const aead = need(ctx);
    const key = rand(32);
    const r = prng(99);
    const pick = (len: number): number => {
      const x = r();
      if (x < 0.05) return 0xffffffff - Math.floor(r() * 64);
      if (x < 0.1) return 0x80000000 + Math.floor(r() * 64);
      return Math.floor(r() * (len + 24));
    };
    let ok = 0;
    let refused = 0;
    for (let i = 0; i < 600; i++) {
      const count = Math.floor(r() * 4);
      const input = rand(Math.floor(r() * 200));
      // Guard bytes around the output view: they must never change.
      const backing = new Uint8Array(64 + Math.floor(r() * 200) + 64).fill(0x5a);
      const output = backing.subarray(64, backing.length - 64);
      const desc = new Uint32Array(count * DESC_FIELDS).map((_, k) => pick(k % DESC_FIELDS === D_OUT ? output.length : input.length));
      const status = new Uint8Array(count);
      try {
        if (r() < 0.5) aead.sealPacked(key, { count, input, desc, output });
        else aead.openPacked(key, { count, input, desc, output }, status);
        ok++;
      } catch (e) {
        expect((e as CryptoError).code).toBe('CRYPTO_BACKEND');
        refused++;
      }
      expect(backing.subarray(0, 64).every((b) => b === 0x5a)).toBe(true);
      expect(backing.subarray(backing.length - 64).every((b) => b === 0x5a)).toBe(true);
    }
    expect(ok).toBeGreaterThan(0);
    expect(refused).toBeGreaterThan(0);
  });

  it('the raw binding rejects wrong argument types and foreign objects with exceptions', (ctx) => {
    const b = needBinding(ctx);
    const key = rand(32);
    const c = b.createContext(key);
    const out = new Uint8Array(32);
    const fake = {} as unknown as typeof c;
    expect(() => b.seal(fake, key, rand(12), rand(0), rand(16), out)).toThrow(/context/);
    expect(() => b.seal(c, key, rand(12), rand(0), new Uint16Array(8) as unknown as Uint8Array, out)).toThrow(/Uint8Array/);
    expect(() => b.seal(c, key, rand(12), rand(0), rand(17), out)).toThrow(/out must hold/);
    expect(() => b.sealPacked(c, key, rand(12), rand(12), new Uint8Array(6) as unknown as Uint32Array, 1, out)).toThrow(/Uint32Array/);
    expect(() => (b.seal as unknown as (...a: unknown[]) => number)(c, key)).toThrow(/arguments/);
    b.disposeContext(c);
    b.disposeContext(c); // idempotent
    // A disposed context matches no key: the call does nothing and asks for a new context.
    out.fill(9);
    expect(b.seal(c, key, rand(12), rand(0), rand(16), out)).toBe(-1);
    expect(out.every((x) => x === 9)).toBe(true);
    expect(b.contextMatches(c, key)).toBe(false);
  });
});

describe('native backend: recycled batch output blocks (native/src/outbuf.rs)', () => {
  /** V8's gc(), exposed at run time (vitest starts its workers without --expose-gc). */
  function gcOrSkip(ctx: SkipContext): () => void {
    setFlagsFromString('--expose-gc');
    const gc: unknown = runInNewContext('gc');
    if (typeof gc !== 'function') ctx.skip('cannot expose gc() in this process (v8.setFlagsFromString had no effect)');
    return gc as () => void;
  }
  /**
   * Collects until `done()` (at most ~1 s). V8 frees dead backing stores after gc() returns
   * (its sweeper may run concurrently) and node then runs the blocks' finalizers from the event
   * loop, so one gc() and one turn are not always enough.
   */
  async function collect(gc: () => void, done: () => boolean = () => true): Promise<boolean> {
    for (let i = 0; i < 200; i++) {
      gc();
      await new Promise((r) => setImmediate(r));
      if (done()) return true;
      await new Promise((r) => setTimeout(r, 5));
    }
    return false;
  }
  /** 300 × 256 B seals to 81.6 KiB (a pooled 96 KiB block); fresh random contents each call. */
  const sealItems = (n = 300): BatchItem[] => Array.from({ length: n }, (_, i) => ({ nonce: rand(12), aad: rand(i % 17), data: rand(256) }));

  it('sealBatch outputs over recycled blocks are correct, exactly sized, and held results never change', async (ctx) => {
    const aead = need(ctx);
    const b = needBinding(ctx);
    const gc = gcOrSkip(ctx);
    const key = rand(32);
    const held: { out: Uint8Array[]; expected: string[] }[] = [];
    let reused = 0;
    for (let round = 0; round < 40; round++) {
      const its = sealItems();
      const before = b.outputPoolStats();
      const out = aead.sealBatch(key, its);
      const after = b.outputPoolStats();
      // A recycled block leaves the cache and is lent again: the same bytes move from one count to the other.
      if (after.cachedBytes < before.cachedBytes) {
        reused++;
        expect(after.lentBytes - before.lentBytes).toBe(before.cachedBytes - after.cachedBytes);
      }
      // Exactly the packed size: no tail of an earlier batch is reachable through the buffer.
      expect(out[0]!.buffer.byteLength).toBe(300 * (256 + 16));
      const expected = its.map((it) => toHex(nodeSeal(key, it.nonce, it.aad, it.data)));
      out.forEach((o, i) => {
        expect(toHex(o), `round ${round} item ${i}`).toBe(expected[i]);
      });
      if (round % 3 === 0) held.push({ out, expected });
      // Unheld batches become garbage; collecting returns their blocks to the free list.
      if (round % 4 === 3) await collect(gc);
      // Every held batch is still intact, whichever blocks were recycled meanwhile.
      for (const h of held) {
        h.out.forEach((o, i) => {
          expect(toHex(o)).toBe(h.expected[i]);
        });
      }
    }
    expect(reused, 'no batch ran on a recycled block').toBeGreaterThan(10);
    // Dropping everything and collecting returns every block this test still held.
    const lentBefore = b.outputPoolStats().lentBytes;
    held.length = 0;
    expect(await collect(gc, () => b.outputPoolStats().lentBytes < lentBefore)).toBe(true);
  });

  it('openBatch over a block that held plaintext: failed items are zeros, no stale byte anywhere', async (ctx) => {
    const aead = need(ctx);
    const b = needBinding(ctx);
    const gc = gcOrSkip(ctx);
    const key = rand(32);
    const n = 300;
    // Start with every block of earlier tests back on the free list, so the counts below are ours.
    expect(await collect(gc, () => b.outputPoolStats().lentBytes === 0), 'earlier blocks not returned').toBe(true);
    // Plaintext of 0xa5 bytes, opened into pooled blocks which are then dropped and recycled.
    const secret = Array.from({ length: n }, () => {
      const it = { nonce: rand(12), aad: rand(5), data: new Uint8Array(300).fill(0xa5) };
      return { ...it, data: nodeSeal(key, it.nonce, it.aad, it.data) };
    });
    // A plain function, so no result stays in the suspended async frame.
    const openAndDrop = (): void => {
      for (let i = 0; i < 8; i++) expect((aead.openBatch(key, secret)[0] as Uint8Array)[0]).toBe(0xa5);
    };
    openAndDrop();
    expect(await collect(gc, () => b.outputPoolStats().lentBytes === 0), 'blocks not returned after GC').toBe(true);
    const cached = b.outputPoolStats().cachedBytes;
    expect(cached).toBeGreaterThan(0);
    // Same size class, every third item fails (tag bit), a few are shorter than a tag.
    const plain = Array.from({ length: n }, () => ({ nonce: rand(12), aad: rand(5), data: rand(300) }));
    const mixed = plain.map((it, i) => {
      if (i % 50 === 7) return { ...it, data: rand(9) };
      const sealed = nodeSeal(key, it.nonce, it.aad, it.data);
      if (i % 3 === 0) sealed[sealed.length - 1]! ^= 0x01;
      return { ...it, data: sealed };
    });
    const out = aead.openBatch(key, mixed);
    expect(b.outputPoolStats().cachedBytes, 'the batch did not run on a recycled block').toBeLessThan(cached);
    const views = out.filter((o): o is Uint8Array => o instanceof Uint8Array);
    const all = new Uint8Array(views[0]!.buffer);
    const slots = mixed.reduce((s, it) => s + Math.max(0, it.data.length - 16), 0);
    expect(all.length).toBe(slots);
    // Rebuild the expected buffer: plaintext in good slots, zeros in failed ones.
    const want = new Uint8Array(slots);
    let at = 0;
    out.forEach((o, i) => {
      const len = Math.max(0, mixed[i]!.data.length - 16);
      if (i % 50 === 7 || i % 3 === 0) expect(o, `item ${i}`).toBeInstanceOf(IntegrityError);
      else want.set(plain[i]!.data, at);
      at += len;
    });
    expect(toHex(all) === toHex(want), 'a byte outside a good slot is not zero (stale plaintext?)').toBe(true);
  });

  it('in a child with --expose-gc: blocks are reused after GC, held blocks stay intact, worker threads and the cap are safe', (ctx) => {
    needBinding(ctx);
    const dir = fileURLToPath(new URL('../../native/', import.meta.url));
    const file = readdirSync(dir).find((f) => f.startsWith(`sealkv_native.${process.platform}-${process.arch}`) && f.endsWith('.node'));
    const script = `
      const m = require(${JSON.stringify(`${dir}${file}`)});
      const { Worker } = require('node:worker_threads');
      const { createCipheriv, randomBytes } = require('node:crypto');
      const turn = () => new Promise((r) => setImmediate(r));
      // V8 may free dead backing stores after gc() returns; node then runs the finalizers from the
      // event loop: so collect until done() (at most ~1 s).
      const collect = async (done = () => true) => {
        for (let i = 0; i < 200; i++) { global.gc(); await turn(); if (done()) return true; await new Promise((r) => setTimeout(r, 5)); }
        return false;
      };
      const check = (ok, what) => { if (!ok) throw new Error('FAILED: ' + what); };
      (async () => {
        const r = {};
        // Sizes: below 64 KiB and above 16 MiB are not pooled; a pooled buffer has exactly the asked length.
        r.small = m.allocOutput(65535, false) === undefined;
        r.huge = [2 ** 24 + 1, 2 ** 32 + 65536, 2 ** 60].every((n) => m.allocOutput(n, false) === undefined);
        r.badSize = [-1, 1.5, NaN, 'x'].every((n) => { try { m.allocOutput(n, false); return false; } catch (e) { return e.code === 'CRYPTO_BACKEND'; } });
        r.exact = [65536, 65537, 81920, 81921, 100000, 131071, 131072, 2 ** 20 + 1, 2 ** 24].every((n) => m.allocOutput(n, false).byteLength === n);
        await collect();
        // Held blocks: fill 20, keep the even ones, drop the rest, collect, refill recycled blocks.
        // (Each phase is a plain function so no block stays in a suspended async frame's registers.)
        const key = randomBytes(32), ctx = m.createContext(key);
        const held = [];
        // Every block of the size checks above must be back first: otherwise a late return of a
        // block of another size class could satisfy (or disturb) the cachedBytes checks below.
        check(await collect(() => m.outputPoolStats().lentBytes === 0), 'size-check blocks not returned');
        const fill = () => {
          for (let i = 0; i < 20; i++) { const ab = m.allocOutput(200000, false); new Uint8Array(ab).fill(i); if (i % 2 === 0) held.push([i, ab]); }
        };
        fill();
        const lentFull = m.outputPoolStats().lentBytes;
        await collect(() => m.outputPoolStats().lentBytes <= lentFull / 2);
        const s0 = m.outputPoolStats();
        check(s0.lentBytes <= lentFull / 2 && s0.cachedBytes >= 10 * 200000, 'dropped blocks were not returned: ' + JSON.stringify(s0));
        // Seal into recycled blocks with sealPacked: output equals node:crypto.
        const sealInto = () => {
          let ok = true;
          for (let k = 0; k < 10; k++) {
            const ab = m.allocOutput(200000, false), out = new Uint8Array(ab);
            const count = 100, len = 1984, input = randomBytes(count * 12);
            const desc = new Uint32Array(count * 6), plain = [];
            for (let j = 0; j < count; j++) {
              const p = randomBytes(len); plain.push(p);
              out.set(p, j * (len + 16));
              desc.set([j * 12, 0, 0, j * (len + 16), len, j * (len + 16)], j * 6);
            }
            check(m.sealPacked(ctx, key, input, out, desc, count, out) === 0, 'sealPacked');
            for (let j = 0; j < count; j++) {
              const c = createCipheriv('aes-256-gcm', key, input.subarray(j * 12, j * 12 + 12));
              const ref = Buffer.concat([c.update(plain[j]), c.final(), c.getAuthTag()]);
              ok = ok && ref.equals(out.subarray(j * (len + 16), (j + 1) * (len + 16)));
            }
            held.push([-1, ab, Buffer.from(out)]);
          }
          return ok;
        };
        r.sealsOk = sealInto();
        const s1 = m.outputPoolStats();
        r.reused = s1.cachedBytes < s0.cachedBytes;
        r.heldIntact = held.every(([i, ab, copy]) => i >= 0 ? new Uint8Array(ab).every((x) => x === i) : Buffer.from(ab).equals(copy));
        // Another thread: allocates and fills blocks, keeps some alive until it exits, frees others.
        await new Promise((resolve, reject) => {
          const w = new Worker(\`
            const m = require(\${JSON.stringify(${JSON.stringify(`${dir}${file}`)})});
            const keep = [];
            for (let i = 0; i < 40; i++) { const ab = m.allocOutput(300000, false); new Uint8Array(ab).fill(0x77); if (i % 4 === 0) keep.push(ab); }
            require('node:worker_threads').parentPort.postMessage(keep.length);\`, { eval: true });
          w.on('error', reject);
          w.on('exit', (code) => (code === 0 ? resolve() : reject(new Error('worker exit ' + code))));
        });
        await collect();
        r.heldAfterWorker = held.every(([i, ab, copy]) => i >= 0 ? new Uint8Array(ab).every((x) => x === i) : Buffer.from(ab).equals(copy));
        // The cap: holding blocks, allocation falls back (undefined) at 64 MiB lent + cached.
        const hog = [];
        const fillCap = () => {
          for (;;) { const ab = m.allocOutput(4 << 20, false); if (ab === undefined) break; hog.push(ab); check(hog.length < 100, 'no cap'); }
        };
        fillCap();
        const s2 = m.outputPoolStats();
        r.capped = s2.lentBytes + s2.cachedBytes <= 64 * 2 ** 20 && s2.lentBytes >= 56 * 2 ** 20;
        hog.length = 0;
        held.length = 0;
        // Every block comes back: this thread's, and those the worker held when it exited.
        r.allBack = await collect(() => m.outputPoolStats().lentBytes === 0);
        console.log(JSON.stringify(r));
      })().catch((e) => { console.error(e); process.exit(1); });`;
    const r = spawnSync(process.execPath, ['--expose-gc', '-e', script], { encoding: 'utf8', timeout: 50_000 });
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({
      small: true,
      huge: true,
      badSize: true,
      exact: true,
      reused: true,
      sealsOk: true,
      heldIntact: true,
      heldAfterWorker: true,
      capped: true,
      allBack: true,
    });
  });
});

describe('native backend: key contexts', () => {
  it('reuses one context across many messages and stays correct', (ctx) => {
    const aead = need(ctx);
    const key = rand(32);
    const pt = rand(64);
    for (let i = 0; i < 5000; i++) {
      const nonce = rand(12);
      const sealed = aead.seal(key, nonce, pt.subarray(0, i % 17), pt);
      if (i % 500 === 0) expect(toHex(sealed)).toBe(toHex(nodeSeal(key, nonce, pt.subarray(0, i % 17), pt)));
      if (i % 250 === 0) expect(toHex(aead.open(key, nonce, pt.subarray(0, i % 17), sealed))).toBe(toHex(pt));
    }
  });

  it('follows the key bytes: equal keys in different arrays agree, a key mutated in place is honoured', (ctx) => {
    const aead = need(ctx);
    const nonce = rand(12);
    const pt = rand(40);
    const key = rand(32);
    const copy = key.slice();
    expect(toHex(aead.seal(copy, nonce, rand(0), pt))).toBe(toHex(aead.seal(key, nonce, rand(0), pt)));
    // Mutate the cached key array in place: results must follow the new bytes, in every method.
    key[0]! ^= 1;
    const expected = toHex(nodeSeal(key, nonce, new Uint8Array(0), pt));
    expect(toHex(aead.seal(key, nonce, new Uint8Array(0), pt))).toBe(expected);
    key[1]! ^= 1;
    const item = { nonce, aad: new Uint8Array(0), data: pt };
    expect(toHex(aead.sealBatch(key, [item])[0]!)).toBe(toHex(nodeSeal(key, nonce, item.aad, pt)));
    key[2]! ^= 1;
    const sealed = nodeSeal(key, nonce, item.aad, pt);
    expect(toHex(aead.open(key, nonce, item.aad, sealed))).toBe(toHex(pt));
    key[3]! ^= 1;
    expect(aead.openBatch(key, [{ ...item, data: sealed }])[0]).toBeInstanceOf(IntegrityError);
    // The untouched copy still uses the original key.
    expect(toHex(aead.open(copy, nonce, item.aad, aead.seal(copy, nonce, item.aad, pt)))).toBe(toHex(pt));
    expect(toHex(nodeOpen(copy, nonce, item.aad, aead.seal(copy, nonce, item.aad, pt)))).toBe(toHex(pt));
  });

  it('disposeKey frees the contexts; the key can be used again afterwards', (ctx) => {
    const aead = need(ctx);
    const key = rand(32);
    const nonce = rand(12);
    const pt = rand(10);
    const first = aead.seal(key, nonce, rand(0), pt);
    const sameBytes = key.slice();
    expect(toHex(aead.seal(sameBytes, nonce, rand(0), pt))).toBe(toHex(first)); // shares the context
    aead.disposeKey(key);
    aead.disposeKey(key);
    expect(toHex(aead.seal(key, nonce, new Uint8Array(0), pt))).toBe(toHex(first));
    // Another array still mapped to the disposed context gets a fresh one too.
    aead.disposeKey(key);
    expect(toHex(aead.seal(sameBytes, nonce, new Uint8Array(0), pt))).toBe(toHex(first));
    expect(aead.sealBatch(sameBytes, [{ nonce, aad: new Uint8Array(0), data: pt }]).map(toHex)).toEqual([toHex(first)]);
  });

  it('many distinct keys (more than the recent-context cache holds) all stay correct', (ctx) => {
    const aead = need(ctx);
    const keys = Array.from({ length: 40 }, () => rand(32));
    const nonce = rand(12);
    const pt = rand(33);
    for (let round = 0; round < 2; round++) {
      for (const key of keys) {
        // A fresh array each time exercises the byte-equality lookup as well as identity.
        const k = round === 0 ? key : key.slice();
        expect(toHex(aead.seal(k, nonce, new Uint8Array(0), pt))).toBe(toHex(nodeSeal(key, nonce, new Uint8Array(0), pt)));
      }
    }
  });
});

describe('native backend: benchmark references (src/bench/native-ref.ts)', () => {
  it('evpLoop times real seals and opens in every call style', (ctx) => {
    needBinding(ctx);
    for (const mode of ['seal', 'open'] as const) {
      for (const tagVia of ['ctrl', 'params', 'direct'] as const) {
        if (tagVia === 'direct' && !needBinding(ctx).directCallsInUse()) {
          expect(() => evpLoop({ size: 256, iterations: 10, mode, tagVia, repeats: 1 })).toThrow(/direct/);
          continue;
        }
        const r = evpLoop({ size: 256, aadLen: 13, iterations: 2000, mode, tagVia, repeats: 1 });
        expect(r.nsPerOp).toBeGreaterThan(0);
        expect(r.opsPerSec).toBeCloseTo(1e9 / r.nsPerOp);
        expect(r.bytesPerSec).toBeCloseTo(256 * r.opsPerSec);
      }
    }
    // Bad arguments are exceptions, not crashes.
    const b = needBinding(ctx);
    expect(() => b.evpLoop(rand(32), 16, 0, 0, 0, 0)).toThrow(/iterations/);
    expect(() => b.evpLoop(rand(32), 16, 0, 10, 2, 0)).toThrow(/mode/);
    expectCode(() => b.evpLoop(rand(31), 16, 0, 10, 0, 0), 'BAD_KEY_SIZE');
  });

  it('opensslSpeed reports the CLI as unavailable when it is not on PATH', () => {
    const saved = process.env.PATH;
    process.env.PATH = '/nonexistent';
    try {
      const r = opensslSpeed(16384, 1);
      expect(r.available).toBe(false);
      if (!r.available) expect(r.reason).toMatch(/not found/);
    } finally {
      process.env.PATH = saved;
    }
  });

  it('opensslSpeed parses the throughput of `openssl speed -evp aes-256-gcm`', (ctx) => {
    const r = opensslSpeed(16384, 1);
    if (!r.available) return ctx.skip(`openssl CLI unusable here: ${r.reason}`);
    expect(r.bytes).toBe(16384);
    // Any working AES-GCM does more than 10 MB/s; hardware AES does gigabytes.
    expect(r.bytesPerSec).toBeGreaterThan(10e6);
    expect(r.version).toMatch(/OpenSSL/);
  });
});

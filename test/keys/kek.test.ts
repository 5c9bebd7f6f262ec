// KM-1/KM-2: the three local KEK sources, their refusals, and a KEK handle that never shows its bytes.
import { mkdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { format, inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import { wrapDek } from '../../src/keys/dek-wrap.js';
import { loadKekEnv } from '../../src/keys/kek-env.js';
import { loadKekFile } from '../../src/keys/kek-file.js';
import { createKdfParams, deriveKek, KDF_MIN_ITERATIONS, KDF_MIN_MEMORY_KIB, type KdfParams } from '../../src/keys/kek-kdf.js';
import { loadKekPassphrase } from '../../src/keys/kek-passphrase.js';
import { Kek } from '../../src/keys/kek-provider.js';
import { loadKek, selectKekSource } from '../../src/keys/kek-source.js';
import { bytes32, codeOf, codeOfSync, seqRandom, tmp, writeSecret } from './helpers.js';

const FAST: Partial<Pick<KdfParams, 'iterations' | 'memoryKib' | 'parallelism'>> = { iterations: KDF_MIN_ITERATIONS, memoryKib: KDF_MIN_MEMORY_KIB, parallelism: 1 };

describe('KM-2 key file source', () => {
  it('KM-2: a 32-byte file with mode 0600 or 0400 loads; wrap then unwrap round-trips a DEK', async () => {
    const d = tmp();
    for (const mode of [0o600, 0o400]) {
      const kek = await loadKekFile(writeSecret(d, `k${mode}`, bytes32(5), mode));
      expect(kek.name()).toBe('file');
      const dek = bytes32(9);
      expect(Buffer.from(await kek.unwrap(await kek.wrap(dek))).equals(Buffer.from(dek))).toBe(true);
      // Same bytes as a KEK built directly: it really is the file's content.
      expect(Buffer.from(Kek.fromBytes('file', bytes32(5)).unwrapSync(kek.wrapSync(dek))).equals(Buffer.from(dek))).toBe(true);
    }
  });

  it('KM-2: mode 0644 is INSECURE_KEK_FILE (also 0640, 0604)', async () => {
    const d = tmp();
    for (const mode of [0o644, 0o640, 0o604]) {
      expect(await codeOf(() => loadKekFile(writeSecret(d, `k${mode}`, bytes32(5), mode)))).toBe('INSECURE_KEK_FILE');
    }
  });

  it('KM-2: 31 bytes, 33 bytes, a directory, a missing path are KEK_INVALID', async () => {
    const d = tmp();
    expect(await codeOf(() => loadKekFile(writeSecret(d, 'short', new Uint8Array(31))))).toBe('KEK_INVALID');
    expect(await codeOf(() => loadKekFile(writeSecret(d, 'long', new Uint8Array(33))))).toBe('KEK_INVALID');
    expect(await codeOf(() => loadKekFile(writeSecret(d, 'empty', new Uint8Array(0))))).toBe('KEK_INVALID');
    const sub = join(d, 'dir');
    mkdirSync(sub, { mode: 0o700 });
    expect(await codeOf(() => loadKekFile(sub))).toBe('KEK_INVALID');
    expect(await codeOf(() => loadKekFile(join(d, 'absent')))).toBe('KEK_INVALID');
  });

  it('KM-2: the path may be a symlink to a private regular file ("resolves to")', async () => {
    const d = tmp();
    const target = writeSecret(d, 'real', bytes32(5));
    const link = join(d, 'link');
    symlinkSync(target, link);
    expect((await loadKekFile(link)).name()).toBe('file');
  });

  it('OP-4: an insecure 31-byte file reports INSECURE_KEK_FILE first', async () => {
    expect(await codeOf(() => loadKekFile(writeSecret(tmp(), 'k', new Uint8Array(31), 0o644)))).toBe('INSECURE_KEK_FILE');
  });
});

describe('KM-2 environment source', () => {
  it('KM-2: decodes base64 of 32 bytes and deletes the variable', () => {
    const env: NodeJS.ProcessEnv = { SEALKV_KEK_B64: Buffer.from(bytes32(6)).toString('base64') };
    const kek = loadKekEnv('SEALKV_KEK_B64', env);
    expect(kek.name()).toBe('env');
    expect(env.SEALKV_KEK_B64).toBeUndefined();
    expect(Object.hasOwn(env, 'SEALKV_KEK_B64')).toBe(false);
  });

  it('KM-2: after start with --kek-env SEALKV_KEK_B64, process.env.SEALKV_KEK_B64 is undefined (default env)', () => {
    process.env.SEALKV_KEK_B64_TEST = Buffer.from(bytes32(6)).toString('base64');
    loadKekEnv('SEALKV_KEK_B64_TEST');
    expect(process.env.SEALKV_KEK_B64_TEST).toBeUndefined();
  });

  it('KM-2: unset, empty, bad base64, wrong length are KEK_INVALID and the variable is deleted anyway', () => {
    const cases: (string | undefined)[] = [undefined, '', 'not base64!!', Buffer.from(new Uint8Array(31)).toString('base64'), `${Buffer.from(bytes32(1)).toString('base64')}\n`, Buffer.from(bytes32(1)).toString('base64url').replace(/=+$/, '')];
    for (const v of cases) {
      const env: NodeJS.ProcessEnv = v === undefined ? {} : { K: v };
      expect(codeOfSync(() => loadKekEnv('K', env))).toBe('KEK_INVALID');
      expect(Object.hasOwn(env, 'K')).toBe(false);
    }
  });
});

describe('KM-2 passphrase source (Argon2id, hash-wasm)', () => {
  const kdf = createKdfParams(FAST, seqRandom(11));

  it('KM-2: two providers from the same passphrase and kek_kdf unwrap each other; a different salt gives KEK_UNWRAP_FAILED', async () => {
    const d = tmp();
    const a = await loadKekPassphrase(writeSecret(d, 'p1', 'correct horse battery staple\n'), async () => kdf);
    // Same passphrase without the trailing newline (one "\n" is stripped), and with "\r\n".
    const b = await loadKekPassphrase(writeSecret(d, 'p2', 'correct horse battery staple'), async () => kdf);
    const c = await loadKekPassphrase(writeSecret(d, 'p3', 'correct horse battery staple\r\n'), async () => kdf);
    expect(a.name()).toBe('passphrase');
    const dek = bytes32(8);
    expect(Buffer.from(await b.unwrap(await a.wrap(dek))).equals(Buffer.from(dek))).toBe(true);
    expect(Buffer.from(await a.unwrap(await c.wrap(dek))).equals(Buffer.from(dek))).toBe(true);
    const other = await loadKekPassphrase(writeSecret(d, 'p4', 'correct horse battery staple'), async () => createKdfParams(FAST, seqRandom(99)));
    expect(await codeOf(() => other.unwrap(a.wrapSync(dek)))).toBe('KEK_UNWRAP_FAILED');
  });

  it('KM-2: a passphrase shorter than 16 bytes (after the newline is removed) is KEK_INVALID', async () => {
    const d = tmp();
    expect(await codeOf(() => loadKekPassphrase(writeSecret(d, 'p', '123456789012345\n'), async () => kdf))).toBe('KEK_INVALID');
    // Only ONE newline is removed: 15 chars + "\n\n" keeps 16 bytes.
    expect(await codeOf(() => loadKekPassphrase(writeSecret(d, 'q', '123456789012345\n\n'), async () => kdf))).toBe('no error');
  });

  it('KM-2: no kek_kdf → KEK_KDF_PARAMS_MISSING; mode 0644 → INSECURE_KEK_FILE before anything is read from the sidecar', async () => {
    const d = tmp();
    expect(await codeOf(() => loadKekPassphrase(writeSecret(d, 'p', 'a long enough passphrase'), async () => undefined))).toBe('KEK_KDF_PARAMS_MISSING');
    let read = false;
    const code = await codeOf(() =>
      loadKekPassphrase(writeSecret(d, 'q', 'a long enough passphrase', 0o644), async () => {
        read = true;
        return kdf;
      }),
    );
    expect(code).toBe('INSECURE_KEK_FILE');
    expect(read).toBe(false);
  });

  it('KM-2: every kek_kdf parameter (salt, iterations, memory_kib, parallelism) and the passphrase change the derived KEK', async () => {
    const pass = new TextEncoder().encode('correct horse battery staple');
    const hex = async (p: Uint8Array, k: KdfParams) => Buffer.from(await deriveKek(p, k)).toString('hex');
    const base = await hex(pass, kdf);
    expect(base).toHaveLength(64);
    expect(await hex(pass, kdf)).toBe(base); // deterministic
    const variants = await Promise.all([
      hex(pass, { ...kdf, salt: createKdfParams(FAST, seqRandom(12)).salt }),
      hex(pass, { ...kdf, iterations: kdf.iterations + 1 }),
      hex(pass, { ...kdf, memoryKib: kdf.memoryKib + 1024 }),
      hex(pass, { ...kdf, parallelism: 2 }),
      hex(new TextEncoder().encode('correct horse battery staplf'), kdf),
    ]);
    expect(new Set([base, ...variants]).size).toBe(6);
  });

  it('KM-5: kek-params defaults are iterations 3, memory_kib 65536, parallelism 4 with a 16-byte salt; below the floor is refused', () => {
    const p = createKdfParams();
    expect([p.iterations, p.memoryKib, p.parallelism, p.salt.length, p.version, p.algorithm]).toEqual([3, 65536, 4, 16, 19, 'argon2id']);
    expect(() => createKdfParams({ iterations: 1 })).toThrow(RangeError);
    expect(() => createKdfParams({ memoryKib: 19455 })).toThrow(RangeError);
    expect(() => createKdfParams({ parallelism: 17 })).toThrow(RangeError);
    expect(Buffer.from(createKdfParams().salt).equals(Buffer.from(createKdfParams().salt))).toBe(false);
  });
});

describe('KM-1 source selection', () => {
  it('KM-1: more than one source is KEK_SOURCE_CONFLICT; none is null (KEK_REQUIRED_WITH_FLAG is decided in group A)', () => {
    expect(codeOfSync(() => selectKekSource(true, { kekFile: '/a', kekEnv: 'B' }))).toBe('KEK_SOURCE_CONFLICT');
    expect(codeOfSync(() => selectKekSource(true, { kekFile: '/a', kekPassphraseFile: '/b' }))).toBe('KEK_SOURCE_CONFLICT');
    expect(selectKekSource(true, {})).toBeNull();
    expect(selectKekSource(false, {})).toBeNull();
    expect(selectKekSource(true, { kekEnv: 'X' })).toEqual({ kind: 'env', name: 'X' });
  });

  it('OP-1: a KEK option without --encryption is a usage error', () => {
    expect(() => selectKekSource(false, { kekFile: '/a' })).toThrow(ConfigError);
    expect(codeOfSync(() => selectKekSource(false, { kekEnv: 'A' }))).toBe('USAGE');
  });

  it('KM-2: loadKek from env carries the tests-and-development warning', async () => {
    const env: NodeJS.ProcessEnv = { K: Buffer.from(bytes32(1)).toString('base64') };
    const r = await loadKek({ kind: 'env', name: 'K' }, { readKdf: async () => undefined, env });
    expect(r.warnings.join()).toMatch(/tests and development only/);
  });
});

describe('OP-5 the KEK handle never exposes key bytes', () => {
  it('OP-5: toString, JSON, util.inspect, format and own keys show only the source name', () => {
    const key = new Uint8Array(32).map((_, i) => 0xa0 + (i % 16));
    const kek = Kek.fromBytes('file', key);
    const hex = Buffer.from(key).toString('hex');
    const b64 = Buffer.from(key).toString('base64');
    const renderings = [
      String(kek),
      `${kek}`,
      JSON.stringify(kek),
      JSON.stringify({ kek }),
      inspect(kek, { showHidden: true, depth: 10 }),
      format('%o %O %j', kek, kek, kek),
      JSON.stringify(Object.entries(kek)),
      JSON.stringify(Object.getOwnPropertyNames(kek)),
    ];
    for (const r of renderings) {
      expect(r).not.toContain(hex);
      expect(r).not.toContain(b64);
      expect(r).not.toMatch(/160|a0a1a2/); // first byte value / hex run
    }
    expect(String(kek)).toBe('Kek(file)');
    expect(JSON.stringify(kek)).toBe('{"kek":"file"}');
    expect(Object.keys(kek)).toEqual([]);
    // structuredClone drops private state: the clone cannot unwrap anything.
    const clone = structuredClone(kek) as unknown as Record<string, unknown>;
    expect(Object.keys(clone)).toEqual([]);
  });

  it('KM-2: the handle copies the bytes it is given (zeroing the caller buffer does not change the KEK)', () => {
    const key = bytes32(4);
    const kek = Kek.fromBytes('file', key);
    const w = wrapDek(bytes32(4), bytes32(9));
    key.fill(0);
    expect(Buffer.from(kek.unwrapSync(w)).equals(Buffer.from(bytes32(9)))).toBe(true);
  });

  it('KM-2: a KEK of the wrong size is KEK_INVALID', () => {
    expect(codeOfSync(() => Kek.fromBytes('env', new Uint8Array(16)))).toBe('KEK_INVALID');
  });
});

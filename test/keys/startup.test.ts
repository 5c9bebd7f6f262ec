// OP-4 / KM-14: the start-up preflight (steps 1–3 and 6) refuses with exactly one code per fixture,
// in the OP-4 order, with a single-line message; a good start returns keys and pinned epochs.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { StartupRefusedError } from '../../src/errors.js';
import { isPersistedEpoch } from '../../src/keys/epochs.js';
import { createKdfParams, KDF_MIN_MEMORY_KIB } from '../../src/keys/kek-kdf.js';
import { Kek } from '../../src/keys/kek-provider.js';
import type { KekOptions } from '../../src/keys/kek-source.js';
import { emptySidecar, type Sidecar, serializeSidecar } from '../../src/keys/sidecar-schema.js';
import { SidecarStore } from '../../src/keys/sidecar-store.js';
import { type PreflightInput, runStartupPreflight } from '../../src/keys/startup.js';
import { bootstrappedSidecar, bytes32, seqRandom, tmp, writeSecret } from './helpers.js';

const KEK_BYTES = bytes32(0x42);
const kek = Kek.fromBytes('file', KEK_BYTES);

interface Fixture {
  raftId?: string;
  encryption?: boolean;
  kek?: 'file' | 'env' | 'both' | 'insecure' | 'short' | 'passphrase' | 'none';
  sidecar?: Sidecar | string | 'dir-as-file' | 'parent-is-file';
  explicitSidecar?: 'missing-dir';
  probeFails?: boolean;
}

async function preflight(f: Fixture) {
  const d = tmp();
  const dataDir = join(d, 'data');
  mkdirSync(dataDir);
  const keyDir = join(d, 'secrets');
  mkdirSync(keyDir, { mode: 0o700 });
  const env: NodeJS.ProcessEnv = { SEALKV_KEK_B64: Buffer.from(KEK_BYTES).toString('base64') };
  const opts: KekOptions = {};
  const o = opts as { kekFile?: string; kekEnv?: string; kekPassphraseFile?: string };
  switch (f.kek ?? 'file') {
    case 'file':
      o.kekFile = writeSecret(keyDir, 'kek', KEK_BYTES);
      break;
    case 'env':
      o.kekEnv = 'SEALKV_KEK_B64';
      break;
    case 'both':
      o.kekFile = writeSecret(keyDir, 'kek', KEK_BYTES);
      o.kekEnv = 'SEALKV_KEK_B64';
      break;
    case 'insecure':
      o.kekFile = writeSecret(keyDir, 'kek', KEK_BYTES, 0o644);
      break;
    case 'short':
      o.kekFile = writeSecret(keyDir, 'kek', new Uint8Array(31));
      break;
    case 'passphrase':
      o.kekPassphraseFile = writeSecret(keyDir, 'pass', 'a passphrase of some length\n');
      break;
    case 'none':
      break;
  }
  let store: SidecarStore;
  if (f.explicitSidecar === 'missing-dir') {
    store = SidecarStore.open(dataDir, join(d, 'missing', 'keys.json'));
  } else if (f.sidecar === 'parent-is-file') {
    writeFileSync(join(d, 'plainfile'), 'x');
    store = SidecarStore.open(dataDir, join(d, 'plainfile', 'keys.json'));
  } else {
    store = new SidecarStore(SidecarStore.defaultPath(dataDir), {
      defaultLocation: true,
      onProbeSync: f.probeFails ? () => { throw new Error('EINVAL'); } : undefined,
    });
  }
  if (f.sidecar === 'dir-as-file') {
    mkdirSync(store.path, { recursive: true });
  } else if (typeof f.sidecar === 'string' && f.sidecar !== 'parent-is-file') {
    mkdirSync(store.dir, { recursive: true });
    writeFileSync(store.path, f.sidecar, { mode: 0o600 });
  } else if (typeof f.sidecar === 'object') {
    await store.write(f.sidecar);
  }
  const input: PreflightInput = { raftId: f.raftId ?? 'n1', encryption: f.encryption ?? true, kekOptions: opts, sidecar: store, env };
  return { input, store, env, run: () => runStartupPreflight(input) };
}

async function refusalOf(f: Fixture): Promise<{ code: string; message: string }> {
  const { run } = await preflight(f);
  try {
    await run();
  } catch (e) {
    expect(e).toBeInstanceOf(StartupRefusedError);
    return { code: (e as StartupRefusedError).code, message: (e as Error).message };
  }
  return { code: 'started', message: '' };
}

const good = bootstrappedSidecar(kek, { epoch: 4 });
const corrupt = '{"version": 1, "raft_applied_index": ';
const withWrongKek = bootstrappedSidecar(Kek.fromBytes('file', bytes32(0x43)), { epoch: 4 });
const exhausted: Sidecar = (() => {
  const keys = new Map(good.keys);
  keys.set(good.active.raft, { ...keys.get(good.active.raft)!, localEpoch: 0xffff });
  return { ...good, keys };
})();

// One fixture per OP-4 row that the preflight owns (the group B rows are in startup-guards.test.ts).
const TABLE: [string, Fixture, string][] = [
  ['KM-14 step 1: an empty Raft id', { raftId: '' }, 'NODE_ID_INVALID'],
  ['KM-1: two KEK sources', { kek: 'both' }, 'KEK_SOURCE_CONFLICT'],
  ['KM-2: key file mode 0644', { kek: 'insecure' }, 'INSECURE_KEK_FILE'],
  ['KM-2: 31-byte key file', { kek: 'short' }, 'KEK_INVALID'],
  ['KM-2: passphrase without kek_kdf', { kek: 'passphrase', sidecar: emptySidecar() }, 'KEK_KDF_PARAMS_MISSING'],
  ['OP-4 A1: the sidecar cannot be stat-ed', { sidecar: 'parent-is-file' }, 'SIDECAR_IO'],
  ['OP-4 A2: a sidecar without --encryption', { encryption: false, kek: 'none', sidecar: good }, 'SIDECAR_PRESENT_WITHOUT_FLAG'],
  ['OP-4 A3/KM-1: --encryption without a KEK source', { kek: 'none' }, 'KEK_REQUIRED_WITH_FLAG'],
  ['OP-4 A3: KEK_REQUIRED_WITH_FLAG even if the sidecar is also corrupt', { kek: 'none', sidecar: corrupt }, 'KEK_REQUIRED_WITH_FLAG'],
  ['OP-4 A4/KM-6: a truncated sidecar', { sidecar: corrupt }, 'SIDECAR_MALFORMED'],
  ['OP-4 A4/KM-6: sidecar version 2', { sidecar: serializeSidecar(good).replace('"version": 1', '"version": 2') }, 'SIDECAR_VERSION'],
  ['OP-4 A4/KM-6: an unknown purpose', { sidecar: serializeSidecar(good).replace('"purpose": "raft"', '"purpose": "backup"') }, 'SIDECAR_PURPOSE'],
  ['OP-4 A5: a wrapped DEK that does not unwrap under this KEK', { sidecar: withWrongKek }, 'KEK_MISMATCH'],
  ['OP-4 A6/KM-10: active DEK at 0xFFFF', { sidecar: exhausted }, 'LOCAL_EPOCH_EXHAUSTED'],
  ['OP-4 A7: explicit --sidecar in a missing directory', { explicitSidecar: 'missing-dir' }, 'SIDECAR_DIR_MISSING'],
  ['OP-4 A7: the durability probe fails', { probeFails: true }, 'UNSUPPORTED_FILESYSTEM'],
];

describe('OP-4 start-up refusals (table-driven, one fixture per row)', () => {
  for (const [name, fixture, code] of TABLE) {
    it(`OP-4 ${code}: ${name}`, async () => {
      const r = await refusalOf(fixture);
      expect(r.code).toBe(code);
      // One clear line: the CLI prints "error: CODE: message" and exits 2.
      expect(r.message).not.toContain('\n');
      expect(r.message.length).toBeGreaterThan(10);
    });
  }

  it('OP-4: KEK_MISMATCH names the key_id and purpose of the lowest failing key', async () => {
    const r = await refusalOf({ sidecar: withWrongKek });
    expect(r.message).toMatch(/key_id 19088743 \(raft\)/);
  });

  it('OP-4 order: a conflicting source is reported before a corrupt sidecar; an insecure key file before a missing kek_kdf', async () => {
    expect((await refusalOf({ kek: 'both', sidecar: corrupt })).code).toBe('KEK_SOURCE_CONFLICT');
    expect((await refusalOf({ kek: 'insecure', sidecar: corrupt })).code).toBe('INSECURE_KEK_FILE');
    expect((await refusalOf({ sidecar: 'dir-as-file' })).code).toBe('SIDECAR_IO');
  });

  it('OP-1: a KEK option without --encryption is a usage error (exit 1), not a refusal', async () => {
    const { run } = await preflight({ encryption: false, kek: 'file' });
    await expect(run()).rejects.toMatchObject({ code: 'USAGE' });
  });

  it('KM-8/OP-4: a refused start (KEK_MISMATCH) does not bump the epochs on disk', async () => {
    const { run, store } = await preflight({ sidecar: withWrongKek });
    await expect(run()).rejects.toMatchObject({ code: 'KEK_MISMATCH' });
    expect((await store.read())!.keys.get(withWrongKek.active.raft)!.localEpoch).toBe(4);
  });
});

describe('KM-14 successful preflight', () => {
  it('KM-14/KM-8: a bootstrapped node hydrates every key, bumps and pins its epochs, and the sidecar on disk holds the bumped values', async () => {
    const s = bootstrappedSidecar(kek, { epoch: 4, extra: [[31337, 'storage']] });
    const { run, store } = await preflight({ sidecar: s });
    const r = await run();
    expect(r.encryption).toBe(true);
    expect(r.identity.raftId).toBe('n1');
    expect([...r.deks.keys()].sort((a, b) => a - b)).toEqual([31337, 19088743, 2882400001].sort((a, b) => a - b));
    expect(Buffer.from(r.deks.get(2882400001)!).equals(Buffer.from(bytes32(1)))).toBe(true);
    expect(r.pinned.storage).toEqual({ purpose: 'storage', nodeId16: r.identity.nodeId16, localEpoch: 5, keyId: 2882400001 });
    expect((await store.read())!.keys.get(19088743)!.localEpoch).toBe(5);
    expect(r.kek?.name()).toBe('file');
    expect(isPersistedEpoch(r.pinned.storage) && isPersistedEpoch(r.pinned.raft)).toBe(true);
  });

  it('KM-2/KM-14: --kek-env warns, is deleted from the environment, and a fresh node (no sidecar) pins epoch 0 without creating one', async () => {
    const { run, env, store } = await preflight({ kek: 'env' });
    const r = await run();
    expect(env.SEALKV_KEK_B64).toBeUndefined();
    expect(r.warnings.join('\n')).toMatch(/tests and development only/);
    expect(r.pinned.raft.localEpoch).toBe(0);
    expect(r.sidecar).toBeUndefined();
    expect(await store.exists()).toBe(false);
  });

  it('KM-2/KM-14: the passphrase source reads kek_kdf from the sidecar and the keys unwrap', async () => {
    const kdf = createKdfParams({ iterations: 2, memoryKib: KDF_MIN_MEMORY_KIB, parallelism: 1 }, seqRandom(5));
    // Build the sidecar with the KEK the passphrase derives to.
    const { deriveKek } = await import('../../src/keys/kek-kdf.js');
    const derived = Kek.fromBytes('passphrase', await deriveKek(new TextEncoder().encode('a passphrase of some length'), kdf));
    const s = { ...bootstrappedSidecar(derived, { epoch: 1 }), kekKdf: kdf };
    const { run } = await preflight({ kek: 'passphrase', sidecar: s });
    const r = await run();
    expect(r.kek?.name()).toBe('passphrase');
    expect(r.pinned.storage.localEpoch).toBe(2);
  });

  it('KM-14: encryption off and no sidecar starts with no KEK and epochs 0', async () => {
    const { run } = await preflight({ encryption: false, kek: 'none' });
    const r = await run();
    expect(r.encryption).toBe(false);
    expect(r.kek).toBeNull();
    expect(r.pinned.storage.localEpoch).toBe(0);
  });
});

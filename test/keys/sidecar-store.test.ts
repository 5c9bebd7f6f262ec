// KM-7 crash-durable sidecar writes, KM-5 file and directory modes, KM-6 on read, OP-4 group A
// step 7 (directory and durability probe).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createKdfParams } from '../../src/keys/kek-kdf.js';
import { emptySidecar, parseSidecar, type Sidecar, serializeSidecar } from '../../src/keys/sidecar-schema.js';
import { SidecarStore, WRITE_STEPS, type WriteStep } from '../../src/keys/sidecar-store.js';
import { bootstrappedSidecar, codeOf, seqRandom, testKek, tmp } from './helpers.js';

const OLD = bootstrappedSidecar(testKek(), { index: 100n, epoch: 4 });
const NEW: Sidecar = { ...OLD, raftAppliedIndex: 101n, storageEnvelopeActive: true, storageEnvelopeCutoverIndex: 101n };

function storeIn(dir: string, opts: ConstructorParameters<typeof SidecarStore>[1] = {}): SidecarStore {
  return new SidecarStore(join(dir, 'keys.json'), opts);
}

describe('KM-7 sidecar write protocol', () => {
  it('KM-7/KM-5: write then read round-trips; keys.json has mode 0600; no tmp file remains', async () => {
    const d = tmp();
    const s = storeIn(d);
    await s.write(OLD);
    expect(serializeSidecar((await s.read())!)).toBe(serializeSidecar(OLD));
    expect(statSync(s.path).mode & 0o777).toBe(0o600);
    expect(existsSync(s.tmpPath)).toBe(false);
  });

  it('KM-5: the default location creates <data-dir>/encryption with mode 0700', async () => {
    const dataDir = tmp();
    const s = SidecarStore.open(dataDir);
    expect(s.path).toBe(join(dataDir, 'encryption', 'keys.json'));
    await s.write(OLD);
    expect(statSync(join(dataDir, 'encryption')).mode & 0o777).toBe(0o700);
  });

  it('KM-7: the steps run in order: remove stale tmp, create, write, fsync, close, rename, directory fsync', async () => {
    const seen: string[] = [];
    const s = storeIn(tmp(), { onWriteStep: (step, phase) => void (phase === 'after' && seen.push(step)) });
    await s.write(OLD);
    expect(seen).toEqual([...WRITE_STEPS]);
  });

  it('KM-7: with directory fsync made to fail, the write returns UNSUPPORTED_FILESYSTEM and no tmp file remains', async () => {
    const d = tmp();
    const s = storeIn(d, {
      onWriteStep: (step, phase) => {
        if (step === 'fsync-dir' && phase === 'before') throw Object.assign(new Error('EINVAL'), { code: 'EINVAL' });
      },
    });
    expect(await codeOf(() => s.write(OLD))).toBe('UNSUPPORTED_FILESYSTEM');
    expect(readdirSync(d).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('KM-7: a failure injected at every other step returns SIDECAR_IO, leaves the old file intact, and no tmp file', async () => {
    for (const failAt of WRITE_STEPS) {
      if (failAt === 'fsync-dir') continue;
      for (const phase of ['before', 'after'] as const) {
        const d = tmp();
        await storeIn(d).write(OLD);
        const s = storeIn(d, {
          onWriteStep: (step, ph) => {
            if (step === failAt && ph === phase) throw Object.assign(new Error('EIO'), { code: 'EIO' });
          },
        });
        expect([failAt, phase, await codeOf(() => s.write(NEW))]).toEqual([failAt, phase, 'SIDECAR_IO']);
        const now = serializeSidecar((await storeIn(d).read())!);
        // Failing after the rename has happened leaves the new (complete) file; before it, the old one.
        const renamed = failAt === 'rename' && phase === 'after';
        expect([failAt, phase, now]).toEqual([failAt, phase, serializeSidecar(renamed ? NEW : OLD)]);
        expect([failAt, phase, existsSync(s.tmpPath)]).toEqual([failAt, phase, false]);
      }
    }
  });

  it('KM-7: a stale keys.json.tmp from a crashed write is removed and the write succeeds', async () => {
    const d = tmp();
    const s = storeIn(d);
    writeFileSync(s.tmpPath, 'garbage from a crash');
    await s.write(OLD);
    expect((await s.read())!.raftAppliedIndex).toBe(100n);
    expect(existsSync(s.tmpPath)).toBe(false);
  });

  it('KM-7: writes are serialised — concurrent writes complete in call order and the last one wins', async () => {
    const d = tmp();
    let inFlight = 0;
    let maxInFlight = 0;
    const s = storeIn(d, {
      onWriteStep: async (step, phase) => {
        if (step === 'remove-stale-tmp' && phase === 'before') maxInFlight = Math.max(maxInFlight, ++inFlight);
        if (step === 'fsync-dir' && phase === 'after') inFlight--;
        await new Promise((r) => setImmediate(r));
      },
    });
    const writes = [];
    for (let i = 0; i < 8; i++) writes.push(s.write({ ...OLD, raftAppliedIndex: BigInt(200 + i) }));
    await Promise.all(writes);
    expect(maxInFlight).toBe(1);
    expect((await s.read())!.raftAppliedIndex).toBe(207n);
  });

  it('KM-7: a failed write does not block the next one', async () => {
    const d = tmp();
    let fail = true;
    const s = storeIn(d, {
      onWriteStep: (step) => {
        if (fail && step === 'write') throw new Error('disk full');
      },
    });
    expect(await codeOf(() => s.write(OLD))).toBe('SIDECAR_IO');
    fail = false;
    await s.write(OLD);
    expect((await s.read())!.raftAppliedIndex).toBe(100n);
  });

  it('KM-7 step 1: an invalid sidecar is refused before anything touches the disk, and the caller object is not mutated', async () => {
    const d = tmp();
    const s = storeIn(d);
    await s.write(OLD);
    const bad: Sidecar = { ...OLD, active: { storage: 77, raft: OLD.active.raft } };
    const frozen = JSON.stringify(bad, (_, v) => (typeof v === 'bigint' ? v.toString() : v instanceof Map ? [...v.keys()] : v));
    expect(await codeOf(() => s.write(bad))).toBe('SIDECAR_ACTIVE_KEY_MISSING');
    expect(JSON.stringify(bad, (_, v) => (typeof v === 'bigint' ? v.toString() : v instanceof Map ? [...v.keys()] : v))).toBe(frozen);
    expect((await s.read())!.raftAppliedIndex).toBe(100n);
  });

  const main = join(import.meta.dirname, '../../dist/keys/sidecar-store.js');
  it('KM-7: SIGKILL at each step in turn always leaves a keys.json that validates and equals the old or the new contents', async (ctx) => {
    if (!existsSync(main)) ctx.skip('dist/keys not built (npm run build:ts)');
    const fixture = join(import.meta.dirname, 'fixtures/sidecar-crash.mjs');
    const oldText = serializeSidecar(OLD);
    const newText = serializeSidecar(NEW);
    const outcomes: string[] = [];
    // "after step i" is "before step i+1", so killing before every step and after the last covers every point.
    const points: [WriteStep, 'before' | 'after'][] = [...WRITE_STEPS.map((s): [WriteStep, 'before'] => [s, 'before']), ['fsync-dir', 'after']];
    for (const [step, phase] of points) {
      {
        const d = tmp();
        const path = join(d, 'keys.json');
        writeFileSync(path, oldText, { mode: 0o600 });
        const nextFile = join(d, 'next.json');
        writeFileSync(nextFile, newText);
        const r = spawnSync(process.execPath, [fixture, path, nextFile, step, phase], { encoding: 'utf8', timeout: 20_000 });
        expect([step, phase, r.signal, r.stderr]).toEqual([step, phase, 'SIGKILL', '']);
        const text = readFileSync(path, 'utf8');
        const s = parseSidecar(text); // validates
        expect(s.version).toBe(1);
        expect([oldText, newText]).toContain(text);
        outcomes.push(`${phase}:${step}=${text === newText ? 'new' : 'old'}`);
        // The next write (a restart) succeeds over whatever the crash left (a stale tmp file included).
        await new SidecarStore(path).write(NEW);
        expect(readFileSync(path, 'utf8')).toBe(newText);
        expect(existsSync(`${path}.tmp`)).toBe(false);
      }
    }
    // The switch from old to new happens exactly at the rename.
    expect(outcomes).toContain('before:rename=old');
    expect(outcomes).toContain('before:fsync-dir=new');
    expect(outcomes).toContain('after:fsync-dir=new');
  });
});

describe('KM-6 reads and OP-4 group A probes', () => {
  it('KM-6: a missing file reads as undefined; an edited file fails with its code; an unreadable path is SIDECAR_IO', async () => {
    const d = tmp();
    const s = storeIn(d);
    expect(await s.read()).toBeUndefined();
    expect(await s.exists()).toBe(false);
    writeFileSync(s.path, serializeSidecar(OLD).replace('"version": 1', '"version": 2'));
    expect(await s.exists()).toBe(true);
    expect(await codeOf(() => s.read())).toBe('SIDECAR_VERSION');
    writeFileSync(s.path, serializeSidecar(OLD).slice(0, 50));
    expect(await codeOf(() => s.read())).toBe('SIDECAR_MALFORMED');
    const asDir = new SidecarStore(join(d, 'dir-as-sidecar'));
    mkdirSync(asDir.path);
    expect(await codeOf(() => asDir.read())).toBe('SIDECAR_IO');
    expect(await codeOf(() => asDir.exists())).toBe('SIDECAR_IO');
    // A parent that is a file: stat fails with ENOTDIR, which is not "not found".
    writeFileSync(join(d, 'plain'), 'x');
    expect(await codeOf(() => new SidecarStore(join(d, 'plain', 'keys.json')).exists())).toBe('SIDECAR_IO');
  });

  it('KM-2: readKdf reads only kek_kdf (undefined without file or object)', async () => {
    const d = tmp();
    const s = storeIn(d);
    expect(await s.readKdf()).toBeUndefined();
    await s.write(emptySidecar());
    expect(await s.readKdf()).toBeUndefined();
    await s.write(emptySidecar(createKdfParams({}, seqRandom(2))));
    expect((await s.readKdf())?.memoryKib).toBe(65536);
    // Broken elsewhere, but kek_kdf readable: the provider does not validate the rest.
    const doc = JSON.parse(readFileSync(s.path, 'utf8'));
    doc.active.raft = 99;
    writeFileSync(s.path, JSON.stringify(doc));
    expect((await s.readKdf())?.iterations).toBe(3);
    doc.version = 3;
    writeFileSync(s.path, JSON.stringify(doc));
    expect(await codeOf(() => s.readKdf())).toBe('SIDECAR_VERSION');
  });

  it('OP-4 step 7: an explicit --sidecar in a missing directory is SIDECAR_DIR_MISSING; a failing probe is UNSUPPORTED_FILESYSTEM', async () => {
    const d = tmp();
    expect(await codeOf(() => SidecarStore.open(d, join(d, 'nope', 'keys.json')).probeDurability())).toBe('SIDECAR_DIR_MISSING');
    await SidecarStore.open(d, join(d, 'keys.json')).probeDurability();
    const failing = new SidecarStore(join(d, 'keys.json'), { onProbeSync: () => { throw new Error('EINVAL'); } });
    expect(await codeOf(() => failing.probeDurability())).toBe('UNSUPPORTED_FILESYSTEM');
    expect(readdirSync(d)).toEqual([]);
  });
});

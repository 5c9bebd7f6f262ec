// The durability contract: persist() (and ApplyBatch.commit) resolve only once the write is
// committed AND fsynced, so a vote or append acknowledgement sent after the promise resolves
// never depends on state that a crash can lose.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { ApplyStore } from '../../src/storage/apply-txn.js';
import { type StorageEnv, openStorageEnv } from '../../src/storage/env.js';
import { LmdbLogStorage } from '../../src/storage/log-store.js';
import { MetaStore } from '../../src/storage/meta-store.js';
import { bytes, killAfterAcks, range, tempDirs } from './helpers.js';

const here = dirname(fileURLToPath(import.meta.url));
const dirs = tempDirs();
const envs: StorageEnv[] = [];
afterEach(async () => {
  for (const e of envs.splice(0)) await e.close().catch(() => undefined);
  dirs.cleanup();
});

/** Replaces root.flushed with a gate the test opens, to observe what waits for the fsync. */
function gateFlush(env: StorageEnv): { open(): void; flushWaits: () => number } {
  let release!: () => void;
  const gate = new Promise<void>((r) => {
    release = r;
  });
  let waits = 0;
  const real = env.root.flushed;
  Object.defineProperty(env.root, 'flushed', {
    configurable: true,
    get() {
      waits++;
      return gate.then(() => real);
    },
  });
  return { open: () => release(), flushWaits: () => waits };
}

const tick = (): Promise<void> => new Promise((r) => setTimeout(r, 20));

describe('durability contract', () => {
  it('persist() resolves only after the fsync of its commit (overlappingSync)', async () => {
    const env = await openStorageEnv(dirs.make());
    envs.push(env);
    expect(env.overlappingSync).toBe(true);
    const log = LmdbLogStorage.open(env);
    const gate = gateFlush(env);
    let resolved = false;
    const p = log.persist({ entries: range(1, 3, 1), hardState: { term: 1, vote: 'n1', commit: 0 } }).then(() => {
      resolved = true;
    });
    await env.root.committed; // the transaction is committed (visible) ...
    await tick();
    expect(env.log.getCount()).toBe(3);
    expect(gate.flushWaits()).toBeGreaterThan(0);
    expect(resolved).toBe(false); // ... but not yet flushed: no acknowledgement may go out
    gate.open();
    await p;
    expect(resolved).toBe(true);
  });

  it('ApplyBatch.commit resolves only after the fsync too', async () => {
    const env = await openStorageEnv(dirs.make());
    envs.push(env);
    const store = new ApplyStore(env);
    const gate = gateFlush(env);
    let resolved = false;
    const p = store.begin().putKv(bytes('k'), bytes('v')).commit(1n).then(() => {
      resolved = true;
    });
    await env.root.committed;
    await tick();
    expect(resolved).toBe(false);
    expect(store.durableAppliedIndex()).toBe(0n);
    gate.open();
    await p;
    expect(store.durableAppliedIndex()).toBe(1n);
  });

  it('with overlappingSync off LMDB syncs inside the commit, and round trips still hold', async () => {
    const dir = dirs.make();
    const env = await openStorageEnv(dir, { overlappingSync: false });
    envs.push(env);
    const log = LmdbLogStorage.open(env);
    await log.persist({ entries: range(1, 5, 2), hardState: { term: 2, vote: null, commit: 5 } });
    await env.close();
    envs.splice(0);
    const env2 = await openStorageEnv(dir, { overlappingSync: false });
    envs.push(env2);
    expect(LmdbLogStorage.open(env2).lastIndex()).toBe(5);
  });

  it('every acknowledged append survives a SIGKILL right after the acknowledgement', async (ctx) => {
    const dist = join(here, '../../dist/storage/index.js');
    if (!existsSync(dist)) ctx.skip('dist/storage is not built (run `npx tsc -p tsconfig.json`; the child process needs compiled JS)');
    const dir = dirs.make();
    for (let round = 0; round < 3; round++) {
      const acked = await killAfterAcks(join(here, 'fixtures/durable-writer.mjs'), [dir], 5 + round * 7);
      const env = await openStorageEnv(dir);
      const log = LmdbLogStorage.open(env); // also re-checks every record's CRC
      expect(log.lastIndex()).toBeGreaterThanOrEqual(acked);
      expect(log.initialState().hardState.commit).toBeGreaterThanOrEqual(acked);
      expect(log.entries(acked, acked + 1, 1 << 20)[0].data.length).toBe(256);
      await env.close();
    }
  }, 30_000);

  it('an apply batch is atomic across a crash: after SIGKILL every key holds the durable applied index', async (ctx) => {
    const dist = join(here, '../../dist/storage/index.js');
    if (!existsSync(dist)) ctx.skip('dist/storage is not built (run `npx tsc -p tsconfig.json`; the child process needs compiled JS)');
    const dir = dirs.make();
    for (const delayMs of [150, 400, 250]) {
      const child = spawn(process.execPath, [join(here, 'fixtures/apply-writer.mjs'), dir, '2000'], { stdio: ['ignore', 'pipe', 'pipe'] });
      await new Promise<void>((resolve, reject) => {
        child.stdout.once('data', () => resolve());
        child.on('exit', (code) => reject(new Error(`child exited (${code}) before it was ready`)));
      });
      await new Promise((r) => setTimeout(r, delayMs)); // kill at an arbitrary point, mid-commit or not
      child.kill('SIGKILL');
      await new Promise((r) => (child.exitCode !== null || child.signalCode !== null ? r(null) : child.on('exit', r)));
      const env = await openStorageEnv(dir);
      const applied = new MetaStore(env.meta).appliedIndex();
      expect(applied).toBeGreaterThan(0n);
      let n = 0;
      for (const { value } of env.kv.getRange({})) {
        expect(Buffer.from(value).readBigUInt64BE(0)).toBe(applied);
        n++;
      }
      expect(n).toBe(2000);
      await env.close();
    }
  }, 30_000);
});

import { afterEach, describe, expect, it } from 'vitest';
import { LogCorruptError } from '../../src/errors.js';
import { crc32c } from '../../src/storage/crc32c.js';
import { type StorageEnv, openStorageEnv } from '../../src/storage/env.js';
import { decodeLogRecord, encodeLogRecord, logKey } from '../../src/storage/log-record.js';
import { LmdbLogStorage } from '../../src/storage/log-store.js';
import { bytes, entry, range, tempDirs } from './helpers.js';

const dirs = tempDirs();
const envs: StorageEnv[] = [];
async function env(dir: string): Promise<StorageEnv> {
  const e = await openStorageEnv(dir);
  envs.push(e);
  return e;
}
async function closeAll(): Promise<void> {
  for (const e of envs.splice(0)) await e.close().catch(() => undefined);
}
afterEach(async () => {
  await closeAll();
  dirs.cleanup();
});

/** Writes 1..10, then rewrites the raw stored bytes of entry 6 with `mutate`, closes. */
async function corruptEntry6(dir: string, mutate: (v: Uint8Array) => Uint8Array): Promise<void> {
  const e = await env(dir);
  const log = LmdbLogStorage.open(e);
  await log.persist({ entries: range(1, 10, 1) });
  const stored = e.log.get(logKey(6)) as Uint8Array;
  const damaged = mutate(new Uint8Array(stored));
  await e.durable(e.log.put(logKey(6), damaged));
  await closeAll();
}

function expectLogCorrupt(f: () => unknown, index: bigint): void {
  let err: unknown;
  try {
    f();
  } catch (x) {
    err = x;
  }
  expect(err).toBeInstanceOf(LogCorruptError);
  expect(err).toMatchObject({ code: 'LOG_CORRUPT', index });
  expect(String((err as Error).message)).toContain(`${index}`);
}

describe('log record CRC-32C', () => {
  it('uses CRC-32C (Castagnoli): "123456789" → e3069283', async () => {
    await openStorageEnv(dirs.make()).then((e) => envs.push(e)); // loads the hasher
    expect(crc32c(bytes('123456789')).toString(16)).toBe('e3069283');
  });

  it('record layout: term u64 BE ‖ type u8 ‖ data ‖ crc u32 BE over key ‖ preceding bytes', async () => {
    await openStorageEnv(dirs.make()).then((e) => envs.push(e));
    const rec = encodeLogRecord({ index: 7, term: 0x0102, type: 1, data: new Uint8Array([0xaa, 0xbb]) });
    expect(Buffer.from(rec.subarray(0, 11)).toString('hex')).toBe('000000000000010201aabb');
    const crc = crc32c(logKey(7), rec.subarray(0, 11));
    expect(Buffer.from(rec.subarray(11)).readUInt32BE(0)).toBe(crc);
    // Same bytes under another index fail: the key is covered.
    expectLogCorrupt(() => decodeLogRecord(8, rec), 8n);
  });

  it('a flipped byte in a stored entry is LOG_CORRUPT with its index on reopen', async () => {
    const dir = dirs.make();
    await corruptEntry6(dir, (v) => {
      v[10] ^= 0x01; // inside the data
      return v;
    });
    const e = await env(dir);
    expectLogCorrupt(() => LmdbLogStorage.open(e), 6n);
  });

  it('a flipped term byte is detected too (never a silent skip or a wrong term)', async () => {
    const dir = dirs.make();
    await corruptEntry6(dir, (v) => {
      v[7] ^= 0x80;
      return v;
    });
    const e = await env(dir);
    expectLogCorrupt(() => LmdbLogStorage.open(e), 6n);
  });

  it('a torn (truncated) record is LOG_CORRUPT with its index', async () => {
    for (const cut of [1, 4, 9]) {
      const dir = dirs.make();
      await corruptEntry6(dir, (v) => v.subarray(0, v.length - cut));
      const e = await env(dir);
      expectLogCorrupt(() => LmdbLogStorage.open(e), 6n);
      await closeAll();
    }
  });

  it('a missing entry (hole in the log) is LOG_CORRUPT at the missing index', async () => {
    const dir = dirs.make();
    const e = await env(dir);
    await LmdbLogStorage.open(e).persist({ entries: range(1, 5, 1) });
    await e.durable(e.log.remove(logKey(3)));
    await closeAll();
    const e2 = await env(dir);
    expectLogCorrupt(() => LmdbLogStorage.open(e2), 3n);
  });

  it('damage outside the entry cache is found when the entry is read', async () => {
    const dir = dirs.make();
    const e = await env(dir);
    const log = LmdbLogStorage.open(e, { cacheMaxEntries: 4 });
    for (let i = 1; i <= 30; i += 10) await log.persist({ entries: range(i, i + 9, 1) });
    const v = new Uint8Array(e.log.get(logKey(2)) as Uint8Array);
    v[9] ^= 0xff;
    await e.durable(e.log.put(logKey(2), v));
    expect(log.entries(3, 5, 1 << 20).length).toBe(2);
    expectLogCorrupt(() => log.entries(1, 5, 1 << 20), 2n);
    await log.persist({ entries: [entry(31, 1)] }); // the store stays usable for other entries
  });
});

// Issue 12: the per-key modification indexes WATCH decides on (`kvmod`) are state-machine state:
// committed with the apply batch, read through in-flight batches, kept across a restart, and
// carried by snapshots (a replica installing a snapshot must decide EXEC like the others).

import { describe, expect, it } from 'vitest';
import { ApplyStore } from '../../src/storage/apply-txn.js';
import { openStorageEnv } from '../../src/storage/env.js';
import { LmdbLogStorage } from '../../src/storage/log-store.js';
import { createSnapshotStream, installSnapshot } from '../../src/storage/snapshot.js';
import { bytes, range, testEnvs } from './helpers.js';

const { dirs, env } = testEnvs();

const u64 = (n: bigint): Uint8Array => {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, n, false);
  return b;
};

describe('kvmod table (issue 12, WATCH)', () => {
  it('is committed with the apply batch, visible while in flight, and survives a restart', async () => {
    const dir = dirs.make();
    const e = await openStorageEnv(dir);
    const store = new ApplyStore(e);
    const p = store.commitBatch(
      [
        { table: 'kv', key: bytes('k'), value: bytes('v') },
        { table: 'kvmod', key: bytes('k'), value: u64(7n) },
        { table: 'kvmod', key: bytes('gone'), value: u64(6n) },
      ],
      7n,
    );
    expect(store.get('kvmod', bytes('k'))).toEqual(u64(7n)); // read-your-writes before the commit lands
    await p;
    await e.close();
    const again = await env(dir);
    const reopened = new ApplyStore(again);
    expect(Buffer.from(reopened.get('kvmod', bytes('k'))!)).toEqual(Buffer.from(u64(7n)));
    expect(Buffer.from(reopened.get('kvmod', bytes('gone'))!)).toEqual(Buffer.from(u64(6n)));
    expect(reopened.get('kvmod', bytes('never'))).toBeUndefined();
  });

  it('a kvmod value that is not 8 bytes is refused before anything is written', async () => {
    const store = new ApplyStore(await env());
    await expect(store.commitBatch([{ table: 'kvmod', key: bytes('k'), value: new Uint8Array(7) }], 1n)).rejects.toMatchObject({
      code: 'KVMOD_VALUE_MALFORMED',
    });
    expect(store.get('kvmod', bytes('k'))).toBeUndefined();
  });

  it('is carried by a snapshot and replaces the target table on install', async () => {
    const src = await env();
    await LmdbLogStorage.open(src).persist({ entries: range(1, 12, 3) });
    await new ApplyStore(src).commitBatch(
      [
        { table: 'kv', key: bytes('a'), value: bytes('x') },
        { table: 'kvmod', key: bytes('a'), value: u64(11n) },
        { table: 'kvmod', key: bytes('deleted'), value: u64(12n) },
      ],
      12n,
    );
    const chunks: Uint8Array[] = [];
    for await (const c of createSnapshotStream(src).chunks) chunks.push(new Uint8Array(c));

    const dst = await env();
    await new ApplyStore(dst).commitBatch([{ table: 'kvmod', key: bytes('stale'), value: u64(2n) }], 2n);
    async function* stream(): AsyncGenerator<Uint8Array> {
      yield* chunks;
    }
    await installSnapshot(dst, stream());
    const rows = [...dst.kvmod.getRange({})].map(({ key, value }) => [Buffer.from(key).toString(), Buffer.from(value).readBigUInt64BE()]);
    expect(rows).toEqual([
      ['a', 11n],
      ['deleted', 12n],
    ]);
  });
});

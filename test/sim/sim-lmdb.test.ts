// Issue 14 item 2: the in-memory LMDB environment under the real ApplyStore — a crash keeps a
// prefix of the committed transactions (never a torn one) and at least everything flushed.
import { describe, expect, it } from 'vitest';
import { mulberry32 } from '../../src/prng.js';
import { runUntil } from '../../src/sim/drive.js';
import { RELIABLE_LMDB, SimLmdb } from '../../src/sim/sim-lmdb.js';
import { VirtualScheduler } from '../../src/sim/virtual-scheduler.js';
import { ApplyStore, createSnapshotStream, installSnapshot } from '../../src/storage/index.js';

const key = (i: number) => new TextEncoder().encode(`k${String(i).padStart(4, '0')}`);

describe('SimLmdb (issue 14)', () => {
  it('after a crash at a random moment: applied index A, exactly the writes of 1..A, and A ≥ the synced index', async () => {
    let lostSome = 0;
    for (let seed = 1; seed <= 40; seed++) {
      const rand = mulberry32(seed);
      const s = new VirtualScheduler();
      const disk = new SimLmdb(s, rand, { ...RELIABLE_LMDB, maxSyncMs: 5 });
      const store = new ApplyStore(disk.open('/n1/db'), false);
      const n = 30;
      for (let i = 1; i <= n; i++) {
        const b = store.begin();
        b.putKv(key(i), new Uint8Array([i]));
        if (i > 1 && i % 3 === 0) b.deleteKv(key(i - 1));
        void b.commit(BigInt(i)).catch(() => undefined);
        // Let some commits land and some flushes run between batches.
        await runUntil(s, s.elapsed() + rand() * 3);
      }
      const synced = store.syncedAppliedIndex();
      disk.crash();
      const after = new ApplyStore(disk.open('/n1/db'), false);
      const a = Number(after.appliedIndex());
      expect(a).toBeGreaterThanOrEqual(Number(synced));
      if (a < n) lostSome++;
      for (let i = 1; i <= n; i++) {
        const deleted = i % 3 === 2 && i + 1 <= a;
        const want = i <= a && !deleted ? new Uint8Array([i]) : undefined;
        const got = after.getKv(key(i));
        expect(got === undefined ? undefined : new Uint8Array(got)).toEqual(want);
      }
    }
    expect(lostSome).toBeGreaterThan(0);
  }, 60_000);

  it('an injected commit failure surfaces as the store error the apply pipeline HALTs on', async () => {
    const s = new VirtualScheduler();
    const disk = new SimLmdb(s, mulberry32(1), { ...RELIABLE_LMDB, commitError: 1 });
    const store = new ApplyStore(disk.open('/n1/db'), false);
    const b = store.begin();
    b.putKv(key(1), new Uint8Array([1]));
    const r = b.commit(1n).catch((e: { code?: string }) => e.code);
    await runUntil(s, 100);
    expect(await r).toBe('STORAGE_IO');
    expect(disk.counters.commitErrors).toBe(1);
  });

  it('a read transaction is a frozen view; the process of a crashed environment can write nothing', async () => {
    const s = new VirtualScheduler();
    const disk = new SimLmdb(s, mulberry32(2));
    const env = disk.open('/n1/db');
    env.kv.putSync(key(1), new Uint8Array([1]));
    const txn = env.root.useReadTransaction();
    env.kv.putSync(key(2), new Uint8Array([2]));
    expect([...env.kv.getRange({ transaction: txn })].length).toBe(1);
    expect([...env.kv.getRange({})].length).toBe(2);
    txn.done();
    disk.crash();
    expect(() => env.kv.putSync(key(3), new Uint8Array([3]))).toThrow(/ENV_CLOSED/);
  });
});

describe('SimLmdb under the real snapshot code (issue 14)', () => {
  it('a crash at any moment of a snapshot install leaves the old state or the new one, never a mix', async () => {
    const outcomes = { old: 0, new: 0 };
    for (let seed = 1; seed <= 40; seed++) {
      const rand = mulberry32(seed);
      const s = new VirtualScheduler();
      const src = new SimLmdb(s, rand).open('/src/db');
      const srcStore = new ApplyStore(src);
      const installed = srcStore.commitBatch(
        [
          { table: 'kv', key: key(1), value: new Uint8Array([10]) },
          { table: 'kv', key: key(2), value: new Uint8Array([20]) },
        ],
        12n,
      );
      await runUntil(s, 100);
      await installed;
      const chunks: Uint8Array[] = [];
      const stream = createSnapshotStream(src, { termOf: () => 1 });
      for await (const c of stream.chunks) chunks.push(new Uint8Array(c));

      const disk = new SimLmdb(s, rand, { ...RELIABLE_LMDB, maxSyncMs: 4 });
      const dst = disk.open('/dst/db');
      const old = new ApplyStore(dst).commitBatch([{ table: 'kv', key: key(3), value: new Uint8Array([30]) }], 2n);
      await runUntil(s, s.elapsed() + 100);
      await old;
      async function* source(): AsyncGenerator<Uint8Array> {
        yield* chunks;
      }
      void installSnapshot(dst, source()).catch(() => undefined);
      // Crash after a random number of events of the install.
      const budget = Math.floor(rand() * 12);
      let n = 0;
      await runUntil(s, s.elapsed() + 1000, () => n++ >= budget);
      disk.crash();
      const after = new ApplyStore(disk.open('/dst/db'));
      const kv = [1, 2, 3].map((i) => after.getKv(key(i))?.[0]);
      if (after.appliedIndex() === 12n) {
        outcomes.new++;
        expect(kv).toEqual([10, 20, undefined]);
      } else {
        outcomes.old++;
        expect(after.appliedIndex()).toBe(2n);
        expect(kv).toEqual([undefined, undefined, 30]);
      }
    }
    expect(outcomes.old).toBeGreaterThan(0);
    expect(outcomes.new).toBeGreaterThan(0);
  }, 60_000);
});

// Issue 14 item 2: the real WAL on the simulated disk (wal-fs.ts swapped to SimFs). Whatever the
// crash cuts, recovery yields a prefix of what was persisted that holds at least every entry
// whose persist resolved — across rollovers, both sync modes and both preallocations.
import { constants } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { mulberry32 } from '../../src/prng.js';
import { runUntil } from '../../src/sim/drive.js';
import { RELIABLE_DISK, SimDisk } from '../../src/sim/sim-disk.js';
import { SimFs } from '../../src/sim/sim-fs.js';
import { VirtualScheduler } from '../../src/sim/virtual-scheduler.js';
import { loadCrc32c } from '../../src/storage/crc32c.js';
import { setWalFs } from '../../src/storage/wal/wal-fs.js';
import { WalLogStorage, type WalOptions } from '../../src/storage/wal/index.js';
import { range, text } from '../storage/helpers.js';

afterEach(() => setWalFs(null));

async function crashRun(seed: number, opts: WalOptions, broken = false): Promise<{ acked: number; recovered: number; submitted: number; rollovers: number }> {
  // One-time real initialisation (the checksum module) before virtual time starts.
  await loadCrc32c();
  const rand = mulberry32(seed);
  const s = new VirtualScheduler();
  const disk = new SimDisk(s, rand, { ...RELIABLE_DISK, minLatencyMs: 0, maxLatencyMs: 3 });
  disk.mkdirp('/n1');
  const fs = new SimFs(new Map([['n1', disk]]));
  const real = fs.fs();
  // `broken`: a WAL that acknowledges before durability (its O_DSYNC flag lost) — the check must catch it.
  setWalFs(broken ? { ...real, openSync: ((p: string, f: number) => real.openSync(p, f & ~constants.O_DSYNC)) as typeof real.openSync } : real);
  const walOpts: WalOptions = { segmentBytes: 4096, ...opts };
  const opening = WalLogStorage.open('/n1/wal', walOpts);
  let wal: WalLogStorage | null = null;
  let openFailed: unknown = null;
  void opening.then(
    (w) => {
      wal = w;
    },
    (e) => {
      openFailed = e;
    },
  );
  await runUntil(s, 1000, () => wal !== null || openFailed !== null);
  if (openFailed !== null) throw openFailed;
  expect(wal).not.toBeNull();
  const w = wal as unknown as WalLogStorage;
  let acked = 0;
  let next = 1;
  const crashAt = 20 + Math.floor(rand() * 200);
  while (s.elapsed() < crashAt) {
    const n = 1 + Math.floor(rand() * 8);
    const last = next + n - 1;
    void w.persist({ entries: range(next, last, 1), hardState: { term: 1, vote: '', commit: 0 } }).then(
      () => {
        acked = Math.max(acked, last);
      },
      () => undefined,
    );
    next = last + 1;
    await runUntil(s, s.elapsed() + rand() * 4);
  }
  const rollovers = w.stats().rollovers;
  disk.crash();
  fs.dropDisk(disk);
  let reopened: WalLogStorage | null = null;
  let failed: unknown = null;
  void WalLogStorage.open('/n1/wal', walOpts).then(
    (r) => {
      reopened = r;
    },
    (e) => {
      failed = e;
    },
  );
  await runUntil(s, s.elapsed() + 1000, () => reopened !== null || failed !== null);
  if (failed !== null) throw failed;
  const r = reopened as unknown as WalLogStorage;
  const lastIndex = r.lastIndex();
  if (lastIndex > 0) {
    const got = r.entries(r.firstIndex(), lastIndex + 1, Number.MAX_SAFE_INTEGER);
    expect(got.map((e) => text(e.data))).toEqual(range(r.firstIndex(), lastIndex, 1).map((e) => text(e.data)));
  }
  return { acked, recovered: lastIndex, submitted: next - 1, rollovers };
}

describe('the real WAL on SimDisk (issue 14)', () => {
  it.each([
    ['odsync, zero-filled segments', { sync: 'odsync', preallocate: 'zero' }],
    ['fdatasync, zero-filled segments', { sync: 'fdatasync', preallocate: 'zero' }],
    ['odsync, no preallocation', { sync: 'odsync', preallocate: 'none' }],
  ] as const)('%s: recovery keeps every acknowledged entry and only a clean prefix', async (_name, opts) => {
    let lost = 0;
    let acks = 0;
    let rolled = 0;
    for (let seed = 1; seed <= 15; seed++) {
      const r = await crashRun(seed, opts);
      expect(r.recovered).toBeGreaterThanOrEqual(r.acked);
      expect(r.recovered).toBeLessThanOrEqual(r.submitted);
      if (r.recovered < r.submitted) lost++;
      acks += r.acked;
      rolled += r.rollovers;
    }
    // The runs are not vacuous: writes were acknowledged, segments rolled over, and crashes
    // cut writes that were still in flight.
    expect(acks).toBeGreaterThan(0);
    expect(rolled).toBeGreaterThan(0);
    expect(lost).toBeGreaterThan(0);
  }, 60_000);

  it('catches a WAL that acknowledges writes before they are durable (O_DSYNC dropped)', async () => {
    const caught: number[] = [];
    for (let seed = 1; seed <= 15; seed++) {
      // Caught either way: acknowledged entries missing, or recovery refusing the damaged log.
      const r = await crashRun(seed, { sync: 'odsync', preallocate: 'zero' }, true).catch((e: { code?: string }) => e.code ?? 'error');
      if (typeof r === 'string' || r.recovered < r.acked) caught.push(seed);
    }
    expect(caught.length).toBeGreaterThan(0);
  }, 60_000);
});

// Issue 14 item 2: the simulated disk's crash model, injected errors and latency.
import { describe, expect, it } from 'vitest';
import { mulberry32 } from '../../src/prng.js';
import { runUntil } from '../../src/sim/drive.js';
import { type DiskFaults, RELIABLE_DISK, SimDisk } from '../../src/sim/sim-disk.js';
import { VirtualScheduler } from '../../src/sim/virtual-scheduler.js';

function disk(seed: number, faults: Partial<DiskFaults> = {}) {
  const s = new VirtualScheduler();
  const d = new SimDisk(s, mulberry32(seed), { ...RELIABLE_DISK, ...faults });
  d.mkdirp('/n1/wal');
  // Runs one async step of the "process" to completion on virtual time.
  const run = async <T>(p: Promise<T>): Promise<T> => {
    let out: { v: T } | { e: unknown } | null = null;
    p.then(
      (v) => {
        out = { v };
      },
      (e) => {
        out = { e };
      },
    );
    await runUntil(s, s.elapsed() + 10_000, () => out !== null);
    const o = out as { v: T } | { e: unknown } | null;
    if (o === null) throw new Error('call never completed');
    if ('e' in o) throw o.e;
    return o.v;
  };
  return { s, d, run };
}

const bytes = (n: number, v: number) => new Uint8Array(n).fill(v);

describe('SimDisk (issue 14)', () => {
  it('synced data and a synced name survive every crash; readers see unsynced data before it', async () => {
    for (let seed = 1; seed <= 50; seed++) {
      const { d, run } = disk(seed);
      const fd = await run(d.open('/n1/wal/a', { create: true }));
      await run(d.writev(fd, [bytes(1000, 1)], 0));
      await run(d.fdatasync(fd));
      await run(d.fsyncDir('/n1/wal'));
      await run(d.writev(fd, [bytes(1000, 2)], 1000));
      expect((await run(d.readFile('/n1/wal/a'))).length).toBe(2000);
      d.crash();
      const after = await run(d.readFile('/n1/wal/a'));
      expect(after.subarray(0, 1000)).toEqual(bytes(1000, 1));
      // The unsynced tail: absent, whole, or torn at sector granularity — never other bytes.
      expect(after.length).toBeGreaterThanOrEqual(1000);
      expect(after.length).toBeLessThanOrEqual(2000);
      expect(after.subarray(1000).filter((b) => b !== 0 && b !== 2).length).toBe(0);
    }
  }, 60_000);

  it('unsynced writes are lost, kept and torn across seeds (all three fates occur)', async () => {
    const { d, run } = disk(11);
    let torn = 0;
    for (let round = 0; round < 40; round++) {
      const p = `/n1/wal/f${round}`;
      const fd = await run(d.open(p, { create: true }));
      await run(d.fdatasync(fd));
      await run(d.fsyncDir('/n1/wal'));
      await run(d.writev(fd, [bytes(4096, 7)], 0));
      d.crash();
      const after = await run(d.readFile(p));
      const sevens = after.filter((b) => b === 7).length;
      if (sevens > 0 && sevens < 4096) torn++;
    }
    expect(d.counters.writesKept).toBeGreaterThan(0);
    expect(d.counters.writesLost).toBeGreaterThan(0);
    expect(d.counters.writesTorn).toBeGreaterThan(0);
    expect(torn).toBeGreaterThan(0);
  });

  it('a file synced with fdatasync but whose directory was never synced can vanish at a crash', async () => {
    let vanished = 0;
    let kept = 0;
    for (let seed = 1; seed <= 40; seed++) {
      const { d, run } = disk(seed);
      const fd = await run(d.open('/n1/wal/new', { create: true }));
      await run(d.writev(fd, [bytes(10, 3)], 0));
      await run(d.fdatasync(fd));
      d.crash();
      if (d.exists('/n1/wal/new')) {
        kept++;
        expect(await run(d.readFile('/n1/wal/new'))).toEqual(bytes(10, 3));
      } else vanished++;
    }
    expect(vanished).toBeGreaterThan(0);
    expect(kept).toBeGreaterThan(0);
  });

  it('a rename is atomic: after a crash exactly one of the old and new names holds the file', async () => {
    for (let seed = 1; seed <= 30; seed++) {
      const { d, run } = disk(seed);
      const fd = await run(d.open('/n1/wal/tmp', { create: true }));
      await run(d.writev(fd, [bytes(10, 5)], 0));
      await run(d.fdatasync(fd));
      await run(d.fsyncDir('/n1/wal'));
      await run(d.rename('/n1/wal/tmp', '/n1/wal/final'));
      d.crash();
      expect(Number(d.exists('/n1/wal/tmp')) + Number(d.exists('/n1/wal/final'))).toBe(1);
    }
  });

  it('injected EIO and latency come from the seed; calls in flight at a crash never complete', async () => {
    const { s, d, run } = disk(5, { ioError: { sync: 1 }, minLatencyMs: 2, maxLatencyMs: 9 });
    const fd = await run(d.open('/n1/wal/x', { create: true }));
    expect(s.elapsed()).toBeGreaterThanOrEqual(2);
    await expect(run(d.fdatasync(fd))).rejects.toMatchObject({ code: 'EIO' });
    expect(d.counters.ioErrors).toBe(1);
    let settled = false;
    void d.writev(fd, [bytes(1, 1)], 0).finally(() => {
      settled = true;
    });
    d.crash();
    await runUntil(s, s.elapsed() + 100);
    expect(settled).toBe(false);
  });
});

describe('SimDisk O_DSYNC and synchronous calls (issue 14)', () => {
  it('a write on an O_DSYNC descriptor survives every crash once complete (the name still needs its directory sync)', async () => {
    for (let seed = 1; seed <= 30; seed++) {
      const { d, run } = disk(seed);
      const fd = d.sync.open('/n1/wal/seg', { create: true, dsync: true });
      await run(d.fsyncDir('/n1/wal'));
      d.sync.write(fd, [bytes(700, 9)], 0);
      await run(d.writev(fd, [bytes(100, 8)], 700));
      d.crash();
      const after = d.sync.readFile('/n1/wal/seg');
      expect(after).toEqual(new Uint8Array([...bytes(700, 9), ...bytes(100, 8)]));
    }
  });

  it('synchronous calls take no virtual time and fail by injection like the async ones', () => {
    const { s, d } = disk(3, { ioError: { read: 1 } });
    const fd = d.sync.open('/n1/wal/r', { create: true });
    d.sync.write(fd, [bytes(4, 1)], 0);
    d.sync.fdatasync(fd);
    expect(s.elapsed()).toBe(0);
    expect(() => d.sync.read(fd, 0, 4)).toThrow(/EIO/);
    d.sync.close(fd);
    expect(d.openFds()).toBe(0);
  });
});

import { closeSync, openSync, readSync, readdirSync, writeSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { CompactedError, UnavailableError } from '../../../src/raft/errors.js';
import { EntryType } from '../../../src/raft/types.js';
import { openStorageEnv } from '../../../src/storage/env.js';
import { LmdbLogStorage } from '../../../src/storage/log-store.js';
import { type DurableLog, WalLogStorage, type WalOptions } from '../../../src/storage/wal/index.js';
import { entry, range, tempDirs, text } from '../helpers.js';

const dirs = tempDirs();
const open: WalLogStorage[] = [];
async function wal(dir: string, opts: WalOptions = {}): Promise<WalLogStorage> {
  const w = await WalLogStorage.open(dir, { preallocate: 'truncate', segmentBytes: 65536, ...opts });
  open.push(w);
  return w;
}
async function reopen(w: WalLogStorage, opts: WalOptions = {}): Promise<WalLogStorage> {
  await w.close();
  return wal(w.dir, opts);
}
afterEach(async () => {
  for (const w of open.splice(0)) await w.close().catch(() => undefined);
  dirs.cleanup();
});

const segments = (dir: string): string[] => readdirSync(dir).filter((n) => n.endsWith('.wal')).sort();

describe('WAL log storage', () => {
  it('WAL-1 a fresh WAL is empty and survives reopen empty', async () => {
    let w = await wal(dirs.make());
    expect([w.firstIndex(), w.lastIndex(), w.term(0)]).toEqual([1, 0, 0]);
    expect(w.initialState().hardState).toEqual({ term: 0, vote: null, commit: 0 });
    w = await reopen(w);
    expect([w.firstIndex(), w.lastIndex()]).toEqual([1, 0]);
    expect(segments(w.dir)).toEqual(['0000000000000001.wal']);
  });

  it('WAL-2 appended entries and hard state are read back, before and after reopen', async () => {
    let w = await wal(dirs.make());
    await w.persist({ entries: range(1, 10, 1), hardState: { term: 1, vote: 'n2', commit: 4 } });
    await w.persist({ entries: [{ index: 11, term: 2, type: EntryType.ConfChange, data: new Uint8Array([7, 8]) }] });
    const check = (x: WalLogStorage): void => {
      expect([x.firstIndex(), x.lastIndex(), x.term(10), x.term(11)]).toEqual([1, 11, 1, 2]);
      expect(x.entries(1, 12, 1 << 20).map((e) => e.index)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
      expect(text(x.entries(5, 6, 0)[0].data)).toBe('e5t1');
      const cc = x.entries(11, 12, 0)[0];
      expect([cc.index, cc.term, cc.type, [...cc.data]]).toEqual([11, 2, EntryType.ConfChange, [7, 8]]);
      expect(x.hardState()).toEqual({ term: 1, vote: 'n2', commit: 4 });
    };
    check(w);
    w = await reopen(w);
    check(w);
  });

  it('WAL-3 out-of-range reads throw the LogStorage errors', async () => {
    const w = await wal(dirs.make());
    await w.persist({ entries: range(1, 5, 1) });
    await w.compact(2);
    expect(() => w.term(1)).toThrow(CompactedError);
    expect(w.term(2)).toBe(1);
    expect(() => w.term(6)).toThrow(UnavailableError);
    expect(() => w.entries(2, 4, 100)).toThrow(CompactedError);
    expect(() => w.entries(3, 7, 100)).toThrow(UnavailableError);
  });

  it('WAL-4 a conflicting suffix is replaced, and stays replaced after reopen', async () => {
    let w = await wal(dirs.make());
    await w.persist({ entries: range(1, 10, 1) });
    await w.persist({ entries: range(6, 7, 2) });
    expect(w.lastIndex()).toBe(7);
    expect(w.entries(5, 8, 1 << 20).map((e) => [e.index, e.term])).toEqual([[5, 1], [6, 2], [7, 2]]);
    w = await reopen(w);
    expect(w.lastIndex()).toBe(7);
    expect(w.entries(5, 8, 1 << 20).map((e) => text(e.data))).toEqual(['e5t1', 'e6t2', 'e7t2']);
  });

  it('WAL-5 invalid writes are refused with LOG_WRITE_INVALID and change nothing', async () => {
    const w = await wal(dirs.make());
    await w.persist({ entries: range(1, 3, 2) });
    await expect(w.persist({ entries: [entry(5, 2)] })).rejects.toMatchObject({ code: 'LOG_WRITE_INVALID' });
    await expect(w.persist({ entries: [entry(4, 1)] })).rejects.toMatchObject({ code: 'LOG_WRITE_INVALID' });
    await expect(w.persist({ entries: [entry(4, 2), entry(6, 2)] })).rejects.toMatchObject({ code: 'LOG_WRITE_INVALID' });
    await expect(w.compact(9)).rejects.toMatchObject({ code: 'LOG_WRITE_INVALID' });
    expect([w.lastIndex(), w.term(3)]).toEqual([3, 2]);
  });

  it('WAL-6 concurrent persists share one group commit (one fdatasync)', async () => {
    const w = await wal(dirs.make());
    await w.persist({ entries: [entry(1, 1)] });
    const before = w.stats().groups;
    // The first call starts a write; the next ones queue behind it and go out as one group.
    const ps = [];
    for (let i = 2; i <= 21; i++) ps.push(w.persist({ entries: [entry(i, 1)], hardState: { term: 1, vote: null, commit: i - 1 } }));
    await Promise.all(ps);
    const s = w.stats();
    expect(s.groups - before).toBeLessThanOrEqual(2);
    expect(s.requests).toBe(21);
    expect(w.lastIndex()).toBe(21);
  });

  it('WAL-7 rolls over into new segments, reads old entries from disk with a small cache, and reopens', async () => {
    let w = await wal(dirs.make(), { segmentBytes: 4096, cacheMaxEntries: 8 });
    for (let i = 1; i <= 300; i += 10) await w.persist({ entries: range(i, i + 9, 1 + Math.floor(i / 100)), hardState: { term: 3, vote: 'a', commit: i } });
    expect(w.stats().rollovers).toBeGreaterThanOrEqual(2);
    expect(segments(w.dir).length).toBeGreaterThanOrEqual(3);
    const all = (x: WalLogStorage): string[] => x.entries(1, 301, 1 << 20).map((e) => text(e.data));
    const expected = Array.from({ length: 300 }, (_, k) => `e${k + 1}t${1 + Math.floor((k - (k % 10)) / 100)}`);
    expect(all(w)).toEqual(expected);
    // Byte-limited reads from disk: at least one entry, then as many as fit.
    expect(w.entries(1, 301, 0).length).toBe(1);
    expect(w.entries(1, 301, 20).length).toBe(5);
    w = await reopen(w, { segmentBytes: 4096, cacheMaxEntries: 8 });
    expect(all(w)).toEqual(expected);
    expect(w.hardState()).toEqual({ term: 3, vote: 'a', commit: 291 });
  });

  it('WAL-8 compaction drops whole segments below the compaction point, never the one holding its successor', async () => {
    let w = await wal(dirs.make(), { segmentBytes: 4096 });
    for (let i = 1; i <= 400; i += 10) await w.persist({ entries: range(i, i + 9, 1) });
    const before = segments(w.dir);
    await w.compact(250);
    const after = segments(w.dir);
    expect(after.length).toBeLessThan(before.length);
    expect(w.firstIndex()).toBe(251);
    expect(w.entries(251, 401, 1 << 20).length).toBe(150);
    w = await reopen(w, { segmentBytes: 4096 });
    expect([w.firstIndex(), w.lastIndex(), w.term(250)]).toEqual([251, 400, 1]);
    expect(text(w.entries(251, 252, 0)[0].data)).toBe('e251t1');
    // Compacting everything keeps the tail segment.
    await w.compact(400);
    expect(segments(w.dir).length).toBe(1);
    w = await reopen(w, { segmentBytes: 4096 });
    expect([w.firstIndex(), w.lastIndex(), w.term(400)]).toEqual([401, 400, 1]);
    await w.persist({ entries: [entry(401, 2)] });
    expect(w.term(401)).toBe(2);
  });

  it('WAL-9 an installed snapshot keeps a matching suffix and otherwise resets the log', async () => {
    let w = await wal(dirs.make());
    await w.persist({ entries: range(1, 10, 1) });
    const conf = { voters: ['a', 'b'], learners: [] };
    await w.persist({ snapshot: { index: 5, term: 1, conf } });
    expect([w.firstIndex(), w.lastIndex()]).toEqual([6, 10]);
    await w.persist({ snapshot: { index: 20, term: 3, conf }, hardState: { term: 3, vote: null, commit: 20 } });
    expect([w.firstIndex(), w.lastIndex(), w.term(20)]).toEqual([21, 20, 3]);
    expect(w.snapshot().meta).toEqual({ index: 20, term: 3, conf });
    w = await reopen(w);
    expect([w.firstIndex(), w.lastIndex(), w.term(20)]).toEqual([21, 20, 3]);
    expect(w.initialState().confState).toEqual(conf);
    await w.persist({ entries: [entry(21, 3)] });
    expect(w.entries(21, 22, 0).length).toBe(1);
  });

  it('WAL-10 bootstrap writes the initial configuration once', async () => {
    let w = await wal(dirs.make());
    expect(await w.bootstrap(['a', 'b', 'c'])).toBe(true);
    expect(await w.bootstrap(['x'])).toBe(false);
    w = await reopen(w);
    expect(w.initialState()).toEqual({ hardState: { term: 1, vote: null, commit: 1 }, confState: { voters: ['a', 'b', 'c'], learners: [] } });
    expect([w.firstIndex(), w.lastIndex(), w.term(1)]).toEqual([2, 1, 1]);
  });

  it('WAL-11 the hard state and snapshot point survive the deletion of the segments that first recorded them', async () => {
    let w = await wal(dirs.make(), { segmentBytes: 4096 });
    await w.persist({ hardState: { term: 7, vote: 'n3', commit: 0 } });
    await w.recordSnapshot({ index: 0, term: 0, conf: { voters: ['n1'], learners: ['n9'] } });
    for (let i = 1; i <= 300; i += 10) await w.persist({ entries: range(i, i + 9, 7) });
    await w.compact(290);
    expect(segments(w.dir)).not.toContain('0000000000000001.wal');
    w = await reopen(w, { segmentBytes: 4096 });
    expect(w.hardState()).toEqual({ term: 7, vote: 'n3', commit: 0 });
    expect(w.snapshot().meta.conf).toEqual({ voters: ['n1'], learners: ['n9'] });
  });

  it('WAL-12 satisfies the same DurableLog interface as the LMDB log store', async () => {
    const env = await openStorageEnv(dirs.make());
    try {
      const logs: DurableLog[] = [LmdbLogStorage.open(env), await wal(dirs.make())];
      for (const l of logs) {
        await l.persist({ entries: range(1, 3, 1), hardState: { term: 1, vote: null, commit: 1 } });
        expect([l.lastIndex(), l.hardState().commit]).toEqual([3, 1]);
      }
    } finally {
      await env.close();
    }
  });

  it('WAL-13 writes after close are refused with STORAGE_IO', async () => {
    const w = await wal(dirs.make());
    await w.close();
    await expect(w.persist({ entries: [entry(1, 1)] })).rejects.toMatchObject({ code: 'STORAGE_IO' });
  });

  it('WAL-14 an entry damaged on disk after open is LOG_CORRUPT when read, never returned', async () => {
    const w = await wal(dirs.make(), { cacheMaxEntries: 2 });
    const at = w.position().offset;
    await w.persist({ entries: [entry(1, 1, 'first entry, soon damaged')] });
    await w.persist({ entries: range(2, 10, 1) });
    expect(text(w.entries(1, 2, 0)[0].data)).toBe('first entry, soon damaged');
    const fd = openSync(w.position().segment, 'r+');
    const b = Buffer.alloc(1);
    readSync(fd, b, 0, 1, at + 30);
    b[0] ^= 1;
    writeSync(fd, b, 0, 1, at + 30);
    closeSync(fd);
    let err: unknown;
    try {
      w.entries(1, 3, 1 << 20);
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({ code: 'LOG_CORRUPT', index: 1n });
  });

  it('WAL-15 a failed write halts the WAL: that persist and every later one are refused with STORAGE_IO', async () => {
    const w = await wal(dirs.make());
    await w.persist({ entries: [entry(1, 1)] });
    // No file opens in the background from here on, so the closed fd number is not reused.
    await w.spareReady();
    // Pull the tail file descriptor from under the WAL (an I/O error of the disk, for the WAL).
    const fds = (w as unknown as { fds: Map<number, number> }).fds;
    for (const fd of fds.values()) closeSync(fd);
    await expect(w.persist({ entries: [entry(2, 1)] })).rejects.toMatchObject({ code: 'STORAGE_IO' });
    await expect(w.persist({ hardState: { term: 2, vote: null, commit: 1 } })).rejects.toMatchObject({ code: 'STORAGE_IO' });
    await expect(w.compact(1)).rejects.toMatchObject({ code: 'STORAGE_IO' });
    fds.clear();
  });

  it('WAL-16 a group larger than a segment goes into one segment of its own and reads back', async () => {
    let w = await wal(dirs.make(), { segmentBytes: 4096 });
    await w.persist({ entries: [entry(1, 1)] });
    const big = 'y'.repeat(10_000);
    await w.persist({ entries: [entry(2, 1, big), entry(3, 1)] });
    await w.persist({ entries: [entry(4, 1)] });
    w = await reopen(w, { segmentBytes: 4096 });
    expect(w.entries(1, 5, 1 << 20).map((e) => e.data.length)).toEqual([4, 10_000, 4, 4]);
  });

  it.each(['zero', 'truncate', 'none'] as const)('WAL-17 preallocation %s: write, tear the tail, reopen, append, reopen', async (preallocate) => {
    const dir = dirs.make();
    let w = await wal(dir, { preallocate, segmentBytes: 8192 });
    for (let i = 1; i <= 100; i += 10) await w.persist({ entries: range(i, i + 9, 1) });
    const { segment, offset } = w.position();
    await w.close();
    const fd = openSync(segment, 'r+');
    writeSync(fd, Buffer.from('torn bytes of a half-written group'), 0, 34, offset);
    closeSync(fd);
    w = await wal(dir, { preallocate, segmentBytes: 8192 });
    expect(w.lastIndex()).toBe(100);
    await w.persist({ entries: [entry(101, 2)] });
    w = await reopen(w, { preallocate, segmentBytes: 8192 });
    expect([w.lastIndex(), w.term(101), w.entries(1, 102, 1 << 20).length]).toEqual([101, 2, 101]);
  });
});

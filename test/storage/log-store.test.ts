import { describe, expect, it } from 'vitest';
import { LmdbLogStorage } from '../../src/storage/log-store.js';
import { EntryType } from '../../src/raft/types.js';
import { entry, range, testEnvs, text } from './helpers.js';

const { dirs, envs, env } = testEnvs();

describe('LmdbLogStorage', () => {
  it('starts empty', async () => {
    const log = LmdbLogStorage.open(await env());
    expect(log.firstIndex()).toBe(1);
    expect(log.lastIndex()).toBe(0);
    expect(log.term(0)).toBe(0);
    expect(log.initialState()).toEqual({ hardState: { term: 0, vote: null, commit: 0 }, confState: { voters: [], learners: [] } });
    expect(log.entries(1, 1, 100)).toEqual([]);
  });

  it('bootstrap: a founding member starts from a snapshot at (1, 1) with commit = applied = 1, once', async () => {
    const dir = dirs.make();
    const e = await env(dir);
    const log = LmdbLogStorage.open(e);
    expect(await log.bootstrap(['n1', 'n2', 'n3'])).toBe(true);
    expect([log.firstIndex(), log.lastIndex(), log.term(1)]).toEqual([2, 1, 1]);
    expect(log.initialState()).toEqual({ hardState: { term: 1, vote: null, commit: 1 }, confState: { voters: ['n1', 'n2', 'n3'], learners: [] } });
    expect(log.snapshot().meta).toEqual({ index: 1, term: 1, conf: { voters: ['n1', 'n2', 'n3'], learners: [] } });
    expect(await log.bootstrap(['x'])).toBe(false);
    await e.close();
    envs.splice(envs.indexOf(e), 1);
    const log2 = LmdbLogStorage.open(await env(dir));
    expect(await log2.bootstrap(['x'])).toBe(false);
    expect(log2.initialState().confState.voters).toEqual(['n1', 'n2', 'n3']);
  });

  it('round-trips entries and hard state, in memory and after reopen', async () => {
    const dir = dirs.make();
    const e1 = await env(dir);
    const log = LmdbLogStorage.open(e1);
    const conf = { index: 3, term: 2, type: EntryType.ConfChange, data: new Uint8Array([1, 2, 3]) };
    await log.persist({ hardState: { term: 2, vote: 'n1', commit: 2 }, entries: [entry(1, 1), entry(2, 2), conf] });
    expect(log.lastIndex()).toBe(3);
    expect(log.term(1)).toBe(1);
    expect(log.term(3)).toBe(2);
    expect(log.entries(1, 4, 1 << 20).map((e) => [e.index, e.term, e.type])).toEqual([
      [1, 1, 0],
      [2, 2, 0],
      [3, 2, 1],
    ]);
    await e1.close();
    envs.splice(envs.indexOf(e1), 1);
    const log2 = LmdbLogStorage.open(await env(dir));
    expect(log2.lastIndex()).toBe(3);
    expect(log2.initialState().hardState).toEqual({ term: 2, vote: 'n1', commit: 2 });
    const got = log2.entries(1, 4, 1 << 20);
    expect(text(got[0].data)).toBe('e1t1');
    expect(got[2]).toEqual(conf);
  });

  it('replaces a conflicting suffix (entries at index ≥ first new index)', async () => {
    const dir = dirs.make();
    const e1 = await env(dir);
    const log = LmdbLogStorage.open(e1);
    await log.persist({ entries: range(1, 6, 1) });
    await log.persist({ entries: [entry(4, 2, 'new4'), entry(5, 2, 'new5')] });
    expect(log.lastIndex()).toBe(5);
    expect(log.term(4)).toBe(2);
    expect(log.term(3)).toBe(1);
    expect(() => log.term(6)).toThrow(expect.objectContaining({ code: 'RAFT_UNAVAILABLE' }));
    await e1.close();
    envs.splice(envs.indexOf(e1), 1);
    const log2 = LmdbLogStorage.open(await env(dir));
    expect(log2.lastIndex()).toBe(5);
    expect(log2.entries(3, 6, 1 << 20).map((e) => text(e.data))).toEqual(['e3t1', 'new4', 'new5']);
  });

  it('refuses gaps, non-contiguous batches and terms going back', async () => {
    const log = LmdbLogStorage.open(await env());
    await log.persist({ entries: range(1, 3, 2) });
    await expect(log.persist({ entries: [entry(5, 2)] })).rejects.toMatchObject({ code: 'LOG_WRITE_INVALID' });
    await expect(log.persist({ entries: [entry(4, 2), entry(6, 2)] })).rejects.toMatchObject({ code: 'LOG_WRITE_INVALID' });
    await expect(log.persist({ entries: [entry(4, 1)] })).rejects.toMatchObject({ code: 'LOG_WRITE_INVALID' });
    expect(log.lastIndex()).toBe(3);
  });

  it('entries() honours maxBytes but returns at least one entry', async () => {
    const log = LmdbLogStorage.open(await env());
    await log.persist({ entries: range(1, 10, 1) }); // 4 bytes of data each
    expect(log.entries(1, 11, 0).length).toBe(1);
    expect(log.entries(1, 11, 8).length).toBe(2);
    expect(log.entries(1, 11, 1 << 20).length).toBe(10);
  });

  it('reads entries older than the cache from LMDB', async () => {
    const dir = dirs.make();
    const log = LmdbLogStorage.open(await env(dir), { cacheMaxEntries: 8 });
    for (let i = 1; i <= 40; i += 10) await log.persist({ entries: range(i, i + 9, 1) });
    const all = log.entries(1, 41, 1 << 20);
    expect(all.map((e) => e.index)).toEqual(Array.from({ length: 40 }, (_, k) => k + 1));
    expect(text(all[0].data)).toBe('e1t1');
    expect(log.entries(5, 7, 1 << 20).map((e) => text(e.data))).toEqual(['e5t1', 'e6t1']);
  });

  it('compacts: firstIndex moves, term of the compaction point is kept, survives reopen', async () => {
    const dir = dirs.make();
    const e1 = await env(dir);
    const log = LmdbLogStorage.open(e1);
    await log.persist({ entries: [...range(1, 5, 1), ...range(6, 10, 3)] });
    await log.compact(7);
    expect(log.firstIndex()).toBe(8);
    expect(log.lastIndex()).toBe(10);
    expect(log.term(7)).toBe(3);
    expect(() => log.term(6)).toThrow(expect.objectContaining({ code: 'RAFT_COMPACTED' }));
    expect(() => log.entries(7, 9, 100)).toThrow(expect.objectContaining({ code: 'RAFT_COMPACTED' }));
    await e1.close();
    envs.splice(envs.indexOf(e1), 1);
    const e2 = await env(dir);
    const log2 = LmdbLogStorage.open(e2);
    expect(log2.firstIndex()).toBe(8);
    expect(log2.term(7)).toBe(3);
    expect(log2.entries(8, 11, 1 << 20).length).toBe(3);
    expect(e2.log.getCount()).toBe(3);
  });

  it('compacting the whole log leaves an empty log after the compaction point', async () => {
    const log = LmdbLogStorage.open(await env());
    await log.persist({ entries: range(1, 4, 2) });
    await log.compact(4);
    expect(log.firstIndex()).toBe(5);
    expect(log.lastIndex()).toBe(4);
    expect(log.term(4)).toBe(2);
    await log.persist({ entries: [entry(5, 3)] });
    expect(log.term(5)).toBe(3);
    // Entries at or below the compaction point are dropped, the rest appended.
    await log.persist({ entries: [entry(4, 2), entry(5, 3), entry(6, 3)] });
    expect([log.firstIndex(), log.lastIndex(), log.term(6)]).toEqual([5, 6, 3]);
  });

  it('a snapshot that matches the log keeps the suffix; one that does not clears the log', async () => {
    const e = await env();
    const log = LmdbLogStorage.open(e);
    await log.persist({ entries: range(1, 10, 1) });
    const conf = { voters: ['n1', 'n2', 'n3'], learners: [] };
    await log.persist({ snapshot: { index: 6, term: 1, conf } });
    expect([log.firstIndex(), log.lastIndex()]).toEqual([7, 10]);
    expect(log.snapshot().meta).toEqual({ index: 6, term: 1, conf });
    expect(log.initialState().confState).toEqual(conf);
    await log.persist({ snapshot: { index: 20, term: 4, conf } });
    expect([log.firstIndex(), log.lastIndex(), log.term(20)]).toEqual([21, 20, 4]);
    expect(e.log.getCount()).toBe(0);
    await log.persist({ entries: [entry(21, 4)] });
    expect(log.lastIndex()).toBe(21);
  });

  it('reads see accepted writes before they are committed, even beyond the cache limit', async () => {
    const e = await env();
    const log = LmdbLogStorage.open(e, { cacheMaxEntries: 4 });
    await log.persist({ entries: range(1, 40, 1) });
    const p1 = log.persist({ entries: range(41, 140, 1) }); // 100 entries, cache limit 4
    expect(log.entries(41, 141, 1 << 20).length).toBe(100);
    const p2 = log.persist({ entries: [entry(10, 2, 'x10'), entry(11, 2, 'x11')] }); // truncates 12..140
    expect(log.lastIndex()).toBe(11);
    expect(log.entries(8, 12, 1 << 20).map((e) => text(e.data))).toEqual(['e8t1', 'e9t1', 'x10', 'x11']);
    await Promise.all([p1, p2]);
    expect(log.entries(8, 12, 1 << 20).map((x) => text(x.data))).toEqual(['e8t1', 'e9t1', 'x10', 'x11']);
    expect(e.log.getCount()).toBe(11);
    expect(LmdbLogStorage.open(e).entries(10, 12, 1 << 20).map((x) => text(x.data))).toEqual(['x10', 'x11']);
  });

  it('group commit: persists issued together share one transaction', async () => {
    const e = await env();
    const log = LmdbLogStorage.open(e);
    const before = e.writes.groups;
    await Promise.all([
      log.persist({ entries: [entry(1, 1)] }),
      log.persist({ entries: [entry(2, 1)] }),
      log.persist({ hardState: { term: 1, vote: 'a', commit: 2 } }),
    ]);
    expect(e.writes.groups - before).toBe(1);
    expect(log.lastIndex()).toBe(2);
  });
});

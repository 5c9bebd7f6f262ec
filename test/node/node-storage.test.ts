// Issue 13: the node's two stores (Raft log in the WAL, state machine in LMDB) are reconciled at
// start (src/node/node-storage.ts): a previous-layout data dir (log in LMDB) is migrated, a
// snapshot install interrupted between its state write and its log reset is finished, a log
// compacted past the applied state is refused, and the state's sync bookkeeping (synced applied
// index, forceSync) is what compaction relies on.

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { bootstrapStores, openRaftLog } from '../../src/node/node-storage.js';
import { RaftNode } from '../../src/raft/node.js';
import { ApplyStore } from '../../src/storage/apply-txn.js';
import { type StorageEnv, openStorageEnv } from '../../src/storage/env.js';
import { LmdbLogStorage } from '../../src/storage/log-store.js';
import { createSnapshotStream, installSnapshot, recordLocalSnapshot } from '../../src/storage/snapshot.js';
import { WalLogStorage } from '../../src/storage/wal/wal-log.js';
import { bytes, range, tempDirs, text } from '../storage/helpers.js';

const dirs = tempDirs();
const closers: Array<() => Promise<void>> = [];
async function env(dir: string): Promise<StorageEnv> {
  const e = await openStorageEnv(dir);
  closers.push(() => e.close().catch(() => undefined));
  return e;
}
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c();
  dirs.cleanup();
});

const CONF = { voters: ['n1', 'n2', 'n3'], learners: [] };

function core(wal: WalLogStorage, store: ApplyStore): RaftNode {
  return new RaftNode(
    { id: 'n2', electionTick: 10, heartbeatTick: 1, preVote: true, checkQuorum: true, maxSizePerMsg: 1 << 20, maxInflightMsgs: 16, maxInflightBytes: 1 << 24, random: () => 0, applied: Number(store.appliedIndex()) },
    wal,
  );
}

describe('issue 13: a data dir of the previous layout (Raft log in LMDB)', () => {
  it('issue 13: is migrated into the WAL at start (entries, compaction point, hard state, snapshot point), the LMDB log is dropped', async () => {
    const dir = dirs.make();
    const e = await env(dir);
    const old = LmdbLogStorage.open(e);
    await old.bootstrap(CONF.voters);
    await old.persist({ entries: range(2, 40, 2), hardState: { term: 2, vote: 'n1', commit: 40 } });
    const store = new ApplyStore(e);
    await store.begin().putKv(bytes('k'), bytes('v')).commit(30n);
    await old.compact(20);
    const snap = await recordLocalSnapshot(e);
    expect(snap.index).toBe(30);

    const { wal, repairs } = await openRaftLog(dir, e, store);
    closers.push(() => wal.close());
    expect(repairs.join()).toContain('migrated');
    expect([wal.firstIndex(), wal.lastIndex(), wal.term(20), wal.term(40)]).toEqual([21, 40, 2, 2]);
    expect(wal.hardState()).toEqual({ term: 2, vote: 'n1', commit: 40 });
    expect(wal.snapshot().meta.index).toBe(30);
    expect(text(wal.entries(25, 26, 1 << 20)[0]!.data)).toBe('e25t2');
    expect([...e.log.getKeys({})]).toEqual([]);
    expect(existsSync(join(dir, 'wal.migrating'))).toBe(false);
    await wal.close();

    // A second start finds the WAL: nothing to migrate, same log.
    const again = await openRaftLog(dir, e, store);
    closers.push(() => again.wal.close());
    expect(again.repairs).toEqual([]);
    expect([again.wal.firstIndex(), again.wal.lastIndex(), again.wal.hardState().commit]).toEqual([21, 40, 40]);
  });
});

describe('issue 13: a migration interrupted by a crash', () => {
  async function oldLayout(dir: string): Promise<{ e: StorageEnv; store: ApplyStore }> {
    const e = await env(dir);
    const old = LmdbLogStorage.open(e);
    await old.bootstrap(CONF.voters);
    await old.persist({ entries: range(2, 10, 2), hardState: { term: 2, vote: 'n3', commit: 9 } });
    const store = new ApplyStore(e);
    await store.begin().commit(9n);
    return { e, store };
  }

  it('issue 13: a half-written wal.migrating/ (crash before the rename) is discarded and the migration redone', async () => {
    const dir = dirs.make();
    const { e, store } = await oldLayout(dir);
    const partial = await WalLogStorage.open(join(dir, 'wal.migrating'));
    await partial.persist({ entries: range(1, 3, 9) }); // nonsense a crash could have left
    await partial.close();
    const { wal, repairs } = await openRaftLog(dir, e, store);
    closers.push(() => wal.close());
    expect(repairs.join()).toContain('migrated');
    expect([wal.firstIndex(), wal.lastIndex(), wal.term(10), wal.hardState().vote]).toEqual([2, 10, 2, 'n3']);
  });

  it('issue 13: an LMDB log still present next to a WAL (crash after the rename) is dropped, the WAL wins', async () => {
    const dir = dirs.make();
    const { e, store } = await oldLayout(dir);
    await (await openRaftLog(dir, e, store)).wal.close();
    // The old log back in LMDB, as if the drop after the rename had not happened.
    await LmdbLogStorage.open(e).persist({ entries: range(1, 3, 7), hardState: { term: 7, vote: null, commit: 1 } });
    const { wal, repairs } = await openRaftLog(dir, e, store);
    closers.push(() => wal.close());
    expect(repairs).toEqual([]);
    expect([wal.lastIndex(), wal.hardState().term]).toEqual([10, 2]);
    expect([...e.log.getKeys({})]).toEqual([]);
  });
});

describe('issue 13: snapshot install = LMDB state write, then WAL log reset', () => {
  async function sourceEnv(): Promise<StorageEnv> {
    const e = await env(dirs.make());
    await LmdbLogStorage.open(e).persist({ entries: range(1, 12, 3) });
    const b = new ApplyStore(e).begin();
    for (let i = 0; i < 20; i++) b.putKv(bytes(`k${i}`), bytes(`v${i}`));
    b.setConfState(CONF);
    await b.commit(12n);
    return e;
  }

  it('issue 13: a crash after the state install and before the WAL reset is finished at open; the core starts', async () => {
    const src = await sourceEnv();
    const dir = dirs.make();
    const e = await env(dir);
    const store = new ApplyStore(e);
    const { wal } = await openRaftLog(dir, e, store);
    await wal.persist({ entries: range(1, 5, 1), hardState: { term: 1, vote: null, commit: 3 } });
    await store.begin().commit(3n);
    // Step 1 of the install (LMDB), then the "crash": the WAL reset never happens.
    const chunks: Uint8Array[] = [];
    for await (const c of createSnapshotStream(src).chunks) chunks.push(new Uint8Array(c));
    await installSnapshot(e, (async function* () { yield* chunks; })());
    await wal.close();
    store.reload();
    expect(store.appliedIndex()).toBe(12n);

    const reopened = await openRaftLog(dir, e, store);
    closers.push(() => reopened.wal.close());
    expect(reopened.repairs.join()).toContain('finished the log reset');
    const w = reopened.wal;
    expect([w.firstIndex(), w.lastIndex(), w.hardState().commit, w.term(12)]).toEqual([13, 12, 12, 3]);
    expect(() => core(w, store)).not.toThrow();
  });

  it('issue 13: applied > commit without a snapshot point at the applied index is not "repaired"', async () => {
    const dir = dirs.make();
    const e = await env(dir);
    const store = new ApplyStore(e);
    const { wal } = await openRaftLog(dir, e, store);
    await wal.persist({ entries: range(1, 5, 1), hardState: { term: 1, vote: null, commit: 3 } });
    await store.begin().commit(4n);
    await wal.close();
    const reopened = await openRaftLog(dir, e, store);
    closers.push(() => reopened.wal.close());
    expect(reopened.repairs).toEqual([]);
    expect(reopened.wal.hardState().commit).toBe(3);
  });
});

describe('issue 13: compaction never past the synced applied index', () => {
  it('issue 13: a WAL compacted past the applied state is refused at start (LOG_CORRUPT), never skipped', async () => {
    const dir = dirs.make();
    const e = await env(dir);
    const store = new ApplyStore(e);
    const { wal } = await openRaftLog(dir, e, store);
    await wal.persist({ entries: range(1, 20, 1), hardState: { term: 1, vote: null, commit: 20 } });
    await store.begin().commit(5n);
    await wal.compact(10);
    await wal.close();
    await expect(openRaftLog(dir, e, store)).rejects.toMatchObject({ code: 'LOG_CORRUPT' });
  });

  it('issue 13: with commits that do not wait for the fsync, forceSync() makes the synced applied index current', async () => {
    const e = await env(dirs.make());
    const store = new ApplyStore(e, false);
    const synced: bigint[] = [];
    store.onSynced = (i) => synced.push(i);
    const p = store.begin().putKv(bytes('a'), bytes('1')).commit(7n);
    expect(store.syncedAppliedIndex()).toBe(0n); // submitted, not yet on disk
    await p;
    expect(await store.forceSync()).toBe(7n);
    expect(store.syncedAppliedIndex()).toBe(7n);
    expect(synced.at(-1)).toBe(7n);
  });
});

describe('issue 13: bootstrap writes the state first, then the WAL', () => {
  it('issue 13: a founding member starts with applied = commit = 1 and the configuration in both stores', async () => {
    const dir = dirs.make();
    const e = await env(dir);
    const store = new ApplyStore(e);
    const { wal } = await openRaftLog(dir, e, store);
    closers.push(() => wal.close());
    expect(await bootstrapStores(e, store, wal, CONF.voters)).toBe(true);
    expect(store.appliedIndex()).toBe(1n);
    expect(store.meta.confState()).toEqual(CONF);
    expect([wal.firstIndex(), wal.hardState().commit, wal.snapshot().meta.index]).toEqual([2, 1, 1]);
    expect(await bootstrapStores(e, store, wal, CONF.voters), 'second call changes nothing').toBe(false);
  });
});

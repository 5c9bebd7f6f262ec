// Issue 9, defects 1 and 2 (storage side): a snapshot install and the Raft log reset are one
// LMDB transaction (so no crash can leave applied > commit), an aborted install changes nothing,
// and the header carries the members' addresses as an advisory field (old headers still read).

import { describe, expect, it } from 'vitest';

import { RaftNode } from '../../src/raft/node.js';
import { ApplyStore } from '../../src/storage/apply-txn.js';
import type { StorageEnv } from '../../src/storage/env.js';
import { LmdbLogStorage } from '../../src/storage/log-store.js';
import { MetaStore } from '../../src/storage/meta-store.js';
import { decodeSnapshotHeader, encodeSnapshotHeader } from '../../src/storage/snapshot-header.js';
import { createSnapshotStream, installSnapshot } from '../../src/storage/snapshot.js';
import { bytes, range, testEnvs } from './helpers.js';

const { dirs, envs, env } = testEnvs();

const CONF = { voters: ['n1', 'n2', 'n3'], learners: [] };

/** Source: log 1..12 at term 3, applied 12, a few kv records. */
async function source(): Promise<StorageEnv> {
  const e = await env();
  await LmdbLogStorage.open(e).persist({ entries: range(1, 12, 3) });
  const b = new ApplyStore(e).begin();
  for (let i = 0; i < 20; i++) b.putKv(bytes(`k${i}`), bytes(`v${i}`));
  b.setConfState(CONF);
  await b.commit(12n);
  return e;
}

/** Destination: log 1..5 at term 1, commit 3, applied 3. */
async function destination(dir: string): Promise<{ e: StorageEnv; log: LmdbLogStorage }> {
  const e = await env(dir);
  const log = LmdbLogStorage.open(e);
  await log.persist({ entries: range(1, 5, 1), hardState: { term: 1, vote: null, commit: 3 } });
  await new ApplyStore(e).begin().commit(3n);
  return { e, log };
}

async function* replay(chunks: Uint8Array[]): AsyncGenerator<Uint8Array> {
  yield* chunks;
}

/** The stream, read to the end, as a source that can be installed. */
async function collect(it: AsyncIterable<Uint8Array>): Promise<AsyncIterable<Uint8Array>> {
  const out: Uint8Array[] = [];
  for await (const c of it) out.push(new Uint8Array(c));
  return replay(out);
}

const META = { index: 12, term: 3, conf: CONF };

describe('defect 9.1: install and log reset in one transaction', () => {
  it('defect 9.1: after the install the durable log starts after the snapshot and commit ≥ applied (a restart opens)', async () => {
    const src = await source();
    const dir = dirs.make();
    const { e, log } = await destination(dir);
    const chunks = await collect(createSnapshotStream(src).chunks);
    await installSnapshot(e, chunks, { commitOps: () => log.snapshotResetOps(META) });
    // In memory at once…
    expect([log.firstIndex(), log.lastIndex(), log.hardState().commit]).toEqual([13, 12, 12]);
    // …and on disk, read back as a restart would.
    await e.close();
    envs.splice(envs.indexOf(e), 1);
    const e2 = await env(dir);
    const reopened = LmdbLogStorage.open(e2);
    const meta = new MetaStore(e2.meta);
    expect([reopened.firstIndex(), reopened.lastIndex()]).toEqual([13, 12]);
    expect(reopened.hardState().commit).toBe(12);
    expect(meta.appliedIndex()).toBe(12n);
    expect(meta.logTrunc()).toEqual({ index: 12, term: 3 });
    expect(e2.log.getRange({}).asArray).toEqual([]);
    // The start-up check that used to fail with "applied 12 is beyond commit 3".
    expect(() => new RaftNode({ id: 'n2', electionTick: 10, heartbeatTick: 1, preVote: false, checkQuorum: false, maxSizePerMsg: 1 << 20, maxInflightMsgs: 8, maxInflightBytes: 0, random: () => 0, applied: 12 }, reopened)).not.toThrow();

  });

  it('defect 9.1: an install aborted inside the swap transaction changes neither the state nor the log', async () => {
    const src = await source();
    const { e, log } = await destination(dirs.make());
    const chunks = await collect(createSnapshotStream(src).chunks);
    let calls = 0;
    let resetAsked = false;
    const err = await installSnapshot(e, chunks, {
      aborted: () => ++calls > 1, // passes the pre-check, aborts inside the transaction
      commitOps: () => {
        resetAsked = true;
        return log.snapshotResetOps(META);
      },
    }).catch((x: unknown) => x);
    expect(err).toMatchObject({ code: 'INSTALL_ABORTED' });
    expect(resetAsked).toBe(false);
    const meta = new MetaStore(e.meta);
    expect(meta.appliedIndex()).toBe(3n);
    expect([log.firstIndex(), log.lastIndex(), log.hardState().commit]).toEqual([1, 5, 3]);
    expect(e.kv.getRange({}).asArray).toEqual([]);
  });
});

describe('defect 9.2: the snapshot header carries the address book', () => {
  it('defect 9.2: the stream header carries the addresses of the members (only), and the install returns them', async () => {
    const src = await source();
    const peers = new Map([
      ['n1', '10.0.0.1:7001'],
      ['n2', '10.0.0.2:7001'],
      ['n9', '10.0.0.9:7001'], // not a member of the snapshot's conf
    ]);
    const s = createSnapshotStream(src, { peers });
    expect(s.header.peers).toEqual({ n1: '10.0.0.1:7001', n2: '10.0.0.2:7001' });
    const { e } = await destination(dirs.make());
    const h = await installSnapshot(e, await collect(s.chunks));
    expect(h.peers).toEqual({ n1: '10.0.0.1:7001', n2: '10.0.0.2:7001' });
    expect(h.formatVersion).toBe(2);
  });

  it('defect 9.2: a header without the field (older writer) or with opaque advisory bytes still decodes', () => {
    const base = { raftEnvelopeCutoverIndex: 0n, sidecarAppliedIndex: 0n, lastIndex: 7n, lastTerm: 2n, conf: CONF };
    expect(decodeSnapshotHeader(encodeSnapshotHeader(base)).peers).toBeUndefined();
    expect(decodeSnapshotHeader(encodeSnapshotHeader(base, bytes('future advisory field'))).peers).toBeUndefined();
    const both = decodeSnapshotHeader(encodeSnapshotHeader({ ...base, peers: { n1: 'a:1' } }, bytes('xyz')));
    expect(both.peers).toEqual({ n1: 'a:1' });
    expect(both.lastIndex).toBe(7n);
  });
});

describe('defect 9.1: start-up repair of a data dir an interrupted two-step install left', () => {
  it('defect 9.1: applied > commit after an install without the log reset is finished at open', async () => {
    const src = await source();
    const dir = dirs.make();
    const { e } = await destination(dir);
    // The old two-step install, crashed before the log reset: state at 12, log and commit at 3.
    await installSnapshot(e, await collect(createSnapshotStream(src).chunks));
    await e.close();
    envs.splice(envs.indexOf(e), 1);
    const e2 = await env(dir);
    const log = LmdbLogStorage.open(e2);
    expect(log.hardState().commit).toBe(3);
    expect(await log.finishInterruptedInstall(new MetaStore(e2.meta).appliedIndex())).toBe(true);
    expect([log.firstIndex(), log.lastIndex(), log.hardState().commit]).toEqual([13, 12, 12]);
    expect(await log.finishInterruptedInstall(12n), 'nothing left to repair').toBe(false);
    await e2.close();
    envs.splice(envs.indexOf(e2), 1);
    const reopened = LmdbLogStorage.open(await env(dir));
    expect([reopened.firstIndex(), reopened.hardState().commit]).toEqual([13, 12]);
  });

  it('defect 9.1: applied > commit without a snapshot at the applied index is not "repaired"', async () => {
    const { log } = await destination(dirs.make());
    expect(await log.finishInterruptedInstall(4n)).toBe(false);
    expect(log.hardState().commit).toBe(3);
  });
});

// Issue 9, defect 3 (core side): with asyncApply the application reports the real applied index
// (appliedTo), so the core never counts handed-over entries as applied: a snapshot is refused
// while they are pending (they would be applied over it), the campaign guard sees unapplied conf
// changes, and handed-over entries are bounded (back-pressure).

import { describe, expect, it } from 'vitest';
import { encodeConfChange } from '../../src/raft/conf-change-codec.js';
import { MemoryStorage } from '../../src/raft/memory-storage.js';
import { RaftNode, type RaftNodeConfig } from '../../src/raft/node.js';
import { ConfChangeType, type Entry, EntryType, type Message, MessageType, type Ready, Role } from '../../src/raft/types.js';
import { config } from './harness.js';

const VOTERS = ['n1', 'n2', 'n3'];

function follower(over: Partial<RaftNodeConfig> = {}): { raft: RaftNode; storage: MemoryStorage } {
  const storage = MemoryStorage.bootstrap(VOTERS);
  const raft = new RaftNode({ ...config('n2', over), applied: 1, asyncApply: true, ...over }, storage);
  return { raft, storage };
}

/** Persists a Ready into MemoryStorage (snapshot, entries, hard state) and advances, applying nothing. */
function persist(storage: MemoryStorage, raft: RaftNode): Ready | null {
  const rd = raft.ready();
  if (!rd) return null;
  if (rd.snapshot) storage.applySnapshot(rd.snapshot);
  if (rd.entries.length > 0) storage.append(rd.entries);
  if (rd.hardState) storage.setHardState(rd.hardState);
  raft.advance(rd);
  return rd;
}

const noop = (index: number): Entry => ({ index, term: 2, type: EntryType.Normal, data: new Uint8Array(0) });
const addN4: Entry = {
  index: 3,
  term: 2,
  type: EntryType.ConfChange,
  data: encodeConfChange({ type: ConfChangeType.AddVoter, node: 'n4', context: new TextEncoder().encode('127.0.0.1:1') }),
};

/** n1 (leader, term 2) appends [2: no-op, 3: add n4] and commits both. */
const append: Message = { type: MessageType.App, from: 'n1', to: 'n2', term: 2, index: 1, logTerm: 1, entries: [noop(2), addN4], commit: 3 };
const snap: Message = { type: MessageType.Snap, from: 'n1', to: 'n2', term: 2, snapshot: { index: 10, term: 2, conf: { voters: VOTERS, learners: [] } } };

describe('defect 9.3: the core is told the real applied index', () => {
  it('defect 9.3: advance() hands committed entries over without counting them applied', () => {
    const { raft, storage } = follower();
    raft.step(append);
    const rd = persist(storage, raft);
    expect(rd?.committedEntries.map((e) => e.index)).toEqual([2, 3]);
    expect(raft.status().applied, 'applied index right after advance()').toBe(1);
    expect(raft.ready()?.committedEntries ?? [], 'handed over once').toEqual([]);
    raft.appliedTo(3);
    expect(raft.status().applied).toBe(3);
  });

  it('defect 9.3: a snapshot is refused while handed-over entries are unapplied, accepted after', () => {
    const { raft, storage } = follower();
    raft.step(append);
    persist(storage, raft);
    raft.step(snap);
    const rd = persist(storage, raft);
    expect(rd?.snapshot ?? null, 'snapshot accepted over queued, unapplied entries').toBeNull();
    const ack = [...(rd?.messages ?? []), ...(rd?.messagesAfterPersist ?? [])].find((m) => m.type === MessageType.AppResp);
    expect(ack?.index, 'the answer names the committed index, not the snapshot').toBe(3);
    expect(raft.status().conf.voters, 'configuration untouched').toEqual(VOTERS);

    // The queued entries are applied (the conf change through applyConfChange), then the leader resends.
    raft.applyConfChange({ type: ConfChangeType.AddVoter, node: 'n4' });
    raft.appliedTo(3);
    raft.step(snap);
    const rd2 = persist(storage, raft);
    expect(rd2?.snapshot?.meta.index).toBe(10);
    expect(raft.status().conf.voters).toEqual(VOTERS);
    expect(raft.status().applied).toBe(10);
  });

  it('defect 9.3: a snapshot stepped while the Ready handing the entries over is being persisted is refused too', () => {
    // Found by the simulator (asyncApply): counting entries as handed over only at advance()
    // let a snapshot in between the Ready and its advance().
    const { raft, storage } = follower();
    raft.step(append);
    const rd = raft.ready()!;
    expect(rd.committedEntries.map((e) => e.index)).toEqual([2, 3]);
    raft.step(snap); // arrives during the fsync of rd
    storage.append(rd.entries);
    if (rd.hardState) storage.setHardState(rd.hardState);
    raft.advance(rd);
    expect(persist(storage, raft)?.snapshot ?? null, 'snapshot accepted over the entries of the Ready in flight').toBeNull();
    expect(raft.status().conf.voters).toEqual(VOTERS);
  });

  it('defect 9.3: no campaign while a handed-over conf change is unapplied', () => {
    const { raft, storage } = follower({ electionTick: 10, preVote: false });
    raft.step(append);
    persist(storage, raft);
    for (let i = 0; i < 40; i++) {
      raft.tick();
      persist(storage, raft);
    }
    expect(raft.status().role, 'campaigned with the conf change at 3 unapplied').toBe(Role.Follower);
    raft.applyConfChange({ type: ConfChangeType.AddVoter, node: 'n4' });
    raft.appliedTo(3);
    for (let i = 0; i < 40 && raft.status().role === Role.Follower; i++) {
      raft.tick();
      persist(storage, raft);
    }
    expect(raft.status().role).toBe(Role.Candidate);
  });

  it('defect 9.3: at most maxApplyingEntries are handed over before appliedTo (back-pressure)', () => {
    const { raft, storage } = follower({ maxApplyingEntries: 1 });
    raft.step({ ...append, entries: [noop(2), noop(3), noop(4)], commit: 4 });
    expect(persist(storage, raft)?.committedEntries.map((e) => e.index)).toEqual([2]);
    expect(raft.hasReady()).toBe(false);
    raft.appliedTo(2);
    expect(persist(storage, raft)?.committedEntries.map((e) => e.index)).toEqual([3]);
    raft.appliedTo(3);
    expect(persist(storage, raft)?.committedEntries.map((e) => e.index)).toEqual([4]);
  });

  it('defect 9.3: maxApplyingBytes pauses hand-over once the outstanding bytes reach it', () => {
    const { raft, storage } = follower({ maxApplyingBytes: 10 });
    const big = (index: number): Entry => ({ index, term: 2, type: EntryType.Normal, data: new Uint8Array(8) });
    raft.step({ ...append, entries: [big(2), big(3), big(4)], commit: 4 });
    expect(persist(storage, raft)?.committedEntries.map((e) => e.index)).toEqual([2]);
    expect(persist(storage, raft)?.committedEntries.map((e) => e.index)).toEqual([3]);
    expect(raft.hasReady(), 'paused at 16 outstanding bytes').toBe(false);
    raft.appliedTo(3);
    expect(persist(storage, raft)?.committedEntries.map((e) => e.index)).toEqual([4]);
  });
});

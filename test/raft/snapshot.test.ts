// Raft §7 log compaction and snapshots: compaction, sending a snapshot to a lagging follower,
// SnapStatus, restoring state.
import { describe, expect, it } from 'vitest';
import { CompactedError, SnapshotOutOfDateError, UnavailableError } from '../../src/raft/errors.js';
import { MemoryStorage } from '../../src/raft/memory-storage.js';
import { RaftNode } from '../../src/raft/node.js';
import { ProgressState } from '../../src/raft/progress.js';
import { EntryType, MessageType } from '../../src/raft/types.js';
import { appliedTexts, config, TestNet } from './harness.js';

const enc = (s: string) => new TextEncoder().encode(s);

describe('§7 snapshots', () => {
  it('sends a snapshot to a follower that lags behind the compacted log, then resumes replication', () => {
    const net = new TestNet(['a', 'b', 'c']);
    net.elect('a');
    net.isolate('c');
    for (let i = 0; i < 20; i++) net.propose('a', `p${i}`);
    const a = net.node('a');
    const applied = a.applied.at(-1)!.index;
    a.storage.createSnapshot(applied, a.raft.status().conf, enc(`state@${applied}`));
    a.storage.compact(applied);
    expect(a.storage.firstIndex()).toBe(applied + 1);
    net.heal();
    net.tickAll(3);
    const c = net.node('c');
    expect(c.storage.snapshot().meta.index).toBe(applied);
    expect(new TextDecoder().decode(c.storage.snapshot().data)).toBe(`state@${applied}`);
    expect(c.raft.status().applied).toBe(applied);
    expect(net.sent.some((m) => m.type === MessageType.Snap && m.to === 'c')).toBe(true);
    net.propose('a', 'after');
    expect(appliedTexts(c)).toEqual(['after']);
    expect(a.raft.status().progress!.c!.state).toBe(ProgressState.Replicate);
  });

  it('a failed snapshot transfer puts the follower back to probe and it is retried', () => {
    const net = new TestNet(['a', 'b', 'c']);
    net.elect('a');
    net.isolate('c');
    for (let i = 0; i < 5; i++) net.propose('a', `p${i}`);
    const a = net.node('a');
    const applied = a.applied.at(-1)!.index;
    a.storage.createSnapshot(applied, a.raft.status().conf, enc('s'));
    a.storage.compact(applied);
    net.heal();
    net.dropTypes.add(MessageType.Snap);
    net.tickAll(2);
    expect(a.raft.status().progress!.c!.state).not.toBe(ProgressState.Snapshot);
    net.dropTypes.clear();
    net.tickAll(3);
    expect(net.node('c').raft.status().applied).toBeGreaterThanOrEqual(applied);
  });

  it('a follower ignores a snapshot older than its commit index and acks its commit', () => {
    const net = new TestNet(['a', 'b']);
    net.elect('a');
    net.propose('a', 'x');
    const b = net.node('b').raft;
    const term = b.term;
    b.step({ type: MessageType.Snap, from: 'a', to: 'b', term, snapshot: { index: 2, term: 2, conf: { voters: ['a', 'b'], learners: [] } } });
    const rd = b.ready()!;
    expect(rd.snapshot).toBeNull();
    expect(rd.messagesAfterPersist[0]).toMatchObject({ type: MessageType.AppResp, index: 3 });
  });

  it('restores configuration and commit from a snapshot and restarts from it', () => {
    const s = new MemoryStorage();
    const r = new RaftNode(config('z'), s);
    r.step({ type: MessageType.Snap, from: 'a', to: 'z', term: 7, snapshot: { index: 50, term: 6, conf: { voters: ['a', 'b', 'z'], learners: [] } } });
    const rd = r.ready()!;
    expect(rd.snapshot?.meta.index).toBe(50);
    expect(rd.committedEntries).toHaveLength(0);
    s.applySnapshot({ meta: rd.snapshot!.meta, data: enc('d') });
    s.setHardState(rd.hardState!);
    r.advance(rd);
    expect(r.status()).toMatchObject({ commit: 50, applied: 50, lastIndex: 50, conf: { voters: ['a', 'b', 'z'], learners: [] } });
    const again = new RaftNode({ ...config('z'), applied: 50 }, s);
    expect(again.status()).toMatchObject({ term: 7, commit: 50, lastIndex: 50 });
  });
});

describe('MemoryStorage', () => {
  it('defines out-of-range reads with raft-local errors', () => {
    const s = MemoryStorage.bootstrap(['a']);
    s.append([2, 3, 4, 5].map((i) => ({ term: 2, index: i, type: EntryType.Normal, data: new Uint8Array(10) })));
    s.createSnapshot(3, { voters: ['a'], learners: [] }, enc('x'));
    s.compact(3);
    expect(s.firstIndex()).toBe(4);
    expect(s.term(3)).toBe(2);
    expect(() => s.term(2)).toThrow(CompactedError);
    expect(() => s.term(6)).toThrow(UnavailableError);
    expect(() => s.entries(3, 5, 100)).toThrow(CompactedError);
    expect(() => s.entries(4, 7, 100)).toThrow(UnavailableError);
    expect(s.entries(4, 6, 15).map((e) => e.index)).toEqual([4]);
    expect(s.entries(4, 6, 0).map((e) => e.index)).toEqual([4]);
    expect(() => s.applySnapshot({ meta: { index: 2, term: 1, conf: { voters: [], learners: [] } }, data: enc('') })).toThrow(SnapshotOutOfDateError);
    try {
      s.term(1);
    } catch (e) {
      expect((e as CompactedError).code).toBe('RAFT_COMPACTED');
    }
  });

  it('append replaces a conflicting suffix', () => {
    const s = MemoryStorage.bootstrap(['a']);
    s.append([2, 3, 4].map((i) => ({ term: 2, index: i, type: EntryType.Normal, data: enc('old') })));
    s.append([{ term: 3, index: 3, type: EntryType.Normal, data: enc('new') }]);
    expect(s.lastIndex()).toBe(3);
    expect(s.term(3)).toBe(3);
  });
});

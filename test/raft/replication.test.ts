// Raft §5.3 log replication: commit by quorum, conflicting suffixes, fast back-off, flow
// control, and the durability contract of Ready.
import { pack, unpack } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { MemoryStorage } from '../../src/raft/memory-storage.js';
import { RaftNode } from '../../src/raft/node.js';
import { ProgressState } from '../../src/raft/progress.js';
import { EntryType, MessageType, Role } from '../../src/raft/types.js';
import { appliedTexts, config, TestNet } from './harness.js';

const enc = (s: string) => new TextEncoder().encode(s);

describe('§5.3 log replication', () => {
  it('replicates a batch to every follower and commits it by quorum', () => {
    const net = new TestNet(['a', 'b', 'c']);
    net.elect('a');
    const r = net.node('a').raft.propose([enc('p1'), enc('p2'), enc('p3')]);
    expect(r).toEqual({ ok: true, first: 3, last: 5 });
    net.stabilize();
    for (const n of net.nodes.values()) expect(appliedTexts(n)).toEqual(['p1', 'p2', 'p3']);
  });

  it('commits with a majority while a minority is unreachable, and catches the minority up later', () => {
    const net = new TestNet(['a', 'b', 'c']);
    net.elect('a');
    net.isolate('c');
    net.propose('a', 'p1');
    expect(appliedTexts(net.node('a'))).toEqual(['p1']);
    expect(appliedTexts(net.node('c'))).toEqual([]);
    net.heal();
    net.tickAll(2);
    expect(appliedTexts(net.node('c'))).toEqual(['p1']);
  });

  it('refuses proposals on a follower with the known leader', () => {
    const net = new TestNet(['a', 'b', 'c']);
    net.elect('a');
    expect(net.node('b').raft.propose([enc('x')])).toEqual({ ok: false, code: 'NOT_LEADER', leader: 'a' });
  });

  it('a follower truncates a conflicting uncommitted suffix (interaction: conflicting suffix)', () => {
    const net = new TestNet(['a', 'b', 'c']);
    net.elect('a');
    net.propose('a', 'base');
    // a, cut off, appends two entries that never commit.
    net.isolate('a');
    net.node('a').raft.propose([enc('lost1'), enc('lost2')]);
    net.stabilize();
    net.elect('b');
    net.propose('b', 'won');
    net.heal();
    net.tickAll(3);
    const a = net.node('a');
    expect(a.raft.role()).toBe(Role.Follower);
    expect(appliedTexts(a)).toEqual(['base', 'won']);
    // The stored log holds b's entries at the indexes where a's lost ones were.
    const stored = a.storage.entries(4, a.storage.lastIndex() + 1, 1 << 20).filter((e) => e.data.length > 0);
    expect(stored.map((e) => new TextDecoder().decode(e.data))).toEqual(['won']);
  });

  it('fast back-off: a long divergent suffix is skipped by term, not probed index by index', () => {
    const net = new TestNet(['a', 'b', 'c']);
    net.elect('a');
    net.isolate('a');
    for (let i = 0; i < 50; i++) net.node('a').raft.propose([enc(`lost${i}`)]);
    net.stabilize();
    net.elect('b');
    for (let i = 0; i < 60; i++) net.node('b').raft.propose([enc(`won${i}`)]);
    net.stabilize();
    // c leads a later term: its first probe to a starts far beyond the divergence point.
    net.elect('c');
    net.heal();
    const before = net.sent.length;
    net.tickAll(3);
    const rejects = net.sent.slice(before).filter((m) => m.type === MessageType.AppResp && m.reject && m.from === 'a');
    expect(rejects.length).toBeGreaterThan(0);
    expect(rejects.length).toBeLessThanOrEqual(3);
    expect(appliedTexts(net.node('a')).filter((t) => t.startsWith('won'))).toHaveLength(60);
    expect(appliedTexts(net.node('a')).some((t) => t.startsWith('lost'))).toBe(false);
  });

  it('flow control: at most maxInflightMsgs Apps are outstanding per follower in replicate state', () => {
    const net = new TestNet(['a', 'b'], { maxInflightMsgs: 2 });
    net.elect('a');
    const a = net.node('a').raft;
    net.cut.add('b->a'); // acks are lost: the window fills up
    for (let i = 0; i < 10; i++) a.propose([enc(`p${i}`)]);
    net.stabilize();
    const apps = net.sent.filter((m) => m.type === MessageType.App && m.to === 'b' && (m.entries?.length ?? 0) > 0);
    // One App per proposal until the window (2) is full; the rest waits.
    expect(a.status().progress!.b!.state).toBe(ProgressState.Replicate);
    expect(apps.filter((m) => (m.entries![0]!.index ?? 0) > 2).length).toBe(2);
    net.heal();
    net.tickAll(3);
    expect(appliedTexts(net.node('b'))).toHaveLength(10);
  });

  it('flow control: maxInflightBytes bounds the bytes in flight', () => {
    const net = new TestNet(['a', 'b'], { maxInflightBytes: 100 });
    net.elect('a');
    net.cut.add('b->a');
    const a = net.node('a').raft;
    for (let i = 0; i < 10; i++) a.propose([new Uint8Array(60)]);
    net.stabilize();
    const apps = net.sent.filter((m) => m.type === MessageType.App && m.to === 'b' && (m.entries?.length ?? 0) > 0 && m.entries![0]!.data.length === 60);
    expect(apps.length).toBe(2); // 60 B, then 120 B ≥ 100 B: full
  });

  it('a probe message is sent one at a time until the follower answers', () => {
    const net = new TestNet(['a', 'b', 'c']);
    net.elect('a');
    net.isolate('c');
    const a = net.node('a').raft;
    a.step({ type: MessageType.Unreachable, from: 'c', to: 'a', term: 0 });
    expect(a.status().progress!.c!.state).toBe(ProgressState.Probe);
    for (let i = 0; i < 5; i++) a.propose([enc(`p${i}`)]);
    net.stabilize();
    const toC = net.sent.filter((m) => m.type === MessageType.App && m.to === 'c' && (m.entries?.length ?? 0) > 0 && m.entries![0]!.index > 2);
    expect(toC.length).toBe(1);
  });
});

describe('durability contract of Ready', () => {
  it('acks and votes wait for persistence; leader appends may leave at once', () => {
    const net = new TestNet(['a', 'b', 'c']);
    net.elect('a');
    const a = net.node('a').raft;
    a.propose([enc('x')]);
    const rd = a.ready()!;
    expect(rd.entries.map((e) => e.index)).toEqual([3]);
    expect(rd.messages.filter((m) => m.type === MessageType.App)).toHaveLength(2);
    expect(rd.messagesAfterPersist).toHaveLength(0);
    // The leader does not count itself before advance(): with both followers' acks missing, no commit.
    expect(a.status().progress!.a!.match).toBe(2);
    net.node('a').storage.append(rd.entries);
    a.advance(rd);
    expect(a.status().progress!.a!.match).toBe(3);

    const b = net.node('b').raft;
    b.step(rd.messages.find((m) => m.to === 'b')!);
    const rb = b.ready()!;
    expect(rb.entries.map((e) => e.index)).toEqual([3]);
    expect(rb.messages).toHaveLength(0);
    expect(rb.messagesAfterPersist.map((m) => [m.type, m.index])).toEqual([[MessageType.AppResp, 3]]);
  });

  it('hands out one Ready at a time; work done meanwhile comes in the next one', () => {
    const net = new TestNet(['a', 'b', 'c']);
    net.elect('a');
    const a = net.node('a').raft;
    a.propose([enc('1')]);
    const r1 = a.ready()!;
    a.propose([enc('2')]);
    expect(a.ready()).toBeNull();
    a.advance(r1);
    const r2 = a.ready()!;
    expect(r2.entries.map((e) => e.index)).toEqual([4]);
    expect(() => a.advance(r1)).toThrow(/outstanding/);
  });

  it('a node restarts from its persisted state (term, vote, log, commit)', () => {
    const net = new TestNet(['a', 'b', 'c']);
    net.elect('a');
    net.propose('a', 'x', 'y');
    const b = net.node('b');
    const restarted = new RaftNode({ ...config('b'), applied: b.applied.at(-1)!.index }, b.storage);
    const st = restarted.status();
    expect(st.term).toBe(net.node('a').raft.term);
    expect(st.vote).toBe('a');
    expect(st.lastIndex).toBe(4);
    expect(st.role).toBe(Role.Follower);
    expect(restarted.ready()?.committedEntries ?? []).toHaveLength(0);
    // Without an applied index, committed entries are replayed.
    const replay = new RaftNode(config('b'), b.storage);
    const rd = replay.ready();
    expect(rd?.committedEntries.map((e) => e.index)).toEqual([2, 3, 4]);
  });

  it('messages are plain objects that survive structured cloning (msgpackr-encodable)', () => {
    const r = new RaftNode(config('a'), MemoryStorage.bootstrap(['a', 'b']));
    for (let i = 0; i < 25; i++) r.tick();
    const rd = r.ready()!;
    const all = [...rd.messages, ...rd.messagesAfterPersist];
    expect(all.length).toBeGreaterThan(0);
    for (const m of all) expect(structuredClone(m)).toEqual(m);
    // And through msgpackr (the peer transport's codec), entries and their bytes included.
    const net = new TestNet(['a', 'b']);
    net.elect('a');
    net.node('a').raft.propose([enc('payload')]);
    const app = net.node('a').raft.ready()!.messages.find((m) => m.type === MessageType.App)!;
    const back = unpack(pack(app)) as typeof app;
    expect({ ...back, entries: undefined }).toEqual({ ...app, entries: undefined });
    expect(back.entries!.map((e) => ({ ...e, data: Array.from(e.data) }))).toEqual(app.entries!.map((e) => ({ ...e, data: Array.from(e.data) })));
    expect(rd.hardState?.vote).toBe('a');
    expect(rd.entries.every((e) => e.type === EntryType.Normal)).toBe(true);
  });
});

// Raft §5.2 (leader election), PreVote and CheckQuorum (thesis §9.6, §6.2).
import { describe, expect, it } from 'vitest';
import { MemoryStorage } from '../../src/raft/memory-storage.js';
import { RaftNode } from '../../src/raft/node.js';
import { MessageType, Role } from '../../src/raft/types.js';
import { config, TestNet } from './harness.js';

describe('§5.2 leader election', () => {
  it('a follower that times out becomes candidate, wins a majority and appends a no-op', () => {
    const net = new TestNet(['a', 'b', 'c']);
    net.elect('a');
    const a = net.node('a').raft;
    expect(a.role()).toBe(Role.Leader);
    expect(a.term).toBe(2);
    expect(net.node('b').raft.leader).toBe('a');
    // The no-op of term 2 is committed and applied everywhere.
    for (const n of net.nodes.values()) {
      expect(n.applied.map((e) => [e.index, e.term, e.data.length])).toEqual([[2, 2, 0]]);
    }
  });

  it('election timeouts are randomized in [electionTick, 2·electionTick)', () => {
    const seen = new Set<number>();
    for (let k = 0; k < 20; k++) {
      const r = new RaftNode(config(`x${k}`), MemoryStorage.bootstrap([`x${k}`, 'y']));
      let ticks = 0;
      while (r.role() === Role.Follower && ticks < 100) {
        r.tick();
        ticks++;
      }
      expect(ticks).toBeGreaterThanOrEqual(10);
      expect(ticks).toBeLessThan(20);
      seen.add(ticks);
    }
    expect(seen.size).toBeGreaterThan(1);
  });

  it('grants at most one vote per term, and only to an up-to-date log', () => {
    const r = new RaftNode(config('a'), MemoryStorage.bootstrap(['a', 'b', 'c']));
    r.step({ type: MessageType.Vote, from: 'b', to: 'a', term: 5, index: 1, logTerm: 1 });
    r.step({ type: MessageType.Vote, from: 'c', to: 'a', term: 5, index: 1, logTerm: 1 });
    const rd = r.ready()!;
    const resps = rd.messagesAfterPersist.filter((m) => m.type === MessageType.VoteResp);
    expect(resps.map((m) => [m.to, !!m.reject])).toEqual([
      ['b', false],
      ['c', true],
    ]);
    // The vote is persisted before the grant may be sent.
    expect(rd.hardState).toMatchObject({ term: 5, vote: 'b' });
    expect(rd.messages.some((m) => m.type === MessageType.VoteResp)).toBe(false);
    r.advance(rd);
    // A candidate whose log is behind ours is refused (§5.4.1).
    r.step({ type: MessageType.Vote, from: 'c', to: 'a', term: 6, index: 0, logTerm: 0 });
    const rd2 = r.ready()!;
    expect(rd2.messagesAfterPersist.find((m) => m.type === MessageType.VoteResp)?.reject).toBe(true);
  });

  it('rejecting a vote adopts the higher term but keeps the election timer running (Figure 2)', () => {
    // Fixed randomness: every election timeout is 19 ticks.
    const r = new RaftNode(config('a', { random: (n) => n - 1 }), MemoryStorage.bootstrap(['a', 'b', 'c']));
    // a's log is ahead of the candidate's (its own no-op at index 2 after a lost election).
    r.step({ type: MessageType.App, from: 'b', to: 'a', term: 2, index: 1, logTerm: 1, entries: [{ term: 2, index: 2, type: 0, data: new Uint8Array(0) }], commit: 1 });
    for (let i = 0; i < 5; i++) r.tick();
    r.step({ type: MessageType.Vote, from: 'c', to: 'a', term: 3, index: 1, logTerm: 1 });
    expect(r.term).toBe(3);
    const rd = r.ready()!;
    expect(rd.messagesAfterPersist.find((m) => m.type === MessageType.VoteResp)?.reject).toBe(true);
    r.advance(rd);
    // The 5 ticks already elapsed still count: it campaigns after 14 more, not 19.
    let ticks = 0;
    while (r.role() === Role.Follower && ticks < 40) {
      r.tick();
      ticks++;
    }
    expect(r.role()).toBe(Role.Candidate);
    expect(ticks).toBe(14);
  });

  it('a candidate steps down when it hears from a leader of its term', () => {
    const net = new TestNet(['a', 'b', 'c']);
    net.isolate('a');
    net.tick('a', 30);
    net.stabilize();
    expect(net.node('a').raft.role()).toBe(Role.Candidate);
    const t = net.node('a').raft.term;
    net.node('a').raft.step({ type: MessageType.App, from: 'b', to: 'a', term: t, index: 1, logTerm: 1, entries: [], commit: 1 });
    expect(net.node('a').raft.role()).toBe(Role.Follower);
    expect(net.node('a').raft.leader).toBe('b');
  });

  it('a stale leader steps down when it sees a higher term', () => {
    const net = new TestNet(['a', 'b', 'c']);
    net.elect('a');
    net.isolate('a');
    net.elect('b');
    expect(net.node('a').raft.isLeader()).toBe(true); // still believes it leads
    net.heal();
    net.tick('b', 1);
    net.stabilize();
    expect(net.node('a').raft.role()).toBe(Role.Follower);
    expect(net.node('a').raft.leader).toBe('b');
    expect(net.node('a').raft.term).toBe(net.node('b').raft.term);
  });

  it('a single-voter cluster elects itself at once', () => {
    const net = new TestNet(['solo']);
    net.elect('solo');
    net.propose('solo', 'x');
    expect(net.node('solo').applied.at(-1)?.index).toBe(3);
  });
});

describe('PreVote and CheckQuorum', () => {
  it('a partitioned node with PreVote does not bump its term or disrupt the leader when it returns', () => {
    const net = new TestNet(['a', 'b', 'c'], { preVote: true, checkQuorum: true });
    net.elect('a');
    const term = net.node('a').raft.term;
    net.isolate('c');
    net.tick('c', 100);
    net.stabilize();
    const c = net.node('c').raft;
    expect(c.term).toBe(term); // pre-votes failed; no real election started
    expect(c.role()).toBe(Role.PreCandidate);
    net.heal();
    net.tickAll(3);
    expect(net.node('a').raft.isLeader()).toBe(true);
    expect(net.node('a').raft.term).toBe(term);
    expect(net.node('c').raft.leader).toBe('a');
  });

  it('without PreVote the same partitioned node does disrupt the cluster (contrast)', () => {
    const net = new TestNet(['a', 'b', 'c']);
    net.elect('a');
    const term = net.node('a').raft.term;
    net.isolate('c');
    net.tick('c', 100);
    net.stabilize();
    expect(net.node('c').raft.term).toBeGreaterThan(term + 3);
    net.heal();
    net.tickAll(25);
    expect(net.node('a').raft.term).toBeGreaterThan(term);
  });

  it('CheckQuorum: a leader that hears from no majority for an election timeout steps down', () => {
    const net = new TestNet(['a', 'b', 'c'], { preVote: true, checkQuorum: true });
    net.elect('a');
    net.isolate('a');
    for (let i = 0; i < 25; i++) {
      net.tick('a');
      net.stabilize();
    }
    expect(net.node('a').raft.role()).toBe(Role.Follower);
  });

  it('CheckQuorum lease: followers ignore vote requests while they hear from a leader', () => {
    const net = new TestNet(['a', 'b', 'c'], { preVote: true, checkQuorum: true });
    net.elect('a');
    const b = net.node('b').raft;
    const term = b.term;
    b.step({ type: MessageType.Vote, from: 'c', to: 'b', term: term + 1, index: 100, logTerm: 100 });
    expect(b.term).toBe(term);
    expect(b.leader).toBe('a');
  });
});

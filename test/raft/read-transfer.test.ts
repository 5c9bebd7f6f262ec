// ReadIndex (thesis §6.4) and leadership transfer (thesis §3.10).
import { describe, expect, it } from 'vitest';
import { MessageType, Role } from '../../src/raft/types.js';
import { TestNet } from './harness.js';

const ctx = (s: string) => new TextEncoder().encode(s);

describe('ReadIndex', () => {
  it('the leader answers after a heartbeat round confirms its leadership', () => {
    const net = new TestNet(['a', 'b', 'c']);
    net.elect('a');
    net.propose('a', 'w');
    const a = net.node('a');
    expect(a.raft.readIndex(ctx('r1')).ok).toBe(true);
    // Not yet: no quorum has answered the heartbeat.
    expect(a.readStates).toHaveLength(0);
    net.stabilize();
    expect(a.readStates.map((r) => [r.index, new TextDecoder().decode(r.context)])).toEqual([[a.raft.log.committed, 'r1']]);
  });

  it('a follower forwards the read to the leader and gets the read index back', () => {
    const net = new TestNet(['a', 'b', 'c']);
    net.elect('a');
    net.propose('a', 'w');
    const b = net.node('b');
    expect(b.raft.readIndex(ctx('rb')).ok).toBe(true);
    net.stabilize();
    expect(b.readStates).toHaveLength(1);
    expect(b.readStates[0]!.index).toBe(net.node('a').raft.log.committed);
  });

  it('a partitioned (stale) leader never answers a read', () => {
    const net = new TestNet(['a', 'b', 'c'], { checkQuorum: true, preVote: true });
    net.elect('a');
    net.isolate('a');
    // Only b and c see time pass: a still believes it leads.
    for (let i = 0; i < 60 && !net.node('b').raft.isLeader() && !net.node('c').raft.isLeader(); i++) {
      net.tick('b');
      net.tick('c');
      net.stabilize();
    }
    const newLeader = net.node('b').raft.isLeader() ? 'b' : 'c';
    net.propose(newLeader, 'newer');
    expect(net.node('a').raft.isLeader()).toBe(true);
    net.node('a').raft.readIndex(ctx('stale'));
    net.stabilize();
    expect(net.node('a').readStates).toHaveLength(0);
    // Once the partition heals it learns the newer term and the read is dropped, never answered.
    net.heal();
    net.tickAll(2);
    expect(net.node('a').raft.isLeader()).toBe(false);
    expect(net.node('a').readStates).toHaveLength(0);
  });

  it('a new leader serves reads only once its first entry of the term is committed', () => {
    const net = new TestNet(['a', 'b', 'c']);
    net.dropTypes.add(MessageType.AppResp);
    net.elect('a');
    const a = net.node('a');
    a.raft.readIndex(ctx('early'));
    net.stabilize();
    expect(a.readStates).toHaveLength(0);
    net.dropTypes.clear();
    net.tickAll(2);
    expect(a.readStates).toHaveLength(1);
    expect(a.raft.log.term(a.readStates[0]!.index)).toBe(a.raft.term);
  });

  it('several pending reads are released together by one heartbeat quorum, in order', () => {
    const net = new TestNet(['a', 'b', 'c']);
    net.elect('a');
    const a = net.node('a');
    net.cut.add('b->a');
    net.cut.add('c->a');
    a.raft.readIndex(ctx('r1'));
    net.propose('a', 'w');
    a.raft.readIndex(ctx('r2'));
    net.stabilize();
    expect(a.readStates).toHaveLength(0);
    net.heal();
    net.tick('a');
    net.stabilize();
    expect(a.readStates.map((r) => new TextDecoder().decode(r.context))).toEqual(['r1', 'r2']);
    expect(a.readStates[0]!.index).toBeLessThanOrEqual(a.readStates[1]!.index);
  });

  it('a follower without a known leader refuses', () => {
    const net = new TestNet(['a', 'b', 'c']);
    expect(net.node('b').raft.readIndex(ctx('x'))).toEqual({ ok: false, code: 'NOT_LEADER', leader: null });
  });
});

describe('leadership transfer', () => {
  it('catches the target up, sends TimeoutNow, and the target wins the next term', () => {
    const net = new TestNet(['a', 'b', 'c'], { preVote: true, checkQuorum: true });
    net.elect('a');
    net.isolate('c');
    net.propose('a', 'x');
    net.heal();
    const a = net.node('a').raft;
    expect(a.transferLeader('c').ok).toBe(true);
    expect(a.propose([ctx('blocked')])).toMatchObject({ ok: false, code: 'TRANSFER_IN_PROGRESS' });
    net.stabilize();
    expect(net.sent.some((m) => m.type === MessageType.TimeoutNow && m.to === 'c')).toBe(true);
    expect(net.node('c').raft.isLeader()).toBe(true);
    expect(a.role()).toBe(Role.Follower);
    expect(a.leader).toBe('c');
  });

  it('is aborted after an election timeout when the target does not respond', () => {
    const net = new TestNet(['a', 'b', 'c']);
    net.elect('a');
    net.isolate('c');
    const a = net.node('a').raft;
    a.transferLeader('c');
    expect(a.status().leadTransferee).toBe('c');
    net.tick('a', 10);
    net.stabilize();
    expect(a.status().leadTransferee).toBeNull();
    expect(a.isLeader()).toBe(true);
    expect(a.propose([ctx('ok')]).ok).toBe(true);
  });

  it('refuses a non-voter target and works only on the leader', () => {
    const net = new TestNet(['a', 'b', 'c']);
    net.elect('a');
    expect(net.node('a').raft.transferLeader('zz')).toMatchObject({ ok: false, code: 'NOT_VOTER' });
    expect(net.node('b').raft.transferLeader('c')).toMatchObject({ ok: false, code: 'NOT_LEADER', leader: 'a' });
  });
});

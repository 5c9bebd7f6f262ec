// Raft §6 membership changes (single-server, applied through the log), learners.
import { describe, expect, it } from 'vitest';
import { applyToConfState, confChangeProblem } from '../../src/raft/conf.js';
import { decodeConfChange, encodeConfChange } from '../../src/raft/conf-change-codec.js';
import { MemoryStorage } from '../../src/raft/memory-storage.js';
import { ConfChangeType, MessageType, Role } from '../../src/raft/types.js';
import { appliedTexts, TestNet } from './harness.js';

describe('§6 membership changes', () => {
  it('adds a learner that catches up (via snapshot) but neither votes nor counts for commit, then promotes it', () => {
    const net = new TestNet(['a', 'b', 'c']);
    net.elect('a');
    net.propose('a', 'p1');
    // d starts empty; it learns everything from the leader.
    net.add('d', new MemoryStorage(), {}, 0);
    const a = net.node('a').raft;
    expect(a.proposeConfChange({ type: ConfChangeType.AddLearner, node: 'd' }).ok).toBe(true);
    net.stabilize();
    net.tickAll(2);
    const d = net.node('d');
    expect(d.raft.role()).toBe(Role.Learner);
    expect(d.raft.status().conf).toEqual({ voters: ['a', 'b', 'c'], learners: ['d'] });
    expect(appliedTexts(d)).toEqual(['p1']);
    // A learner never campaigns.
    net.tick('d', 50);
    net.stabilize();
    expect(net.node('a').raft.isLeader()).toBe(true);
    // Learner acks do not make a quorum: with b and c gone nothing commits.
    net.isolate('b');
    net.isolate('c');
    const commit = a.log.committed;
    a.propose([new TextEncoder().encode('p2')]);
    net.stabilize();
    expect(a.log.committed).toBe(commit);
    net.heal();
    net.stabilize();
    net.tickAll(1);
    expect(a.proposeConfChange({ type: ConfChangeType.PromoteLearner, node: 'd' }).ok).toBe(true);
    net.stabilize();
    net.tickAll(1);
    for (const n of net.nodes.values()) expect(n.raft.status().conf).toEqual({ voters: ['a', 'b', 'c', 'd'], learners: [] });
    expect(net.node('d').raft.role()).toBe(Role.Follower);
  });

  it('allows one pending conf change at a time', () => {
    const net = new TestNet(['a', 'b', 'c']);
    net.elect('a');
    const a = net.node('a').raft;
    net.cut.add('b->a');
    net.cut.add('c->a');
    expect(a.proposeConfChange({ type: ConfChangeType.AddLearner, node: 'x' }).ok).toBe(true);
    net.stabilize();
    const second = a.proposeConfChange({ type: ConfChangeType.AddLearner, node: 'y' });
    expect(second).toMatchObject({ ok: false, code: 'CONF_CHANGE_PENDING' });
    net.heal();
    net.tickAll(1);
    expect(a.proposeConfChange({ type: ConfChangeType.AddLearner, node: 'y' }).ok).toBe(true);
  });

  it('refuses conf changes before the new leader has applied its own no-op', () => {
    const net = new TestNet(['a', 'b', 'c']);
    net.isolate('a');
    net.tick('a', 30);
    net.heal();
    net.dropTypes.add(MessageType.AppResp);
    net.elect('a');
    expect(net.node('a').raft.proposeConfChange({ type: ConfChangeType.AddLearner, node: 'x' })).toMatchObject({ ok: false, code: 'CONF_CHANGE_PENDING' });
  });

  it('removes a follower; the rest keep committing, and the removed node stops campaigning', () => {
    const net = new TestNet(['a', 'b', 'c']);
    net.elect('a');
    const a = net.node('a').raft;
    expect(a.proposeConfChange({ type: ConfChangeType.RemoveNode, node: 'c' }).ok).toBe(true);
    net.stabilize();
    net.tickAll(1);
    expect(a.status().conf.voters).toEqual(['a', 'b']);
    expect(Object.keys(a.status().progress!)).toEqual(['a', 'b']);
    net.isolate('c');
    net.propose('a', 'after');
    expect(appliedTexts(net.node('b'))).toEqual(['after']);
    const c = net.node('c');
    expect(c.raft.status().conf.voters).toEqual(['a', 'b']);
    const term = c.raft.term;
    net.tick('c', 100);
    expect(c.raft.term).toBe(term);
  });

  it('a removed leader steps down and the others elect a new one', () => {
    const net = new TestNet(['a', 'b', 'c']);
    net.elect('a');
    net.node('a').raft.proposeConfChange({ type: ConfChangeType.RemoveNode, node: 'a' });
    net.stabilize();
    expect(net.node('a').raft.isLeader()).toBe(false);
    net.tickAll(30);
    const leaders = ['b', 'c'].filter((id) => net.node(id).raft.isLeader());
    expect(leaders).toHaveLength(1);
  });

  it('a node that has not applied a committed conf change does not campaign', () => {
    const net = new TestNet(['a', 'b', 'c']);
    net.elect('a');
    net.node('a').raft.proposeConfChange({ type: ConfChangeType.AddLearner, node: 'l' });
    // b receives and commits the entry, but its run loop has not applied it yet.
    const b = net.node('b').raft;
    const rd = net.node('a').raft.ready()!;
    net.node('a').storage.append(rd.entries);
    net.node('a').raft.advance(rd);
    const app = rd.messages.find((m) => m.to === 'b')!;
    b.step({ ...app, commit: app.entries![0]!.index });
    expect(b.log.committed).toBe(app.entries![0]!.index);
    const term = b.term;
    for (let i = 0; i < 50; i++) b.tick();
    expect(b.term).toBe(term);
    expect(b.role()).toBe(Role.Follower);
  });

  it('a fresh node with an empty configuration waits for the leader', () => {
    const net = new TestNet(['a', 'b', 'c']);
    const x = net.add('x', new MemoryStorage(), {}, 0);
    for (let i = 0; i < 100; i++) x.raft.tick();
    expect(x.raft.term).toBe(0);
    expect(x.raft.ready()).toBeNull();
  });

  it('validates changes and applies invalid ones as deterministic no-ops', () => {
    const cs = { voters: ['a'], learners: ['l'] };
    expect(confChangeProblem(cs, { type: ConfChangeType.RemoveNode, node: 'a' })).toMatch(/last voter/);
    expect(confChangeProblem(cs, { type: ConfChangeType.PromoteLearner, node: 'a' })).toMatch(/not a learner/);
    expect(confChangeProblem(cs, { type: ConfChangeType.AddLearner, node: 'a' })).toMatch(/demotion/);
    expect(applyToConfState(cs, { type: ConfChangeType.RemoveNode, node: 'a' })).toBe(cs);
    expect(applyToConfState(cs, { type: ConfChangeType.AddVoter, node: 'l' })).toEqual({ voters: ['a', 'l'], learners: [] });
    const cc = { type: ConfChangeType.AddVoter, node: 'n7', context: new Uint8Array([1, 2, 3]) };
    expect(decodeConfChange(encodeConfChange(cc))).toEqual(cc);
    expect(() => decodeConfChange(new Uint8Array([0, 0]))).toThrow(RangeError);
  });
});

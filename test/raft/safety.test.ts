// Raft §5.4 safety, including the Figure 8 scenario: a leader must not commit an entry of an
// earlier term by counting replicas. The test-only hook that breaks the rule shows what goes
// wrong without it.
import { describe, expect, it } from 'vitest';
import { type Message, MessageType } from '../../src/raft/types.js';
import { TestNet } from './harness.js';

function figure8(unsafe: boolean): TestNet {
  const net = new TestNet(['a', 'b', 'c', 'd', 'e'], { maxSizePerMsg: 0, unsafeTestHooks: { commitOldTermEntries: unsafe } });
  // (a) a leads term 2; its no-op (index 2) is committed everywhere.
  net.elect('a');
  // a, cut off, appends x at index 3 in term 2 (on its log only).
  net.isolate('a');
  net.propose('a', 'x');
  // (b) e is elected in term 3 by b, c, d; its no-op (index 3, term 3) never leaves e.
  net.drop = (m: Message) => m.from === 'e' && m.type === MessageType.App && (m.entries?.length ?? 0) > 0;
  net.elect('e');
  expect(net.node('e').raft.term).toBe(3);
  net.isolate('e');
  net.drop = null;
  // (c) a learns of term 3, returns and is elected in term 4 by b, c, d; it brings x (term 2)
  // to a majority, but its own no-op (index 4) reaches nobody.
  net.node('a').raft.step({ type: MessageType.AppResp, from: 'b', to: 'a', term: 3 });
  for (const f of ['b', 'c', 'd']) {
    net.cut.delete(`a->${f}`);
    net.cut.delete(`${f}->a`);
  }
  const acked3 = new Set<string>();
  net.drop = (m: Message) => {
    if (m.type === MessageType.AppResp && m.to === 'a' && !m.reject && m.index === 3) acked3.add(m.from);
    return m.from === 'a' && m.type === MessageType.App && acked3.has(m.to) && !!m.entries?.some((e) => e.index === 4);
  };
  net.elect('a');
  expect(net.node('a').raft.term).toBe(4);
  expect(acked3.size).toBeGreaterThanOrEqual(2);
  return net;
}

describe('§5.4 safety — Figure 8', () => {
  it('an entry of an earlier term replicated on a majority is not committed by counting replicas', () => {
    const net = figure8(false);
    const a = net.node('a').raft;
    expect(a.status().progress!.b!.match).toBe(3);
    expect(a.log.term(3)).toBe(2);
    expect(a.log.committed).toBe(2);
    // (d) a fails; e is elected in term 5 and overwrites index 3 — legal, since x was never committed.
    net.isolate('a');
    net.drop = null;
    for (const f of ['b', 'c', 'd']) {
      net.cut.delete(`e->${f}`);
      net.cut.delete(`${f}->e`);
    }
    net.node('e').raft.step({ type: MessageType.AppResp, from: 'b', to: 'e', term: 4 });
    net.elect('e');
    expect(net.node('e').raft.term).toBe(5);
    net.propose('e', 'y');
    const b = net.node('b');
    expect(b.applied.find((e) => e.index === 3)?.term).toBe(3);
    // (e) a rejoins and converges: every replica applied the same entry at every index.
    net.heal();
    net.tickAll(3);
    const ref = new Map(b.applied.map((e) => [e.index, e.term]));
    for (const n of net.nodes.values()) for (const e of n.applied) expect(ref.get(e.index) ?? e.term).toBe(e.term);
    expect(net.node('a').applied.find((e) => e.index === 3)?.term).toBe(3);
  });

  it('with the broken commit rule (test-only hook) the same run loses a committed entry', () => {
    const net = figure8(true);
    const a = net.node('a');
    expect(a.raft.log.committed).toBe(3); // committed by counting replicas of a term-2 entry
    expect(a.applied.find((e) => e.index === 3)?.term).toBe(2);
    net.isolate('a');
    net.drop = null;
    for (const f of ['b', 'c', 'd']) {
      net.cut.delete(`e->${f}`);
      net.cut.delete(`${f}->e`);
    }
    net.node('e').raft.step({ type: MessageType.AppResp, from: 'b', to: 'e', term: 4 });
    net.elect('e');
    expect(net.node('e').raft.term).toBe(5);
    net.propose('e', 'y');
    // Another replica applied a different entry at index 3: state machine safety is violated.
    expect(net.node('b').applied.find((e) => e.index === 3)?.term).toBe(3);
  });

  it('a leader only commits entries of its own term directly; earlier ones commit with them', () => {
    const net = new TestNet(['a', 'b', 'c']);
    net.elect('a');
    net.propose('a', 'p1');
    const a = net.node('a').raft;
    expect(a.log.term(a.log.committed)).toBe(a.term);
    net.isolate('a');
    net.elect('b');
    // b's no-op of its term commits every earlier entry it holds.
    expect(net.node('b').raft.log.committed).toBe(net.node('b').raft.log.lastIndex());
  });
});

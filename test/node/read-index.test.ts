// ReadIndexBatcher: one round per event-loop turn, contexts unique per process (issue 9 defect 4),
// and the read time a leader's answer carries (issue 9 defect 7).

import { describe, expect, it } from 'vitest';
import { ReadIndexBatcher, type ReadIndexSink } from '../../src/node/read-index.js';

class FakeSink implements ReadIndexSink {
  readonly sent: Uint8Array[] = [];
  leader(): string | null {
    return 'n1';
  }
  readIndex(ctx: Uint8Array): boolean {
    this.sent.push(Buffer.from(ctx));
    return true;
  }
}

const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('ReadIndexBatcher', () => {
  it('issue 9 defect 4: a restarted node never matches an answer meant for its previous life', async () => {
    // First life: one read round is in flight when the process dies.
    const sink1 = new FakeSink();
    const life1 = new ReadIndexBatcher('n2', sink1, 1000);
    void life1.request().catch(() => undefined);
    await turn();
    expect(sink1.sent).toHaveLength(1);
    const oldCtx = sink1.sent[0]!;

    // Second life, same node id: its first round must not be answered by the old round's
    // (late) ReadState, which carries a read index from before the restart.
    const sink2 = new FakeSink();
    const life2 = new ReadIndexBatcher('n2', sink2, 1000);
    let answered: bigint | null = null;
    void life2.request().then((r) => {
      answered = r.index;
    });
    await turn();
    expect(Buffer.compare(sink2.sent[0]!, oldCtx)).not.toBe(0);
    life2.onReadState(7, oldCtx);
    await turn();
    expect(answered).toBeNull();
    life2.onReadState(9, sink2.sent[0]!);
    await turn();
    expect(answered).toBe(9n);
    life1.failAll('CLOSED', null);
    life2.failAll('CLOSED', null);
  });

  it('batches the reads of one turn into one round', async () => {
    const sink = new FakeSink();
    const b = new ReadIndexBatcher('n1', sink, 1000);
    const ps = [b.request(), b.request(), b.request()];
    await turn();
    expect(sink.sent).toHaveLength(1);
    b.onReadState(5, sink.sent[0]!);
    expect((await Promise.all(ps)).map((r) => r.index)).toEqual([5n, 5n, 5n]);
  });

  it('issue 9 defect 7: a round answered by the leader carries the leader read time; a local round uses the local one', async () => {
    const sink = new FakeSink();
    const b = new ReadIndexBatcher('n2', sink, 1000, () => 1000n);
    const p1 = b.request();
    await turn();
    b.noteReadTime(sink.sent[0]!, 5000n); // the leader's time, from its ReadIndex answer
    b.onReadState(3, sink.sent[0]!);
    expect(await p1).toEqual({ index: 3n, readTime: 5000n });
    const p2 = b.request();
    await turn();
    b.onReadState(4, sink.sent[1]!); // answered by this node's own core (it leads)
    expect(await p2).toEqual({ index: 4n, readTime: 1000n });
  });
});

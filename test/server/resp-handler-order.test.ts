// RespHandler: one connection's commands take effect in order (issue 9 defect 6). A fake node
// models a follower: a write is answered once the leader applied it, this node applies it later;
// a read's ReadIndex round returns this node's applied index at once (the leader's commit
// index is not ahead of it in this model) — so only the per-connection order makes a pipelined
// `SET k v; GET k` see its write.

import { describe, expect, it } from 'vitest';
import { KvStateMachine } from '../../src/node/fsm/kv-state-machine.js';
import { MemoryKv } from '../../src/node/fsm/memory-kv.js';
import type { FsmResponse } from '../../src/node/fsm/fsm-types.js';
import type { WriteOptions, WriteResult } from '../../src/node/cluster-node.js';
import { ConnectionOrder } from '../../src/server/connection-order.js';
import { NodeMetrics } from '../../src/server/metrics.js';
import type { Reply } from '../../src/server/resp-codec.js';
import { RespHandler, type RespNode } from '../../src/server/resp-handler.js';
import type { ClientContext } from '../../src/server/resp-server.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

class FakeFollower implements RespNode {
  readonly kv = new MemoryKv();
  private readonly leaderKv = new MemoryKv();
  private readonly fsm = new KvStateMachine();
  private last = 0n;
  private applied = 0n;
  private readonly appliedWaiters: { index: bigint; resolve(): void }[] = [];
  readonly events: string[] = [];

  constructor(
    /** Leader round trip before a write is answered. */
    private readonly writeMs: number,
    /** Further delay before this node applies it. */
    private readonly applyLagMs: number,
    /** Duration of a ReadIndex round. */
    private readonly readMs: number,
  ) {}

  now(): bigint {
    return 1_700_000_000_000n;
  }

  async write(payload: Uint8Array, _opts?: WriteOptions): Promise<WriteResult> {
    const index = ++this.last;
    this.events.push(`propose ${index}`);
    await sleep(this.writeMs);
    // The leader applied it: the response is known; this node applies it a little later, in order.
    const r = this.fsm.apply(payload, index, { kv: this.leaderKv });
    setTimeout(() => {
      this.fsm.apply(payload, index, { kv: this.kv });
      this.applied = index;
      for (const w of this.appliedWaiters.splice(0)) {
        if (w.index <= index) w.resolve();
        else this.appliedWaiters.push(w);
      }
    }, this.applyLagMs);
    return { index, response: (r as { response: FsmResponse }).response };
  }

  waitApplied(index: bigint): Promise<void> {
    if (index <= this.applied) return Promise.resolve();
    return new Promise((resolve) => this.appliedWaiters.push({ index, resolve }));
  }

  async linearizableRead(): Promise<bigint> {
    return (await this.linearizableReadAt()).readTime;
  }

  async linearizableReadAt(): Promise<{ index: bigint; readTime: bigint }> {
    this.events.push('read');
    await sleep(this.readMs);
    return { index: this.last, readTime: this.now() };
  }

  readView(): ReturnType<RespNode['readView']> {
    return this.kv;
  }

  status(): ReturnType<RespNode['status']> {
    return { id: 'n2', role: 'follower', leader: 'n1', term: '1', commitIndex: '0', appliedIndex: '0' };
  }
}

function client(id: number): ClientContext {
  return { id, remoteAddress: 'test', name: null, db: 0, closeAfterReply: false, protocol: 2 };
}

/** A reply as a plain value: bulk → string | null, int → number, else the value. */
function val(r: Reply): unknown {
  const x = r as { t: string; v: unknown };
  if (x.t === 'bulk') return x.v === null ? null : Buffer.from(x.v as Uint8Array).toString();
  if (x.t === 'int') return Number(x.v);
  return x.v;
}

/** Dispatches a pipeline the way RespServer does: every command at once, replies in order. */
function pipeline(h: RespHandler, c: ClientContext, cmds: string[][]): Promise<Reply[]> {
  return Promise.all(cmds.map((args) => Promise.resolve(h.execute(args.map((a) => Buffer.from(a)), c))));
}

async function values(h: RespHandler, c: ClientContext, cmds: string[][]): Promise<unknown[]> {
  return (await pipeline(h, c, cmds)).map(val);
}

describe('issue 9 defect 6: per-connection order in RespHandler', () => {
  it('a pipelined SET k v; GET k reads its own write (follower: applied after the reply)', async () => {
    const node = new FakeFollower(5, 5, 0);
    const h = new RespHandler(node, new NodeMetrics());
    const c = client(1);
    for (let i = 0; i < 5; i++) {
      expect(await values(h, c, [['SET', 'k', `v${i}`], ['GET', 'k']])).toEqual(['OK', `v${i}`]);
    }
  });

  it('INCR ×10; GET sees the tenth increment', async () => {
    const node = new FakeFollower(3, 3, 0);
    const h = new RespHandler(node, new NodeMetrics());
    const r = await values(h, client(1), [...Array.from({ length: 10 }, () => ['INCR', 'n']), ['GET', 'n']]);
    expect(r).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, '10']);
  });

  it('GET k; SET k v2: the read does not see the write pipelined after it', async () => {
    const node = new FakeFollower(0, 0, 10);
    const h = new RespHandler(node, new NodeMetrics());
    const c = client(1);
    await pipeline(h, c, [['SET', 'k', 'v1']]);
    expect(await values(h, c, [['GET', 'k'], ['SET', 'k', 'v2'], ['GET', 'k']])).toEqual(['v1', 'OK', 'v2']);
  });

  it('keeps pipelining: consecutive writes are all proposed before the first is answered, other connections do not wait', async () => {
    const node = new FakeFollower(20, 0, 0);
    const h = new RespHandler(node, new NodeMetrics());
    const a = values(h, client(1), [['SET', 'a', '1'], ['SET', 'b', '2'], ['SET', 'c', '3'], ['GET', 'a']]);
    const b = values(h, client(2), [['GET', 'zzz']]);
    await sleep(0);
    // Three proposals in flight at once (one batch), and connection 2's read already started.
    expect(node.events).toEqual(['propose 1', 'propose 2', 'propose 3', 'read']);
    expect(await b).toEqual([null]);
    expect(await a).toEqual(['OK', 'OK', 'OK', '1']);
  });
});

describe('ConnectionOrder', () => {
  it('runs a kind only after the other kind settled, failures included, in submission order', async () => {
    const o = new ConnectionOrder();
    const log: string[] = [];
    const step = (name: string, ms: number, fail = false) => async () => {
      log.push(`start ${name}`);
      await sleep(ms);
      log.push(`end ${name}`);
      if (fail) throw new Error(name);
      return name;
    };
    const ps = [
      o.run('write', step('w1', 10, true)),
      o.run('write', step('w2', 1)),
      o.run('read', step('r1', 5)),
      o.run('read', step('r2', 1)),
      o.run('write', step('w3', 1)),
    ];
    const settled = await Promise.allSettled(ps);
    expect(settled.map((s) => s.status)).toEqual(['rejected', 'fulfilled', 'fulfilled', 'fulfilled', 'fulfilled']);
    expect(log).toEqual(['start w1', 'start w2', 'end w2', 'end w1', 'start r1', 'start r2', 'end r2', 'end r1', 'start w3', 'end w3']);
  });
});

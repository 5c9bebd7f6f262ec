// The per-entry latency metrics the benchmark suite reads (issue 15): the proposer's wrap latency
// (admitted → handed to Raft; 0 while no wrap is installed) and the apply pipeline's apply latency
// (pushed as committed → applied), one observation per proposal / applied entry; and the node's
// Prometheus registry exporting them with the main-thread busy counter.

import { afterEach, describe, expect, it } from 'vitest';
import { encodeProposal } from '../../src/crypto/envelope/proposal.js';
import { ApplyPipeline, type ApplyResult, type ApplyStore, type ApplyTables, type BatchResult, type StateMachine } from '../../src/node/apply-pipeline.js';
import { CutoverCell } from '../../src/node/cutover-cell.js';
import { Proposer, type RaftSink } from '../../src/node/proposer.js';
import { type Entry, EntryType } from '../../src/raft/types.js';
import { NodeMetrics } from '../../src/server/metrics.js';

const enc = new TextEncoder();

class Raft implements RaftSink {
  appended = 0;
  isLeader() {
    return true;
  }
  term() {
    return 1;
  }
  leader() {
    return 'n1';
  }
  transferInProgress() {
    return false;
  }
  proposeEntries(data: Uint8Array[]) {
    this.appended += data.length;
  }
}

class Store implements ApplyStore {
  applied = 0n;
  get(): Uint8Array | undefined {
    return undefined;
  }
  appliedIndex(): bigint {
    return this.applied;
  }
  async commitBatch({ applied }: BatchResult<never>): Promise<void> {
    this.applied = applied;
  }
}

class SlowFsm implements StateMachine<string> {
  apply(_p: Uint8Array, _i: bigint, _t: ApplyTables): ApplyResult<string> {
    const until = performance.now() + 2;
    while (performance.now() < until) {
      // Busy 2 ms per entry, so the apply latency is measurably above zero.
    }
    return { response: 'ok' };
  }
}

const opened: Proposer<string>[] = [];
afterEach(() => {
  for (const p of opened.splice(0)) p.close();
});

describe('latency metrics (issue 15)', () => {
  it('wrap latency: one observation per proposal, 0 without a wrap, admission → hand-off with one', async () => {
    const raft = new Raft();
    const p = new Proposer<string>(raft, 5000);
    opened.push(p);
    const seen: number[] = [];
    p.setWrapObserver((s) => seen.push(s));
    void p.propose(enc.encode('a')).catch(() => undefined);
    void p.propose(enc.encode('b')).catch(() => undefined);
    await new Promise((r) => setTimeout(r, 20));
    expect(raft.appended).toBe(2);
    expect(seen).toEqual([0, 0]);
    p.setWrap(async (payloads) => {
      await new Promise((r) => setTimeout(r, 15));
      return payloads;
    });
    void p.propose(enc.encode('c')).catch(() => undefined);
    await new Promise((r) => setTimeout(r, 60));
    expect(raft.appended).toBe(3);
    expect(seen).toHaveLength(3);
    expect(seen[2]!).toBeGreaterThanOrEqual(0.01);
  });

  it('apply latency: one observation per applied entry, from push to applied', async () => {
    const seen: number[] = [];
    const resolved: bigint[] = [];
    const p = new ApplyPipeline<string>(new SlowFsm(), new Store(), new CutoverCell(), {
      resolve: (i) => resolved.push(i),
      confChange: () => undefined,
      applied: () => undefined,
      halt: () => undefined,
      observeApply: (s) => seen.push(s),
    });
    const entries: Entry[] = [1, 2, 3].map((i) => ({ index: i, term: 1, type: EntryType.Normal, data: encodeProposal(BigInt(i), enc.encode(`k=${i}`)) }));
    // The leader's empty no-op applies without the state machine and is not a proposal: not observed.
    p.push(entries);
    p.push([{ index: 4, term: 1, type: EntryType.Normal, data: new Uint8Array(0) }]);
    await p.idle();
    expect(resolved).toEqual([1n, 2n, 3n]);
    expect(seen).toHaveLength(3);
    // Entry 3 waited for the two before it (2 ms each) and its own apply.
    expect(seen[2]!).toBeGreaterThanOrEqual(0.005);
  });

  it('the node registry exports sealkv_wrap_seconds, sealkv_apply_seconds and sealkv_main_thread_busy_seconds_total', async () => {
    const m = new NodeMetrics(false);
    m.wrapSeconds.observe(0);
    m.applySeconds.observe(0.003);
    const text = await m.registry.metrics();
    expect(text).toMatch(/^sealkv_wrap_seconds_count 1$/m);
    expect(text).toMatch(/^sealkv_apply_seconds_bucket\{le="0.0025"\} 0$/m);
    expect(text).toMatch(/^sealkv_apply_seconds_bucket\{le="0.005"\} 1$/m);
    expect(text).toMatch(/^sealkv_main_thread_busy_seconds_total \d/m);
  });
});

// Apply pipeline: ordering, batching and fail-closed HALT semantics (SPEC PE-2, PE-4, PE-7, PE-8,
// EH-1..EH-4, EH-7, EH-8, RO-10, RS-5), with failures injected at every position of a batch.

import { describe, expect, it } from 'vitest';
import { loadAead } from '../../src/crypto/index.js';
import { encodeProposal } from '../../src/crypto/envelope/proposal.js';
import { wrapRaft } from '../../src/crypto/envelope/raft.js';
import { Keystore } from '../../src/crypto/keystore.js';
import { HaltError } from '../../src/errors.js';
import { ApplyPipeline, type ApplyResult, type ApplyStore, type ApplyTables, type BatchResult, type StateMachine } from '../../src/node/apply-pipeline.js';
import { CutoverCell } from '../../src/node/cutover-cell.js';
import { InlineRaftUnwrapper } from '../../src/node/raft-unwrapper.js';
import { type Entry, EntryType } from '../../src/raft/types.js';

const enc = new TextEncoder();
const dec = new TextDecoder();

/** In-memory ApplyStore that records every committed batch. */
class MemStore implements ApplyStore {
  readonly kv = new Map<string, string>();
  applied = 0n;
  commits: bigint[] = [];
  failNext = false;
  get(_t: 'kv' | 'registry', key: Uint8Array): Uint8Array | undefined {
    const v = this.kv.get(dec.decode(key));
    return v === undefined ? undefined : enc.encode(v);
  }
  appliedIndex(): bigint {
    return this.applied;
  }
  async commitBatch({ writes, applied }: BatchResult<never>): Promise<void> {
    if (this.failNext) throw new Error('disk on fire');
    for (const w of writes) {
      if (w.value === null) this.kv.delete(dec.decode(w.key));
      else this.kv.set(dec.decode(w.key), dec.decode(w.value));
    }
    this.applied = applied;
    this.commits.push(applied);
  }
}

/** Payload "k=v" sets k; "HALT" returns a halt result after writing (the write must be dropped). */
class TestFsm implements StateMachine<string> {
  calls: bigint[] = [];
  apply(payload: Uint8Array, index: bigint, { kv }: ApplyTables, _extra: unknown = null): ApplyResult<string> {
    this.calls.push(index);
    const s = dec.decode(payload);
    if (s === 'HALT') {
      kv.put(enc.encode('halted'), enc.encode('yes'));
      return { halt: new HaltError('ENCRYPTION_APPLY', 'test halt', { reason: 'TEST' }) };
    }
    const [k, v] = s.split('=');
    const prev = kv.get(enc.encode(k!));
    kv.put(enc.encode(k!), enc.encode(v!));
    return { response: prev === undefined ? 'new' : `was ${dec.decode(prev)}` };
  }
}

function entry(index: number, payload: string | null, term = 1, id = BigInt(index)): Entry {
  return { index, term, type: EntryType.Normal, data: payload === null ? new Uint8Array(0) : encodeProposal(id, enc.encode(payload)) };
}

function harness(opts: { cutover?: bigint; store?: MemStore } = {}) {
  const store = opts.store ?? new MemStore();
  const fsm = new TestFsm();
  const cell = new CutoverCell();
  if (opts.cutover !== undefined) cell.set(opts.cutover);
  const resolved: { index: bigint; response: string }[] = [];
  const halts: HaltError[] = [];
  const applied: bigint[] = [];
  const visible: bigint[] = [];
  const p = new ApplyPipeline<string>(fsm, store, cell, {
    resolve: (index, _term, _data, response) => resolved.push({ index, response }),
    confChange: () => undefined,
    visible: (i) => visible.push(i),
    applied: (i) => applied.push(i),
    halt: (e) => halts.push(e),
  });
  return { store, fsm, cell, p, resolved, halts, applied, visible };
}

async function cipher() {
  const aead = await loadAead('node');
  const ks = new Keystore();
  const dek = new Uint8Array(32).fill(7);
  ks.set(9, dek);
  let n = 0;
  const nonce = () => {
    const b = new Uint8Array(12);
    new DataView(b.buffer).setUint32(8, ++n);
    return b;
  };
  const wrap = (index: number, payload: string, keyId = 9) => ({
    index,
    term: 1,
    type: EntryType.Normal,
    data: encodeProposal(BigInt(index), wrapRaft(aead, ks, keyId, nonce(), enc.encode(payload))),
  });
  return { aead, ks, wrap, unwrapper: new InlineRaftUnwrapper(aead, ks) };
}

describe('apply pipeline', () => {
  it('PE-2: an empty normal entry advances the applied index and never calls the state machine', async () => {
    const h = harness();
    h.p.push([entry(1, null)]);
    await h.p.idle();
    expect(h.store.applied).toBe(1n);
    expect(h.fsm.calls).toEqual([]);
    expect(h.resolved).toEqual([]);
  });

  it('PE-2: a non-empty undecodable entry HALTs with ENTRY_MALFORMED, applied index unchanged', async () => {
    const h = harness();
    h.p.push([{ index: 1, term: 1, type: EntryType.Normal, data: Uint8Array.from([2, 0, 0, 0, 0, 0, 0, 0, 1, 0xaa]) }]);
    await h.p.idle();
    expect(h.halts[0]?.code).toBe('ENTRY_MALFORMED');
    expect(h.halts[0]?.index).toBe(1n);
    expect(h.store.applied).toBe(0n);
    expect(h.fsm.calls).toEqual([]);
  });

  it('EH-1/PE-4: applies in index order in one transaction per batch, then resolves with the response', async () => {
    const h = harness();
    h.p.push([entry(1, 'a=1'), entry(2, 'a=2'), entry(3, null), entry(4, 'b=1')]);
    await h.p.idle();
    expect(h.store.commits).toEqual([4n]);
    expect(h.store.kv.get('a')).toBe('2');
    expect(h.resolved).toEqual([
      { index: 1n, response: 'new' },
      { index: 2n, response: 'was 1' }, // read-your-writes inside the batch
      { index: 4n, response: 'new' },
    ]);
    expect(h.applied).toEqual([4n]);
  });

  it('PE-7/EH-5/RS-5: a halt at every position k applies exactly the prefix before k', async () => {
    const n = 6;
    for (let k = 0; k < n; k++) {
      const h = harness();
      const batch = Array.from({ length: n }, (_, i) => entry(i + 1, i === k ? 'HALT' : `k${i}=${i}`));
      h.p.push(batch);
      await h.p.idle();
      expect(h.halts).toHaveLength(1);
      expect(h.halts[0]!.index).toBe(BigInt(k + 1));
      expect(h.store.applied).toBe(BigInt(k));
      expect(h.store.kv.has('halted')).toBe(false); // the halting entry's writes are dropped
      for (let i = 0; i < n; i++) expect(h.store.kv.has(`k${i}`)).toBe(i < k);
      expect(h.resolved.map((r) => r.index)).toEqual(Array.from({ length: k }, (_, i) => BigInt(i + 1)));
      expect(h.fsm.calls).toEqual(Array.from({ length: k + 1 }, (_, i) => BigInt(i + 1)));
      // After a HALT nothing more is applied, even when more entries arrive.
      h.p.push([entry(n + 1, 'late=1')]);
      await h.p.idle();
      expect(h.store.kv.has('late')).toBe(false);
    }
  });

  it('EH-3/EH-8: an unwrap failure at every position of a batch HALTs with RAFT_UNWRAP_FAILED (INTEGRITY)', async () => {
    const c = await cipher();
    const n = 5;
    for (let k = 0; k < n; k++) {
      const h = harness({ cutover: 10n });
      h.p.setUnwrapper(c.unwrapper);
      const batch = Array.from({ length: n }, (_, i) => c.wrap(11 + i, `k${i}=${i}`));
      h.store.applied = 10n;
      const bad = batch[k]!.data;
      bad[bad.length - 1] ^= 0x01; // flip a tag bit
      h.p.push(batch);
      await h.p.idle();
      expect(h.halts[0]?.code).toBe('RAFT_UNWRAP_FAILED');
      expect(h.halts[0]?.reason).toBe('INTEGRITY');
      expect(h.halts[0]?.index).toBe(BigInt(11 + k));
      expect(h.store.applied).toBe(BigInt(10 + k));
      for (let i = 0; i < n; i++) expect(h.store.kv.has(`k${i}`)).toBe(i < k);
      expect(h.fsm.calls).toHaveLength(k); // the state machine never sees entry k
      expect(h.resolved).toHaveLength(k);
    }
  });

  it('EH-4: an entry above the cutover with no cipher HALTs with reason NO_CIPHER', async () => {
    const h = harness({ cutover: 10n });
    h.store.applied = 10n;
    h.p.push([entry(11, 'a=1')]);
    await h.p.idle();
    expect(h.halts[0]?.code).toBe('RAFT_UNWRAP_FAILED');
    expect(h.halts[0]?.reason).toBe('NO_CIPHER');
    expect(h.store.applied).toBe(10n);
  });

  it('EH-2/EH-7: with no cutover, wrapped-looking bytes reach the state machine untouched', async () => {
    const c = await cipher();
    const h = harness();
    h.p.setUnwrapper(c.unwrapper);
    const e = c.wrap(1, 'x=1');
    const seen: Uint8Array[] = [];
    const inner = h.fsm.apply.bind(h.fsm);
    h.fsm.apply = (payload, index, tables, extra) => {
      seen.push(payload.slice());
      return payload.length > 0 && payload[0] === 0x01 ? { response: 'raw' } : inner(payload, index, tables, extra);
    };
    h.p.push([e]);
    await h.p.idle();
    expect(h.halts).toEqual([]);
    expect(seen[0]).toEqual(e.data.subarray(9));
  });

  it('RO-10: with cutover N, the cleartext entry at N passes through and the wrapped N+1 is unwrapped', async () => {
    const c = await cipher();
    const h = harness({ cutover: 5n });
    h.p.setUnwrapper(c.unwrapper);
    h.store.applied = 4n;
    h.p.push([entry(5, 'marker=1'), c.wrap(6, 'after=1')]);
    await h.p.idle();
    expect(h.halts).toEqual([]);
    expect(h.store.kv.get('marker')).toBe('1');
    expect(h.store.kv.get('after')).toBe('1');
  });

  it('EH-8: a batch holding the marker and wrapped entries after it applies without HALT', async () => {
    const c = await cipher();
    const h = harness();
    h.p.setUnwrapper(c.unwrapper);
    // The "marker" payload sets the cutover to its own index while it applies (the installer).
    const inner = h.fsm.apply.bind(h.fsm);
    h.fsm.apply = (payload, index, tables, extra) => {
      if (dec.decode(payload) === 'MARKER') {
        h.cell.set(index);
        return { response: 'cutover' };
      }
      return inner(payload, index, tables, extra);
    };
    h.p.push([entry(1, 'a=1'), entry(2, 'MARKER'), c.wrap(3, 'b=1'), c.wrap(4, 'c=1'), c.wrap(5, 'd=1')]);
    await h.p.idle();
    expect(h.halts).toEqual([]);
    expect([...h.store.kv.entries()]).toEqual([
      ['a', '1'],
      ['b', '1'],
      ['c', '1'],
      ['d', '1'],
    ]);
  });

  it('EH-8: a rotate-dek inside a batch: entries under the new DEK are recomputed, not HALTed', async () => {
    const c = await cipher();
    const h = harness({ cutover: 1n });
    h.p.setUnwrapper(c.unwrapper);
    h.store.applied = 1n;
    const newKey = new Uint8Array(32).fill(3);
    // Wrap the later entries under key 12 while it is loaded, then unload it: the speculative
    // unwrap at batch start fails with UNKNOWN_KEY_ID; the rotation re-adds it in order.
    c.ks.set(12, newKey);
    const later = [c.wrap(3, 'x=1', 12), c.wrap(4, 'y=1', 12)];
    c.ks.delete(12);
    const inner = h.fsm.apply.bind(h.fsm);
    h.fsm.apply = (payload, index, tables, extra) => {
      if (dec.decode(payload) === 'ROTATE') {
        c.ks.set(12, newKey);
        return { response: 'rotated' };
      }
      return inner(payload, index, tables, extra);
    };
    h.p.push([c.wrap(2, 'ROTATE'), ...later]);
    await h.p.idle();
    expect(h.halts).toEqual([]);
    expect(h.store.kv.get('x')).toBe('1');
    expect(h.store.kv.get('y')).toBe('1');
  });

  it('PE-8: re-delivered entries at or below the applied index are dropped without unwrapping', async () => {
    const c = await cipher();
    const h = harness({ cutover: 1n });
    h.p.setUnwrapper(c.unwrapper);
    h.store.applied = 3n;
    const dup = c.wrap(3, 'dup=1');
    dup.data[dup.data.length - 1] ^= 1; // would HALT if it were unwrapped
    h.p.push([c.wrap(2, 'old=1'), dup, c.wrap(4, 'new=1')]);
    await h.p.idle();
    expect(h.halts).toEqual([]);
    expect(h.store.kv.has('old')).toBe(false);
    expect(h.store.kv.has('dup')).toBe(false);
    expect(h.store.kv.get('new')).toBe('1');
    expect(h.store.applied).toBe(4n);
  });

  it('a failed commit HALTs with STORAGE_IO; the core\'s applied index never moves and nothing after it applies', async () => {
    const h = harness();
    h.store.failNext = true;
    h.p.push([entry(1, 'a=1')]);
    await h.p.idle();
    expect(h.halts[0]?.code).toBe('STORAGE_IO');
    expect(h.halts).toHaveLength(1);
    expect(h.applied).toEqual([]);
    expect(h.store.applied).toBe(0n);
    // Raft had committed entry 1, so its response may already have been delivered and reads may
    // have seen it (visible at submit, see apply-pipeline.ts); what follows the failure is never
    // applied.
    h.store.failNext = false;
    h.p.push([entry(2, 'b=1')]);
    await h.p.idle();
    expect(h.store.kv.has('b')).toBe(false);
  });

  it('PE-4 pipelined commits: proposals resolve and reads see the batch (visible) when it is submitted; the core hears applied only after its commit', async () => {
    // A store whose commits settle only when the test says so; writes are visible at submit.
    class GatedStore extends MemStore {
      gates: Array<() => void> = [];
      override commitBatch({ writes, applied }: BatchResult<never>): Promise<void> {
        for (const w of writes) this.kv.set(dec.decode(w.key), dec.decode(w.value!));
        this.applied = applied;
        return new Promise((r) => this.gates.push(r));
      }
    }
    const store = new GatedStore();
    const h = harness({ store });
    h.p.push([entry(1, 'a=1'), entry(2, 'a=2')]);
    await new Promise((r) => setImmediate(r));
    expect(h.resolved.map((r) => r.index)).toEqual([1n, 2n]);
    expect(h.visible).toEqual([2n]); // issue 13: the store's reads already see the batch
    expect(h.applied).toEqual([]);
    // The next batch runs on top of the submitted one before it is committed.
    h.p.push([entry(3, 'a=3')]);
    await new Promise((r) => setImmediate(r));
    expect(h.resolved.at(-1)).toEqual({ index: 3n, response: 'was 2' });
    expect(store.gates).toHaveLength(2);
    store.gates[0]!();
    await new Promise((r) => setImmediate(r));
    expect(h.applied).toEqual([2n]);
    let idle = false;
    void h.p.idle().then(() => {
      idle = true;
    });
    await new Promise((r) => setImmediate(r));
    expect(idle).toBe(false); // idle() waits for the commit still in flight
    store.gates[1]!();
    await h.p.idle();
    expect(h.applied).toEqual([2n, 3n]);
    expect(h.visible).toEqual([2n, 3n]);
  });

  it('a HALT is reported only after the earlier batches are committed (EH-3: applied index k−1 is durable)', async () => {
    class GatedStore extends MemStore {
      gates: Array<() => void> = [];
      durable = 0n;
      override commitBatch({ writes, applied }: BatchResult<never>): Promise<void> {
        for (const w of writes) this.kv.set(dec.decode(w.key), dec.decode(w.value!));
        this.applied = applied;
        return new Promise((r) =>
          this.gates.push(() => {
            this.durable = applied;
            r();
          }),
        );
      }
    }
    const store = new GatedStore();
    const durableAtHalt: bigint[] = [];
    const h = harness({ store });
    const p = new ApplyPipeline<string>(h.fsm, store, h.cell, {
      resolve: () => undefined,
      confChange: () => undefined,
      applied: () => undefined,
      halt: () => durableAtHalt.push(store.durable),
    });
    p.push([entry(1, 'a=1')]);
    await new Promise((r) => setImmediate(r));
    p.push([entry(2, 'b=1'), entry(3, 'HALT')]);
    await new Promise((r) => setImmediate(r));
    expect(durableAtHalt).toEqual([]);
    store.gates[0]!();
    await new Promise((r) => setImmediate(r));
    expect(durableAtHalt).toEqual([]);
    store.gates[1]!();
    await p.idle();
    expect(durableAtHalt).toEqual([2n]);
    expect(p.haltedWith()?.index).toBe(3n);
  });

  it('EH-1: full round trip — wrapped entry is unwrapped, applied, and the value lands in the table', async () => {
    const c = await cipher();
    const h = harness({ cutover: 1n });
    h.p.setUnwrapper(c.unwrapper);
    h.store.applied = 1n;
    h.p.push([c.wrap(2, 'k=v')]);
    await h.p.idle();
    expect(h.store.kv.get('k')).toBe('v');
    expect(h.resolved).toEqual([{ index: 2n, response: 'new' }]);
  });
});

describe('defect 9.5: a state machine that throws', () => {
  it('defect 9.5: a non-SealkvError thrown by the state machine ends in the fail-closed HALT at k (applied = k−1)', async () => {
    const h = harness();
    const throwing: StateMachine<string> = {
      apply: (payload, index, tables, extra) => {
        if (dec.decode(payload) === 'BOOM') throw new TypeError('cannot read properties of undefined');
        return h.fsm.apply(payload, index, tables, extra);
      },
    };
    const halts: HaltError[] = [];
    const p = new ApplyPipeline<string>(throwing, h.store, h.cell, {
      resolve: (index, _t, _d, response) => h.resolved.push({ index, response }),
      confChange: () => undefined,
      applied: () => undefined,
      halt: (e) => halts.push(e),
    });
    p.push([entry(1, 'a=1'), entry(2, 'b=2'), entry(3, 'BOOM'), entry(4, 'c=3')]);
    await p.idle();
    expect(halts).toHaveLength(1);
    expect(halts[0]).toBeInstanceOf(HaltError);
    expect(halts[0]!.index).toBe(3n);
    expect(halts[0]!.code).toBe('ENTRY_MALFORMED');
    expect(halts[0]!.reason).toBe('INTERNAL');
    expect(h.store.applied, 'applied = k − 1').toBe(2n);
    expect(h.store.kv.has('c')).toBe(false);
    expect(h.resolved.map((r) => r.index)).toEqual([1n, 2n]);
  });
});

describe('issue 10 Step 0: apply effects are values committed with the applied index', () => {
  /** "EFFECT:x" applies like "k=v"-less entries and returns the effect "x". */
  class EffectFsm implements StateMachine<string, string> {
    apply(payload: Uint8Array, index: bigint, tables: ApplyTables): ApplyResult<string, string> {
      const s = dec.decode(payload);
      if (s.startsWith('EFFECT:')) {
        tables.registry?.put(enc.encode(`reg${index}`), enc.encode('row'));
        return { response: 'effect', effect: s.slice(7) };
      }
      const [k, v] = s.split('=');
      tables.kv.put(enc.encode(k!), enc.encode(v!));
      return { response: 'ok' };
    }
  }
  class EffectStore implements ApplyStore<string> {
    applied = 0n;
    batches: BatchResult<string>[] = [];
    gates: Array<() => void> = [];
    get(): Uint8Array | undefined {
      return undefined;
    }
    appliedIndex(): bigint {
      return this.applied;
    }
    commitBatch(b: BatchResult<string>): Promise<void> {
      this.batches.push(b);
      this.applied = b.applied;
      return new Promise((r) => this.gates.push(r));
    }
  }
  const conf = { voters: ['a', 'b'], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false };

  function effectHarness() {
    const store = new EffectStore();
    const resolved: bigint[] = [];
    const published: [bigint, string][] = [];
    const visible: bigint[] = [];
    const p = new ApplyPipeline<string, string>(new EffectFsm(), store, new CutoverCell(), {
      resolve: (index) => resolved.push(index),
      confChange: () => conf as never,
      effectCommitted: (index, effect) => published.push([index, effect]),
      visible: (i) => visible.push(i),
      applied: () => undefined,
      halt: () => undefined,
    });
    return { store, resolved, published, p, visible };
  }

  it('Step 0: a conf change ConfState travels in the batch result (no side channel), with the writes and applied index', async () => {
    const h = effectHarness();
    h.p.push([entry(1, 'a=1'), { index: 2, term: 1, type: EntryType.ConfChange, data: new Uint8Array([1]) }, entry(3, 'b=2')]);
    await new Promise((r) => setImmediate(r));
    expect(h.store.batches).toHaveLength(1);
    expect(h.store.batches[0]!.conf).toBe(conf);
    expect(h.store.batches[0]!.applied).toBe(3n);
    expect(h.store.batches[0]!.writes.map((w) => dec.decode(w.key))).toEqual(['a', 'b']);
    h.store.gates[0]!();
    await h.p.idle();
  });

  it('FW/KM-7: an encryption effect ends its batch, is committed with its registry rows, and is exempt from the early reply', async () => {
    const h = effectHarness();
    h.p.push([entry(1, 'a=1'), entry(2, 'EFFECT:sidecar-v2'), entry(3, 'b=2')]);
    await new Promise((r) => setImmediate(r));
    // One batch up to and including the effect entry; nothing after it is applied yet.
    expect(h.store.batches).toHaveLength(1);
    const b = h.store.batches[0]!;
    expect(b.applied).toBe(2n);
    expect(b.encryption).toEqual({ index: 2n, effect: 'sidecar-v2' });
    expect(b.writes.map((w) => `${w.table}:${dec.decode(w.key)}`)).toEqual(['kv:a', 'registry:reg2']);
    // No early reply: nothing resolves, nothing is published and reads are not told before the
    // commit settles (the effect batch is never "visible" early, issue 13).
    expect(h.resolved).toEqual([]);
    expect(h.published).toEqual([]);
    expect(h.visible).toEqual([]);
    h.store.gates[0]!();
    await new Promise((r) => setImmediate(r));
    expect(h.published).toEqual([[2n, 'sidecar-v2']]);
    expect(h.resolved.slice(0, 2)).toEqual([1n, 2n]);
    // The entry after the effect is applied in the next batch.
    expect(h.store.batches).toHaveLength(2);
    expect(h.store.batches[1]!.applied).toBe(3n);
    h.store.gates[1]!();
    await h.p.idle();
    expect(h.resolved).toEqual([1n, 2n, 3n]);
    expect(h.visible).toEqual([3n]);
  });

  it('KM-7: a failed commit of an effect batch HALTs with applied = k−1 and nothing is published or resolved', async () => {
    const store = new EffectStore();
    const halts: HaltError[] = [];
    const resolved: bigint[] = [];
    const published: string[] = [];
    store.commitBatch = (b) => {
      store.batches.push(b);
      return b.encryption ? Promise.reject(new Error('sidecar fsync failed')) : Promise.resolve();
    };
    const p = new ApplyPipeline<string, string>(new EffectFsm(), store, new CutoverCell(), {
      resolve: (index) => resolved.push(index),
      confChange: () => undefined,
      effectCommitted: (_i, e) => published.push(e),
      applied: () => undefined,
      halt: (e) => halts.push(e),
    });
    p.push([entry(1, 'EFFECT:x'), entry(2, 'a=1')]);
    await p.idle();
    expect(halts[0]?.code).toBe('STORAGE_IO');
    expect(halts[0]?.index).toBe(1n);
    expect(published).toEqual([]);
    expect(resolved).toEqual([]);
    expect(store.batches).toHaveLength(1);
  });
});

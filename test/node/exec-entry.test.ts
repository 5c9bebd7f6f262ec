// Issue 12: a MULTI/EXEC transaction is ONE entry through the apply pipeline with the real KV
// state machine — sealed in a raft envelope above the cutover like any other entry — and the
// per-key modification index (the `kvmod` overlay table) is what EXEC's WATCH check reads.

import { describe, expect, it } from 'vitest';
import { loadAead } from '../../src/crypto/index.js';
import { encodeProposal } from '../../src/crypto/envelope/proposal.js';
import { wrapRaft } from '../../src/crypto/envelope/raft.js';
import { Keystore } from '../../src/crypto/keystore.js';
import { ApplyPipeline, type ApplyStore, type BatchResult } from '../../src/node/apply-pipeline.js';
import { CutoverCell } from '../../src/node/cutover-cell.js';
import { encodeCommand, type KvCommand, type SetCommand } from '../../src/node/fsm/command-codec.js';
import type { FsmResponse } from '../../src/node/fsm/fsm-types.js';
import { KvStateMachine } from '../../src/node/fsm/kv-state-machine.js';
import { InlineRaftUnwrapper } from '../../src/node/raft-unwrapper.js';
import type { TableName } from '../../src/node/write-overlay.js';
import { type Entry, EntryType } from '../../src/raft/types.js';

const id = (t: TableName, k: Uint8Array) => `${t}:${Buffer.from(k).toString('latin1')}`;

class MemStore implements ApplyStore {
  readonly rows = new Map<string, Uint8Array>();
  applied = 0n;
  get(t: TableName, key: Uint8Array): Uint8Array | undefined {
    return this.rows.get(id(t, key));
  }
  appliedIndex(): bigint {
    return this.applied;
  }
  async commitBatch({ writes, applied }: BatchResult<never>): Promise<void> {
    for (const w of writes) {
      if (w.value === null) this.rows.delete(id(w.table, w.key));
      else this.rows.set(id(w.table, w.key), w.value);
    }
    this.applied = applied;
  }
}

const b = (s: string) => Buffer.from(s);
const set = (k: string, v: string, now = 1n): SetCommand => ({ op: 'set', now, key: b(k), value: b(v), condition: 'always', get: false, ttl: { mode: 'clear' } });

describe('EXEC entry through the apply pipeline (issue 12)', () => {
  it('sealed above the cutover, applies atomically; WATCH decides from the kvmod index', async () => {
    const aead = await loadAead('node');
    const ks = new Keystore();
    ks.set(9, new Uint8Array(32).fill(7));
    let n = 0;
    const wrapped = (index: number, cmd: KvCommand): Entry => {
      const nonce = new Uint8Array(12);
      new DataView(nonce.buffer).setUint32(8, ++n);
      return { index, term: 1, type: EntryType.Normal, data: encodeProposal(BigInt(index), wrapRaft(aead, ks, 9, nonce, encodeCommand(cmd))) };
    };
    const store = new MemStore();
    const fsm = new KvStateMachine();
    const cell = new CutoverCell();
    cell.set(1n);
    const resolved: FsmResponse[] = [];
    const p = new ApplyPipeline<FsmResponse>(
      fsm,
      store,
      cell,
      { resolve: (_i, _t, _d, r) => resolved.push(r), confChange: () => undefined, applied: () => undefined, halt: (e) => { throw e; } },
    );
    p.setUnwrapper(new InlineRaftUnwrapper(aead, ks));
    store.applied = 1n;

    p.push([
      wrapped(2, set('k', '1')),
      // Watched at index 2 (after k's write): untouched since, so it commits.
      wrapped(3, { op: 'exec', now: 1n, watches: [{ key: b('k'), index: 2n, watchNow: 1n }], commands: [set('k', '2'), { op: 'incrby', now: 1n, key: b('n'), delta: 5n }] }),
      // Watched at index 2, but k was written at 3: nil, and nothing of it is written.
      wrapped(4, { op: 'exec', now: 1n, watches: [{ key: b('k'), index: 2n, watchNow: 1n }], commands: [set('k', 'lost'), set('x', 'lost')] }),
    ]);
    await p.idle();
    expect(p.haltedWith()).toBeNull();
    expect(resolved.slice(1)).toEqual([
      { t: 'array', v: [{ t: 'simple', v: 'OK' }, { t: 'int', v: 5n }] },
      { t: 'array', v: null },
    ]);
    const mod = (k: string) => store.get('kvmod', b(k)) && Buffer.from(store.get('kvmod', b(k))!).readBigUInt64BE();
    expect([mod('k'), mod('n'), mod('x')]).toEqual([3n, 3n, undefined]);
    expect(Buffer.from(store.get('kv', b('k'))!.subarray(9)).toString()).toBe('2');
    expect(store.get('kv', b('x'))).toBeUndefined();
  });
});

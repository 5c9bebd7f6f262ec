// Issue 13, lever 2: the state machine's LMDB commits are coalesced (at most one per interval, or
// at once when enough batches wait), while reads — point and range — see every submitted batch.

import { describe, expect, it } from 'vitest';
import { ApplyStore, type CommitCoalescing } from '../../src/storage/apply-txn.js';
import { MetaStore } from '../../src/storage/meta-store.js';
import { bytes, testEnvs, text } from './helpers.js';

const { dirs, envs, env } = testEnvs();

/** A hand-driven clock and timer, so the test decides when the interval has passed. */
function manualTimer(intervalMs: number, maxBatches: number) {
  let now = 0;
  const timers: Array<{ at: number; fn: () => void }> = [];
  const c: CommitCoalescing = {
    monotonic: () => now,
    setTimeout: (fn, ms) => {
      timers.push({ at: now + ms, fn });
      return null;
    },
    intervalMs,
    maxBatches,
  };
  const advance = (ms: number): void => {
    now += ms;
    for (const t of timers.splice(0)) {
      if (t.at <= now) t.fn();
      else timers.push(t);
    }
  };
  return { c, advance, armed: () => timers.length };
}

const tick = () => new Promise<void>((r) => setImmediate(r));

describe('ApplyStore commit coalescing (issue 13)', () => {
  it('batches submitted within one interval share ONE LMDB commit; reads see them before it', async () => {
    const e = await env();
    const t = manualTimer(10, 100);
    const store = new ApplyStore(e, false, t.c);
    // The first batch after an idle interval commits at once (no added latency at low load).
    await store.begin().putKv(bytes('a'), bytes('0')).commit(1n);
    const g0 = e.writes.groups;
    const done: bigint[] = [];
    const ps = [2n, 3n, 4n, 5n].map((i) => store.begin().putKv(bytes(`k${i}`), bytes(`v${i}`)).commit(i).then(() => done.push(i)));
    await tick();
    await tick();
    expect(e.writes.groups).toBe(g0); // waiting for the interval
    expect(done).toEqual([]);
    expect(store.appliedIndex()).toBe(5n);
    expect(text(store.getKv(bytes('k4')) as Uint8Array)).toBe('v4');
    t.advance(10);
    await Promise.all(ps);
    expect(e.writes.groups - g0).toBe(1);
    expect(done).toEqual([2n, 3n, 4n, 5n]);
    expect(store.durableAppliedIndex()).toBe(5n);
    expect(new MetaStore(e.meta).appliedIndex()).toBe(5n);
  });

  it('commits at once when maxBatches batches wait, and a timer armed before does not commit early later', async () => {
    const e = await env();
    const t = manualTimer(10, 3);
    const store = new ApplyStore(e, false, t.c);
    await store.begin().putKv(bytes('a'), bytes('0')).commit(1n);
    const g0 = e.writes.groups;
    const p = [2n, 3n, 4n].map((i) => store.begin().putKv(bytes(`k${i}`), bytes('x')).commit(i));
    await Promise.all(p); // the third batch reached maxBatches: no timer needed
    expect(e.writes.groups - g0).toBe(1);
    const late = store.begin().putKv(bytes('k5'), bytes('x')).commit(5n);
    let settled = false;
    void late.then(() => {
      settled = true;
    });
    await tick();
    await tick();
    expect(settled).toBe(false);
    t.advance(10);
    await late;
    expect(store.durableAppliedIndex()).toBe(5n);
  });

  it('forceSync commits pending batches at once and returns their applied index synced', async () => {
    const dir = dirs.make();
    const e = await env(dir);
    const t = manualTimer(1_000_000, 100);
    const store = new ApplyStore(e, false, t.c);
    await store.begin().putKv(bytes('a'), bytes('0')).commit(1n);
    const p = store.begin().putKv(bytes('b'), bytes('1')).commit(2n);
    expect(await store.forceSync()).toBe(2n);
    await p;
    expect(store.syncedAppliedIndex()).toBe(2n);
    await e.close();
    envs.splice(0);
    const e2 = await env(dir);
    expect(text(new ApplyStore(e2).getKv(bytes('b')) as Uint8Array)).toBe('1');
  });

  it('rangeKv merges batches still committing with LMDB rows, in key order, deletes hidden', async () => {
    const e = await env();
    const t = manualTimer(10, 100);
    const store = new ApplyStore(e, false, t.c);
    const b0 = store.begin();
    for (const k of ['b', 'd', 'f', 'h']) b0.putKv(bytes(k), bytes(`old-${k}`));
    await b0.commit(1n);
    const pending = [
      store.begin().putKv(bytes('a'), bytes('new-a')).deleteKv(bytes('d')).commit(2n),
      store.begin().putKv(bytes('f'), bytes('new-f')).putKv(bytes('z'), bytes('new-z')).commit(3n),
      store.begin().putKv(bytes('d'), bytes('back-d')).deleteKv(bytes('h')).commit(4n),
    ];
    await tick();
    const seen = (after?: string) => [...store.rangeKv(after === undefined ? undefined : bytes(after))].map((r) => `${text(r.key)}=${text(r.value)}`);
    expect(seen()).toEqual(['a=new-a', 'b=old-b', 'd=back-d', 'f=new-f', 'z=new-z']);
    expect(seen('b')).toEqual(['d=back-d', 'f=new-f', 'z=new-z']);
    expect(seen('f')).toEqual(['z=new-z']);
    t.advance(10);
    await Promise.all(pending);
    // Committed: LMDB alone gives the same answer.
    expect(seen()).toEqual(['a=new-a', 'b=old-b', 'd=back-d', 'f=new-f', 'z=new-z']);
  });
});

// Issue 9 defect 7: expiry follows the leader's clock, whatever the clock of the node a client
// talks to. n1's clock runs 2 minutes slow, n2's 2 minutes fast, n3's is right (the node reads
// SEALKV_TEST_CLOCK_OFFSET_MS under NODE_ENV=test). A TTL set through any node is neither born
// expired nor lives too long, and every node reads the same answer.

import { afterAll, describe, expect, it } from 'vitest';
import { clusterForTest, destroyAllClusters } from './harness/fixture.js';
import type { RespClient } from './harness/resp-client.js';
import { sleep } from './harness/wait.js';

afterAll(destroyAllClusters);

const OFFSETS: Record<string, number> = { n1: -120_000, n2: 120_000, n3: 0 };

describe('issue 9 defect 7: leader-clock expiry', () => {
  it('SET EX / EXPIRE / PX through slow- and fast-clocked nodes: same TTL on every node, never born expired', async () => {
    const c = await clusterForTest({
      name: 'clock-skew',
      // A long election timeout: a leader change during the test would hand the time to another
      // (skewed) clock, which legitimately moves every TTL; the test checks the term stays put.
      electionTicks: 100,
      env: Object.fromEntries(Object.entries(OFFSETS).map(([id, ms]) => [id, { SEALKV_TEST_CLOCK_OFFSET_MS: String(ms) }])),
    });
    const leader = await c.waitForLeader({ quorum: 3, timeoutMs: 20_000 });
    const term = (await c.status(leader))!.term;
    const conns = new Map<string, RespClient>();
    for (const id of c.ids()) conns.set(id, await c.resp(id));
    const call = async (id: string, args: string[]): Promise<unknown> => {
      const r = await conns.get(id)!.call(args);
      return r.type === 'error' ? r.message : r.value;
    };
    try {
      for (const via of c.ids()) {
        expect(await call(via, ['SET', `ex-${via}`, 'v', 'EX', '60'])).toBe('OK');
        expect(await call(via, ['SET', `rel-${via}`, 'v'])).toBe('OK');
        expect(await call(via, ['EXPIRE', `rel-${via}`, '60'])).toBe(1n);
        // An absolute expiry is the client's own: 60 s after real time, judged by the leader's clock.
        expect(await call(via, ['SET', `abs-${via}`, 'v', 'PXAT', String(Date.now() + 60_000)])).toBe('OK');
        // Born expired today through the slow node (its "now + 20 s" is 100 s in the leader's past).
        expect(await call(via, ['SET', `born-${via}`, 'v', 'PX', '20000'])).toBe('OK');
      }
      const ttls: Record<string, bigint[]> = {};
      const note = (name: string, t: bigint): void => {
        ttls[name] = [...(ttls[name] ?? []), t];
      };
      for (const via of c.ids()) {
        for (const reader of c.ids()) {
          // Not born expired: readable through every node.
          expect([via, reader, await call(reader, ['GET', `born-${via}`])]).toEqual([via, reader, 'v']);
          for (const k of ['ex', 'rel']) note(`${k} via ${via}`, (await call(reader, ['PTTL', `${k}-${via}`])) as bigint);
          note(`abs at ${reader}`, (await call(reader, ['PTTL', `abs-${via}`])) as bigint);
        }
      }
      // Every relative TTL within (40 s, 60 s]: set with the leader's time, read with the leader's
      // time (today a fast node's EX 60 reads as ~180 s on the leader, a slow node's as expired).
      const rel = Object.entries(ttls).filter(([k]) => !k.startsWith('abs'));
      expect(rel.filter(([, ts]) => ts.some((t) => t <= 40_000n || t > 60_000n))).toEqual([]);
      // An absolute expiry is never moved: the three keys got (almost) the same PXAT through three
      // differently skewed nodes, so each node reads (almost) the same PTTL for all three.
      const abs = Object.entries(ttls).filter(([k]) => k.startsWith('abs'));
      const spread = (ts: bigint[]): number => Math.max(...ts.map(Number)) - Math.min(...ts.map(Number));
      expect(abs.filter(([, ts]) => spread(ts) > 15_000)).toEqual([]);

      // Does not live too long: gone on every node once the leader's clock passed it.
      for (const via of c.ids()) expect(await call(via, ['SET', `short-${via}`, 'v', 'PX', '1500'])).toBe('OK');
      await sleep(2500);
      for (const via of c.ids()) {
        for (const reader of c.ids()) {
          expect([via, reader, await call(reader, ['GET', `short-${via}`])]).toEqual([via, reader, null]);
          expect([via, reader, await call(reader, ['EXISTS', `ex-${via}`])]).toEqual([via, reader, 1n]);
        }
      }
      expect((await c.status(leader))!.term, 'no leader change during the test').toBe(term);
    } finally {
      for (const conn of conns.values()) conn.close();
    }
    expect(c.unexpectedExits()).toEqual([]);
  });
});

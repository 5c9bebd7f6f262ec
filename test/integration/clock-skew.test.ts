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
      env: Object.fromEntries(Object.entries(OFFSETS).map(([id, ms]) => [id, { SEALKV_TEST_CLOCK_OFFSET_MS: String(ms) }])),
    });
    const leader = await c.waitForLeader({ quorum: 3, timeoutMs: 20_000 });
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
        expect(await call(via, ['SET', `px-${via}`, 'v', 'PX', '2500'])).toBe('OK');
      }
      const ttls: Record<string, bigint[]> = {};
      const note = (name: string, t: bigint): void => {
        ttls[name] = [...(ttls[name] ?? []), t];
      };
      for (const via of c.ids()) {
        for (const reader of c.ids()) {
          // Not born expired: readable through every node right away.
          expect([via, reader, await call(reader, ['GET', `px-${via}`])]).toEqual([via, reader, 'v']);
          for (const k of ['ex', 'rel']) {
            const t = (await call(reader, ['PTTL', `${k}-${via}`])) as bigint;
            note(`${k} via ${via}`, t);
          }
          const abs = (await call(reader, ['PTTL', `abs-${via}`])) as bigint;
          note(`abs via ${via}`, abs + BigInt(OFFSETS[leader]!));
        }
      }
      // Every TTL within (50 s, 60 s]: set with the leader's time, read with the leader's time.
      const bad = Object.entries(ttls).filter(([, ts]) => ts.some((t) => t <= 50_000n || t > 60_000n));
      expect(bad).toEqual([]);

      await sleep(3000);
      for (const via of c.ids()) {
        for (const reader of c.ids()) {
          // Gone on every node once the leader's clock passed it (not two minutes later).
          expect([via, reader, await call(reader, ['GET', `px-${via}`])]).toEqual([via, reader, null]);
          expect([via, reader, await call(reader, ['EXISTS', `ex-${via}`])]).toEqual([via, reader, 1n]);
        }
      }
    } finally {
      for (const conn of conns.values()) conn.close();
    }
    expect(c.unexpectedExits()).toEqual([]);
  });
});

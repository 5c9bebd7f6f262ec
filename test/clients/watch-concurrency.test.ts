// Issue 12 acceptance: N clients (ioredis and node-redis, spread over all three nodes) each run
// WATCH k; v = GET k; MULTI; SET k v+1; EXEC, retrying on nil, on a real 3-node cluster whose
// leader is killed (SIGKILL) in the middle. No lost update: the final value equals the number of
// committed EXECs; and the history of the transactions is linearizable (each committed EXEC is
// an atomic increment returning v+1, taking effect between its EXEC's send and reply).
//
// An EXEC whose reply is lost (the node died, a timeout) has an unknown outcome: it stays
// indeterminate in the history, and its own marker key, written by the same transaction,
// tells afterwards whether it committed.

import { Redis } from 'ioredis';
import { createClient, WatchError } from 'redis';
import { afterAll, expect, it } from 'vitest';
import { checkHistory } from '../lincheck/checker.js';
import { HistoryRecorder } from '../lincheck/history.js';
import { Cluster } from '../integration/harness/cluster.js';
import { sleep } from '../integration/harness/wait.js';

let c: Cluster | null = null;
afterAll(async () => {
  await c?.destroy();
});

const KEY = 'counter';

interface TxClient {
  watch(k: string): Promise<unknown>;
  get(k: string): Promise<string | null>;
  /** EXEC of SET k v; SET marker 1: 'ok', 'aborted' (nil / WatchError), or throws (unknown outcome). */
  incrTx(k: string, value: string, marker: string): Promise<'ok' | 'aborted'>;
  close(): void;
}

function ioredisClient(port: number): TxClient {
  // No replay of unanswered commands after a reconnect (that would resend a MULTI block without
  // its WATCH) and no offline queue: a command on a dead connection fails at once.
  const r = new Redis(port, '127.0.0.1', {
    autoResendUnfulfilledCommands: false,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    retryStrategy: () => 100,
  });
  r.on('error', () => {});
  return {
    watch: (k) => r.watch(k),
    get: (k) => r.get(k),
    async incrTx(k, value, marker) {
      const res = await r.multi().set(k, value).set(marker, '1').exec();
      if (res === null) return 'aborted';
      if (res.some(([e, v]) => e !== null || v !== 'OK')) throw new Error(`EXEC replied ${JSON.stringify(res)}`);
      return 'ok';
    },
    close: () => r.disconnect(),
  };
}

async function nodeRedisClient(port: number): Promise<TxClient> {
  const r = createClient({ socket: { port, host: '127.0.0.1', reconnectStrategy: () => 100 } });
  r.on('error', () => {});
  await r.connect();
  return {
    watch: (k) => r.watch(k),
    get: (k) => r.get(k),
    async incrTx(k, value, marker) {
      try {
        const res = await r.multi().set(k, value).set(marker, '1').exec();
        if (res.some((v) => String(v) !== 'OK')) throw new Error(`EXEC replied ${JSON.stringify(res)}`);
        return 'ok';
      } catch (e) {
        // Nil EXEC, or a reconnect after WATCH detected before sending: certainly no effect.
        if (e instanceof WatchError) return 'aborted';
        throw e;
      }
    },
    close: () => r.destroy(),
  };
}

it('concurrent WATCH/GET/MULTI/SET v+1/EXEC with a leader kill: no lost update, linearizable', async () => {
  c = await Cluster.create({ name: 'watchconc' });
  const cluster = c;
  const firstLeader = await cluster.waitForLeader({ quorum: 3, timeoutMs: 20_000 });
  const ids = cluster.ids();
  const N = 8;
  const clients: TxClient[] = [];
  for (let i = 0; i < N; i++) {
    const port = cluster.node(ids[i % ids.length]!).respPort;
    clients.push(i % 2 === 0 ? ioredisClient(port) : await nodeRedisClient(port));
  }

  const rec = new HistoryRecorder(() => performance.now());
  const unknown: string[] = [];
  let committed = 0;
  let aborted = 0;
  let failedBeforeExec = 0;
  let committedAfterKill = 0;
  let killed = false;
  const deadline = performance.now() + 9000;

  const worker = async (i: number): Promise<void> => {
    const cl = clients[i]!;
    for (let attempt = 0; performance.now() < deadline; attempt++) {
      let v: number;
      try {
        await cl.watch(KEY);
        const cur = await cl.get(KEY);
        v = cur === null ? 0 : Number(cur);
      } catch {
        failedBeforeExec++; // nothing was proposed: no effect
        await sleep(20);
        continue;
      }
      const marker = `m:${i}:${attempt}`;
      const op = rec.invoke(i, KEY, { kind: 'incr', delta: 1n });
      try {
        const r = await cl.incrTx(KEY, String(v + 1), marker);
        if (r === 'aborted') {
          rec.fail(op);
          aborted++;
        } else {
          rec.ok(op, { kind: 'incr', value: BigInt(v + 1) });
          committed++;
          if (killed) committedAfterKill++;
        }
      } catch {
        rec.info(op); // outcome unknown: resolved by the marker below
        unknown.push(marker);
        await sleep(20);
      }
    }
  };

  const runs = clients.map((_, i) => worker(i));
  await sleep(3000);
  const committedBeforeKill = committed;
  await cluster.kill(firstLeader, 'SIGKILL');
  killed = true;
  await cluster.waitForLeader({ among: ids.filter((id) => id !== firstLeader), quorum: 2, timeoutMs: 15_000 });
  await sleep(500);
  cluster.start(firstLeader);
  await Promise.all(runs);
  for (const cl of clients) cl.close();

  await cluster.waitForLeader({ quorum: 3, timeoutMs: 15_000 });
  await cluster.waitCaughtUp();
  const check = new Redis(cluster.node(await cluster.waitForLeader({ quorum: 3 })).respPort, '127.0.0.1');
  const final = Number((await check.get(KEY)) ?? '0');
  let unknownCommitted = 0;
  for (const m of unknown) if ((await check.exists(m)) === 1) unknownCommitted++;
  check.disconnect();

  const history = rec.history();
  const lin = checkHistory(history);
  console.info(
    `[watch-concurrency] clients ${N}; committed ${committed} (${committedBeforeKill} before the kill of ${firstLeader}, ${committedAfterKill} after); ` +
      `aborted by WATCH ${aborted}; unknown outcome ${unknown.length} (${unknownCommitted} committed); ` +
      `WATCH/GET failures ${failedBeforeExec}; final ${final}; history ${history.length} ops, linearizable ${lin.ok}`,
  );
  expect(committedBeforeKill, 'progress before the kill').toBeGreaterThan(5);
  expect(committedAfterKill, 'progress after the kill').toBeGreaterThan(5);
  expect(aborted, 'contention made some EXECs fail').toBeGreaterThan(0);
  expect(final, 'no lost update: final value = committed EXECs').toBe(committed + unknownCommitted);
  expect(lin.ok, lin.ok ? '' : lin.explanation).toBe(true);
  expect(cluster.unexpectedExits()).toEqual([]);
}, 60_000);

// Self-test of the integration harness without the node: the RESP client (pipelining, deadlines,
// connection loss), the partition proxy (cut / heal), and the workload → recorder → checker
// wiring against in-process fake servers, one correct and one serving stale reads.

import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { bulk, error, int, NIL, OK, type Reply } from '../../src/server/resp-codec.js';
import { RespServer } from '../../src/server/resp-server.js';
import { HistoryRecorder } from '../lincheck/history.js';
import { checkRecorded } from './harness/lincheck.js';
import { RespClient, RespConnectionError, RespReplyParser, RespTimeoutError } from './harness/resp-client.js';
import { TcpProxy } from './harness/tcp-proxy.js';
import { sleep, waitFor } from './harness/wait.js';
import { classify, lostUniqueWrites, recordedReads, Workload } from './harness/workload.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

type Mode = 'linearizable' | 'stale' | 'ambiguous';

/**
 * A fake KV node. `linearizable`: one map, replies after a random delay (applied at call time).
 * `stale`: reads come from a copy refreshed every 30 ms. `ambiguous`: every 5th write is applied
 * but answered `-ERR TIMEOUT` (must be recorded indeterminate, keeping the history linearizable).
 */
async function fakeNode(mode: Mode): Promise<{ port: number; data: Map<string, string> }> {
  const data = new Map<string, string>();
  let stale = new Map<string, string>();
  let writes = 0;
  if (mode === 'stale') {
    const t = setInterval(() => {
      stale = new Map(data);
    }, 30);
    cleanups.push(() => clearInterval(t));
  }
  const delayed = (r: Reply): Promise<Reply> => new Promise((res) => setTimeout(() => res(r), Math.random() * 3));
  const server = new RespServer({
    port: 0,
    handler: {
      execute(args: Buffer[]): Reply | Promise<Reply> {
        const cmd = args[0]!.toString().toUpperCase();
        const key = args[1]?.toString() ?? '';
        if (cmd === 'GET') {
          const v = (mode === 'stale' ? stale : data).get(key);
          return delayed(v === undefined ? NIL : bulk(v));
        }
        if (cmd === 'SET') {
          data.set(key, args[2]!.toString());
          return delayed(mode === 'ambiguous' && ++writes % 5 === 0 ? error('ERR TIMEOUT proposal deadline passed') : OK);
        }
        if (cmd === 'DEL') {
          const had = data.delete(key);
          return delayed(int(had ? 1 : 0));
        }
        if (cmd === 'INCR') {
          const cur = data.get(key) ?? '0';
          if (!/^-?\d+$/.test(cur)) return error('ERR value is not an integer or out of range');
          const next = BigInt(cur) + 1n;
          data.set(key, next.toString());
          return delayed(int(next));
        }
        return error(`ERR unknown command '${cmd}'`);
      },
    },
  });
  const { port } = await server.listen();
  cleanups.push(() => server.close(100));
  return { port, data };
}

describe('RespClient', () => {
  it('parses every reply type, split across chunks at any byte', () => {
    const wire = Buffer.from('+OK\r\n-ERR NOT_LEADER x\r\n:42\r\n$5\r\nhello\r\n$-1\r\n*2\r\n$1\r\na\r\n:-7\r\n*-1\r\n');
    for (let cut = 0; cut <= wire.length; cut++) {
      const p = new RespReplyParser();
      const out = [...p.push(wire.subarray(0, cut)), ...p.push(wire.subarray(cut))];
      expect(out).toEqual([
        { type: 'simple', value: 'OK' },
        { type: 'error', message: 'ERR NOT_LEADER x' },
        { type: 'int', value: 42n },
        { type: 'bulk', value: 'hello' },
        { type: 'bulk', value: null },
        { type: 'array', value: [{ type: 'bulk', value: 'a' }, { type: 'int', value: -7n }] },
        { type: 'array', value: null },
      ]);
    }
  });

  it('pipelines requests and keeps replies in order', async () => {
    const { port } = await fakeNode('linearizable');
    const c = await RespClient.connect(port);
    cleanups.push(() => c.close());
    const sets = Array.from({ length: 50 }, (_, i) => c.call(['SET', `k${i}`, `v${i}`]));
    const gets = Array.from({ length: 50 }, (_, i) => c.call(['GET', `k${i}`]));
    expect((await Promise.all(sets)).every((r) => r.type === 'simple' && r.value === 'OK')).toBe(true);
    expect((await Promise.all(gets)).map((r) => (r.type === 'bulk' ? r.value : null))).toEqual(
      Array.from({ length: 50 }, (_, i) => `v${i}`),
    );
    expect(await c.call(['INCR', 'n'])).toEqual({ type: 'int', value: 1n });
  });

  it('times out a request, then fails the rest as connection lost', async () => {
    // A server that accepts and never answers.
    const held: net.Socket[] = [];
    const silent = net.createServer((sock) => held.push(sock));
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', () => r()));
    cleanups.push(() => {
      for (const sock of held) sock.destroy();
      silent.close();
    });
    const port = (silent.address() as net.AddressInfo).port;
    const c = await RespClient.connect(port);
    const first = c.call(['GET', 'a'], 50);
    const second = c.call(['GET', 'b'], 5000);
    await expect(first).rejects.toBeInstanceOf(RespTimeoutError);
    await expect(second).rejects.toBeInstanceOf(RespConnectionError);
    expect(c.isOpen).toBe(false);
    await expect(c.call(['PING'])).rejects.toBeInstanceOf(RespConnectionError);
  });

  it('reports a refused connection and a server that goes away', async () => {
    const dead = net.createServer();
    await new Promise<void>((r) => dead.listen(0, '127.0.0.1', () => r()));
    const port = (dead.address() as net.AddressInfo).port;
    await new Promise<void>((r) => dead.close(() => r()));
    await expect(RespClient.connect(port)).rejects.toBeInstanceOf(RespConnectionError);

    const sockets: net.Socket[] = [];
    const s = net.createServer((sock) => sockets.push(sock));
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
    cleanups.push(() => {
      for (const sock of sockets) sock.destroy();
      s.close();
    });
    const c = await RespClient.connect((s.address() as net.AddressInfo).port);
    const pending = c.call(['GET', 'x'], 5000);
    await waitFor('server side socket', () => sockets.length === 1, 2000);
    sockets[0]!.destroy();
    await expect(pending).rejects.toBeInstanceOf(RespConnectionError);
  });
});

describe('TcpProxy', () => {
  async function echoServer(): Promise<number> {
    const s = net.createServer((sock) => sock.pipe(sock));
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
    cleanups.push(() => {
      s.close();
    });
    return (s.address() as net.AddressInfo).port;
  }

  function roundTrip(port: number, msg: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const sock = net.connect({ port, host: '127.0.0.1' });
      sock.once('error', reject);
      sock.once('close', () => reject(new Error('closed')));
      sock.once('data', (d) => {
        sock.removeAllListeners('close');
        sock.destroy();
        resolve(d.toString());
      });
      sock.write(msg);
    });
  }

  it('forwards, severs live connections on cut, refuses while cut, forwards again after heal', async () => {
    const target = await echoServer();
    const p = new TcpProxy('a>b', target);
    await p.listen();
    cleanups.push(() => p.close());
    expect(await roundTrip(p.port, 'one')).toBe('one');

    const live = net.connect({ port: p.port, host: '127.0.0.1' });
    live.on('error', () => {});
    await new Promise<void>((r) => live.once('connect', () => r()));
    await waitFor('proxy to see the connection', () => p.open === 1, 2000);
    const closed = new Promise<void>((r) => live.once('close', () => r()));
    p.sever();
    await closed;
    expect(p.open).toBe(0);
    await expect(roundTrip(p.port, 'two')).rejects.toThrow();
    expect(p.refused).toBeGreaterThanOrEqual(1);

    p.heal();
    expect(await roundTrip(p.port, 'three')).toBe('three');
    expect(p.accepted).toBe(3);
  });
});

describe('workload → recorder → checker', () => {
  it('classifies replies conservatively', () => {
    const w = { kind: 'write', value: '1' } as const;
    expect(classify(w, { type: 'simple', value: 'OK' }).kind).toBe('ok');
    expect(classify(w, { type: 'error', message: 'TRYAGAIN ENVELOPE_CUTOVER_IN_PROGRESS raft cutover in progress' }).kind).toBe('fail');
    expect(classify(w, { type: 'error', message: 'ERR NOT_LEADER this node is not the leader' }).kind).toBe('fail');
    expect(classify(w, { type: 'error', message: 'ERR NOT_LEADER this node stopped being the leader' }).kind).toBe('info');
    expect(classify(w, { type: 'error', message: 'ERR UNKNOWN_OUTCOME this node stopped being the leader after the proposal was appended' }).kind).toBe('info');
    expect(classify(w, { type: 'error', message: 'ERR TIMEOUT proposal 7 deadline passed' }).kind).toBe('info');
    expect(classify(w, { type: 'error', message: 'ERR UNAVAILABLE no quorum' }).kind).toBe('info');
    const inc = { kind: 'incr', delta: 1n } as const;
    expect(classify(inc, { type: 'int', value: 5n })).toEqual({ kind: 'ok', result: { kind: 'incr', value: 5n } });
    expect(classify(inc, { type: 'error', message: 'ERR value is not an integer or out of range' })).toEqual({
      kind: 'ok',
      result: { kind: 'incr', error: true },
    });
    expect(classify({ kind: 'read' }, { type: 'error', message: 'ERR TIMEOUT read index' }).kind).toBe('info');
  });

  async function run(mode: Mode): Promise<{ w: Workload; rec: HistoryRecorder; port: number }> {
    const { port } = await fakeNode(mode);
    const rec = new HistoryRecorder();
    const w = new Workload({
      recorder: rec,
      endpoints: () => [
        { id: 'a', connect: () => RespClient.connect(port) },
        { id: 'b', connect: () => RespClient.connect(port) },
      ],
      clients: 6,
      keys: ['x', 'y', 'z'],
      maxOps: 1500,
      durationMs: 10_000,
      opTimeoutMs: 2000,
      pauseAfterInfoMs: 1,
      seed: 3,
    });
    await w.done;
    return { w, rec, port };
  }

  it('records a linearizable history from a correct server, with the final reads', async () => {
    const { w, rec, port } = await run('linearizable');
    expect(w.stats.invoked).toBe(1500);
    expect(w.stats.ok).toBe(1500);
    expect(w.stats.okByKind.read).toBeGreaterThan(100);
    expect(w.stats.okByKind.incr).toBeGreaterThan(100);
    expect(w.stats.okByKind.delete).toBeGreaterThan(10);
    const c = await RespClient.connect(port);
    cleanups.push(() => c.close());
    await recordedReads(rec, c, 'check', ['x', 'y', 'z']);
    expect(await lostUniqueWrites(w, c)).toEqual([]);
    expect(w.ackedUnique.size).toBeGreaterThan(50);
    const r = checkRecorded(rec.history());
    expect(r.text).toMatch(/^linearizable/);
    expect(r.ok).toBe(true);
  });

  it('keeps a history linearizable when applied writes are answered with an error (indeterminate)', async () => {
    const { w, rec } = await run('ambiguous');
    expect(w.stats.info).toBeGreaterThan(10);
    const r = checkRecorded(rec.history());
    expect(r.indeterminate).toBe(w.stats.info);
    expect(r.ok).toBe(true);
  });

  it('finds the anomaly of a server serving stale reads', async () => {
    const { rec } = await run('stale');
    const r = checkRecorded(rec.history());
    expect(r.ok).toBe(false);
    expect(r.text).toMatch(/NOT linearizable/);
  });

  it('stops by itself at its time bound', async () => {
    const { port } = await fakeNode('linearizable');
    const w = new Workload({
      recorder: new HistoryRecorder(),
      endpoints: () => [{ id: 'a', connect: () => RespClient.connect(port) }],
      clients: 2,
      keys: ['k'],
      maxOps: Number.MAX_SAFE_INTEGER,
      durationMs: 200,
      opTimeoutMs: 1000,
    });
    await w.done;
    expect(w.stats.invoked).toBeGreaterThan(0);
    await sleep(1);
  });
});

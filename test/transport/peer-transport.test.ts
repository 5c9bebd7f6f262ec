import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ProposalError, SealkvError, TransportError } from '../../src/errors.js';
import { encodeFrameBuffer } from '../../src/transport/frame-codec.js';
import { PeerTransport, parseHostPort, type TransportLogger } from '../../src/transport/peer-transport.js';

interface LogLine {
  level: 'warn' | 'info' | 'debug';
  obj: Record<string, unknown>;
  msg: string;
}

function captureLogger(): TransportLogger & { lines: LogLine[] } {
  const lines: LogLine[] = [];
  return {
    lines,
    warn: (obj, msg) => lines.push({ level: 'warn', obj: obj as Record<string, unknown>, msg }),
    info: (obj, msg) => lines.push({ level: 'info', obj: obj as Record<string, unknown>, msg }),
    debug: (obj, msg) => lines.push({ level: 'debug', obj: obj as Record<string, unknown>, msg }),
  };
}

async function waitFor(cond: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const open: PeerTransport[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((t) => t.close()));
});

function make(id: string, opts: { clusterId?: string; listen?: string; peers?: Record<string, string> } = {}) {
  const logger = captureLogger();
  const t = new PeerTransport({
    id,
    clusterId: opts.clusterId ?? 'c1',
    listen: opts.listen ?? '127.0.0.1:0',
    peers: opts.peers ?? {},
    backoff: { minMs: 10, maxMs: 100 },
    limits: { maxFrameBytes: 1024 * 1024, handshakeTimeoutMs: 1000 },
    logger,
  });
  open.push(t);
  return { t, logger };
}

/** Three transports on ephemeral ports, wired with updatePeers, fully connected. */
async function cluster3() {
  const nodes = [make('n1'), make('n2'), make('n3')];
  const addrs: Record<string, string> = {};
  for (const n of nodes) {
    const a = await n.t.start();
    addrs[n.t.id] = `127.0.0.1:${a.port}`;
  }
  for (const n of nodes) n.t.updatePeers(addrs); // includes the own id, which must be ignored
  await waitFor(() => nodes.every((n) => n.t.status().every((p) => p.connected)), 'full mesh');
  return { nodes, addrs };
}

describe('PeerTransport', () => {
  it('opens exactly one connection per peer pair, dialled by the smaller id', async () => {
    const { nodes } = await cluster3();
    const [n1, n2, n3] = nodes.map((n) => n.t) as [PeerTransport, PeerTransport, PeerTransport];
    for (const t of [n1, n2, n3]) {
      expect(t.socketCount).toBe(2);
      expect(t.status().map((p) => p.id)).not.toContain(t.id);
    }
    expect([n1.counters.connectionsDialed, n2.counters.connectionsDialed, n3.counters.connectionsDialed]).toEqual([2, 1, 0]);
    expect([n1.counters.connectionsAccepted, n2.counters.connectionsAccepted, n3.counters.connectionsAccepted]).toEqual([
      0, 1, 2,
    ]);
    expect(n1.status().every((p) => p.direction === 'out')).toBe(true);
    expect(n3.status().every((p) => p.direction === 'in')).toBe(true);
  });

  it('sends one-way messages in both directions over the single connection, in order', async () => {
    const { nodes } = await cluster3();
    const [n1, , n3] = nodes.map((n) => n.t) as [PeerTransport, PeerTransport, PeerTransport];
    const at1: [string, unknown][] = [];
    const at3: [string, unknown][] = [];
    n1.onMessage((from, m) => at1.push([from, m]));
    n3.onMessage((from, m) => at3.push([from, m]));
    for (let i = 0; i < 500; i++) expect(n1.send('n3', { i, term: BigInt(i) + 2n ** 60n })).toBe(true);
    expect(n3.send('n1', { data: new Uint8Array([7, 8]) })).toBe(true);
    await waitFor(() => at3.length === 500 && at1.length === 1, 'messages');
    expect(at3.map(([, m]) => (m as { i: number }).i)).toEqual([...Array(500).keys()]);
    expect((at3[499]![1] as { term: bigint }).term).toBe(499n + 2n ** 60n);
    expect(at1[0]![0]).toBe('n3');
    expect(Array.from((at1[0]![1] as { data: Uint8Array }).data)).toEqual([7, 8]);
    // Frames queued in one turn leave together: far fewer socket writes than frames is not
    // observable here, but every frame was counted once.
    expect(n1.counters.framesSent).toBe(500);
    expect(n3.socketCount).toBe(2);
  });

  it('serves requests both ways and carries typed errors with code, message and leader hint', async () => {
    const { nodes } = await cluster3();
    const [n1, n2, n3] = nodes.map((n) => n.t) as [PeerTransport, PeerTransport, PeerTransport];
    n3.onRequest(async (from, p) => ({ from, echo: p }));
    n1.onRequest((_from, p) => {
      if ((p as { op: string }).op === 'write') throw new ProposalError('NOT_LEADER', 'n1 is not the leader', { leader: 'n2' });
      return { ok: 1n };
    });
    expect(await n1.request('n3', { x: 1 }, 1000)).toEqual({ from: 'n1', echo: { x: 1 } });
    expect(await n3.request('n1', { op: 'read' }, 1000)).toEqual({ ok: 1n });
    const err = await n3.request('n1', { op: 'write' }, 1000).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProposalError);
    expect((err as ProposalError).code).toBe('NOT_LEADER');
    expect((err as ProposalError).leader).toBe('n2');
    expect((err as ProposalError).message).toBe('n1 is not the leader');
    // No handler registered on n2 → typed NO_HANDLER error.
    const noHandler = await n1.request('n2', {}, 1000).catch((e: unknown) => e);
    expect(noHandler).toBeInstanceOf(SealkvError);
    expect((noHandler as SealkvError).code).toBe('NO_HANDLER');
    // An untyped throw crosses as INTERNAL.
    n2.onRequest(() => {
      throw new Error('boom');
    });
    const internal = await n1.request('n2', {}, 1000).catch((e: unknown) => e);
    expect((internal as SealkvError).code).toBe('INTERNAL');
  });

  it('fails requests with typed errors: unknown peer, timeout, closed', async () => {
    const { nodes } = await cluster3();
    const [n1, n2] = nodes.map((n) => n.t) as [PeerTransport, PeerTransport];
    n2.onRequest(() => new Promise(() => {})); // never answers
    await expect(n1.request('n9', {}, 100)).rejects.toMatchObject({ code: 'PEER_UNKNOWN' });
    await expect(n1.request('n2', {}, 50)).rejects.toMatchObject({ code: 'TIMEOUT' });
    // Written, then the connection drops: the outcome is unknown, and the caller is told so.
    const inFlight = n1.request('n2', {}, 10_000);
    await new Promise((r) => setTimeout(r, 30));
    await n2.close();
    await expect(inFlight).rejects.toMatchObject({ code: 'PEER_DISCONNECTED' });
    const pending = n1.request('n2', {}, 10_000); // queued while n2 is down
    await n1.close();
    await expect(pending).rejects.toMatchObject({ code: 'TRANSPORT_CLOSED' });
    expect(n1.send('n2', 1)).toBe(false);
  });

  it('reconnects with back-off after a peer goes away and comes back on the same address', async () => {
    const { nodes, addrs } = await cluster3();
    const [n1, n2, n3] = nodes.map((n) => n.t) as [PeerTransport, PeerTransport, PeerTransport];
    await n2.close();
    await waitFor(() => !n1.status().find((p) => p.id === 'n2')!.connected, 'n1 sees n2 gone');
    await waitFor(() => !n3.status().find((p) => p.id === 'n2')!.connected, 'n3 sees n2 gone');
    // Messages while n2 is away wait in the bounded queue.
    n1.send('n2', 'queued-while-down');
    const { t: n2b } = make('n2', { listen: addrs.n2!, peers: addrs });
    const got: unknown[] = [];
    n2b.onMessage((_f, m) => got.push(m));
    await n2b.start();
    await waitFor(() => n2b.status().every((p) => p.connected), 'n2 back in the mesh');
    expect(n1.counters.reconnects).toBeGreaterThan(0);
    n1.send('n2', 'after');
    await waitFor(() => got.includes('after'), 'message after reconnect');
    expect(got[0]).toBe('queued-while-down');
    expect(n2b.socketCount).toBe(2);
    expect(n1.socketCount).toBe(2);
    expect(n3.socketCount).toBe(2);
  });

  it('closes a connection that announces an oversize frame, logs it, and keeps serving others', async () => {
    const { nodes, addrs } = await cluster3();
    const [n1, , n3] = nodes.map((n) => n.t) as [PeerTransport, PeerTransport, PeerTransport];
    const log3 = nodes[2]!.logger;
    n3.onRequest((_f, p) => p);
    const { host, port } = parseHostPort(addrs.n3!);
    const raw = net.connect({ host, port });
    await new Promise<void>((r) => raw.once('connect', () => r()));
    const closed = new Promise<void>((r) => raw.once('close', () => r()));
    raw.on('error', () => {});
    raw.write(Buffer.from([0xff, 0xff, 0xff, 0xff, 1, 2, 3]));
    await closed;
    const line = log3.lines.find((l) => l.level === 'warn' && l.obj.code === 'FRAME_TOO_LARGE');
    expect(line).toBeDefined();
    expect(n3.counters.connectionsRejected).toBe(1);
    expect(await n1.request('n3', 'still-up', 1000)).toBe('still-up');
    // Before its handshake a socket may only send a small frame, far below maxFrameBytes (1 MiB here).
    const raw2 = net.connect({ host, port });
    raw2.on('error', () => {});
    const closed2 = new Promise<void>((r) => raw2.once('close', () => r()));
    raw2.write(encodeFrameBuffer(new Uint8Array(10_000)));
    await closed2;
    expect(n3.counters.connectionsRejected).toBe(2);
  });

  it('delivers large frames queued before the connection opened right after the handshake', async () => {
    const { t: a } = make('a');
    const { t: b } = make('b');
    const pa = await a.start();
    const pb = await b.start();
    const peers = { a: `127.0.0.1:${pa.port}`, b: `127.0.0.1:${pb.port}` };
    const got: number[] = [];
    a.onMessage((_f, m) => got.push((m as Uint8Array).length));
    // b (the acceptor) queues big frames for a before a has even dialled.
    b.updatePeers(peers);
    for (let i = 0; i < 3; i++) b.send('a', new Uint8Array(100_000));
    a.updatePeers(peers);
    await waitFor(() => got.length === 3, 'queued frames');
    expect(got).toEqual([100_000, 100_000, 100_000]);
    expect(a.counters.connectionsRejected + b.counters.connectionsRejected).toBe(0);
  });

  it('closes a connection sending an undecodable frame or skipping the handshake', async () => {
    const { nodes, addrs } = await cluster3();
    const log3 = nodes[2]!.logger;
    const { host, port } = parseHostPort(addrs.n3!);
    for (const bytes of [
      Buffer.from([0, 0, 0, 3, 0xc1, 0xc1, 0xc1]), // malformed msgpack
      encodeFrameBuffer([0, 'a message before any handshake']),
      encodeFrameBuffer({ not: 'a tagged array' }),
    ]) {
      const raw = net.connect({ host, port });
      raw.on('error', () => {});
      const closed = new Promise<void>((r) => raw.once('close', () => r()));
      raw.write(bytes);
      await closed;
    }
    const codes = log3.lines.filter((l) => l.level === 'warn').map((l) => l.obj.code);
    expect(codes).toEqual(['FRAME_MALFORMED', 'HANDSHAKE_FAILED', 'FRAME_MALFORMED']);
    expect(nodes[2]!.t.status().every((p) => p.connected)).toBe(true);
  });

  it('rejects a peer from another cluster with a log line', async () => {
    const { nodes, addrs } = await cluster3();
    const { t: stranger } = make('n0', { clusterId: 'other', peers: { n1: addrs.n1! } });
    await stranger.start();
    await waitFor(
      () => nodes[0]!.logger.lines.some((l) => l.level === 'warn' && l.obj.code === 'CLUSTER_MISMATCH'),
      'mismatch log line',
    );
    expect(stranger.status()[0]!.connected).toBe(false);
    expect(stranger.send('n1', 'x')).toBe(true); // queued; it will never be delivered
    expect(nodes[0]!.t.socketCount).toBe(2);
  });

  it('rejects an unknown node id and a dial against the rule', async () => {
    const { nodes, addrs } = await cluster3();
    // n9 is not a member of n1's peer map.
    const { t: n9 } = make('n9', { peers: { n1: addrs.n1! } });
    await n9.start();
    // n9 > n1 so n9 never dials n1: dial manually with a hello claiming to be n0 (unknown).
    const { host, port } = parseHostPort(addrs.n1!);
    const raw = net.connect({ host, port });
    raw.on('error', () => {});
    const closed = new Promise<void>((r) => raw.once('close', () => r()));
    raw.write(encodeFrameBuffer([9, 1, 'c1', 'n0']));
    await closed;
    // n3 dialling n2 breaks the rule (n2 < n3 dials): a hello claiming n3 on n2's port.
    const b = parseHostPort(addrs.n2!);
    const raw2 = net.connect({ host: b.host, port: b.port });
    raw2.on('error', () => {});
    const closed2 = new Promise<void>((r) => raw2.once('close', () => r()));
    raw2.write(encodeFrameBuffer([9, 1, 'c1', 'n3']));
    await closed2;
    expect(nodes[0]!.logger.lines.some((l) => l.obj.code === 'PEER_UNKNOWN')).toBe(true);
    expect(nodes[1]!.logger.lines.some((l) => l.obj.code === 'HANDSHAKE_FAILED')).toBe(true);
    // The genuine n2–n3 connection survived.
    expect(nodes[1]!.t.status().every((p) => p.connected)).toBe(true);
  });

  it('bounds the per-peer queue: drops and counts when full, fails requests with QUEUE_FULL', async () => {
    const t = new PeerTransport({
      id: 'a',
      clusterId: 'c',
      listen: '127.0.0.1:0',
      peers: { b: '127.0.0.1:1' }, // never reachable
      limits: { maxQueueFrames: 10 },
      backoff: { minMs: 1000, maxMs: 1000 },
    });
    open.push(t);
    for (let i = 0; i < 10; i++) expect(t.send('b', i)).toBe(true);
    expect(t.send('b', 10)).toBe(false);
    expect(t.send('zz', 1)).toBe(false);
    expect(t.counters.dropped).toBe(2);
    await expect(t.request('b', 1, 1000)).rejects.toBeInstanceOf(TransportError);
    await expect(t.request('b', 1, 1000)).rejects.toMatchObject({ code: 'QUEUE_FULL' });
    expect(t.status()[0]!.queuedFrames).toBe(10);
    expect(() => t.send('b', new Uint8Array(70 * 1024 * 1024))).toThrow(/exceeds/);
  });

  it('respects socket back-pressure: large frames beyond the socket buffer all arrive, in order', async () => {
    const { nodes } = await cluster3();
    const [n1, n2] = nodes.map((n) => n.t) as [PeerTransport, PeerTransport];
    const got: number[] = [];
    n2.onMessage((_f, m) => got.push((m as { i: number; b: Uint8Array }).i));
    // 8 × 200 KiB per turn (the queue holds 2 MiB here): the first write already exceeds the
    // socket's high-water mark, so flushing has to stop and resume on 'drain' several times.
    for (let i = 0; i < 8; i++) expect(n1.send('n2', { i, b: new Uint8Array(200 * 1024).fill(i) })).toBe(true);
    await new Promise((r) => setImmediate(r));
    for (let i = 8; i < 16; i++) n1.send('n2', { i, b: new Uint8Array(200 * 1024).fill(i) });
    await waitFor(() => got.length + n1.counters.dropped >= 16, 'large frames');
    // Whatever the queue could not hold was dropped and counted, never buffered without bound.
    expect(got.length + n1.counters.dropped).toBe(16);
    expect(got.length).toBeGreaterThanOrEqual(8);
    expect(got).toEqual([...got].sort((a, b) => a - b));
    expect(n1.status().find((p) => p.id === 'n2')!.queuedBytes).toBe(0);
  });

  it('updatePeers removes a member: its connection closes and its requests fail', async () => {
    const { nodes, addrs } = await cluster3();
    const [n1, , n3] = nodes.map((n) => n.t) as [PeerTransport, PeerTransport, PeerTransport];
    n3.onRequest(() => new Promise(() => {}));
    const pending = n1.request('n3', 'x', 10_000);
    await new Promise((r) => setTimeout(r, 20));
    n1.updatePeers({ n1: addrs.n1!, n2: addrs.n2! });
    await expect(pending).rejects.toMatchObject({ code: 'PEER_UNKNOWN' });
    await waitFor(() => n1.socketCount === 1, 'n1 drops its n3 socket');
    expect(n1.status().map((p) => p.id)).toEqual(['n2']);
  });
});

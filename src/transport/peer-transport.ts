// Peer transport: one TCP connection per peer pair, used in both directions.
//
// The node with the lexicographically smaller id dials; the other side only accepts. A
// handshake frame (wire version, cluster id, node id) opens every connection and is
// acknowledged the same way, so both ends check they talk to the expected member of the
// expected cluster. Outgoing frames go through a bounded per-peer queue that is flushed once
// per event-loop turn (one corked write), and stops at socket back-pressure until 'drain'.
// A full queue drops one-way messages (Raft tolerates loss) and fails requests at once.

import net from 'node:net';
import { SealkvError, TransportError } from '../errors.js';
import { Backoff, type BackoffOptions } from './backoff.js';
import { Fifo } from './fifo.js';
import { envPeerFaultLayer, type PeerFaultLayer } from './peer-faults.js';
import { DEFAULT_MAX_FRAME_BYTES, encodeFrame, FrameDecoder } from './frame-codec.js';
import {
  fromWireError,
  helloFrame,
  Kind,
  msgFrame,
  parseWireFrame,
  reqFrame,
  resErrFrame,
  resOkFrame,
  toWireError,
  WIRE_VERSION,
  type WireFrame,
} from './wire.js';

/** pino-compatible subset. */
export interface TransportLogger {
  warn(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
  debug(obj: object, msg: string): void;
}

const noop = (): void => {};
export const noopLogger: TransportLogger = { warn: noop, info: noop, debug: noop };

/** Peer id → "host:port" (IPv6 as "[::1]:7001"). Entries for the own id are ignored. */
export type PeerMap = ReadonlyMap<string, string> | Readonly<Record<string, string>>;

export interface PeerTransportLimits {
  /** Largest frame payload sent or accepted (default 64 MiB). */
  maxFrameBytes?: number;
  /** Frames waiting per peer before new ones are dropped (default 8192). */
  maxQueueFrames?: number;
  /** Bytes waiting per peer before new frames are dropped (default 2 × maxFrameBytes). */
  maxQueueBytes?: number;
  /** Outstanding requests over all peers (default 65536). */
  maxPendingRequests?: number;
  /** Time allowed for the handshake of a new connection, ms (default 5000). */
  handshakeTimeoutMs?: number;
  /** Accepted connections still in their handshake; more are refused (default 64). */
  maxHandshakingConnections?: number;
}

// Until a connection has identified itself it may only send a handshake, which is tiny: an
// unidentified socket must not make this node buffer a 64 MiB frame.
const HANDSHAKE_MAX_FRAME_BYTES = 4096;

export interface PeerTransportOptions {
  id: string;
  clusterId: string;
  /** "host:port" to listen on; port 0 picks an ephemeral port (see `start()`'s result). */
  listen: string;
  peers: PeerMap;
  limits?: PeerTransportLimits;
  backoff?: BackoffOptions;
  logger?: TransportLogger;
  /**
   * Test-only fault layer (peer-faults.ts). Default: the one `SEALKV_PEER_FAULTS` describes, or
   * none when it is unset; `null` forces none.
   */
  faults?: PeerFaultLayer | null;
}

/** Plain counters; the node exports them through prom-client. */
export interface TransportCounters {
  framesSent: number;
  framesReceived: number;
  bytesSent: number;
  /** Frames dropped because a peer queue was full or the peer is unknown. */
  dropped: number;
  /** Redials after a failed or lost connection. */
  reconnects: number;
  connectionsDialed: number;
  connectionsAccepted: number;
  /** Connections closed for a protocol violation (oversize/malformed frame, bad handshake). */
  connectionsRejected: number;
}

export interface PeerStatus {
  id: string;
  address: string;
  connected: boolean;
  /** 'out' when this node dials the peer, 'in' when the peer dials this node. */
  direction: 'in' | 'out';
  queuedFrames: number;
  queuedBytes: number;
}

export type MessageHandler = (from: string, msg: unknown) => void;
export type RequestHandler = (from: string, payload: unknown) => unknown | Promise<unknown>;

interface Outgoing {
  header: Buffer;
  payload: Buffer;
  reqId: number; // 0 for messages and replies
}

interface Pending {
  peer: string;
  resolve: (v: unknown) => void;
  reject: (e: SealkvError) => void;
  timer: NodeJS.Timeout;
  written: boolean;
}

interface Conn {
  socket: net.Socket;
  decoder: FrameDecoder;
  dir: 'in' | 'out';
  /** The peer id: expected one for outgoing connections, announced one after an accepted handshake. */
  peerId: string | null;
  open: boolean;
  dead: boolean;
  handshakeTimer: NodeJS.Timeout | null;
}

interface Peer {
  id: string;
  address: string;
  conn: Conn | null; // the open (handshaken) connection
  dialing: Conn | null;
  queue: Fifo<Outgoing>;
  queuedBytes: number;
  blocked: boolean; // waiting for 'drain'
  backoff: Backoff;
  redialTimer: NodeJS.Timeout | null;
  /** Set once the first dial ran, so later dials count as reconnects. */
  dialedBefore: boolean;
}

/** Splits "host:port" / "[v6]:port". */
export function parseHostPort(addr: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(addr);
  const port = m ? Number(m[3]) : Number.NaN;
  if (!m || port > 65535) throw new TransportError('BAD_ADDRESS', `invalid host:port "${addr}"`);
  return { host: m[1] ?? (m[2] || '127.0.0.1'), port };
}

function peerEntries(peers: PeerMap): [string, string][] {
  return peers instanceof Map ? [...peers.entries()] : Object.entries(peers as Record<string, string>);
}

export class PeerTransport {
  readonly id: string;
  readonly clusterId: string;
  readonly counters: TransportCounters = {
    framesSent: 0,
    framesReceived: 0,
    bytesSent: 0,
    dropped: 0,
    reconnects: 0,
    connectionsDialed: 0,
    connectionsAccepted: 0,
    connectionsRejected: 0,
  };

  private readonly listenAddr: string;
  private readonly maxFrameBytes: number;
  private readonly maxQueueFrames: number;
  private readonly maxQueueBytes: number;
  private readonly maxPendingRequests: number;
  private readonly handshakeTimeoutMs: number;
  private readonly maxHandshaking: number;
  private readonly backoffOpts: BackoffOptions;
  private readonly log: TransportLogger;

  private readonly peers = new Map<string, Peer>();
  private readonly conns = new Set<Conn>();
  private readonly pending = new Map<number, Pending>();
  private readonly dirty = new Set<Peer>();
  private flushScheduled = false;
  private nextReqId = 1;
  private server: net.Server | null = null;
  private started = false;
  private closed = false;
  private messageHandler: MessageHandler = noop;
  private requestHandler: RequestHandler | null = null;
  private readonly faults: PeerFaultLayer | null;

  constructor(opts: PeerTransportOptions) {
    this.id = opts.id;
    this.clusterId = opts.clusterId;
    this.listenAddr = opts.listen;
    const l = opts.limits ?? {};
    this.maxFrameBytes = l.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
    this.maxQueueFrames = l.maxQueueFrames ?? 8192;
    this.maxQueueBytes = l.maxQueueBytes ?? 2 * this.maxFrameBytes;
    this.maxPendingRequests = l.maxPendingRequests ?? 65536;
    this.handshakeTimeoutMs = l.handshakeTimeoutMs ?? 5000;
    this.maxHandshaking = l.maxHandshakingConnections ?? 64;
    this.backoffOpts = opts.backoff ?? {};
    this.log = opts.logger ?? noopLogger;
    this.faults = opts.faults === undefined ? envPeerFaultLayer() : opts.faults;
    if (this.faults) this.log.warn({ node: this.id }, 'TEST-ONLY peer fault layer is on (SEALKV_PEER_FAULTS)');
    for (const [id, addr] of peerEntries(opts.peers)) this.addPeer(id, addr);
  }

  /** Listens, then dials every peer with a larger id. Resolves with the bound address. */
  async start(): Promise<{ host: string; port: number }> {
    if (this.started) throw new TransportError('TRANSPORT_STARTED', 'transport already started');
    this.started = true;
    const { host, port } = parseHostPort(this.listenAddr);
    const server = net.createServer((s) => this.onAccept(s));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', (e) => this.log.warn({ err: e.message }, 'peer listener error'));
    for (const p of this.peers.values()) if (this.dials(p.id)) this.dial(p);
    const a = server.address() as net.AddressInfo;
    return { host: a.address, port: a.port };
  }

  onMessage(handler: MessageHandler): void {
    this.messageHandler = handler;
  }

  onRequest(handler: RequestHandler): void {
    this.requestHandler = handler;
  }

  /**
   * Fire-and-forget. Returns false when the frame was dropped (unknown peer, full queue,
   * closed transport). Throws TransportError(FRAME_TOO_LARGE / FRAME_ENCODE) for a message
   * that can never be sent.
   */
  send(to: string, msg: unknown): boolean {
    const peer = this.peers.get(to);
    if (!peer || this.closed) {
      this.counters.dropped++;
      return false;
    }
    if (this.faults === null) return this.enqueue(peer, msgFrame(msg), 0);
    // Encoded now: a delayed copy must carry the message as it was at send time.
    const [header, payload] = encodeFrame(msgFrame(msg), this.maxFrameBytes);
    this.faults.message(
      to,
      'out',
      () => {
        const p = this.peers.get(to);
        if (p && !this.closed) this.push(p, header, payload, 0);
      },
      msg,
    );
    return true;
  }

  /**
   * Sends `payload` to `to`'s request handler and resolves with its reply. Rejects with the
   * handler's typed error (class kept for ProposalError and the other coded classes, else a
   * SealkvError with the same code), or a TransportError: PEER_UNKNOWN, QUEUE_FULL,
   * TOO_MANY_REQUESTS, TIMEOUT, PEER_DISCONNECTED (written but the connection dropped: the
   * outcome is unknown), TRANSPORT_CLOSED.
   */
  request(to: string, payload: unknown, timeoutMs: number): Promise<unknown> {
    const peer = this.peers.get(to);
    if (this.closed) return Promise.reject(new TransportError('TRANSPORT_CLOSED', 'transport closed'));
    if (!peer) return Promise.reject(new TransportError('PEER_UNKNOWN', `unknown peer ${to}`));
    if (this.pending.size >= this.maxPendingRequests) {
      return Promise.reject(new TransportError('TOO_MANY_REQUESTS', `${this.pending.size} requests outstanding`));
    }
    const id = this.nextReqId++;
    return new Promise<unknown>((resolve, reject) => {
      // A partitioned request is lost on the way: the caller sees the timeout a dead link gives.
      const cut = this.faults?.blocks(to, 'out') === true;
      if (!cut && !this.enqueue(peer, reqFrame(id, payload), id)) {
        reject(new TransportError('QUEUE_FULL', `send queue to ${to} is full`));
        return;
      }
      // One timer per request: Node keeps same-duration timers in one list, O(1) each.
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new TransportError('TIMEOUT', `request ${id} to ${to} timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, { peer: to, resolve, reject, timer, written: false });
    });
  }

  /** Applies a membership change: new peers are dialled, removed ones disconnected. */
  updatePeers(peers: PeerMap): void {
    if (this.closed) return;
    const next = new Map(peerEntries(peers).filter(([id]) => id !== this.id));
    for (const p of [...this.peers.values()]) {
      if (!next.has(p.id)) this.removePeer(p);
    }
    for (const [id, addr] of next) {
      const p = this.peers.get(id);
      if (!p) {
        const added = this.addPeer(id, addr)!;
        if (this.started && this.dials(id)) this.dial(added);
      } else if (p.address !== addr) {
        this.log.info({ peer: id, from: p.address, to: addr }, 'peer address changed');
        p.address = addr;
        if (this.dials(id)) {
          // Close what we have and dial the new address at once.
          this.clearRedial(p);
          const old = p.conn ?? p.dialing;
          p.dialing = null;
          if (old) this.destroy(old);
          p.backoff.reset();
          if (this.started) this.dial(p);
        }
      }
    }
  }

  status(): PeerStatus[] {
    return [...this.peers.values()].map((p) => ({
      id: p.id,
      address: p.address,
      connected: p.conn !== null,
      direction: this.dials(p.id) ? 'out' : 'in',
      queuedFrames: p.queue.length,
      queuedBytes: p.queuedBytes,
    }));
  }

  /** Sockets currently open, handshaken or not (tests assert one per peer pair). */
  get socketCount(): number {
    return this.conns.size;
  }

  /** Stops listening, closes every connection and fails outstanding requests with TRANSPORT_CLOSED. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const p of this.peers.values()) this.clearRedial(p);
    for (const c of [...this.conns]) this.destroy(c);
    for (const [id, r] of this.pending) {
      clearTimeout(r.timer);
      this.pending.delete(id);
      r.reject(new TransportError('TRANSPORT_CLOSED', 'transport closed'));
    }
    const server = this.server;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  // ---- peers and connections ----

  private dials(peerId: string): boolean {
    return this.id < peerId;
  }

  private addPeer(id: string, address: string): Peer | null {
    if (id === this.id) return null;
    parseHostPort(address); // validate early
    const p: Peer = {
      id,
      address,
      conn: null,
      dialing: null,
      queue: new Fifo<Outgoing>(),
      queuedBytes: 0,
      blocked: false,
      backoff: new Backoff(this.backoffOpts),
      redialTimer: null,
      dialedBefore: false,
    };
    this.peers.set(id, p);
    return p;
  }

  private removePeer(p: Peer): void {
    this.peers.delete(p.id);
    this.dirty.delete(p);
    this.clearRedial(p);
    for (const c of [p.conn, p.dialing]) if (c) this.destroy(c);
    p.conn = null;
    p.dialing = null;
    p.queue.drain();
    p.queuedBytes = 0;
    for (const [id, r] of this.pending) {
      if (r.peer !== p.id) continue;
      clearTimeout(r.timer);
      this.pending.delete(id);
      r.reject(new TransportError('PEER_UNKNOWN', `peer ${p.id} was removed`));
    }
    this.log.info({ peer: p.id }, 'peer removed');
  }

  private clearRedial(p: Peer): void {
    if (p.redialTimer) clearTimeout(p.redialTimer);
    p.redialTimer = null;
  }

  private dial(p: Peer): void {
    if (this.closed || p.conn || p.dialing || this.peers.get(p.id) !== p) return;
    if (p.dialedBefore) this.counters.reconnects++;
    p.dialedBefore = true;
    this.counters.connectionsDialed++;
    const { host, port } = parseHostPort(p.address);
    const socket = net.connect({ host, port });
    const conn = this.track(socket, 'out', p.id);
    p.dialing = conn;
    socket.once('connect', () => {
      if (conn.dead) return;
      socket.write(Buffer.concat(encodeFrame(helloFrame(false, this.clusterId, this.id), this.maxFrameBytes)));
    });
  }

  private scheduleRedial(p: Peer): void {
    if (this.closed || p.redialTimer || this.peers.get(p.id) !== p) return;
    const delay = p.backoff.next();
    this.log.debug({ peer: p.id, delayMs: delay }, 'redialling peer');
    p.redialTimer = setTimeout(() => {
      p.redialTimer = null;
      this.dial(p);
    }, delay);
  }

  private onAccept(socket: net.Socket): void {
    if (this.closed) {
      socket.destroy();
      return;
    }
    let handshaking = 0;
    for (const c of this.conns) if (c.dir === 'in' && !c.open) handshaking++;
    if (handshaking >= this.maxHandshaking) {
      this.counters.connectionsRejected++;
      this.log.warn({ remote: `${socket.remoteAddress}:${socket.remotePort}` }, 'too many peer handshakes in progress; refusing connection');
      socket.destroy();
      return;
    }
    this.counters.connectionsAccepted++;
    this.track(socket, 'in', null);
  }

  private track(socket: net.Socket, dir: 'in' | 'out', peerId: string | null): Conn {
    const conn: Conn = {
      socket,
      decoder: new FrameDecoder(Math.min(HANDSHAKE_MAX_FRAME_BYTES, this.maxFrameBytes)),
      dir,
      peerId,
      open: false,
      dead: false,
      handshakeTimer: null,
    };
    this.conns.add(conn);
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 10_000);
    conn.handshakeTimer = setTimeout(() => {
      conn.handshakeTimer = null;
      if (!conn.open) this.reject(conn, 'HANDSHAKE_TIMEOUT', 'no handshake in time');
    }, this.handshakeTimeoutMs);
    socket.on('data', (chunk: Buffer) => this.onData(conn, chunk));
    socket.on('error', (e: NodeJS.ErrnoException) => {
      this.log.debug({ peer: conn.peerId, code: e.code, err: e.message }, 'peer socket error');
    });
    socket.on('close', () => this.onClose(conn));
    return conn;
  }

  private destroy(conn: Conn): void {
    if (conn.dead) return;
    conn.dead = true;
    conn.socket.destroy();
  }

  /** Closes a connection for a protocol violation, with the log line the issue asks for. */
  private reject(conn: Conn, code: string, message: string): void {
    if (conn.dead) return;
    this.counters.connectionsRejected++;
    this.log.warn(
      { peer: conn.peerId, remote: `${conn.socket.remoteAddress}:${conn.socket.remotePort}`, code, err: message },
      'peer connection rejected; closing it',
    );
    this.destroy(conn);
  }

  private onClose(conn: Conn): void {
    conn.dead = true;
    this.conns.delete(conn);
    if (conn.handshakeTimer) clearTimeout(conn.handshakeTimer);
    const p = conn.peerId === null ? undefined : this.peers.get(conn.peerId);
    if (!p) return;
    if (p.dialing === conn) p.dialing = null;
    if (p.conn === conn) {
      p.conn = null;
      p.blocked = false;
      this.log.info({ peer: p.id }, 'peer connection closed');
      this.failInFlight(p);
    }
    if (conn.dir === 'out' && !p.conn && !p.dialing) this.scheduleRedial(p);
  }

  /** Requests already written to a lost socket may or may not have run; their callers must know. */
  private failInFlight(p: Peer): void {
    for (const [id, r] of this.pending) {
      if (r.peer !== p.id || !r.written) continue;
      clearTimeout(r.timer);
      this.pending.delete(id);
      r.reject(new TransportError('PEER_DISCONNECTED', `connection to ${p.id} lost with request ${id} in flight`));
    }
  }

  private onData(conn: Conn, chunk: Buffer): void {
    if (conn.dead) return;
    try {
      // Frame by frame: a handshake raises the frame limit before the next header is read.
      conn.decoder.pushEach(chunk, (raw) => {
        let f: WireFrame;
        try {
          f = parseWireFrame(raw);
        } catch (e) {
          this.reject(conn, 'FRAME_MALFORMED', (e as Error).message);
          return false;
        }
        if (conn.open) this.onFrame(conn, f);
        else this.onHandshake(conn, f);
        return !conn.dead;
      });
    } catch (e) {
      const code = e instanceof SealkvError ? e.code : 'FRAME_MALFORMED';
      this.reject(conn, code, (e as Error).message);
    }
  }

  private onHandshake(conn: Conn, f: WireFrame): void {
    const want = conn.dir === 'in' ? Kind.Hello : Kind.HelloAck;
    if (f.kind !== want || !('clusterId' in f)) {
      this.reject(conn, 'HANDSHAKE_FAILED', `expected a handshake frame, got kind ${f.kind}`);
      return;
    }
    if (f.version !== WIRE_VERSION) {
      this.reject(conn, 'HANDSHAKE_FAILED', `wire version ${f.version}, this node speaks ${WIRE_VERSION}`);
      return;
    }
    if (f.clusterId !== this.clusterId) {
      this.reject(conn, 'CLUSTER_MISMATCH', `peer ${f.nodeId} is in cluster "${f.clusterId}", not "${this.clusterId}"`);
      return;
    }
    if (conn.dir === 'out') {
      if (f.nodeId !== conn.peerId) {
        this.reject(conn, 'HANDSHAKE_FAILED', `dialled ${conn.peerId} but ${f.nodeId} answered`);
        return;
      }
    } else {
      const p = this.peers.get(f.nodeId);
      if (!p || f.nodeId === this.id) {
        this.reject(conn, 'PEER_UNKNOWN', `node ${f.nodeId} is not a known peer`);
        return;
      }
      if (this.dials(f.nodeId)) {
        this.reject(conn, 'HANDSHAKE_FAILED', `node ${f.nodeId} must be dialled by ${this.id}, not dial it`);
        return;
      }
      conn.peerId = f.nodeId;
      conn.socket.write(Buffer.concat(encodeFrame(helloFrame(true, this.clusterId, this.id), this.maxFrameBytes)));
    }
    this.openConn(conn);
  }

  private openConn(conn: Conn): void {
    const p = this.peers.get(conn.peerId!)!;
    if (conn.handshakeTimer) clearTimeout(conn.handshakeTimer);
    conn.handshakeTimer = null;
    conn.open = true;
    conn.decoder.setMaxFrameBytes(this.maxFrameBytes);
    if (p.dialing === conn) p.dialing = null;
    if (p.conn && p.conn !== conn) {
      // The peer redialled (e.g. it restarted and our old socket is half-open): the new one wins.
      this.log.info({ peer: p.id }, 'replacing peer connection');
      const old = p.conn;
      p.conn = null;
      this.destroy(old);
      this.failInFlight(p);
    }
    p.conn = conn;
    p.blocked = false;
    p.backoff.reset();
    this.log.info({ peer: p.id, direction: conn.dir }, 'peer connected');
    this.markDirty(p);
  }

  private onFrame(conn: Conn, f: WireFrame): void {
    const from = conn.peerId!;
    this.counters.framesReceived++;
    if (f.kind === Kind.Msg) {
      const payload = f.payload;
      const deliver = (): void => {
        if (this.closed) return;
        try {
          this.messageHandler(from, payload);
        } catch (e) {
          this.log.warn({ peer: from, err: (e as Error)?.message }, 'peer message handler threw');
        }
      };
      if (this.faults === null) deliver();
      else this.faults.message(from, 'in', deliver, payload);
      return;
    }
    const isRpc = f.kind === Kind.Req || f.kind === Kind.ResOk || f.kind === Kind.ResErr;
    if (isRpc && this.faults?.blocks(from, 'in')) return;
    switch (f.kind) {
      case Kind.Req:
        this.serveRequest(from, f.id, f.payload);
        return;
      case Kind.ResOk: {
        const r = this.settle(from, f.id);
        if (r) r.resolve(f.payload);
        return;
      }
      case Kind.ResErr: {
        const r = this.settle(from, f.id);
        if (r) r.reject(fromWireError(f.error));
        return;
      }
      default:
        this.reject(conn, 'FRAME_MALFORMED', 'handshake frame on an open connection');
    }
  }

  /** Takes the pending request a reply answers; undefined when late (timed out) or not sent to `from`. */
  private settle(from: string, id: number): Pending | undefined {
    const r = this.pending.get(id);
    if (!r || r.peer !== from) return undefined;
    this.pending.delete(id);
    clearTimeout(r.timer);
    return r;
  }

  private serveRequest(from: string, id: number, payload: unknown): void {
    const handler = this.requestHandler;
    const reply = (frame: unknown[]): void => {
      const p = this.peers.get(from);
      if (!p || this.faults?.blocks(from, 'out')) return;
      try {
        this.enqueue(p, frame, 0);
      } catch (e) {
        // The reply itself cannot be framed (too large): tell the requester instead.
        this.enqueue(p, resErrFrame(id, toWireError(e)), 0);
      }
    };
    if (!handler) {
      reply(resErrFrame(id, toWireError(new TransportError('NO_HANDLER', `node ${this.id} serves no requests`))));
      return;
    }
    let result: unknown;
    try {
      result = handler(from, payload);
    } catch (e) {
      reply(resErrFrame(id, toWireError(e)));
      return;
    }
    Promise.resolve(result).then(
      (v) => reply(resOkFrame(id, v)),
      (e) => reply(resErrFrame(id, toWireError(e))),
    );
  }

  // ---- outgoing queue ----

  private enqueue(p: Peer, frame: unknown[], reqId: number): boolean {
    const [header, payload] = encodeFrame(frame, this.maxFrameBytes);
    return this.push(p, header, payload, reqId);
  }

  private push(p: Peer, header: Buffer, payload: Buffer, reqId: number): boolean {
    const size = header.length + payload.length;
    if (p.queue.length >= this.maxQueueFrames || p.queuedBytes + size > this.maxQueueBytes) {
      this.counters.dropped++;
      return false;
    }
    p.queue.push({ header, payload, reqId });
    p.queuedBytes += size;
    this.markDirty(p);
    return true;
  }

  private markDirty(p: Peer): void {
    this.dirty.add(p);
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    // Everything queued during this turn of the loop leaves in one corked write per peer.
    setImmediate(() => {
      this.flushScheduled = false;
      const peers = [...this.dirty];
      this.dirty.clear();
      for (const peer of peers) this.flush(peer);
    });
  }

  private flush(p: Peer): void {
    const conn = p.conn;
    if (!conn || conn.dead || p.blocked || p.queue.length === 0) return;
    const s = conn.socket;
    s.cork();
    let item = p.queue.shift();
    while (item) {
      p.queuedBytes -= item.header.length + item.payload.length;
      s.write(item.header);
      const ok = s.write(item.payload);
      this.counters.framesSent++;
      this.counters.bytesSent += item.header.length + item.payload.length;
      if (item.reqId !== 0) {
        const r = this.pending.get(item.reqId);
        if (r) r.written = true;
      }
      if (!ok) {
        p.blocked = true;
        s.once('drain', () => {
          p.blocked = false;
          if (p.conn === conn) this.flush(p);
        });
        break;
      }
      item = p.queue.shift();
    }
    s.uncork();
  }
}

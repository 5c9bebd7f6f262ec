// The simulated peer network (issue 14 item 2): one `SimTransport` per simulated node, with the
// surface the node composition uses of `PeerTransport`, delivering over a virtual clock with
// seeded faults — drop, delay, duplicate, reorder, one-way cuts and full partitions.
//
// Fidelity choices:
// - every message and request is encoded and decoded with the real frame codec, so the
//   receiver gets a copy as the wire would give it (no shared buffers, same bigint handling);
// - handler errors cross as the real transport carries them (toWireError / fromWireError);
// - Raft messages may be dropped, duplicated and reordered (Raft must tolerate it); requests
//   and their answers are delayed but never dropped by `drop` and never duplicated: the real
//   transport runs them over one TCP connection per peer pair, where a single frame is neither
//   lost nor duplicated while the connection lives (a forwarded write executed twice, or a
//   snapshot chunk whose answer vanishes on a link that keeps working, would be a simulator
//   artefact, not a node bug — the test fault layer `transport/peer-faults.ts` leaves them to
//   partitions for the same reason). A request or answer is lost only to a cut (the TIMEOUT a
//   dead link gives) or to a crash of the target after it was written (PEER_DISCONNECTED, as
//   the real transport's `failInFlight`);
// - a request to a peer that is down is held, as the real transport's per-peer queue holds it
//   until the connection opens again, and goes to the peer's next life when it comes up;
// - a frame in flight to a node that crashed (or restarted: a new incarnation) is lost, as on a
//   broken TCP connection; a cut made while a frame is in flight loses it too.

import { TransportError } from '../errors.js';
import type { NodeTransport } from '../node/node-media.js';
import type { Scheduler } from '../node/scheduler.js';
import { decodePayload, encodeFrame } from '../transport/frame-codec.js';
import type { MessageHandler, PeerMap, PeerStatus, RequestHandler } from '../transport/peer-transport.js';
import { fromWireError, toWireError, type WireError } from '../transport/wire.js';

export type { NodeTransport };

export interface NetworkFaults {
  /** Probability that one frame (message, request or answer) is lost. */
  drop: number;
  /** Probability that a Raft message is delivered twice. */
  duplicate: number;
  /** One-way latency bounds (ms), uniform between them. */
  minDelayMs: number;
  maxDelayMs: number;
  /**
   * Probability that a message ignores the link's FIFO order (arrives with its own random
   * delay even if that overtakes an earlier one). 0 = every link is FIFO, like TCP.
   */
  reorder: number;
}

export const NO_FAULTS: NetworkFaults = { drop: 0, duplicate: 0, minDelayMs: 1, maxDelayMs: 1, reorder: 0 };

export interface NetworkCounters {
  sent: number;
  delivered: number;
  dropped: number;
  cut: number;
  duplicated: number;
  reordered: number;
  lostToCrash: number;
  requests: number;
  requestTimeouts: number;
}

interface Endpoint {
  id: string;
  incarnation: number;
  transport: SimTransport;
}

/** A request written while its target was down: sent when the target's next life attaches. */
interface HeldRequest {
  from: string;
  fromIncarnation: number;
  /** Sends it to the new life (`incarnation`). */
  send(incarnation: number): void;
}

export class SimNetwork {
  private readonly endpoints = new Map<string, Endpoint>();
  private readonly incarnations = new Map<string, number>();
  /** Directed cuts "from→to". */
  private readonly cuts = new Set<string>();
  /** Per directed link (from → to → time): virtual time the last FIFO frame arrives (keeps TCP order). */
  private readonly linkTail = new Map<string, Map<string, number>>();
  /** Requests waiting for their target to come up, by target id, in send order. */
  private readonly held = new Map<string, HeldRequest[]>();
  faults: NetworkFaults;
  readonly counters: NetworkCounters = {
    sent: 0,
    delivered: 0,
    dropped: 0,
    cut: 0,
    duplicated: 0,
    reordered: 0,
    lostToCrash: 0,
    requests: 0,
    requestTimeouts: 0,
  };

  constructor(
    readonly sched: Scheduler,
    private readonly random: () => number,
    faults: NetworkFaults = NO_FAULTS,
  ) {
    this.faults = { ...faults };
  }

  /** A new transport for node `id` (a restart gets a new one: frames to the old life are lost). */
  attach(id: string): SimTransport {
    const incarnation = (this.incarnations.get(id) ?? 0) + 1;
    this.incarnations.set(id, incarnation);
    const t = new SimTransport(this, id, incarnation);
    this.endpoints.set(id, { id, incarnation, transport: t });
    // The real transport writes what it queued for this peer once the new connection opens;
    // a sender that died meanwhile took its queue with it.
    const held = this.held.get(id) ?? [];
    this.held.delete(id);
    for (const h of held) if (this.alive(h.from, h.fromIncarnation)) h.send(incarnation);
    return t;
  }

  /** Holds a request to `to`, which is down, until its next life attaches. */
  hold(to: string, h: HeldRequest): void {
    const q = this.held.get(to);
    if (q === undefined) this.held.set(to, [h]);
    else q.push(h);
  }

  /** The node crashed: its endpoint vanishes with everything in flight to it. */
  detach(id: string, incarnation: number): void {
    if (this.endpoints.get(id)?.incarnation !== incarnation) return;
    this.endpoints.delete(id);
    // Their connections to it break: requests it had received have an unknown outcome.
    for (const e of this.endpoints.values()) e.transport.peerCrashed(id);
  }

  /** Frames from `from` to `to` are lost (one way). */
  cut(from: string, to: string): void {
    this.cuts.add(`${from}\u0000${to}`);
  }

  /** No frame crosses between the two groups, in either direction. */
  partition(a: readonly string[], b: readonly string[]): void {
    for (const x of a) {
      for (const y of b) {
        if (x === y) continue;
        this.cut(x, y);
        this.cut(y, x);
      }
    }
  }

  /** `id` can neither send nor receive. */
  isolate(id: string, all: readonly string[]): void {
    this.partition([id], all);
  }

  heal(): void {
    this.cuts.clear();
  }

  blocked(from: string, to: string): boolean {
    // Asked twice per frame; most of a run has no cut at all.
    return this.cuts.size > 0 && this.cuts.has(`${from}\u0000${to}`);
  }

  /** True when `id` is attached with this incarnation (alive, not restarted since). */
  alive(id: string, incarnation: number): boolean {
    return this.endpoints.get(id)?.incarnation === incarnation;
  }

  endpoint(id: string): SimTransport | undefined {
    return this.endpoints.get(id)?.transport;
  }

  /**
   * Carries one frame from `from` to `to`: `deliver` runs at the receiver on arrival unless the
   * frame is lost. `dupable`: Raft messages may arrive twice; requests and answers may not.
   */
  carry(from: string, to: string, dupable: boolean, deliver: (target: SimTransport) => void): void {
    this.counters.sent++;
    if (this.blocked(from, to)) {
      this.counters.cut++;
      return;
    }
    const target = this.endpoints.get(to);
    if (target === undefined) {
      this.counters.lostToCrash++;
      return;
    }
    // Drawn for every frame (a seed keeps its other faults); only Raft messages are dropped.
    const lost = this.random() < this.faults.drop;
    if (lost && dupable) {
      this.counters.dropped++;
      return;
    }
    const copies = dupable && this.random() < this.faults.duplicate ? 2 : 1;
    if (copies === 2) this.counters.duplicated++;
    for (let i = 0; i < copies; i++) {
      const at = this.arrival(from, to);
      this.sched.setTimeout(() => {
        if (this.blocked(from, to)) {
          this.counters.cut++;
          return;
        }
        if (!this.alive(to, target.incarnation)) {
          this.counters.lostToCrash++;
          return;
        }
        this.counters.delivered++;
        deliver(target.transport);
      }, at);
    }
  }

  /** Delay of the next frame on from→to: random, and FIFO behind the link's tail unless reordered. */
  private arrival(from: string, to: string): number {
    const f = this.faults;
    const d = f.minDelayMs + this.random() * Math.max(0, f.maxDelayMs - f.minDelayMs);
    const now = this.sched.monotonic();
    if (this.random() < f.reorder) {
      this.counters.reordered++;
      return d;
    }
    let tails = this.linkTail.get(from);
    if (tails === undefined) {
      tails = new Map();
      this.linkTail.set(from, tails);
    }
    const at = Math.max(now + d, tails.get(to) ?? 0);
    tails.set(to, at);
    return at - now;
  }
}

interface PendingRequest {
  to: string;
  toIncarnation: number;
  resolve(v: unknown): void;
  reject(e: unknown): void;
  timer: ReturnType<Scheduler['setTimeout']>;
  received: boolean;
}

/** One node's view of the simulated network (same surface as PeerTransport, see NodeTransport). */
export class SimTransport implements NodeTransport {
  private onMsg: MessageHandler = () => undefined;
  private onReq: RequestHandler | null = null;
  private peers = new Set<string>();
  private closed = false;
  private nextReq = 1;
  private readonly pending = new Map<number, PendingRequest>();

  constructor(
    private readonly net: SimNetwork,
    readonly id: string,
    readonly incarnation: number,
  ) {}

  async start(): Promise<{ host: string; port: number }> {
    return { host: 'sim', port: 0 };
  }

  onMessage(handler: MessageHandler): void {
    this.onMsg = handler;
  }

  onRequest(handler: RequestHandler): void {
    this.onReq = handler;
  }

  updatePeers(peers: PeerMap): void {
    const ids = peers instanceof Map ? [...peers.keys()] : Object.keys(peers);
    this.peers = new Set(ids.filter((id) => id !== this.id));
  }

  status(): PeerStatus[] {
    return [...this.peers].map((id) => ({
      id,
      address: `sim:${id}`,
      connected: this.net.endpoint(id) !== undefined && !this.net.blocked(this.id, id),
      direction: 'out',
      queuedFrames: 0,
      queuedBytes: 0,
    }));
  }

  send(to: string, msg: unknown): boolean {
    if (this.closed || !this.peers.has(to)) return false;
    const bytes = encode(msg);
    this.net.carry(this.id, to, true, (target) => target.receiveMessage(this.id, bytes));
    return true;
  }

  request(to: string, payload: unknown, timeoutMs: number): Promise<unknown> {
    if (this.closed) return Promise.reject(new TransportError('TRANSPORT_CLOSED', 'transport closed'));
    if (!this.peers.has(to)) return Promise.reject(new TransportError('PEER_UNKNOWN', `unknown peer ${to}`));
    const id = this.nextReq++;
    const bytes = encode(payload);
    this.net.counters.requests++;
    return new Promise<unknown>((resolve, reject) => {
      const target = this.net.endpoint(to);
      const timer = this.net.sched.setTimeout(() => {
        this.pending.delete(id);
        this.net.counters.requestTimeouts++;
        reject(new TransportError('TIMEOUT', `request ${id} to ${to} timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, { to, toIncarnation: target?.incarnation ?? -1, resolve, reject, timer, received: false });
      const write = (): void =>
        this.net.carry(this.id, to, false, (t) => {
          const p = this.pending.get(id);
          if (p) p.received = true;
          t.receiveRequest(this.id, this.incarnation, id, bytes);
        });
      if (target !== undefined) {
        write();
        return;
      }
      // The peer is down: queued, and written once it is back (even if the caller has timed out
      // meanwhile: the real queue does not know). From then on a crash of it fails the request.
      this.net.hold(to, {
        from: this.id,
        fromIncarnation: this.incarnation,
        send: (incarnation) => {
          const p = this.pending.get(id);
          if (p) p.toIncarnation = incarnation;
          write();
        },
      });
    });
  }

  /**
   * The peer `id` crashed: requests written to it are answered by nobody (outcome unknown). As
   * with the real transport's `failInFlight`, that includes those still in flight: the broken
   * connection fails every request written to it, received or not.
   */
  peerCrashed(id: string): void {
    for (const [rid, p] of this.pending) {
      if (p.to !== id || p.toIncarnation < 0) continue;
      this.pending.delete(rid);
      this.net.sched.clearTimeout(p.timer);
      p.reject(new TransportError('PEER_DISCONNECTED', `connection to ${id} lost after request ${rid} was written`));
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.net.detach(this.id, this.incarnation);
    for (const p of this.pending.values()) {
      this.net.sched.clearTimeout(p.timer);
      p.reject(new TransportError('TRANSPORT_CLOSED', 'transport closed'));
    }
    this.pending.clear();
  }

  /** A crash: like close, but nothing is told to anybody (the process is gone). */
  crash(): void {
    this.closed = true;
    this.net.detach(this.id, this.incarnation);
    this.pending.clear();
  }

  receiveMessage(from: string, bytes: Uint8Array): void {
    if (this.closed) return;
    this.onMsg(from, decodePayload(bytes));
  }

  receiveRequest(from: string, fromIncarnation: number, id: number, bytes: Uint8Array): void {
    if (this.closed) return;
    const handler = this.onReq;
    const answer = (ok: boolean, value: unknown): void => {
      if (this.closed) return;
      const back = encode(value);
      this.net.carry(this.id, from, false, (t) => {
        if (t.incarnation === fromIncarnation) t.receiveAnswer(id, ok, back);
      });
    };
    if (handler === null) {
      answer(false, toWireError(new TransportError('UNAVAILABLE', 'no request handler')));
      return;
    }
    let r: unknown;
    try {
      r = handler(from, decodePayload(bytes));
    } catch (e) {
      answer(false, toWireError(e));
      return;
    }
    Promise.resolve(r).then(
      (v) => answer(true, v),
      (e) => answer(false, toWireError(e)),
    );
  }

  receiveAnswer(id: number, ok: boolean, bytes: Uint8Array): void {
    const p = this.pending.get(id);
    if (!p) return; // timed out meanwhile
    this.pending.delete(id);
    this.net.sched.clearTimeout(p.timer);
    const v = decodePayload(bytes);
    if (ok) p.resolve(v);
    else p.reject(fromWireError(v as WireError));
  }
}

function encode(v: unknown): Uint8Array {
  return encodeFrame(v)[1];
}

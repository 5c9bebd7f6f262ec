// Linearizable reads (ReadIndex), on the leader or on a follower (whose core forwards the round
// to the leader). Every read request in one event-loop turn shares one read-index round (one
// heartbeat round confirms leadership for all of them); the caller then waits until its own
// applied index reaches the returned index and reads locally.
//
// A round also yields the time the read is judged at (expiry, issue 9 defect 7): the leader's
// read time, carried by its ReadIndex answer (`noteReadTime`), or this node's own when its own
// core answered (it leads).

import { randomBytes } from 'node:crypto';
import { ProposalError } from '../errors.js';
import { realScheduler, type Scheduler } from './scheduler.js';

export interface ReadIndexSink {
  leader(): string | null;
  /**
   * Starts a read-index round tagged with `ctx` (a follower's core forwards it to the leader);
   * the answer arrives through `onReadState`. False when no leader is known.
   */
  readIndex(ctx: Uint8Array): boolean;
}

/** Where a read may be served (applied ≥ index) and the time its expiry is judged at (ms). */
export interface ReadPoint {
  index: bigint;
  readTime: bigint;
}

interface Round {
  resolve(p: ReadPoint): void;
  reject(e: unknown): void;
}

export class ReadIndexBatcher {
  private seq = 0;
  // Contexts must never repeat across restarts: an answer to a round of this node's previous
  // life (same id, counter from 0) would otherwise resolve a new round with an old index.
  private readonly prefix: string;
  private waiting: Round[] = [];
  private scheduled = false;
  private readonly rounds = new Map<string, { waiters: Round[]; started: number; readTime: bigint | null }>();

  constructor(
    private readonly nodeId: string,
    private readonly raft: ReadIndexSink,
    private readonly timeoutMs: number,
    /** This node's read time, for rounds its own core answers (it is the leader). */
    private readonly localReadTime: () => bigint = () => BigInt(realScheduler.now()),
    private readonly sched: Scheduler = realScheduler,
    /** 8 random bytes, hex (the simulator passes a seeded source). */
    randomPrefix: () => string = () => randomBytes(8).toString('hex'),
  ) {
    this.prefix = randomPrefix();
  }

  /** Resolves with the commit index at which a read started now may be served, and its read time. */
  request(): Promise<ReadPoint> {
    if (this.raft.leader() === null) {
      return Promise.reject(new ProposalError('NOT_LEADER', 'no leader known: cannot serve a linearizable read', { leader: null }));
    }
    return new Promise((resolve, reject) => {
      this.waiting.push({ resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        this.sched.defer(() => this.flush());
      }
    });
  }

  private flush(): void {
    this.scheduled = false;
    const waiters = this.waiting;
    this.waiting = [];
    if (waiters.length === 0) return;
    // The context must be unique cluster-wide and across restarts: node id + a random
    // per-process prefix + a counter.
    const ctx = Buffer.from(`${this.nodeId}:${this.prefix}:${++this.seq}`);
    this.rounds.set(key(ctx), { waiters, started: this.sched.now(), readTime: null });
    if (!this.raft.readIndex(ctx)) {
      this.rounds.delete(key(ctx));
      const e = new ProposalError('NOT_LEADER', 'no leader known: cannot serve a linearizable read', { leader: null });
      for (const w of waiters) w.reject(e);
    }
  }

  /** The leader's ReadIndex answer for `ctx` carried its read time (before the core yields the ReadState). */
  noteReadTime(ctx: Uint8Array, readTime: bigint): void {
    const r = this.rounds.get(key(ctx));
    if (r) r.readTime = readTime;
  }

  /** A ReadState came out of Ready. */
  onReadState(index: number, ctx: Uint8Array): void {
    const k = key(ctx);
    const r = this.rounds.get(k);
    if (!r) return;
    this.rounds.delete(k);
    const p: ReadPoint = { index: BigInt(index), readTime: r.readTime ?? this.localReadTime() };
    for (const w of r.waiters) w.resolve(p);
  }

  /** Called on every tick: rounds that got no answer (lost leadership, partition) fail. */
  expire(now = this.sched.now()): void {
    for (const [k, r] of this.rounds) {
      if (now - r.started < this.timeoutMs) continue;
      this.rounds.delete(k);
      const e = new ProposalError('TIMEOUT', 'read index round timed out (no quorum?)');
      for (const w of r.waiters) w.reject(e);
    }
  }

  failAll(code: 'NOT_LEADER' | 'CLOSED', leader: string | null): void {
    const e = new ProposalError(code, code === 'CLOSED' ? 'the node is shutting down' : 'this node stopped being the leader', { leader });
    for (const r of this.rounds.values()) for (const w of r.waiters) w.reject(e);
    this.rounds.clear();
    for (const w of this.waiting.splice(0)) w.reject(e);
  }
}

function key(ctx: Uint8Array): string {
  return Buffer.from(ctx.buffer, ctx.byteOffset, ctx.byteLength).toString('hex');
}

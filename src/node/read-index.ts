// Linearizable reads (ReadIndex). Every read request in one event-loop turn shares one Raft
// read-index round (one heartbeat round confirms leadership for all of them); the caller then
// waits until its own applied index reaches the returned index and reads locally.

import { ProposalError } from '../errors.js';

export interface ReadIndexSink {
  isLeader(): boolean;
  leader(): string | null;
  /** Starts a read-index round tagged with `ctx`; the answer arrives through `onReadState`. */
  readIndex(ctx: Uint8Array): void;
}

interface Round {
  resolve(index: bigint): void;
  reject(e: unknown): void;
}

export class ReadIndexBatcher {
  private seq = 0;
  private waiting: Round[] = [];
  private scheduled = false;
  private readonly rounds = new Map<string, { waiters: Round[]; started: number }>();

  constructor(
    private readonly raft: ReadIndexSink,
    private readonly timeoutMs: number,
  ) {}

  /** Resolves with the commit index at which a read started now may be served. */
  request(): Promise<bigint> {
    if (!this.raft.isLeader()) {
      return Promise.reject(new ProposalError('NOT_LEADER', 'read index needs the leader', { leader: this.raft.leader() }));
    }
    return new Promise((resolve, reject) => {
      this.waiting.push({ resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  private flush(): void {
    this.scheduled = false;
    const waiters = this.waiting;
    this.waiting = [];
    if (waiters.length === 0) return;
    if (!this.raft.isLeader()) {
      const e = new ProposalError('NOT_LEADER', 'leadership lost before the read index round', { leader: this.raft.leader() });
      for (const w of waiters) w.reject(e);
      return;
    }
    const ctx = new Uint8Array(8);
    new DataView(ctx.buffer).setFloat64(0, ++this.seq);
    this.rounds.set(key(ctx), { waiters, started: Date.now() });
    this.raft.readIndex(ctx);
  }

  /** A ReadState came out of Ready. */
  onReadState(index: number, ctx: Uint8Array): void {
    const k = key(ctx);
    const r = this.rounds.get(k);
    if (!r) return;
    this.rounds.delete(k);
    const i = BigInt(index);
    for (const w of r.waiters) w.resolve(i);
  }

  /** Called on every tick: rounds that got no answer (lost leadership, partition) fail. */
  expire(now = Date.now()): void {
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

// ReadIndex bookkeeping on the leader (thesis §6.4): each request records the commit index when
// it arrived; it is released once a quorum has answered a heartbeat carrying its context (or a
// later one), which proves no newer leader existed when the request arrived.

import type { NodeId } from './types.js';

export interface ReadRequest {
  index: number;
  context: Uint8Array;
  /** Who asked: the leader itself or a follower that forwarded it. */
  from: NodeId;
  acks: Set<NodeId>;
  key: string;
}

export function contextKey(ctx: Uint8Array): string {
  let s = '';
  for (let i = 0; i < ctx.length; i++) s += String.fromCharCode(ctx[i]!);
  return s;
}

export class ReadOnly {
  private readonly pending = new Map<string, ReadRequest>();
  private queue: ReadRequest[] = [];

  add(index: number, context: Uint8Array, from: NodeId): ReadRequest {
    const key = contextKey(context);
    const existing = this.pending.get(key);
    if (existing) return existing;
    const req: ReadRequest = { index, context, from, acks: new Set(), key };
    this.pending.set(key, req);
    this.queue.push(req);
    return req;
  }

  /** Record an ack for the request with this context; returns its ack set (or null if unknown). */
  ack(context: Uint8Array, from: NodeId): Set<NodeId> | null {
    const req = this.pending.get(contextKey(context));
    if (!req) return null;
    req.acks.add(from);
    return req.acks;
  }

  /** Release the request with this context and every one queued before it. */
  advance(context: Uint8Array): ReadRequest[] {
    const key = contextKey(context);
    const at = this.queue.findIndex((r) => r.key === key);
    if (at < 0) return [];
    const done = this.queue.slice(0, at + 1);
    this.queue = this.queue.slice(at + 1);
    for (const r of done) this.pending.delete(r.key);
    return done;
  }

  lastPendingContext(): Uint8Array | null {
    return this.queue.length > 0 ? this.queue[this.queue.length - 1]!.context : null;
  }

  reset(): void {
    this.pending.clear();
    this.queue = [];
  }
}

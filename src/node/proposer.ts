// The proposer: turns client and admin commands into Raft entries and routes the responses back
// (SPEC PE-1..PE-6, RO-12).
//
// - ids come from one per-process counter starting at 1 (PE-3); `(term, id)` names a proposal
//   across leaders, so a response is never delivered to the wrong caller after a leader change;
// - proposals submitted in one event-loop turn go to Raft as one batch (group commit);
// - the wrap hook (null = pass-through) turns payloads into raft envelopes before Raft sees them;
//   the encryption issue installs it (WI-1, RO-11). Only the payload is wrapped: the 9-byte
//   proposal header stays cleartext so responses can be routed (PE-5);
// - a proposal failed before it was handed to Raft certainly never reached a log (NOT_LEADER,
//   CLOSED: safe to retry); one failed after (step-down, close) may still commit under the next
//   leader, so it fails with UNKNOWN_OUTCOME and the client must not blindly retry (issue 9, 8);
// - deadlines are enforced by one sweep timer, not a timer per proposal (cost stays linear);
// - admission stamping (issue 9 defect 7): a user payload is stamped with the leader's time when
//   it is admitted here, forwarded ones included, before anything else sees it.

import type { RelativeTtl } from './fsm/command-codec.js';
import { PROPOSAL_HEADER_SIZE, decodeProposal, encodeProposal, writeProposalHeader } from '../crypto/envelope/proposal.js';
import { ProposalError, SealkvError } from '../errors.js';
import { realScheduler, type Scheduler, type SchedulerTimer } from './scheduler.js';
import { allocBytesUnsafe } from '../util/alloc-bytes.js';

export interface ProposeOptions {
  /** Absolute deadline in the scheduler's `now()` ms. */
  deadline?: number;
  signal?: AbortSignal;
  /** Which expiries were made absolute from the payload's `now` (EX/PX): the stamp moves them too. */
  relativeTtl?: RelativeTtl;
  /**
   * proposeAdmin only: this node's own writer registration (the dedicated registration call of
   * WR-8). Gated like any admin proposal; the wrap sees path 'registration', the one exception to
   * the raft wrap gate (recognised by calling path, never by payload bytes).
   */
  registration?: boolean;
}

/** Stamps a user payload in place with the admitting leader's time (see `setStamp`). */
export type StampFn = (payload: Uint8Array, relativeTtl: RelativeTtl) => void;

export interface ProposalResult<R> {
  commitIndex: bigint;
  response: R;
}

/** Wraps a batch of payloads into raft envelopes (order preserved); throws a typed error to reject them. */
export type WrapFn = (payloads: Uint8Array[], path: WrapPath) => Promise<Uint8Array[]>;

/** The calling path a wrap sees: the gate's paths plus this node's own registration (WR-8). */
export type WrapPath = ProposalPath | 'registration';

export type ProposalPath = 'user' | 'admin';

/**
 * Admission control consulted synchronously on every proposal (the quiescence barrier of RO-7
 * implements it in the encryption issue). `admit` throws to refuse; for the admin path it may
 * return a promise that resolves when the proposal may go on.
 */
export interface ProposalGate {
  /** `deadline` (ms): an admin wait must fail by then (RO-7 step 1). */
  admit(path: ProposalPath, deadline: number): undefined | Promise<void>;
}

/** What the proposer needs from the Raft run loop. */
export interface RaftSink {
  isLeader(): boolean;
  term(): number;
  leader(): string | null;
  transferInProgress(): boolean;
  /** Appends normal entries with these data bytes, in order; throws ProposalError when not possible. */
  proposeEntries(data: Uint8Array[]): void;
  /**
   * True once this leader has applied an entry of its own term (its no-op, and so everything
   * before it). Until then nothing is handed to Raft: an entry appended earlier could land above
   * a raft-cutover marker this leader has in its log but has not applied yet, unwrapped (found by
   * the whole-node simulator, issue 14). Absent: no fence.
   */
  appliedOwnTerm?(): boolean;
}

interface Pending<R> {
  id: bigint;
  term: number;
  deadline: number;
  resolve(r: ProposalResult<R>): void;
  reject(e: unknown): void;
  detach?: () => void;
  /** Handed to Raft (in this leader's log): its outcome is no longer ours to decide. */
  inLog: boolean;
}

interface Queued {
  id: bigint;
  /** The proposal's own copy of the payload: a view of `framed` after its 9 header bytes. */
  payload: Uint8Array;
  /**
   * Header room ‖ payload: handed to Raft as the entry data once the header is written, when the
   * payload is not wrapped (issue 13: one copy of every payload less on the leader).
   */
  framed: Uint8Array;
  /** 'marker': the barrier's raw path (RO-7 step 3), never wrapped, never gated. */
  path: WrapPath | 'marker';
  /** Scheduler monotonic time at admission, for the wrap-latency metric. */
  at: number;
}

/** Per proposal handed to Raft: seconds from admission to hand-off (0 while no wrap is installed). */
export type WrapObserver = (seconds: number) => void;

export class Proposer<R> {
  private nextId = 1n;
  private readonly pending = new Map<bigint, Pending<R>>();
  private queue: Queued[] = [];
  private flushScheduled = false;
  private wrap: WrapFn | null = null;
  private gate: ProposalGate | null = null;
  private stamp: StampFn | null = null;
  private observeWrap: WrapObserver | null = null;
  private closed = false;
  private readonly sweepTimer: SchedulerTimer;
  /** Drain waits (RO-7 step 2): each holds the ids admitted before its Begin. */
  private drains: { ids: Set<bigint>; done: () => void }[] = [];

  constructor(
    private readonly raft: RaftSink,
    private readonly defaultTimeoutMs = 30_000,
    private readonly sched: Scheduler = realScheduler,
  ) {
    this.sweepTimer = this.sched.setInterval(() => this.sweepDeadlines(), 50);
    this.sweepTimer.unref();
  }

  /** User commands, including writes forwarded by followers. */
  propose(payload: Uint8Array, opts: ProposeOptions = {}): Promise<ProposalResult<R>> {
    return this.submit(payload, 'user', opts);
  }

  /** Admin entries (registrations, rotations, bootstrap, membership pre-steps). */
  proposeAdmin(payload: Uint8Array, opts: ProposeOptions = {}): Promise<ProposalResult<R>> {
    return this.submit(payload, 'admin', opts);
  }

  /**
   * The raw marker path of the quiescence barrier (RO-7 step 3): never gated, never wrapped. Only
   * the barrier calls it.
   */
  proposeMarker(payload: Uint8Array, opts: ProposeOptions = {}): Promise<ProposalResult<R>> {
    return this.submit(payload, 'marker', opts);
  }

  /**
   * RO-7 step 2: resolves once every proposal admitted before this call has resolved or failed.
   * The set is sampled synchronously, so the caller's Begin (flag set) and this sample form one step.
   */
  drained(): Promise<void> {
    if (this.pending.size === 0) return Promise.resolve();
    const ids = new Set(this.pending.keys());
    return new Promise<void>((done) => this.drains.push({ ids, done }));
  }

  /** Installs (or replaces) the wrap-on-propose function. Once on, it is never turned off (RO-11). */
  setWrap(wrap: WrapFn): void {
    this.wrap = wrap;
  }

  /** Installs the admission stamp applied to every user payload (null: payloads go as given). */
  setStamp(stamp: StampFn | null): void {
    this.stamp = stamp;
  }

  /** Installs the wrap-latency observer (metrics; issue 15). */
  setWrapObserver(observe: WrapObserver | null): void {
    this.observeWrap = observe;
  }

  setGate(gate: ProposalGate | null): void {
    this.gate = gate;
  }

  /** Number of proposals admitted and not yet resolved or failed (the barrier's drain waits on it). */
  inFlight(): number {
    return this.pending.size;
  }

  /**
   * Not an async function: the common case (no gate to wait for) returns the proposal's own
   * promise directly, one promise per write less on the leader (issue 13). Every failure is a
   * rejection, never a synchronous throw.
   */
  private submit(payload: Uint8Array, path: ProposalPath | 'marker', opts: ProposeOptions): Promise<ProposalResult<R>> {
    try {
      const deadline = opts.deadline ?? this.sched.now() + this.defaultTimeoutMs;
      this.failFast(opts.signal, deadline);
      // Gate check and registration in `pending` happen with no await between them (RO-7).
      const wait = path === 'marker' ? undefined : this.gate?.admit(path, deadline);
      if (wait) {
        return wait.then(() => {
          this.failFast(opts.signal, deadline);
          return this.enqueue(payload, path, opts, deadline);
        });
      }
      return this.enqueue(payload, path, opts, deadline);
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** Copies, stamps and queues an admitted proposal; its promise settles when it is applied or fails. */
  private enqueue(payload: Uint8Array, path: ProposalPath | 'marker', opts: ProposeOptions, deadline: number): Promise<ProposalResult<R>> {
    // Copy: the caller may reuse its buffer before the batch is flushed (PE-3). The copy leaves
    // room for the proposal header in front, so an unwrapped entry needs no second copy.
    // Pooled (issue 13): the payload fills the rest now, the header is written at flush.
    const framed = allocBytesUnsafe(PROPOSAL_HEADER_SIZE + payload.length);
    framed.set(payload, PROPOSAL_HEADER_SIZE);
    const copy = framed.subarray(PROPOSAL_HEADER_SIZE);
    // Stamped at admission, in submission order, so stamps follow the log order of one leader.
    if (path === 'user') this.stamp?.(copy, opts.relativeTtl ?? false);
    const id = this.nextId++;
    return new Promise<ProposalResult<R>>((resolve, reject) => {
      const rec: Pending<R> = { id, term: this.raft.term(), deadline, resolve, reject, inLog: false };
      if (opts.signal) {
        const signal = opts.signal;
        const onAbort = () => this.fail(id, new ProposalError('ABORTED', `proposal ${id} aborted by the caller`));
        signal.addEventListener('abort', onAbort, { once: true });
        rec.detach = () => signal.removeEventListener('abort', onAbort);
      }
      // Registered before the entry is handed to Raft (PE-3).
      this.pending.set(id, rec);
      this.queue.push({
        id,
        payload: copy,
        framed,
        path: path === 'admin' && opts.registration === true ? 'registration' : path,
        at: this.observeWrap ? this.sched.monotonic() : 0,
      });
      this.scheduleFlush();
    });
  }

  private failFast(signal: AbortSignal | undefined, deadline: number): void {
    if (this.closed) throw new ProposalError('CLOSED', 'the node is shutting down');
    if (signal?.aborted) throw new ProposalError('ABORTED', 'proposal aborted by the caller');
    if (this.sched.now() >= deadline) throw new ProposalError('TIMEOUT', 'proposal deadline passed before it was queued');
    if (!this.raft.isLeader()) {
      throw new ProposalError('NOT_LEADER', 'this node is not the leader', { leader: this.raft.leader() });
    }
    if (this.raft.transferInProgress()) {
      throw new ProposalError('LEADERSHIP_TRANSFER_IN_PROGRESS', 'a leadership transfer is in progress');
    }
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    this.sched.defer(() => {
      this.flushScheduled = false;
      void this.flush();
    });
  }

  private async flush(): Promise<void> {
    if (this.queue.length === 0) return;
    if (this.raft.isLeader() && this.raft.appliedOwnTerm?.() === false) {
      // A new leader catching up on its log: retry shortly (the entries stay queued, in order).
      this.sched.setTimeout(() => this.scheduleFlush(), 1);
      return;
    }
    const batch = this.queue;
    this.queue = [];
    let payloads = batch.map((q) => q.payload);
    const wrap = this.wrap;
    if (wrap) {
      try {
        // One wrap call per path keeps the marker-free admin path distinguishable to the wrap gate (WR-8).
        payloads = await this.wrapByPath(wrap, batch);
      } catch (e) {
        for (const q of batch) this.fail(q.id, e);
        return;
      }
    }
    const data: Uint8Array[] = [];
    const live: Queued[] = [];
    for (let i = 0; i < batch.length; i++) {
      const q = batch[i]!;
      const rec = this.pending.get(q.id);
      // Dropped while wrapping (deadline, abort, step-down): never reaches Raft.
      if (!rec) continue;
      if (rec.term !== this.raft.term() || !this.raft.isLeader()) {
        this.fail(q.id, new ProposalError('NOT_LEADER', 'leadership changed before the proposal was appended', { leader: this.raft.leader() }));
        continue;
      }
      const p = payloads[i]!;
      if (p === q.payload) {
        writeProposalHeader(q.framed, 0, q.id);
        data.push(q.framed);
      } else {
        data.push(encodeProposal(q.id, p));
      }
      live.push(q);
    }
    if (data.length === 0) return;
    try {
      this.raft.proposeEntries(data);
    } catch (e) {
      // Raft refused the whole batch: nothing was appended.
      for (const q of live) this.fail(q.id, e);
      return;
    }
    for (const q of live) {
      const rec = this.pending.get(q.id);
      if (rec) rec.inLog = true;
    }
    const observe = this.observeWrap;
    if (observe) {
      // Without a wrap the hand-off is a pass-through: its wrap latency is 0 by definition.
      const now = this.sched.monotonic();
      for (const q of live) observe(wrap && q.path !== 'marker' && q.at > 0 ? (now - q.at) / 1000 : 0);
    }
  }

  private async wrapByPath(wrap: WrapFn, batch: Queued[]): Promise<Uint8Array[]> {
    const out = new Array<Uint8Array>(batch.length);
    for (let i = 0; i < batch.length; i++) if (batch[i]!.path === 'marker') out[i] = batch[i]!.payload;
    for (const path of ['registration', 'admin', 'user'] as const) {
      const idx: number[] = [];
      for (let i = 0; i < batch.length; i++) if (batch[i]!.path === path) idx.push(i);
      if (idx.length === 0) continue;
      const wrapped = await wrap(
        idx.map((i) => batch[i]!.payload),
        path,
      );
      idx.forEach((i, k) => {
        out[i] = wrapped[k]!;
      });
    }
    return out;
  }

  /**
   * Called by the apply pipeline after the entry at `index` applied (PE-4): routes by the ORIGINAL
   * entry bytes and the entry's term. Unknown ids or a term mismatch are silent no-ops.
   */
  resolve(index: bigint, term: number, entryData: Uint8Array, response: R): void {
    if (this.pending.size === 0) return;
    let id: bigint;
    try {
      id = decodeProposal(entryData).id;
    } catch {
      return;
    }
    const rec = this.pending.get(id);
    if (!rec || rec.term !== term) return;
    this.pending.delete(id);
    rec.detach?.();
    rec.resolve({ commitIndex: index, response });
    this.settled(id);
  }

  /**
   * Step-down or close (PE-6): proposals not yet handed to Raft fail with `code` (they never
   * reached a log); proposals already in this leader's log fail with UNKNOWN_OUTCOME, because the
   * next leader may still commit them (or drop them): a retry could apply the command twice.
   */
  failAll(code: 'NOT_LEADER' | 'CLOSED', leader: string | null = null): void {
    const why = code === 'CLOSED' ? 'the node is shutting down' : 'this node stopped being the leader';
    const never =
      code === 'CLOSED'
        ? new ProposalError('CLOSED', why, { leader })
        : new ProposalError('NOT_LEADER', 'leadership changed before the proposal was appended', { leader });
    for (const [id, rec] of [...this.pending]) {
      this.fail(
        id,
        rec.inLog
          ? new ProposalError('UNKNOWN_OUTCOME', `${why} after the proposal was appended; it may or may not commit`, { leader })
          : never,
      );
    }
    this.queue = [];
  }

  close(): void {
    this.closed = true;
    this.sched.clearInterval(this.sweepTimer);
    this.failAll('CLOSED');
  }

  private fail(id: bigint, e: unknown): void {
    const rec = this.pending.get(id);
    if (!rec) return;
    this.pending.delete(id);
    rec.detach?.();
    this.settled(id);
    rec.reject(e instanceof SealkvError ? e : new ProposalError('UNAVAILABLE', `proposal ${id} failed: ${String(e)}`, { cause: e }));
  }

  private settled(id: bigint): void {
    if (this.drains.length === 0) return;
    this.drains = this.drains.filter((d) => {
      d.ids.delete(id);
      if (d.ids.size > 0) return true;
      d.done();
      return false;
    });
  }

  private sweepDeadlines(): void {
    if (this.pending.size === 0) return;
    const now = this.sched.now();
    for (const rec of this.pending.values()) {
      if (rec.deadline <= now) this.fail(rec.id, new ProposalError('TIMEOUT', `proposal ${rec.id} deadline passed`));
    }
  }
}

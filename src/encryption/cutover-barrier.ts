// The proposal quiescence barrier of the raft-envelope cutover (SPEC RO-6..RO-9). It is the
// proposer's ProposalGate: while it is up, user proposals are refused with
// ENVELOPE_CUTOVER_IN_PROGRESS (retryable, Redis -TRYAGAIN) and admin proposals wait until End
// (failing at their deadline). The marker goes through the proposer's raw path, which the gate
// never sees. Begin sets the flag and samples the in-flight proposals in one synchronous step.

import { AdminError, ProposalError, SealkvError } from '../errors.js';
import type { ProposalGate, ProposalPath } from '../node/proposer.js';
import { crashPoint } from '../node/crash-points.js';
import { realScheduler, type Scheduler, type SchedulerTimer } from '../node/scheduler.js';
import { defectOn } from '../defect-switches.js';

export interface BarrierPort {
  /** Sampled synchronously at Begin: resolves once every proposal admitted before it has settled. */
  drained(): Promise<void>;
  isLeader(): boolean;
  leader(): string | null;
  /** Raw path (never wrapped, never gated); resolves with the marker's index once applied here. */
  proposeMarker(payload: Uint8Array, deadline: number): Promise<bigint>;
  waitApplied(index: bigint, deadline: number): Promise<void>;
  /** The sidecar's raft_envelope_cutover_index, read after the apply. */
  raftCutover(): bigint;
  /** Step 5: install the wrap for the active raft DEK (normally already done by the apply). */
  converge(cutover: bigint): void;
  /**
   * Test-only (AS-10): runs between the drain and the marker (a raft rotate-dek committed there
   * makes the marker stale). Wired only under NODE_ENV=test with SEALKV_TEST_ROTATE_BEFORE_MARKER=1.
   */
  beforeMarker?(deadline: number): Promise<void>;
}

type State = 'open' | 'up' | 'stuck';

/** Where the last successful run's write pause went (ms), for the enable answer and benchmarks (PF-4). */
export interface BarrierTimings {
  drain: number;
  markerApplied: number;
  install: number;
  total: number;
}

export class CutoverBarrier implements ProposalGate {
  private state: State = 'open';
  private waiters: { resolve(): void; reject(e: unknown): void; timer: SchedulerTimer }[] = [];
  /** Step durations of the last run that lifted the barrier normally. */
  lastTimings: BarrierTimings | null = null;

  constructor(
    private readonly port: BarrierPort,
    /** Timers and clocks (the whole-node simulator passes its virtual one). */
    private readonly sched: Scheduler = realScheduler,
  ) {}

  /** True while user proposals are refused (up, or stuck after an ambiguous marker, RO-9). */
  active(): boolean {
    return this.state !== 'open';
  }

  admit(path: ProposalPath, deadline: number): undefined | Promise<void> {
    if (this.state === 'open') return undefined;
    // Defect switch (issue 14, off in production): step 1 forgotten, user proposals pass the barrier.
    if (path === 'user' && defectOn('barrier-admits-users')) return undefined;
    if (path === 'user') throw new ProposalError('ENVELOPE_CUTOVER_IN_PROGRESS', 'the raft-envelope cutover is in progress; retry');
    return new Promise<void>((resolve, reject) => {
      const rec = {
        resolve,
        reject,
        timer: this.sched.setTimeout(() => {
          this.waiters = this.waiters.filter((w) => w !== rec);
          reject(new ProposalError('ENVELOPE_CUTOVER_IN_PROGRESS', 'the raft-envelope cutover did not finish before the deadline'));
        }, Math.max(0, deadline - this.sched.now())),
      };
      rec.timer.unref();
      this.waiters.push(rec);
    });
  }

  /**
   * Runs steps 1–6 for one request; resolves with the marker's index. `marker` is the encoded
   * 0x05/0x05 entry. Failure handling per RO-9.
   */
  async run(marker: Uint8Array, deadline: number): Promise<bigint> {
    if (this.state !== 'open') throw new ProposalError('ENVELOPE_CUTOVER_IN_PROGRESS', 'a raft-envelope cutover already ran on this process without finishing; restart it');
    // Step 1 (Begin) and the in-flight sample, one synchronous step.
    this.state = 'up';
    const t0 = this.sched.monotonic();
    const drained = this.port.drained();
    // Step 2: drain; a failure here has proposed nothing, so the barrier is lifted.
    try {
      await withDeadline(this.sched, drained, deadline, 'the drain of in-flight proposals');
      if (!this.port.isLeader()) throw new ProposalError('NOT_LEADER', 'leadership lost during the drain', { leader: this.port.leader() });
      await this.port.beforeMarker?.(deadline);
    } catch (e) {
      this.end();
      throw e;
    }
    const t1 = this.sched.monotonic();
    // From here the outcome is ambiguous: a failure keeps the barrier in force (RO-9).
    let index: bigint;
    try {
      index = await this.port.proposeMarker(marker, deadline);
      crashPoint('after-marker-commit');
      await this.port.waitApplied(index, deadline);
    } catch (e) {
      this.state = 'stuck';
      // AS-9 / RO-9: a leader that stepped down with the marker in its log answers 421 NOT_LEADER
      // (the outcome stays unknown; the barrier stays up here, the retry goes to the new leader).
      if (e instanceof ProposalError && e.code === 'UNKNOWN_OUTCOME') {
        throw new ProposalError('NOT_LEADER', `leadership lost after the marker was proposed (${e.message}); retry on the leader`, { leader: e.leader });
      }
      throw asRequestError(e);
    }
    const t2 = this.sched.monotonic();
    const cutover = this.port.raftCutover();
    if (cutover === 0n) {
      // Consumed as a stale-DEK no-op (a raft rotation committed first): nothing changed.
      this.end();
      throw new AdminError(409, 'CUTOVER_DEK_ID_STALE', 'the raft DEK was rotated before the marker applied; retry');
    }
    try {
      this.port.converge(cutover); // step 5
    } catch (e) {
      this.state = 'stuck';
      throw asRequestError(e);
    }
    this.end(); // step 6
    const t3 = this.sched.monotonic();
    const ms = (a: number, b: number) => Math.round((b - a) * 10) / 10;
    this.lastTimings = { drain: ms(t0, t1), markerApplied: ms(t1, t2), install: ms(t2, t3), total: ms(t0, t3) };
    return index;
  }

  private end(): void {
    if (this.state === 'stuck') return;
    this.state = 'open';
    const w = this.waiters;
    this.waiters = [];
    for (const x of w) {
      this.sched.clearTimeout(x.timer);
      x.resolve();
    }
  }
}

function withDeadline<T>(sched: Scheduler, p: Promise<T>, deadline: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const t = sched.setTimeout(() => reject(new ProposalError('TIMEOUT', `${what} did not finish before the deadline`)), Math.max(0, deadline - sched.now()));
    p.then(
      (v) => {
        sched.clearTimeout(t);
        resolve(v);
      },
      (e) => {
        sched.clearTimeout(t);
        reject(e);
      },
    );
  });
}

function asRequestError(e: unknown): unknown {
  if (e instanceof SealkvError) return e;
  return new ProposalError('UNAVAILABLE', `raft-envelope cutover failed: ${(e as Error)?.message ?? String(e)}`, { cause: e });
}

// The Raft run loop on the main thread: ticks, steps, and Ready handling with group commit.
//
// One Ready at a time: its messages that promise nothing about local state go out at once (a
// leader's appends are pipelined with its own fsync), its hard state and entries are persisted
// in ONE durable write of the Raft log (the WAL: one group commit), and only then are votes and acknowledgements sent (the
// durability contract of Ready). While that fsync runs, new proposals and messages accumulate
// in the core and form the next Ready — the next log batch.

import { type Entry, type Message, MessageType, type RaftNode, type Ready, type SoftState } from '../raft/index.js';
import type { DurableLog } from '../storage/wal/durable-log.js';
import { CrashPoints, crashPoint } from './crash-points.js';
import { realScheduler, type Scheduler, type SchedulerTimer } from './scheduler.js';

export interface RunLoopHooks {
  /** Send one Raft message to a peer (fire and forget; Raft tolerates loss). */
  send(m: Message): void;
  /** A Snap message for a peer: the caller streams the snapshot and reports SnapStatus. */
  sendSnapshot(m: Message): void;
  /**
   * Install the snapshot data that matches `rd.snapshot` (followers) AND reset the log to start
   * after it, in one atomic step (the loop does not pass the snapshot to `persist`). `signal`
   * aborts once the loop is stopped (a HALT): the hook must then not install anything.
   */
  installSnapshot(meta: NonNullable<Ready['snapshot']>['meta'], signal: AbortSignal): Promise<void>;
  /** Committed entries, in order. */
  committed(entries: Entry[]): void;
  readState(index: number, ctx: Uint8Array): void;
  softState(s: SoftState): void;
  /** Seconds one log batch took to become durable. */
  observePersist?(seconds: number, entries: number): void;
  /** The loop cannot continue (storage failure): the node must stop. */
  fatal(e: unknown): void;
}

export class RunLoop {
  private timer: SchedulerTimer | null = null;
  private scheduled = false;
  private running = false;
  private stopped = false;
  private readonly abort = new AbortController();

  constructor(
    readonly raft: RaftNode,
    private readonly log: DurableLog,
    private readonly hooks: RunLoopHooks,
    private readonly tickMs: number,
    private readonly sched: Scheduler = realScheduler,
  ) {}

  start(): void {
    this.timer = this.sched.setInterval(() => {
      this.raft.tick();
      this.kick();
    }, this.tickMs);
    this.kick();
  }

  stop(): void {
    this.stopped = true;
    this.abort.abort();
    if (this.timer) this.sched.clearInterval(this.timer);
    this.timer = null;
  }

  /** Feed a peer message. */
  step(m: Message): void {
    if (this.stopped) return;
    this.raft.step(m);
    this.kick();
  }

  /** Something changed in the core (proposal, read index, conf change): handle Ready soon. */
  kick(): void {
    if (this.scheduled || this.stopped) return;
    this.scheduled = true;
    // A deferral (setImmediate), not a microtask: every message and proposal of this event-loop turn joins
    // the same Ready (one fsync for all of them).
    this.sched.defer(() => {
      this.scheduled = false;
      void this.drain();
    });
  }

  private async drain(): Promise<void> {
    if (this.running || this.stopped) return;
    this.running = true;
    try {
      for (;;) {
        const rd = this.raft.ready();
        if (!rd) break;
        await this.handle(rd);
        if (this.stopped) return;
      }
    } catch (e) {
      // Stopped meanwhile (a HALT, or close): whatever failed after that is not a second fault.
      if (this.stopped) return;
      this.stop();
      this.hooks.fatal(e);
    } finally {
      this.running = false;
    }
  }

  /**
   * One Ready. After every await the loop checks `stopped`: a HALT that fired meanwhile must not
   * be followed by more durable writes (an install or a log append), nor by acknowledgements.
   */
  private async handle(rd: Ready): Promise<void> {
    if (rd.softState) this.hooks.softState(rd.softState);
    this.sendAll(rd.messages);
    if (rd.snapshot) {
      await this.hooks.installSnapshot(rd.snapshot.meta, this.abort.signal);
      if (this.stopped) return;
    }
    if (rd.hardState || rd.entries.length > 0) {
      const t0 = this.sched.monotonic();
      crashPoint('log-persist:before');
      await this.log.persist({ hardState: rd.hardState, entries: rd.entries });
      // Durable, nothing acknowledged yet: a kill here must lose nothing anybody was told about.
      crashPoint('log-persist:synced');
      this.hooks.observePersist?.((this.sched.monotonic() - t0) / 1000, rd.entries.length);
      if (this.stopped) return;
      // Durable but neither acknowledged nor applied: the state AS-3/AS-4 edit offline.
      if (rd.entries.length > 0) crashPoint(CrashPoints.AFTER_LOG_PERSIST);
    }
    if (rd.snapshot) crashPoint(CrashPoints.SNAPSHOT_INSTALL_PERSISTED);
    this.sendAll(rd.messagesAfterPersist);
    if (rd.committedEntries.length > 0) this.hooks.committed(rd.committedEntries);
    for (const rs of rd.readStates) this.hooks.readState(rs.index, rs.context);
    this.raft.advance(rd);
  }

  private sendAll(msgs: Message[]): void {
    for (const m of msgs) {
      if (m.to === this.raft.id) continue;
      if (m.type === MessageType.Snap) this.hooks.sendSnapshot(m);
      else this.hooks.send(m);
    }
  }
}

// One simulated server of the whole-node simulator (issue 14): its disk and LMDB medium, which
// outlive its processes, and the current process running the REAL `ClusterNode` composition
// (and the RESP command handler the RESP server would call). A crash kills the process (every
// pending timer, every frame in flight to it) and applies the media's crash model; a restart
// starts a new composition over the same media.

import type { EncryptionAdmin } from '../encryption/admin-flows.js';
import type { CutoverBarrier } from '../encryption/cutover-barrier.js';
import type { EncryptionRuntime } from '../encryption/runtime.js';
import type { HaltError } from '../errors.js';
import { ClusterNode } from '../node/cluster-node.js';
import type { NodeConfig } from '../node/config.js';
import { silentLogger } from '../node/logger.js';
import type { NodeMetricsSink } from '../node/metrics.js';
import type { NodeEncryption } from '../node/encryption-port.js';
import type { Scheduler } from '../node/scheduler.js';
import { type HandlerMetrics, RespHandler } from '../server/resp-handler.js';
import type { WalOptions } from '../storage/wal/wal-log.js';
import { ProcessScheduler, SimCrash, type SimProcess, SwitchableScheduler, taggedTransport } from './sim-context.js';
import type { SimDisk } from './sim-disk.js';
import type { SimFs } from './sim-fs.js';
import type { SimLmdb } from './sim-lmdb.js';
import { simMedia } from './sim-media.js';
import type { SimNetwork, SimTransport } from './sim-network.js';
import type { VirtualScheduler } from './virtual-scheduler.js';

export interface MachineEvents {
  /** The process applied up to `index` (the metrics gauge the node sets after each batch). */
  applied(m: SimMachine, index: number): void;
  halted(m: SimMachine, e: HaltError): void;
  /**
   * A HALT caused by a transient fault (an injected cipher failure): correct, but its entry is
   * sound, so it does not become an entry this server must never apply (`haltedAt`).
   */
  transientHalt?(e: HaltError): boolean;
  fatal(m: SimMachine, e: unknown): void;
  startFailed(m: SimMachine, e: unknown): void;
  up(m: SimMachine): void;
}

/**
 * The encryption wing of one process, if the run has one: built anew for every start (as the CLI
 * does), with what it needs to compose around the node once started.
 */
export interface ProcessWing {
  encryption: NodeEncryption<unknown>;
  /** Called once the node is up (registrars, barrier, admin). */
  wire(node: ClusterNode): void;
}

const silent = silentLogger();
/** The handler only counts commands; the simulator does not read them. */
const NO_RESP_METRICS = { respCommands: { inc: () => undefined } } as unknown as HandlerMetrics;

class Process implements SimProcess {
  alive = true;
  /** Resolves when the process dies (its clients' connections break). */
  readonly died: Promise<void>;
  die!: () => void;
  constructor(
    readonly id: string,
    readonly incarnation: number,
  ) {
    this.died = new Promise((r) => {
      this.die = r;
    });
  }
}

export class SimMachine {
  incarnation = 0;
  state: 'down' | 'starting' | 'up' = 'down';
  node: ClusterNode | null = null;
  handler: RespHandler | null = null;
  /** The HALT this machine's last process ended with. */
  halt: { index: bigint; code: string } | null = null;
  /** The lowest index any of its processes HALTed at: no later process may apply it (or beyond). */
  haltedAt: bigint | null = null;
  halts = 0;
  /**
   * The machine's start was refused for a reason the SPEC assigns to the operator (it stays down
   * until the runbook's recovery): excluded from convergence and liveness like a HALTed one.
   */
  refused: string | null = null;
  /** The encryption admin flows and runtime of the current process (runs with an encryption wing). */
  admin: EncryptionAdmin | null = null;
  runtime: EncryptionRuntime | null = null;
  barrier: CutoverBarrier | null = null;
  /** Virtual time since which this process's barrier has been up (null: down or not up). */
  barrierUpSince: number | null = null;
  /** Sees (and may alter: a corrupting nemesis) every Raft message delivered to the process. */
  inbound: ((from: string, msg: unknown) => void) | null = null;
  proc: Process = new Process('', 0);
  private scope: ProcessScheduler | null = null;
  private transport: SimTransport | null = null;
  /** The scheduler its media use: always the current process's (a dead one runs nothing). */
  readonly mediaSched: SwitchableScheduler;
  /** The current process's scheduler (tagged). */
  sched: Scheduler;

  constructor(
    readonly id: string,
    readonly cfg: NodeConfig,
    readonly disk: SimDisk,
    readonly lmdb: SimLmdb,
    private readonly base: VirtualScheduler,
    private readonly fs: SimFs,
    private readonly net: SimNetwork,
    private readonly random: () => number,
    private readonly events: MachineEvents,
    private readonly wal: WalOptions,
    private readonly wing: ((m: SimMachine) => Promise<ProcessWing>) | null = null,
  ) {
    this.sched = new ProcessScheduler(base, null);
    this.mediaSched = new SwitchableScheduler(this.sched);
  }

  /** Starts a new process over the media. */
  boot(): void {
    if (this.state !== 'down') return;
    this.incarnation++;
    const proc = new Process(this.id, this.incarnation);
    this.proc = proc;
    this.scope = new ProcessScheduler(this.base, proc);
    this.sched = this.scope;
    this.mediaSched.target = this.scope;
    this.transport = this.net.attach(this.id);
    this.state = 'starting';
    const transport = taggedTransport(proc, this.transport, (from, msg) => this.inbound?.(from, msg));
    const media = simMedia({ lmdb: this.lmdb, disk: this.disk, transport, random: this.random, wal: this.wal });
    const sched = this.sched;
    const metrics = this.metrics(proc);
    sched.defer(() => {
      void (async () => {
        const wing = this.wing ? await this.wing(this) : null;
        if (!proc.alive) return;
        const node = await ClusterNode.start(
          this.cfg,
          silent,
          metrics,
          {
            onHalt: (e) => {
              if (!proc.alive) return;
              this.halt = { index: e.index ?? 0n, code: e.code };
              this.halts++;
              const transient = this.events.transientHalt?.(e) ?? false;
              if (!transient && (this.haltedAt === null || this.halt.index < this.haltedAt)) this.haltedAt = this.halt.index;
              this.events.halted(this, e);
              // The CLI exits with status 3 shortly after (no power loss).
              this.base.setTimeout(() => {
                if (proc.alive) this.stop(false);
              }, 50);
            },
            onFatal: (e) => {
              if (!proc.alive) return;
              this.events.fatal(this, e);
              this.base.setTimeout(() => {
                if (proc.alive) this.stop(false);
              }, 50);
            },
          },
          { scheduler: sched, media, ...(wing ? { encryption: wing.encryption } : {}) },
        );
        if (!proc.alive) return;
        this.node = node;
        this.handler = new RespHandler(node, NO_RESP_METRICS);
        wing?.wire(node);
        this.state = 'up';
        this.events.up(this);
      })().catch((e) => {
        if (!proc.alive || e instanceof SimCrash) return;
        this.events.startFailed(this, e);
        this.stop(false);
      });
    });
  }

  /**
   * The process dies. `powerLoss`: the machine lost power (unsynced writes go by the media's crash
   * model); otherwise the process was killed or exited and the page cache keeps everything.
   */
  stop(powerLoss: boolean): void {
    if (this.state === 'down') return;
    this.proc.alive = false;
    this.proc.die();
    this.scope?.kill();
    this.transport?.crash();
    if (powerLoss) {
      this.disk.crash();
      this.lmdb.crash();
    } else {
      this.disk.exitProcess();
      this.lmdb.exitProcess();
    }
    this.fs.dropDisk(this.disk);
    this.node = null;
    this.handler = null;
    this.admin = null;
    this.runtime = null;
    this.barrier = null;
    this.barrierUpSince = null;
    this.state = 'down';
  }

  private metrics(proc: Process): NodeMetricsSink {
    const gauge = { set: () => undefined };
    const observe = { observe: () => undefined };
    return {
      term: gauge,
      commitIndex: gauge,
      appliedIndex: {
        set: (v: number) => {
          if (proc.alive) this.events.applied(this, v);
        },
      },
      isLeader: gauge,
      proposals: { inc: () => undefined },
      applyBatchSize: observe,
      applyBatchSeconds: observe,
      logPersistSeconds: observe,
      wrapSeconds: observe,
      applySeconds: observe,
      setStorageCommitsSource: () => undefined,
      setWalSource: () => undefined,
    };
  }
}

// One sealkv node: composes storage, the Raft core and its run loop, the peer transport, the
// proposer, the apply pipeline and the state machine. The listeners (RESP, admin) sit on top of
// it (src/server/) and talk to it through the methods below.

import { join } from 'node:path';
import { HaltError, ProposalError, SealkvError, StartupRefusedError } from '../errors.js';
import {
  type ConfChange,
  ConfChangeType,
  type ConfState,
  decodeConfChange,
  type Entry,
  EntryType,
  type Message,
  MessageType,
  RaftNode,
  Role,
  type SnapshotMeta,
} from '../raft/index.js';
import {
  ApplyStore,
  META_KEYS,
  MetaStore,
  type RegistryRow,
  RegistryStore,
  recordLocalSnapshot,
  type SnapshotHeader,
  stagedRegistryRow,
  type StorageEnv,
  StorageError,
} from '../storage/index.js';
import { type NodeFiles, type NodeMedia, type NodeTransport, realMedia } from './node-media.js';
import type { NodeConfig } from './config.js';
import { AddressBook } from './address-book.js';
import { ApplyPipeline, type ApplyStore as PipelineStore, type BatchResult } from './apply-pipeline.js';
import { AppliedWaiter } from './applied-waiter.js';
import { fromWire, toWire } from './raft-wire.js';
import { crashPoint } from './crash-points.js';
import { defectOn } from '../defect-switches.js';
import { CutoverCell } from './cutover-cell.js';
import { isProposal, PROPOSAL_HEADER_SIZE } from '../crypto/envelope/proposal.js';
import { forwardToLeader } from './forward.js';
import { commandTime, encodeCommand, type RelativeTtl, stampCommand } from './fsm/command-codec.js';
import { LearnerPromoter } from './learner-promoter.js';
import type { FsmResponse } from './fsm/fsm-types.js';
import type { KvEntry, KvReadView } from './fsm/kv-store.js';
import { collectExpiredKeys } from './fsm/kv-reads.js';
import { KvStateMachine } from './fsm/kv-state-machine.js';
import type { Logger } from './logger.js';
import { Proposer } from './proposer.js';
import { ReadIndexBatcher } from './read-index.js';
import { WriteClock } from './write-clock.js';
import { RunLoop } from './run-loop.js';
import { realScheduler, type Scheduler, type SchedulerTimer } from './scheduler.js';
import type { WalLogStorage } from '../storage/wal/wal-log.js';
import { bootstrapStores, openRaftLog } from './node-storage.js';
import { type SnapChunk, SnapshotReceiver, SnapshotSender } from './snapshot-transfer.js';
import type { EncryptionStatus, NodeEncryption, NodeStartView, RaftEnvelopePort } from './encryption-port.js';
import type { NodeMetricsSink } from './metrics.js';
import { cleartextValueCodec, type ValueCodec } from './fsm/value-codec.js';

export interface NodeHooks {
  /** Apply HALTed (C-3): the CLI logs and exits with status 3. */
  onHalt(e: HaltError): void;
  /** The run loop or storage failed beyond recovery. */
  onFatal(e: unknown): void;
}

export interface ClusterNodeOptions {
  /**
   * Wall clock in ms (default: the scheduler's `now`). Only the time of data (expiry) comes from it; local
   * deadlines and timeouts keep the real clock. Injectable so tests can skew one node's clock.
   */
  clock?: () => number;
  /**
   * Timers, deferrals and the local clock of deadlines (default: the real ones). The whole-node
   * simulator passes a virtual scheduler (issue 14); the data clock defaults to its `now`.
   */
  scheduler?: Scheduler;
  /** The encryption wing (src/encryption/), when `--encryption` is on; cleartext otherwise. */
  encryption?: NodeEncryption<unknown>;
  /** Storage, transport, data-dir files and randomness (default: the real ones; the simulator's otherwise). */
  media?: NodeMedia;
}

interface ForwardRequest {
  t: 'fwd';
  payload: Uint8Array;
  deadline: number;
  /** Which expiries are relative to the payload's `now` (the leader's stamp moves them). */
  rel?: boolean | boolean[];
}

/** A write's outcome: the state machine's response and the log index it applied at. */
export interface WriteResult {
  index: bigint;
  response: FsmResponse;
}

export interface WriteOptions {
  deadline?: number;
  /** Which expiries were made absolute from the provisional `now` (EX/PX, EXPIRE/PEXPIRE; per command in EXEC). */
  relativeTtl?: RelativeTtl;
}

/** The leader's ReadIndex answer carries its read time (issue 9 defect 7); the core ignores the field. */
type TimedMessage = Message & { readTime?: bigint };

const SWEEP_INTERVAL_MS = 1000;
/** The peer request of the WR-11 start-up check: a node's registry rows held by a peer. */
const REG_ROWS_REQUEST = 'reg-rows';
/**
 * Issue 13: the state machine's LMDB commits are coalesced to at most one per 10 ms under load
 * (or at once when 12 apply batches wait; the pipeline lets 16 wait), like etcd's backend batch
 * interval. Reads see applied batches at once through the store's overlay.
 */
const STATE_COMMIT_INTERVAL_MS = 10;
const STATE_COMMIT_MAX_BATCHES = 12;
/** Committed entries handed to the apply pipeline and not yet applied (its queue bound). */
const MAX_APPLYING_ENTRIES = 32 * 1024;
const MAX_APPLYING_BYTES = 64 * 1024 * 1024;
const ROLE_NAMES: Record<Role, string> = {
  [Role.Leader]: 'leader',
  [Role.Follower]: 'follower',
  [Role.Candidate]: 'candidate',
  [Role.PreCandidate]: 'precandidate',
  [Role.Learner]: 'learner',
};

export class ClusterNode {
  readonly cutover = new CutoverCell();
  readonly proposer: Proposer<FsmResponse>;
  readonly waiter: AppliedWaiter;
  /** The time of data: stamps on admission, read times, everything seen in the log. */
  readonly time: WriteClock;
  private readonly loop: RunLoop;
  private readonly pipeline: ApplyPipeline<FsmResponse, unknown>;
  /** The `kv` value codec (sealing when the storage envelope is on); the RESP read path uses it. */
  readonly codec: ValueCodec;
  private readonly reads: ReadIndexBatcher;
  private readonly promoter: LearnerPromoter;
  private readonly sender: SnapshotSender;
  private readonly receiver: SnapshotReceiver;
  private readonly timers: SchedulerTimer[] = [];
  private lastSnapshotIndex: number;
  private snapshotting = false;
  private sweepCursor: Uint8Array | null = null;
  private sweeping = false;
  private closed = false;
  private wasLeader = false;
  private confChain: Promise<void> = Promise.resolve();
  /** Peer request types served by the layers above (e.g. the encryption capability fan-out). */
  /** Client writes wait for this (the writer registration of WR-5/WR-6); null = open. */
  private writeGate: Promise<void> | null = null;
  private readonly peerHandlers = new Map<string, (from: string, payload: unknown) => unknown>();

  private constructor(
    readonly cfg: NodeConfig,
    readonly env: StorageEnv,
    readonly logStore: WalLogStorage,
    readonly store: ApplyStore,
    readonly raft: RaftNode,
    readonly transport: NodeTransport,
    readonly book: AddressBook,
    readonly log: Logger,
    readonly metrics: NodeMetricsSink,
    private readonly hooks: NodeHooks,
    clock: () => number,
    private readonly encryption: NodeEncryption<unknown> | null,
    private readonly sched: Scheduler = realScheduler,
    media: NodeMedia = realMedia,
  ) {
    this.codec = encryption?.codec ?? cleartextValueCodec;
    this.waiter = new AppliedWaiter(store.appliedIndex(), sched);
    this.time = new WriteClock(clock);
    // After a restart the newest stamps are in the log's tail (the latest entries carry them):
    // a node elected leader must not stamp below them with a slower clock.
    const last = logStore.lastIndex();
    const from = Math.max(logStore.firstIndex(), last - 63);
    if (from <= last) this.observeEntries(logStore.entries(from, last + 1, 4 * 1024 * 1024));
    this.lastSnapshotIndex = store.meta.snapshotMeta().index;
    this.proposer = new Proposer<FsmResponse>(
      {
        isLeader: () => raft.isLeader(),
        term: () => raft.term,
        leader: () => raft.leader,
        transferInProgress: () => raft.transferee !== null,
        appliedOwnTerm: () => {
          try {
            return logStore.term(Number(store.appliedIndex())) === raft.term;
          } catch {
            return true; // the applied index is outside the log (compacted): nothing to wait for
          }
        },
        proposeEntries: (data) => {
          const r = raft.propose(data);
          if (!r.ok) {
            const code = r.code === 'TRANSFER_IN_PROGRESS' ? 'LEADERSHIP_TRANSFER_IN_PROGRESS' : 'NOT_LEADER';
            throw new ProposalError(code, `raft refused the proposal: ${r.code}`, { leader: r.leader });
          }
          metrics.proposals.inc({ outcome: 'appended' }, data.length);
          this.loop.kick();
        },
      },
      cfg.requestTimeoutMs,
      sched,
    );
    // Every user write (forwarded ones included) gets the leader's time when it is admitted.
    this.proposer.setWrapObserver((s) => metrics.wrapSeconds.observe(s));
    this.proposer.setStamp((payload, relativeTtl) => stampCommand(payload, this.time.stamp(), relativeTtl));
    this.reads = new ReadIndexBatcher(
      cfg.id,
      {
        leader: () => raft.leader,
        readIndex: (ctx) => {
          const ok = raft.readIndex(ctx).ok;
          this.loop.kick();
          return ok;
        },
      },
      cfg.requestTimeoutMs,
      () => this.time.readTime(),
      sched,
      () => media.randomHex(8),
    );
    this.promoter = new LearnerPromoter({
      isLeader: () => raft.isLeader(),
      status: () => raft.status(),
      promote: (id) => this.promoteMember(id, sched.now() + cfg.requestTimeoutMs),
      onPromoted: (id, match, commit) => log.info({ node: id, match, commit }, 'learner caught up; promoted to voter'),
      onError: (id, e) => log.debug({ node: id, err: (e as Error)?.message }, 'learner promotion not done; will retry'),
    });
    metrics.setStorageCommitsSource(() => env.writes.groups);
    metrics.setWalSource?.(() => logStore.stats());
    const fsm = new KvStateMachine<unknown>(encryption ? { codec: encryption.codec, encryption: encryption.handler } : {});
    this.pipeline = new ApplyPipeline<FsmResponse, unknown>(
      {
        apply: (payload, index, tables, extra) => {
          const t = commandTime(payload);
          if (t !== null) this.time.observeApplied(t);
          return fsm.apply(payload, index, tables, extra);
        },
        finishBatch: () => fsm.finishBatch(),
      },
      this.pipelineStore(),
      this.cutover,
      {
        resolve: (i, term, data, response) => this.proposer.resolve(i, term, data, response),
        confChange: (e) => this.applyConfChange(e),
        visible: (i) => this.waiter.notify(i),
        applied: (i) => this.onApplied(i),
        halt: (e) => this.onHalt(e),
        observeBatch: (n, s) => {
          metrics.applyBatchSize.observe(n);
          metrics.applyBatchSeconds.observe(s);
        },
        observeApply: (s) => metrics.applySeconds.observe(s),
      },
      null,
      undefined,
      sched,
    );
    this.sender = new SnapshotSender(env, {
      request: (to, payload, timeoutMs) => transport.request(to, payload, timeoutMs),
      sendRaft: (to, m) => transport.send(to, m),
      stepLocal: (m) => this.loop.step(m),
      peers: () => book.entries(),
      termOf: (i) => logStore.term(i),
      ...(encryption?.snapshot ? { cutoverSeen: () => encryption.snapshot!.cutoverSeen() } : {}),
    }, log, sched, () => media.randomHex(16));
    this.receiver = new SnapshotReceiver(media.staging(join(cfg.dataDir, 'snap-in')), env, log);
    this.loop = new RunLoop(
      raft,
      logStore,
      {
        send: (m) => {
          // A read time never earlier than any write this leader stamped or saw: the follower
          // judges expiry with it, as this leader would.
          if (m.type === MessageType.ReadIndexResp) transport.send(m.to, { ...m, readTime: this.time.readTime() } satisfies TimedMessage);
          else transport.send(m.to, toWire(m));
        },
        sendSnapshot: (m) => this.sender.send(m),
        installSnapshot: (meta, signal) => this.installSnapshot(meta, signal),
        committed: (entries) => {
          this.pipeline.push(entries);
          // Defect switch (issue 9 defect 3, off in production): the core hears "applied" at hand-over.
          if (defectOn('applied-early') || defectOn('halt-races-snapshot')) raft.appliedTo(entries[entries.length - 1]!.index);
        },
        readState: (index, ctx) => this.reads.onReadState(index, ctx),
        softState: (s) => this.onSoftState(s.role, s.leader),
        observePersist: (seconds) => metrics.logPersistSeconds.observe(seconds),
        fatal: (e) => this.fatal(e),
      },
      cfg.tickMs,
      sched,
    );
  }

  /** Opens storage, bootstraps a fresh data dir from `--peers` (unless joining) and starts Raft. */
  static async start(
    cfg: NodeConfig,
    log: Logger,
    metrics: NodeMetricsSink,
    hooks: NodeHooks,
    opts: ClusterNodeOptions = {},
  ): Promise<ClusterNode> {
    const media = opts.media ?? realMedia;
    const sched = opts.scheduler ?? realScheduler;
    media.files.mkdirp(cfg.dataDir);
    checkClusterIdentity(cfg, media.files);
    const env = await media.openEnv(cfg.dataDir);
    let wal: WalLogStorage | null = null;
    try {
      // The state machine commits without waiting for its fsync (the Raft log is the durable
      // record); the log lives in its own WAL (issue 13, docs/ARCHITECTURE.md "Two stores").
      const store = new ApplyStore(env, false, {
        monotonic: () => sched.monotonic(),
        setTimeout: (fn, ms) => sched.setTimeout(fn, ms),
        intervalMs: STATE_COMMIT_INTERVAL_MS,
        maxBatches: STATE_COMMIT_MAX_BATCHES,
      });
      store.onSynced = () => crashPoint('state-sync:synced');
      const opened = await openRaftLog(cfg.dataDir, env, store, media.wal);
      const logStore = opened.wal;
      wal = logStore;
      for (const r of opened.repairs) log.warn({ index: String(store.appliedIndex()) }, r);
      const fresh = logStore.lastIndex() === 0 && logStore.snapshot().meta.index === 0;
      if (fresh && !cfg.join) await bootstrapStores(env, store, logStore, [...cfg.peers.keys()].sort());
      const book = new AddressBook(cfg.dataDir, new Map([...cfg.peers].map(([id, hp]) => [id, `${hp.host}:${hp.port}`])), media.files);
      const transport = media.transport({
        id: cfg.id,
        clusterId: cfg.clusterId,
        listen: `${cfg.raft.host}:${cfg.raft.port}`,
        peers: book.entries(),
        logger: log.child({ mod: 'transport' }),
      });
      try {
        await transport.start();
      } catch (e) {
        throw new StartupRefusedError('ADDRESS_IN_USE', `cannot listen for peers on ${cfg.raft.host}:${cfg.raft.port}: ${(e as Error).message}`);
      }
      const raft = new RaftNode(
        {
          id: cfg.id,
          electionTick: cfg.electionTicks,
          heartbeatTick: cfg.heartbeatTicks,
          preVote: true,
          checkQuorum: true,
          maxSizePerMsg: 1024 * 1024,
          maxInflightMsgs: 256,
          maxInflightBytes: 64 * 1024 * 1024,
          random: (n) => media.randomInt(n),
          applied: Number(store.appliedIndex()),
          maxCommittedSizePerReady: 16 * 1024 * 1024,
          // The apply pipeline reports what it applied (onApplied); what it holds is bounded.
          asyncApply: true,
          maxApplyingEntries: MAX_APPLYING_ENTRIES,
          maxApplyingBytes: MAX_APPLYING_BYTES,
        },
        logStore,
      );
      const node = new ClusterNode(cfg, env, logStore, store, raft, transport, book, log, metrics, hooks, opts.clock ?? (() => sched.now()), opts.encryption ?? null, sched, media);
      if (opts.encryption?.beforeRun) {
        // Peers restarting at the same time ask each other (WR-11): answer registry queries
        // before this node's own guards run, and nothing else until the node is wired.
        transport.onRequest(async (_from, payload) => {
          const p = payload as { t?: string };
          if (p?.t === REG_ROWS_REQUEST) return node.registryRowsFor(payload);
          throw new SealkvError('UNAVAILABLE', 'this node is still starting');
        });
        try {
          for (const w of await opts.encryption.beforeRun(node.startView())) log.warn(w);
          await node.backfillEncryptionCopies();
        } catch (e) {
          await transport.close().catch(() => undefined);
          throw e;
        }
      }
      if (opts.encryption?.armRaft) {
        try {
          opts.encryption.armRaft(node.raftEnvelopePort());
        } catch (e) {
          await transport.close().catch(() => undefined);
          throw e;
        }
      }
      node.wire();
      return node;
    } catch (e) {
      await wal?.close().catch(() => undefined);
      await env.close().catch(() => undefined);
      throw e;
    }
  }

  private wire(): void {
    this.transport.onMessage((from, msg) => {
      const w = msg as Message;
      // The transport authenticated the peer id in its handshake; a frame claiming another
      // sender, or not shaped like a Raft message (or with a malformed entry block), is dropped.
      if (typeof w !== 'object' || w === null || w.from !== from || w.to !== this.cfg.id || typeof w.type !== 'number') return;
      const m = fromWire(w);
      if (m === null) return;
      this.observeTimes(m as TimedMessage);
      this.loop.step(m);
    });
    this.transport.onRequest(async (from, payload) => {
      const p = payload as { t?: string };
      if (p?.t === 'fwd') {
        const f = payload as ForwardRequest;
        const r = await this.proposer.propose(f.payload, {
          deadline: Math.min(f.deadline, this.sched.now() + this.cfg.requestTimeoutMs),
          relativeTtl: Array.isArray(f.rel) ? f.rel.map((r) => r === true) : f.rel === true,
        });
        return { index: r.commitIndex, response: r.response } satisfies WriteResult;
      }
      if (p?.t === 'snap-chunk') return this.receiver.onChunk(from, payload as SnapChunk);
      if (p?.t === REG_ROWS_REQUEST) return this.registryRowsFor(payload);
      const extra = typeof p?.t === 'string' ? this.peerHandlers.get(p.t) : undefined;
      if (extra !== undefined) return extra(from, payload);
      throw new SealkvError('BAD_REQUEST', `unknown peer request type '${String(p?.t)}'`);
    });
    this.loop.start();
    this.timers.push(
      this.sched.setInterval(() => {
        const now = this.sched.now();
        this.reads.expire(now);
        this.waiter.expire(now);
        this.updateGauges();
        this.promoter.tick();
      }, this.cfg.tickMs),
      this.sched.setInterval(() => void this.sweepExpired(), SWEEP_INTERVAL_MS),
    );
    for (const t of this.timers) t.unref();
  }

  // ------------------------------------------------------------------ client operations

  /**
   * A write: proposed here when leader, otherwise forwarded to the leader (PE-6); the leader
   * stamps it with its time on admission. Resolves with the response and the index it applied at.
   */
  write(payload: Uint8Array, opts: WriteOptions = {}): Promise<WriteResult> {
    // The leader's common case without an async frame (issue 13: promises per write).
    if (this.writeGate === null && this.raft.isLeader()) {
      const deadline = opts.deadline ?? this.sched.now() + this.cfg.requestTimeoutMs;
      return this.proposer.propose(payload, { deadline, relativeTtl: opts.relativeTtl ?? false }).then(writeResultOf);
    }
    return this.writeGatedOrForwarded(payload, opts);
  }

  private async writeGatedOrForwarded(payload: Uint8Array, opts: WriteOptions): Promise<WriteResult> {
    const deadline = opts.deadline ?? this.sched.now() + this.cfg.requestTimeoutMs;
    const relativeTtl = opts.relativeTtl ?? false;
    if (this.writeGate !== null) await this.waitGate(this.writeGate, deadline);
    if (this.raft.isLeader()) {
      const r = await this.proposer.propose(payload, { deadline, relativeTtl });
      return { index: r.commitIndex, response: r.response };
    }
    const leader = this.raft.leader;
    if (leader === null) throw new ProposalError('NOT_LEADER', 'no leader known', { leader: null });
    const req: ForwardRequest = { t: 'fwd', payload, deadline, rel: typeof relativeTtl === 'boolean' ? relativeTtl : [...relativeTtl] };
    const r = (await forwardToLeader(this.transport, leader, req, Math.max(1, deadline - this.sched.now()))) as Partial<WriteResult> | null;
    if (typeof r?.index !== 'bigint' || r.response === undefined) {
      throw new ProposalError('UNAVAILABLE', 'the leader answered a forwarded write without its log index');
    }
    return { index: r.index, response: r.response };
  }

  /**
   * Waits until a read started now may be served locally (ReadIndex) and resolves with the time
   * its expiry is judged at: the leader's read time, raised to any write applied here (the read
   * may observe writes stamped after the leader answered).
   */
  async linearizableRead(deadline = this.sched.now() + this.cfg.requestTimeoutMs): Promise<bigint> {
    return (await this.linearizableReadAt(deadline)).readTime;
  }

  /**
   * A ReadIndex round, as `linearizableRead`, resolving with its read index too: WATCH records it
   * (every write at or below it is visible to the connection's later reads).
   */
  async linearizableReadAt(deadline = this.sched.now() + this.cfg.requestTimeoutMs): Promise<{ index: bigint; readTime: bigint }> {
    const p = await this.reads.request();
    this.time.observe(p.readTime);
    await this.waiter.waitFor(p.index, deadline);
    return { index: p.index, readTime: this.time.judge(p.readTime) };
  }

  /**
   * WR-5/WR-6 gate: this node's client writes wait until `p` settles (its writer registration
   * committed); reads never wait. A write whose deadline passes first fails, retryable.
   */
  gateWrites(p: Promise<void>): void {
    // Gates compose (the storage and the raft registrations may overlap): writes wait for both.
    const prev = this.writeGate;
    const g = Promise.all([prev, p.catch(() => undefined)]).then(() => undefined);
    this.writeGate = g;
    void g.then(() => {
      if (this.writeGate === g) this.writeGate = null;
    });
  }

  private async waitGate(gate: Promise<void>, deadline: number): Promise<void> {
    let timer: SchedulerTimer | undefined;
    const expired = new Promise<'expired'>((r) => {
      timer = this.sched.setTimeout(() => r('expired'), Math.max(0, deadline - this.sched.now()));
    });
    try {
      if ((await Promise.race([gate, expired])) === 'expired') {
        throw new ProposalError('WRITER_NOT_REGISTERED', 'this node is registering as a writer for the active storage DEK; retry');
      }
    } finally {
      this.sched.clearTimeout(timer);
    }
  }

  /** An admin entry from any node: proposed here when leader, forwarded otherwise; resolves once applied here. */
  async submitAdmin(payload: Uint8Array, deadline: number): Promise<void> {
    let index: bigint;
    if (this.raft.isLeader()) {
      // This node's own registration: the raft wrap gate's one exception (WR-8).
      if (!this.raft.isLeader()) throw new ProposalError('NOT_LEADER', 'admin entries go to the leader', { leader: this.raft.leader });
      index = (await this.proposer.proposeAdmin(payload, { deadline, registration: true })).commitIndex;
    } else {
      const leader = this.raft.leader;
      if (leader === null) throw new ProposalError('NOT_LEADER', 'no leader known', { leader: null });
      const req: ForwardRequest = { t: 'fwd', payload, deadline };
      const r = (await forwardToLeader(this.transport, leader, req, Math.max(1, deadline - this.sched.now()))) as Partial<WriteResult> | null;
      if (typeof r?.index !== 'bigint') throw new ProposalError('UNAVAILABLE', 'the leader answered a forwarded entry without its log index');
      index = r.index;
    }
    await this.waiter.waitFor(index, deadline);
  }

  /** The committed registry row (dekId, nodeId16) of this node's store. */
  registryRow(dekId: number, nodeId16: number): RegistryRow | undefined {
    return new RegistryStore(this.env.registry).get(dekId, nodeId16);
  }

  /** The raft-envelope hooks the encryption wing installs (RO-11, WI-1, EH-2). */
  private raftEnvelopePort(): RaftEnvelopePort {
    return {
      setWrap: (w) => this.proposer.setWrap(w),
      setCutover: (i) => this.cutover.set(i),
      setUnwrapper: (u) => this.pipeline.setUnwrapper(u),
      registryRow: (d, n) => this.registryRow(d, n),
    };
  }

  /** Serves peer requests `{ t: type, … }` (the transport authenticated `from`). */
  registerPeerRequest(type: string, handler: (from: string, payload: unknown) => unknown): void {
    if (type === 'fwd' || type === 'snap-chunk') throw new SealkvError('INVALID_ARGUMENT', `peer request type '${type}' is reserved`);
    this.peerHandlers.set(type, handler);
  }

  /**
   * An admin entry (encryption entries, registrations) on the leader's admin path: never
   * stamped as a user command; resolves with its index once applied here (for encryption
   * entries: once its sidecar write is durable).
   */
  async proposeAdmin(payload: Uint8Array, deadline = this.sched.now() + this.cfg.requestTimeoutMs): Promise<bigint> {
    if (!this.raft.isLeader()) throw new ProposalError('NOT_LEADER', 'admin entries go to the leader', { leader: this.raft.leader });
    const r = await this.proposer.proposeAdmin(payload, { deadline });
    return r.commitIndex;
  }

  /** Waits until this node has applied `index` (a connection's earlier writes, before its read). */
  waitApplied(index: bigint, deadline = this.sched.now() + this.cfg.requestTimeoutMs): Promise<void> {
    return this.waiter.waitFor(index, deadline);
  }

  /** This node's own clock (ms): a provisional `now` for commands, re-stamped by the leader. */
  now(): bigint {
    return this.time.local();
  }

  /**
   * The applied state machine, for reads after the barrier: LMDB plus the batches whose
   * coalesced commit has not landed yet (the read-visible applied index counts them).
   */
  readView(): KvReadView {
    const store = this.store;
    return {
      get: (key) => store.getKv(key),
      range: (after) => rangeAfter(store, after),
    };
  }

  // ------------------------------------------------------------------ membership and admin

  async addMember(id: string, address: string, learner: boolean, deadline: number): Promise<bigint> {
    this.book.set(id, address);
    this.transport.updatePeers(this.book.entries());
    return this.proposeConf({ type: learner ? ConfChangeType.AddLearner : ConfChangeType.AddVoter, node: id, context: Buffer.from(address) }, deadline);
  }

  /**
   * A peer request to a membership candidate (RO-14's capability check before the conf change):
   * its address is entered in the address book first, as `addMember` would, so the transport can
   * dial it; a refused candidate's entry is removed again by `forgetCandidate`.
   */
  async requestCandidate(id: string, address: string | undefined, payload: unknown, timeoutMs: number): Promise<unknown> {
    if (address !== undefined && this.book.get(id) !== address) {
      this.book.set(id, address);
      this.transport.updatePeers(this.book.entries());
    }
    return this.transport.request(id, payload, timeoutMs);
  }

  /** Drops a candidate's address again when it did not become a member. */
  forgetCandidate(id: string): void {
    if (this.members().some((m) => m.id === id) || this.book.get(id) === undefined) return;
    this.book.delete(id);
    this.transport.updatePeers(this.book.entries());
  }

  async removeMember(id: string, deadline: number): Promise<bigint> {
    return this.proposeConf({ type: ConfChangeType.RemoveNode, node: id }, deadline);
  }

  async promoteMember(id: string, deadline: number): Promise<bigint> {
    return this.proposeConf({ type: ConfChangeType.PromoteLearner, node: id }, deadline);
  }

  /**
   * One membership change at a time, proposed only once every committed entry has been applied
   * here. The core's pending-change check counts entries handed to the run loop, while this node
   * applies them asynchronously: without the wait, a leader could validate a second change
   * against a configuration that an unapplied first change already replaced (and two
   * single-server changes in flight can produce disjoint majorities).
   */
  private proposeConf(cc: ConfChange, deadline: number): Promise<bigint> {
    const run = this.confChain.then(() => this.proposeConfNow(cc, deadline));
    this.confChain = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  private async proposeConfNow(cc: ConfChange, deadline: number): Promise<bigint> {
    if (!this.raft.isLeader()) throw new ProposalError('NOT_LEADER', 'membership changes go to the leader', { leader: this.raft.leader });
    await this.waiter.waitFor(BigInt(this.raft.log.committed), deadline);
    const r = this.raft.proposeConfChange(cc);
    if (!r.ok) {
      if (r.code === 'NOT_LEADER') throw new ProposalError('NOT_LEADER', 'membership changes go to the leader', { leader: r.leader });
      if (r.code === 'TRANSFER_IN_PROGRESS') throw new ProposalError('LEADERSHIP_TRANSFER_IN_PROGRESS', 'a leadership transfer is in progress');
      throw new SealkvError(r.code, r.message ?? r.code);
    }
    this.loop.kick();
    const index = BigInt(r.last);
    await this.waiter.waitFor(index, deadline);
    return index;
  }

  async transferLeader(to: string, deadline: number): Promise<void> {
    const r = this.raft.transferLeader(to);
    if (!r.ok) {
      if (r.code === 'NOT_LEADER') throw new ProposalError('NOT_LEADER', 'leadership transfer starts on the leader', { leader: r.leader });
      throw new SealkvError('INVALID_ARGUMENT', `'${to}' is not a voter`);
    }
    this.loop.kick();
    while (this.raft.leader !== to) {
      if (this.sched.now() >= deadline) throw new ProposalError('TIMEOUT', `leadership did not move to ${to} before the deadline`);
      await new Promise<void>((r) => this.sched.setTimeout(r, this.cfg.tickMs));
    }
  }

  status(): Record<string, string | number | null | Record<string, string | boolean>> {
    const s = this.raft.status();
    return {
      id: this.cfg.id,
      role: ROLE_NAMES[s.role],
      leader: s.leader,
      term: String(s.term),
      commitIndex: String(s.commit),
      appliedIndex: String(this.store.appliedIndex()),
      lastIndex: String(s.lastIndex),
      firstIndex: String(this.logStore.firstIndex()),
      snapshotIndex: String(this.lastSnapshotIndex),
      halted: this.pipeline.haltedWith()?.code ?? null,
      encryption: encryptionStatusFields(this.encryption?.status() ?? null),
    };
  }

  members(): { id: string; address: string | null; role: 'voter' | 'learner' }[] {
    const conf = this.raft.status().conf;
    return [
      ...conf.voters.map((id) => ({ id, address: this.book.get(id) ?? null, role: 'voter' as const })),
      ...conf.learners.map((id) => ({ id, address: this.book.get(id) ?? null, role: 'learner' as const })),
    ];
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const t of this.timers) this.sched.clearInterval(t);
    this.loop.stop();
    this.proposer.close();
    this.reads.failAll('CLOSED', null);
    this.waiter.failAll(new ProposalError('CLOSED', 'the node is shutting down'));
    await this.transport.close();
    await this.pipeline.idle().catch(() => undefined);
    await this.encryption?.close();
    await this.logStore.close().catch(() => undefined);
    await this.env.close();
  }

  // ------------------------------------------------------------------ internals

  /** What the start-up guards read (LMDB open, run loop not started). */
  private startView(): NodeStartView {
    const conf = this.raft.status().conf;
    const registry = new RegistryStore(this.env.registry);
    return {
      appliedIndex: this.store.appliedIndex(),
      snapshotIndex: BigInt(this.logStore.snapshot().meta.index),
      firstLogIndex: BigInt(this.logStore.firstIndex()),
      logEntries: (lo, hi) => {
        if (hi <= lo) return [];
        return this.logStore.entries(Number(lo) + 1, Number(hi) + 1, Number.MAX_SAFE_INTEGER).map((e) => ({
          index: BigInt(e.index),
          kind: e.type === EntryType.ConfChange ? ('conf-change' as const) : ('normal' as const),
          data: e.data,
        }));
      },
      registryRow: (dekId, nodeId16) => registry.get(dekId, nodeId16),
      voters: [...conf.voters],
      learners: [...conf.learners],
      selfId: this.cfg.id,
      snapshotRecord: this.snapshotRecord(),
      queryPeerRegistry: async (peer, fullNodeId, dekIds, timeoutMs) => {
        const r = (await this.transport.request(peer, { t: REG_ROWS_REQUEST, fullNodeId: fullNodeId.toString(), dekIds: [...dekIds] }, timeoutMs)) as
          | { rows?: { dekId: number; fullNodeId: string; firstSeenLocalEpoch: number; lastSeenLocalEpoch: number }[] }
          | null;
        if (!Array.isArray(r?.rows)) throw new SealkvError('BAD_REQUEST', `peer ${peer} answered the registry query without rows`);
        return r.rows.map((x) => ({ ...x, fullNodeId: BigInt(x.fullNodeId) }));
      },
    };
  }

  /**
   * SH-1 for data directories written before the meta copies existed: when `meta` holds no copy of
   * the encryption state and the sidecar is not ahead of the applied index, the (guard-checked,
   * KM-12) sidecar describes the state as of the applied index, so its copies are written now.
   * With the sidecar ahead (a crash inside an encryption entry's apply) the replay of that entry
   * writes them.
   */
  private async backfillEncryptionCopies(): Promise<void> {
    const enc = this.encryption?.snapshot;
    if (!enc || this.env.meta.get(META_KEYS.encryptionState) !== undefined) return;
    const copies = enc.copies();
    if (copies.sidecarAppliedIndex > this.store.appliedIndex()) return;
    const meta = new MetaStore(this.env.meta);
    await this.env.writes.submitOps([
      meta.opRaftCutoverIndex(copies.raftCutoverIndex),
      meta.opSidecarAppliedIndex(copies.sidecarAppliedIndex),
      meta.opEncryptionState(copies.state),
    ]);
    this.log.info({ sidecarAppliedIndex: String(copies.sidecarAppliedIndex) }, 'SH-1: encryption state copied into meta from the sidecar');
  }

  /** SH-1 / OP-4 row 11: the snapshot point recorded in `meta` with its SH-1 fields (none below index 1). */
  private snapshotRecord(): NodeStartView['snapshotRecord'] {
    const m = new MetaStore(this.env.meta).snapshotMeta();
    if (m.index === 0) return undefined;
    return { index: BigInt(m.index), raftCutoverIndex: m.raftEnvelopeCutoverIndex, sidecarAppliedIndex: m.sidecarAppliedIndex };
  }

  /** WR-11 answer: this node's registry rows of the asking node's full_node_id. */
  private registryRowsFor(payload: unknown): { rows: { dekId: number; fullNodeId: string; firstSeenLocalEpoch: number; lastSeenLocalEpoch: number }[] } {
    const q = payload as { fullNodeId?: unknown; dekIds?: unknown };
    if (typeof q.fullNodeId !== 'string' || !/^[0-9]{1,20}$/.test(q.fullNodeId) || !Array.isArray(q.dekIds)) {
      throw new SealkvError('BAD_REQUEST', 'malformed registry query');
    }
    const full = BigInt(q.fullNodeId);
    const registry = new RegistryStore(this.env.registry);
    const rows = [];
    for (const d of q.dekIds) {
      if (!Number.isInteger(d) || d < 1 || d > 0xffffffff) continue;
      const row = registry.get(d as number, Number(full & 0xffffn));
      if (row !== undefined && row.fullNodeId === full) {
        rows.push({ dekId: d as number, fullNodeId: row.fullNodeId.toString(), firstSeenLocalEpoch: row.firstSeenLocalEpoch, lastSeenLocalEpoch: row.lastSeenLocalEpoch });
      }
    }
    return { rows };
  }

  private pipelineStore(): PipelineStore {
    const store = this.store;
    return {
      get: (table, key) => store.get(table, key),
      appliedIndex: () => store.appliedIndex(),
      commitBatch: (batch: BatchResult<unknown>) => {
        const enc = batch.encryption;
        if (enc === undefined) return store.commitBatch(batch.writes, batch.applied, batch.conf).then(() => crashPoint('state-sync:committed'));
        // The contract order (src/keys/README): the batch's writes (registry rows included) commit
        // with applied = k−1; then the effect's keys and the KM-7 sidecar write; only then does the
        // applied index pass k. A crash in between replays k against the written sidecar (FW-7).
        // State commits do not wait for their fsync (issue 13), so both commits of an effect batch
        // are forced to disk: nothing after k is acknowledged before k's apply is durable (KM-7).
        const encryption = this.encryption;
        if (encryption === null) return Promise.reject(new Error('an encryption effect without an encryption wing'));
        const first = store.commitBatch(batch.writes, enc.index - 1n, batch.conf);
        return (async () => {
          await first;
          await store.forceSync();
          crashPoint('after-registry-commit');
          await encryption.persist(enc.index, enc.effect);
          // The state cache is refreshed from the durable sidecar before the applied index
          // passes k: whoever sees applied ≥ k also sees the new state.
          encryption.publish(enc.index, enc.effect);
          // SH-1: the meta copies (raft cutover, sidecar_applied_index, the replicated state)
          // commit in the same transaction as this entry's applied index.
          await store.commitBatch([], batch.applied, undefined, encryption.snapshot?.copies());
          await store.forceSync();
        })();
      },
      forceSync: () => store.forceSync(),
    };
  }

  /** Applies a committed conf change to Raft; its ConfState is committed with the apply batch. */
  private applyConfChange(e: Entry): ConfState {
    const cc = decodeConfChange(e.data);
    const conf = this.raft.applyConfChange(cc);
    if ((cc.type === ConfChangeType.AddVoter || cc.type === ConfChangeType.AddLearner) && cc.context && cc.context.length > 0) {
      this.book.set(cc.node, Buffer.from(cc.context).toString('utf8'));
    }
    if (cc.type === ConfChangeType.RemoveNode && cc.node !== this.cfg.id) this.book.delete(cc.node);
    this.transport.updatePeers(this.book.entries());
    this.log.info({ index: e.index, change: ConfChangeType[cc.type], node: cc.node }, 'membership changed');
    this.loop.kick();
    return conf;
  }

  /** Stamps found in entries a leader sends, and a leader's read time, keep this node's times monotonic. */
  private observeTimes(m: TimedMessage): void {
    if (m.type === MessageType.App && m.entries) {
      this.observeEntries(m.entries);
    } else if (m.type === MessageType.ReadIndexResp && m.context && (typeof m.readTime === 'bigint' || Number.isSafeInteger(m.readTime))) {
      this.reads.noteReadTime(m.context, BigInt(m.readTime!));
    }
  }

  private observeEntries(entries: readonly Entry[]): void {
    for (const e of entries) {
      if (!e.data || !isProposal(e.data)) continue;
      const t = commandTime(e.data.subarray(PROPOSAL_HEADER_SIZE));
      if (t !== null) this.time.observe(t);
    }
  }

  /**
   * The run loop's snapshot install (followers), two durable steps in this order (issue 13):
   * 1. ONE LMDB transaction installs the staged state with its snapshot point and applied index;
   * 2. the WAL resets the log to start after the snapshot and raises the commit index to it.
   * A crash between them leaves applied = LMDB's snapshot point > the WAL's commit, which
   * `openRaftLog` detects at start and finishes by writing step 2 (node-storage.ts). A crash
   * before step 1 leaves the old state and log. A HALT that fires while this runs aborts it:
   * nothing is installed after the halt, the node exits with applied = k−1. The core only accepts
   * a snapshot once every entry it handed over is applied (asyncApply), so the pipeline is idle
   * here; waiting for it anyway keeps the install from racing a batch that is still committing.
   */
  private async installSnapshot(meta: SnapshotMeta, signal: AbortSignal): Promise<void> {
    // Defect switches (issue 9 defects 3 and 5, off in production): no wait for the pipeline, no halt check.
    const racy = defectOn('halt-races-snapshot');
    const aborted = (): boolean => !racy && (signal.aborted || this.pipeline.haltedWith() !== null);
    crashPoint('snapshot-install:start');
    if (!racy && !defectOn('applied-early')) await this.pipeline.idle();
    crashPoint('snapshot-install:idle');
    if (aborted()) throw new StorageError('INSTALL_ABORTED', `snapshot ${meta.index} not installed: apply halted`);
    const enc = this.encryption?.snapshot;
    let header: SnapshotHeader;
    try {
      header = await this.receiver.install(meta, {
        aborted,
        // SH-5 (and SH-6 for a v1 stream) before anything is staged.
        ...(enc ? { check: (h: SnapshotHeader) => enc.check(h) } : {}),
        staged: async (h) => {
          crashPoint('snapshot-install:staged');
          // Issue 11 item 7: a lagging sidecar is rebuilt from the snapshot (KM-7) before its data lands.
          if (enc) await enc.staged(h, (d, n) => stagedRegistryRow(this.env, d, n));
          // Addresses first (only additions): the members the snapshot names stay reachable.
          if (h.peers) this.book.learn(h.peers);
        },
      });
    } catch (e) {
      // A refused install (SH-5, SH-6, KEK_MISMATCH, …) is a HALT: nothing of it was installed.
      if (e instanceof HaltError) {
        this.onHalt(e);
        return;
      }
      throw e;
    }
    crashPoint('snapshot-install:installed');
    const hs = this.logStore.hardState();
    await this.logStore.persist({ snapshot: meta, hardState: { ...hs, commit: Math.max(hs.commit, meta.index) } });
    crashPoint('snapshot-install:log-reset');
    this.book.retain([...header.conf.voters, ...header.conf.learners], this.cfg.id);
    this.transport.updatePeers(this.book.entries());
    this.store.reload();
    this.waiter.notify(this.store.appliedIndex());
    this.lastSnapshotIndex = meta.index;
  }

  private onApplied(i: bigint): void {
    // The core learns the real applied index (asyncApply): its guards and snapshot acceptance
    // count only what is applied, and it hands over more committed entries (back-pressure).
    this.raft.appliedTo(Number(i));
    this.loop.kick();
    this.waiter.notify(i);
    this.metrics.appliedIndex.set(Number(i));
    if (!this.snapshotting && Number(i) - this.lastSnapshotIndex >= this.cfg.snapshotThreshold) void this.snapshot();
  }

  /**
   * Records a snapshot point at the applied index and compacts the log behind it. The LMDB record
   * is a durable transaction (it waits for the flush, so the state up to the point is synced);
   * the log is compacted at most to the synced applied index, so a crash that rolls the state
   * back to its last flushed commit still finds every entry it must replay.
   */
  private async snapshot(): Promise<void> {
    this.snapshotting = true;
    try {
      const meta = await recordLocalSnapshot(this.env, { termOf: (i) => this.logStore.term(i) });
      crashPoint('snapshot:recorded');
      await this.logStore.recordSnapshot({ index: meta.index, term: meta.term, conf: meta.conf });
      this.lastSnapshotIndex = meta.index;
      const upTo = Math.min(meta.index - this.cfg.compactionMargin, Number(this.store.syncedAppliedIndex()));
      if (upTo >= this.logStore.firstIndex()) await this.logStore.compact(upTo);
      crashPoint('snapshot:compacted');
      this.log.info({ index: meta.index, compactedTo: upTo }, 'snapshot recorded');
    } catch (e) {
      this.log.error({ err: (e as Error).message }, 'snapshot failed');
    } finally {
      this.snapshotting = false;
    }
  }

  /**
   * Makes the state machine durable up to everything applied so far (issue 13: apply commits do
   * not wait for their fsync). For the encryption entries that must be on disk before anything
   * after them is acknowledged (SPEC KM-7). Resolves with the synced applied index.
   */
  forceSync(): Promise<bigint> {
    return this.store.forceSync();
  }

  private onSoftState(role: Role, leader: string | null): void {
    const isLeader = role === Role.Leader;
    if (this.wasLeader && !isLeader) {
      this.proposer.failAll('NOT_LEADER', leader);
      this.reads.failAll('NOT_LEADER', leader);
    }
    this.wasLeader = isLeader;
    this.metrics.isLeader.set(isLeader ? 1 : 0);
    this.log.info({ role: ROLE_NAMES[role], leader, term: this.raft.term }, 'raft role');
  }

  private onHalt(e: HaltError): void {
    this.log.fatal({ index: e.index?.toString(), code: e.code, reason: e.reason }, `apply halted at entry ${e.index}: ${e.code}`);
    this.loop.stop();
    this.waiter.failAll(e);
    this.hooks.onHalt(e);
  }

  private fatal(e: unknown): void {
    // After a HALT the halt is the node's verdict (exit 3, index, code); a failure it caused
    // (e.g. an install aborted by it) must not turn it into a different exit.
    if (this.pipeline.haltedWith() !== null) return;
    this.log.fatal({ err: (e as Error)?.message, code: (e as SealkvError)?.code }, 'run loop failed');
    this.hooks.onFatal(e);
  }

  private updateGauges(): void {
    const s = this.raft;
    this.metrics.term.set(s.term);
    this.metrics.commitIndex.set(s.log.committed);
  }

  /** Leader only: proposes the deletion of keys whose expireAt passed (a replicated sweep). */
  private async sweepExpired(): Promise<void> {
    if (this.sweeping || !this.raft.isLeader()) return;
    this.sweeping = true;
    try {
      const now = this.time.readTime();
      const { keys, next } = collectExpiredKeys(this.readView(), now, this.sweepCursor, 256, 4096);
      this.sweepCursor = next;
      if (keys.length > 0) await this.proposer.propose(encodeCommand({ op: 'sweepExpired', now, keys }));
    } catch (e) {
      this.log.debug({ err: (e as Error).message }, 'expiry sweep skipped');
    } finally {
      this.sweeping = false;
    }
  }
}

/** /v1/status `encryption` fields (strings for 64-bit indexes). */
function encryptionStatusFields(s: EncryptionStatus | null): Record<string, string | boolean> {
  if (s === null) return { enabled: false, storageEnvelope: false, storageCutoverIndex: '0', raftCutoverIndex: '0', activeStorageDekId: '0', activeRaftDekId: '0' };
  return {
    enabled: s.enabled,
    storageEnvelope: s.storageEnvelope,
    storageCutoverIndex: String(s.storageCutoverIndex),
    raftCutoverIndex: String(s.raftCutoverIndex),
    activeStorageDekId: String(s.activeDekIds.storage),
    activeRaftDekId: String(s.activeDekIds.raft),
  };
}

function writeResultOf(r: { commitIndex: bigint; response: FsmResponse }): WriteResult {
  return { index: r.commitIndex, response: r.response };
}

function* rangeAfter(store: ApplyStore, after: Uint8Array | undefined): Iterable<KvEntry> {
  for (const { key, value } of store.rangeKv(after)) yield { key, record: value };
}

/** The data dir belongs to one cluster and one node id (refuse to start otherwise). */
function checkClusterIdentity(cfg: NodeConfig, files: NodeFiles): void {
  const path = join(cfg.dataDir, 'cluster.json');
  let stored: { clusterId?: unknown; nodeId?: unknown } | null = null;
  try {
    const text = files.readText(path);
    if (text !== undefined) stored = JSON.parse(text) as { clusterId?: unknown; nodeId?: unknown };
  } catch (e) {
    throw new StartupRefusedError('CONFIG_INVALID', `${path}: ${(e as Error).message}`);
  }
  if (stored === null) {
    // Durably (tmp, fsync, rename, directory fsync): a power loss right after the first start
    // must not leave an empty or torn file that refuses every later start (found by the
    // whole-node simulator, issue 14).
    files.replaceDurably(path, JSON.stringify({ clusterId: cfg.clusterId, nodeId: cfg.id }));
    return;
  }
  if (stored.clusterId !== cfg.clusterId) {
    throw new StartupRefusedError(
      'CLUSTER_ID_MISMATCH',
      `data dir ${cfg.dataDir} belongs to cluster '${String(stored.clusterId)}', not '${cfg.clusterId}'`,
    );
  }
  if (stored.nodeId !== cfg.id) {
    throw new StartupRefusedError('NODE_ID_MISMATCH', `data dir ${cfg.dataDir} belongs to node '${String(stored.nodeId)}', not '${cfg.id}'`);
  }
}


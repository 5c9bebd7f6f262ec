// The simulated world: nodes (a RaftNode over a MemoryStorage that models the disk, plus a
// durable app state), a lossy network, faults, and the client workload. Everything random comes
// from one seeded Prng, so a seed replays exactly.

import { decodeConfChange } from '../conf-change-codec.js';
import { MemoryStorage } from '../memory-storage.js';
import { type ProposeResult, RaftNode } from '../node.js';
import { contextKey } from '../read-only.js';
import { ConfChangeType, type Entry, EntryType, type Message, MessageType, type NodeId, type Ready } from '../types.js';
import { type AppState, decodeApp, encodeApp } from './app.js';
import { SafetyChecker } from './checker.js';
import type { Prng } from './prng.js';

export interface ClusterOptions {
  nodes: number;
  electionTick: number;
  heartbeatTick: number;
  maxSizePerMsg: number;
  maxInflightMsgs: number;
  maxInflightBytes: number;
  unsafeCommitOldTerm: boolean;
  /** TEST ONLY: ReadIndex answered without a heartbeat quorum. */
  unsafeReadWithoutQuorum: boolean;
  /** TEST ONLY: the run loop breaks the durability contract (sends every message before the fsync). */
  unsafeSendBeforePersist: boolean;
  preVote: boolean;
  checkQuorum: boolean;
  /**
   * The app applies committed entries later than advance() (RaftNodeConfig.asyncApply, as the
   * real node does): they wait in a queue (lost on a crash) and are applied a few at a time,
   * reported with appliedTo. At most 4 are handed over unapplied (back-pressure).
   */
  asyncApply: boolean;
  /** Fault profile that provokes the Figure 8 interleavings (new leaders cut off at once, ...). */
  figure8: boolean;
  /** Per-round fault probabilities. */
  crashRate: number;
  restartRate: number;
  partitionRate: number;
  healRate: number;
  /** Debugging aid: receives one line per event. */
  trace?: (line: string) => void;
}

interface InFlight {
  at: number;
  m: Message;
  /** Snap: the snapshot data streamed out of band with it. */
  data?: Uint8Array;
}

class SimNode {
  raft: RaftNode | null = null;
  /** A Ready whose immediate messages went out and whose persistence (fsync) is pending. */
  pending: Ready | null = null;
  readonly storage: MemoryStorage;
  app: AppState;
  readonly snapStash = new Map<number, Uint8Array>();
  /** asyncApply: committed entries handed over and not applied yet (in memory: lost on a crash). */
  applyQueue: Entry[] = [];
  lastCommit = 0;
  leaderTermSeen = -1;
  constructor(
    readonly id: NodeId,
    voters: NodeId[],
  ) {
    if (voters.length === 0) {
      // Joins later: empty, learns everything from the leader's snapshot.
      this.storage = new MemoryStorage();
      this.app = { applied: 0, chain: 0, conf: { voters: [], learners: [] } };
    } else {
      this.app = { applied: 1, chain: 0, conf: { voters: [...voters], learners: [] } };
      this.storage = MemoryStorage.bootstrap(voters, [], encodeApp(this.app));
    }
  }
}

export class SimCluster {
  readonly checker = new SafetyChecker();
  readonly nodes = new Map<NodeId, SimNode>();
  private net: InFlight[] = [];
  private now = 0;
  private partition: Map<NodeId, number> | null = null;
  private nextNodeNo: number;
  private proposalNo = 0;
  /** Liveness phase: payloads of the markers proposed, and whether one was applied. */
  private readonly markers = new Set<string>();
  private markerApplied = false;
  private readNo = 0;
  dropRate = 0.05;
  dupRate = 0.02;
  maxDelay = 3;
  faults = true;
  stats = { lostReadies: 0, proposed: 0, applied: 0, elections: 0, snapshotsSent: 0, crashes: 0, confChanges: 0, transfers: 0, reads: 0, delivered: 0 };

  constructor(
    private readonly rng: Prng,
    private readonly opts: ClusterOptions,
  ) {
    const ids = Array.from({ length: opts.nodes }, (_, i) => `n${i + 1}`);
    this.nextNodeNo = opts.nodes + 1;
    for (const id of ids) {
      const n = new SimNode(id, ids);
      this.nodes.set(id, n);
      this.start(n);
    }
  }

  // ---------------------------------------------------------------- node lifecycle

  private start(n: SimNode): void {
    this.opts.trace?.(`t${this.now} START ${n.id} hs=${JSON.stringify(n.storage.initialState())} applied=${n.app.applied} first=${n.storage.firstIndex()} last=${n.storage.lastIndex()}`);
    const rnd = this.rng.fork();
    n.raft = new RaftNode(
      {
        id: n.id,
        electionTick: this.opts.electionTick,
        heartbeatTick: this.opts.heartbeatTick,
        preVote: this.opts.preVote,
        checkQuorum: this.opts.checkQuorum,
        maxSizePerMsg: this.opts.maxSizePerMsg,
        maxInflightMsgs: this.opts.maxInflightMsgs,
        maxInflightBytes: this.opts.maxInflightBytes,
        random: (k) => rnd.int(k),
        applied: n.app.applied,
        asyncApply: this.opts.asyncApply,
        maxApplyingEntries: this.opts.asyncApply ? 4 : undefined,
        unsafeTestHooks: { commitOldTermEntries: this.opts.unsafeCommitOldTerm, readWithoutQuorum: this.opts.unsafeReadWithoutQuorum },
      },
      n.storage,
    );
    n.lastCommit = n.raft.log.committed;
    n.pending = null;
    n.applyQueue = [];
    n.snapStash.clear();
  }

  crash(n: SimNode): void {
    this.opts.trace?.(`t${this.now} CRASH ${n.id} pending=${n.pending ? 'yes' : 'no'}`);
    // Whatever was not fsynced is lost: the pending Ready and the in-memory node.
    if (n.pending && (n.pending.entries.length > 0 || n.pending.hardState)) this.stats.lostReadies++;
    n.raft = null;
    n.pending = null;
    n.applyQueue = [];
    this.stats.crashes++;
  }

  restart(n: SimNode): void {
    if (!n.raft) this.start(n);
  }

  upNodes(): SimNode[] {
    const out: SimNode[] = [];
    for (const n of this.nodes.values()) if (n.raft) out.push(n);
    return out;
  }

  leader(): SimNode | null {
    let best: SimNode | null = null;
    for (const n of this.nodes.values()) if (n.raft?.isLeader() && (!best || n.raft.term > best.raft!.term)) best = n;
    return best;
  }

  // ---------------------------------------------------------------- Ready handling

  /** Phase 1: take a Ready and send what may leave before the fsync. */
  private takeReady(n: SimNode): void {
    if (!n.raft || n.pending) return;
    const rd = n.raft.ready();
    if (!rd) return;
    n.pending = rd;
    for (const m of rd.messages) this.send(n, m);
    if (this.opts.unsafeSendBeforePersist) {
      for (const m of rd.messagesAfterPersist) this.send(n, m);
      rd.messagesAfterPersist = [];
    }
  }

  /** Phase 2: the fsync completed; send the rest, apply, advance. */
  private persist(n: SimNode): void {
    const rd = n.pending;
    const raft = n.raft;
    if (!rd || !raft) return;
    n.pending = null;
    const s = n.storage;
    if (rd.snapshot) {
      // The core must not accept a snapshot over entries the app has not applied yet: they would
      // be applied over the snapshot's state.
      if (n.applyQueue.length > 0) {
        this.checker.violations.push({ kind: 'monotonic-apply', node: n.id, detail: `snapshot ${rd.snapshot.meta.index} accepted over queued entries ${n.applyQueue[0]!.index}..` });
      }
      const data = n.snapStash.get(rd.snapshot.meta.index);
      if (!data) throw new Error(`sim: no snapshot data staged for index ${rd.snapshot.meta.index}`);
      s.applySnapshot({ meta: rd.snapshot.meta, data });
      const app = decodeApp(data);
      this.checker.observeSnapshotInstall(n.id, n.app.applied, app.applied, app.chain);
      n.app = app;
      for (const k of [...n.snapStash.keys()]) if (k <= rd.snapshot.meta.index) n.snapStash.delete(k);
    }
    if (rd.entries.length > 0) {
      s.append(rd.entries);
      const first = rd.entries[0]!.index;
      let prevTerm = -1;
      if (first - 1 >= s.firstIndex() - 1) prevTerm = s.term(first - 1);
      const kept = rd.entries.filter((e) => e.index >= s.firstIndex());
      this.checker.observePersisted(n.id, kept, kept.length === rd.entries.length ? prevTerm : -1);
    }
    this.opts.trace?.(`t${this.now} PERSIST ${n.id} hs=${JSON.stringify(rd.hardState)} ents=${rd.entries.length ? `${rd.entries[0]!.index}..${rd.entries[rd.entries.length - 1]!.index}` : '-'} snap=${rd.snapshot?.meta.index ?? '-'} apply=${rd.committedEntries.length}`);
    if (rd.hardState) {
      const before = s.initialState().hardState.commit;
      if (rd.hardState.commit < before) this.checker.violations.push({ kind: 'monotonic-commit', node: n.id, detail: `persisted commit went back from ${before} to ${rd.hardState.commit}` });
      s.setHardState(rd.hardState);
    }
    for (const m of rd.messagesAfterPersist) this.send(n, m);
    for (const e of rd.committedEntries) {
      // The node was restarted with the durable applied index: it must never hand an entry out twice.
      const handed = n.applyQueue.length > 0 ? n.applyQueue[n.applyQueue.length - 1]!.index : n.app.applied;
      if (e.index <= handed) {
        this.checker.violations.push({ kind: 'monotonic-apply', node: n.id, detail: `entry ${e.index} handed out again (applied ${n.app.applied}, handed ${handed})` });
        continue;
      }
      if (this.opts.asyncApply) n.applyQueue.push(e);
      else this.applyEntry(n, raft, e);
    }
    for (const rs of rd.readStates) this.checker.readServed(n.id, contextKey(rs.context), rs.index);
    raft.advance(rd);
  }

  /** asyncApply: the app applies the first `count` queued entries and reports them. */
  private applyQueued(n: SimNode, count: number): void {
    const raft = n.raft;
    if (!raft) return;
    const batch = n.applyQueue.splice(0, count);
    for (const e of batch) this.applyEntry(n, raft, e);
    if (batch.length > 0) raft.appliedTo(batch[batch.length - 1]!.index);
  }

  private applyEntry(n: SimNode, raft: RaftNode, e: Entry): void {
    const s = n.storage;
    n.app.chain = this.checker.observeApply(n.id, n.app.applied, e, n.app.chain);
    n.app.applied = e.index;
    this.stats.applied++;
    if (this.markers.size > 0 && this.markers.has(String.fromCharCode(...e.data))) this.markerApplied = true;
    if (e.type === EntryType.ConfChange) {
      const cs = raft.applyConfChange(decodeConfChange(e.data));
      n.app.conf = cs;
      s.setConfState(cs);
    }
  }

  // ---------------------------------------------------------------- network

  private linked(a: NodeId, b: NodeId): boolean {
    return !this.partition || this.partition.get(a) === this.partition.get(b);
  }

  private send(from: SimNode, m: Message): void {
    let data: Uint8Array | undefined;
    let msg = m;
    if (m.type === MessageType.Snap) {
      // The run loop streams the snapshot it holds; its meta replaces the core's.
      const snap = from.storage.snapshot();
      msg = { ...m, snapshot: snap.meta };
      data = snap.data;
      this.stats.snapshotsSent++;
    }
    if (this.faults && (this.rng.chance(this.dropRate) || !this.linked(m.from, m.to))) {
      if (m.type === MessageType.Snap) this.reportSnap(from.id, m.to, true);
      return;
    }
    const copies = this.faults && this.rng.chance(this.dupRate) ? 2 : 1;
    for (let i = 0; i < copies; i++) {
      // A healed network (liveness phase) delivers promptly; a faulty one delays up to maxDelay rounds.
      const delay = !this.faults || this.rng.chance(this.opts.figure8 ? 0.3 : 0.6) ? 0 : 1 + this.rng.int(this.maxDelay);
      const f: InFlight = { at: this.now + delay, m: msg };
      if (data) f.data = data;
      this.net.push(f);
    }
  }

  private reportSnap(leader: NodeId, to: NodeId, failed: boolean): void {
    const l = this.nodes.get(leader);
    if (l?.raft) {
      l.raft.step({ type: MessageType.SnapStatus, from: to, to: leader, term: 0, reject: failed });
      this.afterEvent(l);
    }
  }

  private deliver(f: InFlight): void {
    const m = f.m;
    const to = this.nodes.get(m.to);
    this.stats.delivered++;
    if (!to?.raft || (this.faults && !this.linked(m.from, m.to))) {
      if (m.type === MessageType.Snap) this.reportSnap(m.from, m.to, true);
      else if (this.faults && this.rng.chance(0.1)) {
        const from = this.nodes.get(m.from);
        if (from?.raft) {
          from.raft.step({ type: MessageType.Unreachable, from: m.to, to: m.from, term: 0 });
          this.afterEvent(from);
        }
      }
      return;
    }
    if (m.type === MessageType.Snap && f.data) to.snapStash.set(m.snapshot!.index, f.data);
    this.opts.trace?.(`t${this.now} deliver ${MessageType[m.type]} ${m.from}->${m.to} term=${m.term} idx=${m.index} lt=${m.logTerm} n=${m.entries?.length ?? ''} c=${m.commit} rej=${m.reject ?? ''} | to: term=${to.raft.term} role=${to.raft.role()} last=${to.raft.log.lastIndex()}/${to.raft.log.lastTerm()}`);
    to.raft.step(m);
    this.afterEvent(to);
    if (m.type === MessageType.Snap) this.reportSnap(m.from, m.to, false);
  }

  /** Deliver due messages in random order until none is due (bounded). */
  private drain(persistChance: number): void {
    for (let guard = 0; guard < 64; guard++) {
      const due: InFlight[] = [];
      const later: InFlight[] = [];
      for (const f of this.net) (f.at <= this.now ? due : later).push(f);
      this.net = later;
      for (let i = due.length - 1; i > 0; i--) {
        const j = this.rng.int(i + 1);
        const t = due[i]!;
        due[i] = due[j]!;
        due[j] = t;
      }
      for (const f of due) this.deliver(f);
      let persisted = false;
      for (const n of this.nodes.values()) {
        if (n.pending && this.rng.chance(persistChance)) {
          this.persist(n);
          this.afterEvent(n);
          persisted = true;
        }
        // asyncApply only (the queue is empty otherwise, so other runs draw the same numbers).
        if (n.applyQueue.length > 0 && this.rng.chance(persistChance)) {
          this.applyQueued(n, 1 + this.rng.int(n.applyQueue.length));
          this.afterEvent(n);
          persisted = true;
        }
      }
      if (due.length === 0 && !persisted) return;
    }
  }

  // ---------------------------------------------------------------- checks

  /** After anything happened on node n: take its next Ready and run the per-step checks. */
  private afterEvent(n: SimNode): void {
    const raft = n.raft;
    if (!raft) return;
    if (this.faults && this.opts.figure8 && raft.isLeader() && n.leaderTermSeen !== raft.term && this.rng.chance(0.3)) {
      // Hunting Figure 8: cut a new leader off before its no-op leaves, so that its term's
      // entry stays on its log alone and may later overwrite an older-term entry.
      this.partition = new Map();
      for (const id of this.nodes.keys()) this.partition.set(id, 1);
      this.partition.set(n.id, 0);
    }
    this.takeReady(n);
    const c = raft.log.committed;
    if (c !== n.lastCommit) {
      this.checker.observeCommit(n.id, n.lastCommit, c, raft.term, raft.log);
      n.lastCommit = c;
    }
    if (raft.isLeader() && n.leaderTermSeen !== raft.term) {
      n.leaderTermSeen = raft.term;
      this.opts.trace?.(`t${this.now} LEADER ${n.id} term=${raft.term} last=${raft.log.lastIndex()} commit=${raft.log.committed} conf=${JSON.stringify(raft.status().conf)}`);
      this.stats.elections++;
      this.checker.observeLeader(n.id, raft.term, raft.log);
    }
  }

  private checkLeaders(): void {
    for (const n of this.nodes.values()) if (n.raft?.isLeader()) this.checker.observeLeader(n.id, n.raft.term, n.raft.log);
  }

  // ---------------------------------------------------------------- one round

  /** One round: ticks (with skew), maybe a fault or a client action, then message delivery. */
  round(): void {
    this.now++;
    for (const n of this.nodes.values()) {
      if (!n.raft) continue;
      const ticks = this.faults ? (this.rng.chance(0.08) ? 0 : this.rng.chance(0.05) ? 2 : 1) : 1;
      for (let i = 0; i < ticks; i++) n.raft.tick();
      this.afterEvent(n);
    }
    if (this.faults) this.chaos();
    this.workload();
    this.drain(this.faults ? 0.5 : 1);
    this.checkLeaders();
  }

  private chaos(): void {
    const r = this.rng;
    const nodes = [...this.nodes.values()];
    if (r.chance(this.opts.crashRate)) {
      const l = this.leader();
      const n = l && r.chance(this.opts.figure8 ? 0.8 : 0.3) ? l : r.pick(nodes);
      if (n.raft) this.crash(n);
    }
    if (r.chance(this.opts.restartRate)) {
      const down = nodes.filter((n) => !n.raft);
      if (down.length > 0) {
        const n = r.pick(down);
        this.restart(n);
        this.afterEvent(n);
      }
    }
    if (!this.partition && r.chance(this.opts.partitionRate)) {
      this.partition = new Map();
      const l = this.leader();
      if (l && r.chance(0.5)) {
        // Cut the leader off (alone, or with a minority) while it still takes proposals.
        for (const n of nodes) this.partition.set(n.id, 1);
        this.partition.set(l.id, 0);
        if (r.chance(0.5)) this.partition.set(r.pick(nodes).id, 0);
      } else {
        for (const n of nodes) this.partition.set(n.id, r.int(2));
      }
    } else if (this.partition && r.chance(this.opts.healRate)) {
      this.partition = null;
    }
    if (r.chance(0.01)) {
      const l = this.leader();
      if (l) {
        const voters = l.raft!.status().conf.voters;
        l.raft!.transferLeader(r.pick(voters));
        this.stats.transfers++;
        this.afterEvent(l);
      }
    }
    if (r.chance(0.015)) this.confChange();
    if (r.chance(0.03)) this.snapshot(r.pick(nodes));
  }

  private workload(): void {
    const r = this.rng;
    if (r.chance(0.5)) {
      // Usually the newest leader; sometimes any node that believes it leads (a stale one
      // grows an uncommitted suffix that a later leader must overwrite).
      const leaders = this.upNodes().filter((n) => n.raft!.isLeader());
      const l = (r.chance(0.3) && leaders.length > 0 ? r.pick(leaders) : this.leader()) ?? r.pick([...this.nodes.values()]);
      if (l.raft) {
        const k = 1 + r.int(3);
        const data: Uint8Array[] = [];
        for (let i = 0; i < k; i++) data.push(this.payload());
        const res: ProposeResult = l.raft.propose(data);
        if (res.ok) this.stats.proposed += k;
        this.afterEvent(l);
      }
    }
    if (r.chance(0.2)) {
      const up = this.upNodes();
      if (up.length > 0) {
        const n = r.pick(up);
        const ctx = this.readContext(n.id);
        if (n.raft!.readIndex(ctx).ok) {
          this.checker.readBegan(contextKey(ctx));
          this.stats.reads++;
        }
        this.afterEvent(n);
      }
    }
  }

  private payload(): Uint8Array {
    const b = new Uint8Array(8);
    const dv = new DataView(b.buffer);
    const v = ++this.proposalNo;
    dv.setUint32(0, Math.floor(v / 0x100000000));
    dv.setUint32(4, v >>> 0);
    return b;
  }

  private readContext(id: NodeId): Uint8Array {
    return new TextEncoder().encode(`${id}/r${++this.readNo}`);
  }

  private confChange(): void {
    const l = this.leader();
    if (!l?.raft) return;
    const cs = l.raft.status().conf;
    const r = this.rng;
    const members = cs.voters.length + cs.learners.length;
    const choice = r.int(4);
    let res: ProposeResult | null = null;
    if (choice === 0 && members < this.opts.nodes + 2) {
      const id = this.spawn(cs.voters);
      res = l.raft.proposeConfChange({ type: r.chance(0.5) ? ConfChangeType.AddLearner : ConfChangeType.AddVoter, node: id });
    } else if (choice === 1 && cs.learners.length > 0) {
      res = l.raft.proposeConfChange({ type: ConfChangeType.PromoteLearner, node: r.pick(cs.learners) });
    } else if (choice === 2 && cs.voters.length > 2) {
      const all = [...cs.voters, ...cs.learners];
      res = l.raft.proposeConfChange({ type: ConfChangeType.RemoveNode, node: r.pick(all) });
    } else if (choice === 3 && cs.learners.length > 0) {
      res = l.raft.proposeConfChange({ type: ConfChangeType.RemoveNode, node: r.pick(cs.learners) });
    }
    if (res?.ok) this.stats.confChanges++;
    this.afterEvent(l);
  }

  /** A brand-new empty node (it learns the configuration from the leader). */
  private spawn(voters: NodeId[]): NodeId {
    const id = `n${this.nextNodeNo++}`;
    const n = new SimNode(id, []);
    void voters;
    this.nodes.set(id, n);
    this.start(n);
    return id;
  }

  private snapshot(n: SimNode): void {
    if (!n.raft) return;
    const s = n.storage;
    const applied = n.app.applied;
    if (applied <= s.snapshot().meta.index || applied > s.lastIndex()) return;
    s.createSnapshot(applied, n.app.conf, encodeApp(n.app));
    const keep = this.rng.int(4);
    const upTo = Math.max(s.firstIndex() - 1, applied - keep);
    s.compact(upTo);
  }

  // ---------------------------------------------------------------- phases

  /** Stop faults: heal the network and restart every node. */
  heal(): void {
    this.faults = false;
    this.partition = null;
    for (const n of this.nodes.values()) {
      if (!n.raft) {
        this.restart(n);
        this.afterEvent(n);
      }
    }
  }

  /**
   * Liveness: with every node up and a healed network, a leader must be elected and a proposal
   * committed and applied within `maxRounds` ticks.
   */
  checkLiveness(maxRounds: number): number {
    let markerLeaderTerm = -1;
    for (let i = 0; i < maxRounds; i++) {
      this.round();
      if (this.markerApplied) return i + 1;
      const l = this.leader();
      if (l?.raft && l.raft.term !== markerLeaderTerm) {
        const marker = this.payload();
        const res = l.raft.propose([marker]);
        if (res.ok) {
          markerLeaderTerm = l.raft.term;
          this.markers.add(String.fromCharCode(...marker));
        }
        this.afterEvent(l);
      }
    }
    this.checker.liveness(`no proposal committed within ${maxRounds} ticks after healing (leader: ${this.leader()?.id ?? 'none'})`);
    return maxRounds;
  }
}

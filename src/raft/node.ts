// The Raft protocol as a pure state machine (Raft paper, Ongaro's thesis, in the style of etcd's
// raft): no I/O, no timers, injected randomness. A run loop drives it with tick(), step(),
// propose(), ... and moves its output through ready()/advance() (see Ready in types.ts).
//
// Terms and indexes are plain numbers: they stay below 2^53 (see types.ts), so no bigint is
// needed anywhere in the core.

import { applyToConfState, confChangeProblem } from './conf.js';
import { encodeConfChange } from './conf-change-codec.js';
import { entrySize } from './entry-size.js';
import { NO_TERM, RaftLog } from './log.js';
import { Progress, ProgressState } from './progress.js';
import { committedIndex, hasQuorum, voteResult } from './quorum.js';
import { ReadOnly } from './read-only.js';
import { ReadyProtocolError } from './errors.js';
import {
  type ConfChange,
  type ConfState,
  type Entry,
  EntryType,
  type HardState,
  type LogStorage,
  type Message,
  MessageType,
  type NodeId,
  type RaftConfig,
  type ReadState,
  type Ready,
  Role,
  type SoftState,
} from './types.js';

/** RaftConfig plus restart and test-only options. */
export interface RaftNodeConfig extends RaftConfig {
  /** Applied index the state machine already reached (on restart); entries after it are replayed. */
  applied?: number;
  /** Max bytes of committed entries per Ready (default: unlimited). */
  maxCommittedSizePerReady?: number;
  /**
   * The application applies committed entries asynchronously and reports progress with
   * `appliedTo(index)`: a Ready's committed entries then only count as handed
   * over. The applied index the core uses (campaign and conf-change guards, status) is then the
   * real one, a snapshot is refused while handed-over entries are not yet applied (they would
   * be applied over it), and at most `maxApplyingEntries` / `maxApplyingBytes` of handed-over
   * entries are outstanding (back-pressure: no committed entries in Ready beyond that).
   * Default false: `advance()` marks them applied, as in the synchronous Ready contract.
   */
  asyncApply?: boolean;
  /** asyncApply: max handed-over, unapplied entries (default: unlimited). */
  maxApplyingEntries?: number;
  /** asyncApply: max data bytes of handed-over, unapplied entries (default: unlimited; at least one entry is handed over). */
  maxApplyingBytes?: number;
  /**
   * TEST ONLY. `commitOldTermEntries` breaks the commit rule (counts replicas of earlier-term
   * entries, the Figure 8 bug) and `readWithoutQuorum` answers ReadIndex without confirming
   * leadership, so tests can prove the simulator catches them.
   */
  unsafeTestHooks?: { commitOldTermEntries?: boolean; readWithoutQuorum?: boolean };
}

export type ProposeFailure = 'NOT_LEADER' | 'TRANSFER_IN_PROGRESS' | 'CONF_CHANGE_PENDING' | 'INVALID_CONF_CHANGE';

export type ProposeResult =
  | { ok: true; first: number; last: number }
  | { ok: false; code: ProposeFailure; leader: NodeId | null; message?: string };

export type RequestResult = { ok: true } | { ok: false; code: 'NOT_LEADER' | 'NOT_VOTER'; leader: NodeId | null };

export interface ProgressStatus {
  match: number;
  next: number;
  state: ProgressState;
  learner: boolean;
  recentActive: boolean;
}

export interface RaftStatus {
  id: NodeId;
  term: number;
  vote: NodeId | null;
  role: Role;
  leader: NodeId | null;
  commit: number;
  applied: number;
  lastIndex: number;
  conf: ConfState;
  leadTransferee: NodeId | null;
  /** Leader only: replication state of every member (including itself). */
  progress: Record<NodeId, ProgressStatus> | null;
}

enum State {
  Follower = 0,
  PreCandidate = 1,
  Candidate = 2,
  Leader = 3,
}

const EMPTY = new Uint8Array(0);

/** Messages that promise nothing about unpersisted local state and may leave before the fsync. */
function sendableBeforePersist(t: MessageType): boolean {
  return (
    t === MessageType.App ||
    t === MessageType.Heartbeat ||
    t === MessageType.Snap ||
    t === MessageType.TimeoutNow ||
    t === MessageType.ReadIndex ||
    t === MessageType.ReadIndexResp
  );
}

export class RaftNode {
  readonly id: NodeId;
  readonly log: RaftLog;
  private readonly cfg: RaftNodeConfig;

  private termNo = 0;
  private vote: NodeId | null = null;
  private lead: NodeId | null = null;
  private state = State.Follower;
  private conf: ConfState;
  private readonly prs = new Map<NodeId, Progress>();
  private readonly votes = new Map<NodeId, boolean>();

  private electionElapsed = 0;
  private heartbeatElapsed = 0;
  private randomizedElectionTimeout = 0;
  private leadTransferee: NodeId | null = null;
  /** Index of the last conf change appended by this leader; a new one waits until it is applied. */
  private pendingConfIndex = 0;

  private readonly readOnly = new ReadOnly();
  /** ReadIndex requests that arrived before this leader committed an entry of its term. */
  private pendingReads: { context: Uint8Array; from: NodeId }[] = [];

  private msgs: Message[] = [];
  private msgsAfterPersist: Message[] = [];
  private readStates: ReadState[] = [];

  private prevSoft: SoftState;
  private prevHard: HardState;
  private outstanding: Ready | null = null;
  /** asyncApply: handed-over batches not yet applied (last index, data bytes), oldest first. */
  private applyingBatches: { last: number; bytes: number }[] = [];
  private applyingBytes = 0;

  constructor(config: RaftNodeConfig, storage: LogStorage) {
    if (config.electionTick <= config.heartbeatTick) throw new RangeError('raft: electionTick must exceed heartbeatTick');
    if (config.maxInflightMsgs < 1) throw new RangeError('raft: maxInflightMsgs must be ≥ 1');
    this.cfg = config;
    this.id = config.id;
    const { hardState, confState } = storage.initialState();
    this.log = new RaftLog(storage, hardState.commit, config.applied ?? 0);
    if (this.log.applied > this.log.committed) throw new RangeError(`raft: applied ${this.log.applied} is beyond commit ${this.log.committed}`);
    this.conf = { voters: [...confState.voters], learners: [...confState.learners] };
    this.rebuildProgress();
    this.becomeFollower(hardState.term, null);
    this.vote = hardState.vote;
    this.prevHard = { term: hardState.term, vote: hardState.vote, commit: this.log.committed };
    this.prevSoft = { leader: null, role: this.role() };
  }

  // ---------------------------------------------------------------- public interface

  /** Advance logical time by one tick (election and heartbeat timeouts count ticks). */
  tick(): void {
    if (this.state === State.Leader) this.tickHeartbeat();
    else this.tickElection();
  }

  /** Propose a batch of normal entries (leader only). */
  propose(data: Uint8Array[]): ProposeResult {
    const refused = this.refuseProposal();
    if (refused) return refused;
    const last = this.log.lastIndex();
    const ents: Entry[] = new Array(data.length);
    for (let i = 0; i < data.length; i++) ents[i] = { term: this.termNo, index: last + 1 + i, type: EntryType.Normal, data: data[i]! };
    this.appendEntries(ents);
    this.bcastAppend();
    return { ok: true, first: last + 1, last: last + data.length };
  }

  /**
   * Propose a single-server membership change (leader only). One change may be pending at a
   * time: a new one is refused until the previous one is applied. The change takes effect on
   * each replica when the run loop applies the entry and calls applyConfChange().
   */
  proposeConfChange(cc: ConfChange): ProposeResult {
    const refused = this.refuseProposal();
    if (refused) return refused;
    if (this.pendingConfIndex > this.log.applied) {
      return { ok: false, code: 'CONF_CHANGE_PENDING', leader: this.lead, message: `conf change at ${this.pendingConfIndex} not yet applied` };
    }
    const problem = confChangeProblem(this.conf, cc);
    if (problem) return { ok: false, code: 'INVALID_CONF_CHANGE', leader: this.lead, message: problem };
    const index = this.log.lastIndex() + 1;
    this.appendEntries([{ term: this.termNo, index, type: EntryType.ConfChange, data: encodeConfChange(cc) }]);
    this.pendingConfIndex = index;
    this.bcastAppend();
    return { ok: true, first: index, last: index };
  }

  /** Apply a committed conf change (the run loop calls this when it applies the entry). */
  applyConfChange(cc: ConfChange): ConfState {
    this.conf = applyToConfState(this.conf, cc);
    this.syncProgressWithConf();
    if (this.state === State.Leader) {
      if (!this.conf.voters.includes(this.id)) {
        // A removed leader steps down; the remaining voters elect a new one.
        this.becomeFollower(this.termNo, null);
      } else {
        if (this.leadTransferee !== null && !this.conf.voters.includes(this.leadTransferee)) this.leadTransferee = null;
        // The quorum may have shrunk.
        if (this.maybeCommit()) this.onCommitAdvanced();
        this.bcastAppend();
      }
    }
    return { voters: [...this.conf.voters], learners: [...this.conf.learners] };
  }

  /**
   * Ask for a linearizable read. `context` identifies the request and must be unique cluster-wide
   * (e.g. node id + counter); it comes back in a ReadState once the read index is known.
   */
  readIndex(context: Uint8Array): RequestResult {
    if (this.state === State.Leader) {
      this.handleReadIndex(context, this.id);
      return { ok: true };
    }
    if (this.lead === null) return { ok: false, code: 'NOT_LEADER', leader: null };
    this.send({ type: MessageType.ReadIndex, from: this.id, to: this.lead, term: 0, context });
    return { ok: true };
  }

  /** Hand leadership to `to` (leader only): it is caught up, then told to campaign at once. */
  transferLeader(to: NodeId): RequestResult {
    if (this.state !== State.Leader) return { ok: false, code: 'NOT_LEADER', leader: this.lead };
    if (!this.conf.voters.includes(to)) return { ok: false, code: 'NOT_VOTER', leader: this.lead };
    if (to === this.id) {
      this.leadTransferee = null;
      return { ok: true };
    }
    if (this.leadTransferee === to) return { ok: true };
    this.leadTransferee = to;
    // The transfer must finish within one election timeout, or it is aborted (tickHeartbeat).
    this.electionElapsed = 0;
    const pr = this.prs.get(to)!;
    if (pr.match === this.log.lastIndex()) this.sendTimeoutNow(to);
    else this.sendAppend(to, true);
    return { ok: true };
  }

  /** Feed one message (from a peer, or a local SnapStatus / Unreachable report). */
  step(m: Message): void {
    if (m.type === MessageType.SnapStatus || m.type === MessageType.Unreachable) {
      if (this.state === State.Leader) this.stepLeaderLocal(m);
      return;
    }
    if (m.type === MessageType.ReadIndex) {
      // A forwarded read carries no term: only the current leader can answer it.
      if (this.state === State.Leader) this.handleReadIndex(m.context ?? EMPTY, m.from);
      return;
    }
    if (m.term > this.termNo) {
      if (m.type === MessageType.Vote || m.type === MessageType.PreVote) {
        // Leader lease (thesis §4.2.3): while we hear from a leader, ignore disruptive candidates.
        const inLease = this.cfg.checkQuorum && this.lead !== null && this.electionElapsed < this.cfg.electionTick;
        if (inLease && !m.transfer) return;
      }
      if (m.type === MessageType.PreVote) {
        // A pre-vote never changes our term.
      } else if (m.type === MessageType.PreVoteResp && !m.reject) {
        // A granted pre-vote is answered at the candidate's future term; keep ours.
      } else if (m.type === MessageType.App || m.type === MessageType.Heartbeat || m.type === MessageType.Snap) {
        this.becomeFollower(m.term, m.from);
      } else if (m.type === MessageType.Vote) {
        // Adopt the term, but keep our election timer running: only a granted vote resets it
        // (Raft Figure 2). Otherwise a node with a stale log that keeps timing out first would
        // keep resetting the timers of the up-to-date nodes that could actually win.
        const elapsed = this.electionElapsed;
        this.becomeFollower(m.term, null);
        this.electionElapsed = elapsed;
      } else {
        this.becomeFollower(m.term, null);
      }
    } else if (m.term < this.termNo) {
      if ((this.cfg.checkQuorum || this.cfg.preVote) && (m.type === MessageType.App || m.type === MessageType.Heartbeat)) {
        // Tell a stale leader about the newer term so it steps down (a partitioned node that
        // never bumped its term cannot otherwise reach it with PreVote and CheckQuorum on).
        this.send({ type: MessageType.AppResp, from: this.id, to: m.from, term: this.termNo });
      } else if (m.type === MessageType.PreVote) {
        this.send({ type: MessageType.PreVoteResp, from: this.id, to: m.from, term: this.termNo, reject: true });
      }
      return;
    }

    if (m.type === MessageType.Vote || m.type === MessageType.PreVote) {
      this.handleVoteRequest(m);
      return;
    }
    switch (this.state) {
      case State.Leader:
        this.stepLeader(m);
        break;
      case State.Candidate:
      case State.PreCandidate:
        this.stepCandidate(m);
        break;
      default:
        this.stepFollower(m);
    }
  }

  /** The next batch of work for the run loop, or null (nothing to do, or one is outstanding). */
  ready(): Ready | null {
    if (this.outstanding) return null;
    const soft: SoftState = { leader: this.lead, role: this.role() };
    const softChanged = soft.leader !== this.prevSoft.leader || soft.role !== this.prevSoft.role;
    const hard: HardState = { term: this.termNo, vote: this.vote, commit: this.log.committed };
    const hardChanged = hard.term !== this.prevHard.term || hard.vote !== this.prevHard.vote || hard.commit !== this.prevHard.commit;
    const entries = this.log.unstable.nextEntries();
    const snapshot = this.log.unstable.nextSnapshot();
    const committedEntries = this.nextCommittedEntries();
    if (
      !softChanged &&
      !hardChanged &&
      entries.length === 0 &&
      snapshot === null &&
      committedEntries.length === 0 &&
      this.msgs.length === 0 &&
      this.msgsAfterPersist.length === 0 &&
      this.readStates.length === 0
    ) {
      return null;
    }
    const rd: Ready = {
      softState: softChanged ? soft : null,
      hardState: hardChanged ? hard : null,
      entries,
      snapshot,
      committedEntries,
      messages: this.msgs,
      messagesAfterPersist: this.msgsAfterPersist,
      readStates: this.readStates,
    };
    if (softChanged) this.prevSoft = soft;
    if (hardChanged) this.prevHard = hard;
    this.msgs = [];
    this.msgsAfterPersist = [];
    this.readStates = [];
    this.log.unstable.acceptInProgress();
    // asyncApply: handed over now, not at advance(): a snapshot accepted while this Ready is
    // being persisted would otherwise meet these entries applied after it.
    if (this.cfg.asyncApply && committedEntries.length > 0) this.acceptApplying(committedEntries);
    this.outstanding = rd;
    return rd;
  }

  /** True when ready() would return a Ready. */
  hasReady(): boolean {
    if (this.outstanding) return false;
    return (
      this.msgs.length > 0 ||
      this.msgsAfterPersist.length > 0 ||
      this.readStates.length > 0 ||
      this.log.unstable.nextEntries().length > 0 ||
      this.log.unstable.nextSnapshot() !== null ||
      this.committedEntriesReady() ||
      this.lead !== this.prevSoft.leader ||
      this.role() !== this.prevSoft.role ||
      this.termNo !== this.prevHard.term ||
      this.vote !== this.prevHard.vote ||
      this.log.committed !== this.prevHard.commit
    );
  }

  /** The run loop finished the Ready: its entries/snapshot are durable and its entries applied. */
  advance(rd: Ready): void {
    if (rd !== this.outstanding) throw new ReadyProtocolError('advance() called with a Ready that is not the outstanding one');
    this.outstanding = null;
    if (rd.snapshot) {
      this.log.unstable.stableSnapTo(rd.snapshot.meta.index);
      // The snapshot's state is installed (step 2 of the contract): applied, whatever the mode.
      this.appliedTo(rd.snapshot.meta.index);
    }
    if (rd.entries.length > 0) {
      const last = rd.entries[rd.entries.length - 1]!;
      this.log.unstable.stableTo(last.index, last.term);
    }
    // asyncApply: the committed entries were marked handed over in ready(); appliedTo reports them.
    if (rd.committedEntries.length > 0 && !this.cfg.asyncApply) this.log.appliedTo(rd.committedEntries[rd.committedEntries.length - 1]!.index);
    if (this.state === State.Leader) {
      // The leader's own log now counts toward the quorum (only once it is durable).
      const self = this.prs.get(this.id);
      if (self?.maybeUpdate(this.log.stableIndex()) && this.maybeCommit()) this.onCommitAdvanced();
    }
  }

  /**
   * asyncApply: the state machine has applied every entry up to `index` (a committed index the
   * core handed over; a ConfChange among them must have gone through applyConfChange first).
   */
  appliedTo(index: number): void {
    this.log.appliedTo(Math.min(index, this.log.committed));
    while (this.applyingBatches.length > 0 && this.applyingBatches[0]!.last <= this.log.applied) {
      this.applyingBytes -= this.applyingBatches.shift()!.bytes;
    }
  }

  /** asyncApply: `ents` (the committed entries of a Ready) are handed to the application. */
  private acceptApplying(ents: Entry[]): void {
    const last = ents[ents.length - 1]!.index;
    let bytes = 0;
    for (const e of ents) bytes += e.data.byteLength;
    this.applyingBatches.push({ last, bytes });
    this.applyingBytes += bytes;
    this.log.applyingTo(last);
  }

  /** Committed entries for the next Ready: none while the asyncApply budget is used up. */
  private nextCommittedEntries(): Entry[] {
    if (!this.committedEntriesReady()) return [];
    let maxBytes = this.cfg.maxCommittedSizePerReady ?? Number.MAX_SAFE_INTEGER;
    if (!this.cfg.asyncApply) return this.log.nextCommittedEnts(maxBytes);
    if (this.cfg.maxApplyingBytes !== undefined) maxBytes = Math.min(maxBytes, this.cfg.maxApplyingBytes - this.applyingBytes);
    const ents = this.log.nextCommittedEnts(Math.max(0, maxBytes));
    if (this.cfg.maxApplyingEntries === undefined) return ents;
    const room = this.cfg.maxApplyingEntries - (this.log.applying - this.log.applied);
    return ents.length > room ? ents.slice(0, room) : ents;
  }

  private committedEntriesReady(): boolean {
    if (!this.log.hasNextCommittedEnts()) return false;
    if (!this.cfg.asyncApply) return true;
    const c = this.cfg;
    if (c.maxApplyingEntries !== undefined && this.log.applying - this.log.applied >= c.maxApplyingEntries) return false;
    if (c.maxApplyingBytes !== undefined && this.applyingBytes > 0 && this.applyingBytes >= c.maxApplyingBytes) return false;
    return true;
  }

  status(): RaftStatus {
    let progress: Record<NodeId, ProgressStatus> | null = null;
    if (this.state === State.Leader) {
      progress = {};
      for (const [id, pr] of this.prs) {
        progress[id] = { match: pr.match, next: pr.next, state: pr.state, learner: pr.isLearner, recentActive: pr.recentActive };
      }
    }
    return {
      id: this.id,
      term: this.termNo,
      vote: this.vote,
      role: this.role(),
      leader: this.lead,
      commit: this.log.committed,
      applied: this.log.applied,
      lastIndex: this.log.lastIndex(),
      conf: { voters: [...this.conf.voters], learners: [...this.conf.learners] },
      leadTransferee: this.leadTransferee,
      progress,
    };
  }

  get term(): number {
    return this.termNo;
  }

  /** The voter leadership is being transferred to, or null (cheap; the proposer asks per proposal). */
  get transferee(): NodeId | null {
    return this.leadTransferee;
  }

  get leader(): NodeId | null {
    return this.lead;
  }

  isLeader(): boolean {
    return this.state === State.Leader;
  }

  role(): Role {
    switch (this.state) {
      case State.Leader:
        return Role.Leader;
      case State.Candidate:
        return Role.Candidate;
      case State.PreCandidate:
        return Role.PreCandidate;
      default:
        return this.conf.learners.includes(this.id) ? Role.Learner : Role.Follower;
    }
  }

  // ---------------------------------------------------------------- timers

  private tickElection(): void {
    this.electionElapsed++;
    if (this.promotable() && this.electionElapsed >= this.randomizedElectionTimeout) {
      this.electionElapsed = 0;
      this.hup(false);
    }
  }

  private tickHeartbeat(): void {
    this.heartbeatElapsed++;
    this.electionElapsed++;
    if (this.electionElapsed >= this.cfg.electionTick) {
      this.electionElapsed = 0;
      if (this.cfg.checkQuorum) {
        const active = hasQuorum(this.conf.voters, (id) => id === this.id || this.prs.get(id)?.recentActive === true);
        for (const [id, pr] of this.prs) if (id !== this.id) pr.recentActive = false;
        if (!active) {
          // CheckQuorum: a leader cut off from a majority steps down instead of serving stale reads.
          this.becomeFollower(this.termNo, null);
          return;
        }
      }
      // A transfer that did not finish within an election timeout is abandoned.
      this.leadTransferee = null;
    }
    if (this.heartbeatElapsed >= this.cfg.heartbeatTick) {
      this.heartbeatElapsed = 0;
      this.bcastHeartbeat(this.readOnly.lastPendingContext());
    }
  }

  // ---------------------------------------------------------------- role changes

  private promotable(): boolean {
    return this.conf.voters.includes(this.id);
  }

  private resetElectionTimeout(): void {
    this.randomizedElectionTimeout = this.cfg.electionTick + this.cfg.random(this.cfg.electionTick);
  }

  private reset(term: number): void {
    if (term !== this.termNo) {
      this.termNo = term;
      this.vote = null;
    }
    this.lead = null;
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.resetElectionTimeout();
    this.leadTransferee = null;
    this.votes.clear();
    const next = this.log.lastIndex() + 1;
    for (const [id, pr] of this.prs) {
      pr.match = id === this.id ? this.log.stableIndex() : 0;
      pr.next = next;
      pr.recentActive = id === this.id;
      pr.sentCommit = 0;
      pr.becomeProbe();
      pr.next = next;
    }
    this.readOnly.reset();
    this.pendingReads = [];
  }

  private becomeFollower(term: number, lead: NodeId | null): void {
    this.reset(term);
    this.lead = lead;
    this.state = State.Follower;
  }

  private becomePreCandidate(): void {
    // Term and vote stay: a pre-election changes nothing durable (thesis §9.6).
    this.votes.clear();
    this.lead = null;
    this.state = State.PreCandidate;
  }

  private becomeCandidate(): void {
    this.reset(this.termNo + 1);
    this.vote = this.id;
    this.state = State.Candidate;
  }

  private becomeLeader(): void {
    this.reset(this.termNo);
    this.lead = this.id;
    this.state = State.Leader;
    const self = this.prs.get(this.id);
    if (self) self.becomeReplicate();
    // The no-op of this term: commits earlier-term entries and enables ReadIndex (thesis §6.4).
    // No conf change may be proposed before it is applied (the single-server change fix).
    const index = this.log.lastIndex() + 1;
    this.appendEntries([{ term: this.termNo, index, type: EntryType.Normal, data: EMPTY }]);
    this.pendingConfIndex = index;
  }

  private hup(transfer: boolean): void {
    if (this.state === State.Leader || !this.promotable()) return;
    if (this.hasUnappliedConfChange()) return;
    if (this.cfg.preVote && !transfer) this.campaign(true, false);
    else this.campaign(false, transfer);
  }

  private hasUnappliedConfChange(): boolean {
    if (this.log.committed <= this.log.applied) return false;
    const lo = Math.max(this.log.applied + 1, this.log.firstIndex());
    if (lo > this.log.committed) return false;
    const ents = this.log.slice(lo, this.log.committed + 1, Number.MAX_SAFE_INTEGER);
    return ents.some((e) => e.type === EntryType.ConfChange);
  }

  private campaign(pre: boolean, transfer: boolean): void {
    let term: number;
    let voteType: MessageType;
    if (pre) {
      this.becomePreCandidate();
      term = this.termNo + 1;
      voteType = MessageType.PreVote;
    } else {
      this.becomeCandidate();
      term = this.termNo;
      voteType = MessageType.Vote;
    }
    this.votes.set(this.id, true);
    if (voteResult(this.conf.voters, this.votes) === 'won') {
      if (pre) this.campaign(false, transfer);
      else this.becomeLeader();
      return;
    }
    const lastIndex = this.log.lastIndex();
    const lastTerm = this.log.lastTerm();
    for (const id of this.conf.voters) {
      if (id === this.id) continue;
      const m: Message = { type: voteType, from: this.id, to: id, term, index: lastIndex, logTerm: lastTerm };
      if (transfer) m.transfer = true;
      this.send(m);
    }
  }

  // ---------------------------------------------------------------- message handling

  private handleVoteRequest(m: Message): void {
    const pre = m.type === MessageType.PreVote;
    const canVote = this.vote === m.from || (this.vote === null && this.lead === null) || (pre && m.term > this.termNo);
    const respType = pre ? MessageType.PreVoteResp : MessageType.VoteResp;
    if (canVote && this.log.isUpToDate(m.index ?? 0, m.logTerm ?? 0)) {
      // A granted vote carries the request's term (for a pre-vote that is our term + 1).
      this.send({ type: respType, from: this.id, to: m.from, term: m.term });
      if (!pre) {
        this.electionElapsed = 0;
        this.vote = m.from;
      }
    } else {
      this.send({ type: respType, from: this.id, to: m.from, term: this.termNo, reject: true });
    }
  }

  private stepFollower(m: Message): void {
    switch (m.type) {
      case MessageType.App:
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleAppend(m);
        break;
      case MessageType.Heartbeat:
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleHeartbeat(m);
        break;
      case MessageType.Snap:
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleSnapshot(m);
        break;
      case MessageType.TimeoutNow:
        this.hup(true);
        break;
      case MessageType.ReadIndexResp:
        if (m.context) this.readStates.push({ index: m.index ?? 0, context: m.context });
        break;
      default:
        break;
    }
  }

  private stepCandidate(m: Message): void {
    const myResp = this.state === State.PreCandidate ? MessageType.PreVoteResp : MessageType.VoteResp;
    switch (m.type) {
      case MessageType.App:
        this.becomeFollower(m.term, m.from);
        this.handleAppend(m);
        break;
      case MessageType.Heartbeat:
        this.becomeFollower(m.term, m.from);
        this.handleHeartbeat(m);
        break;
      case MessageType.Snap:
        this.becomeFollower(m.term, m.from);
        this.handleSnapshot(m);
        break;
      case MessageType.PreVoteResp:
      case MessageType.VoteResp: {
        if (m.type !== myResp) return;
        this.votes.set(m.from, !m.reject);
        const r = voteResult(this.conf.voters, this.votes);
        if (r === 'won') {
          if (this.state === State.PreCandidate) this.campaign(false, false);
          else {
            this.becomeLeader();
            this.bcastAppend();
          }
        } else if (r === 'lost') {
          this.becomeFollower(this.termNo, null);
        }
        break;
      }
      default:
        break;
    }
  }

  private stepLeader(m: Message): void {
    const pr = this.prs.get(m.from);
    if (!pr) return;
    switch (m.type) {
      case MessageType.AppResp:
        pr.recentActive = true;
        this.handleAppendResponse(m, pr);
        break;
      case MessageType.HeartbeatResp:
        pr.recentActive = true;
        pr.probeSent = false;
        // A full window that a heartbeat round trip did not drain has probably lost a message.
        if (pr.state === ProgressState.Replicate && pr.inflights.full()) pr.inflights.freeFirstOne();
        if (pr.match < this.log.lastIndex()) this.sendAppend(m.from, true);
        if (m.context && m.context.length > 0) this.handleReadAck(m.context, m.from);
        break;
      default:
        break;
    }
  }

  private stepLeaderLocal(m: Message): void {
    const pr = this.prs.get(m.from);
    if (!pr) return;
    if (m.type === MessageType.SnapStatus) {
      if (pr.state !== ProgressState.Snapshot) return;
      if (m.reject) pr.pendingSnapshot = 0;
      pr.becomeProbe();
      // Wait for the follower's answer (or a heartbeat round) before probing again.
      pr.probeSent = true;
    } else if (pr.state === ProgressState.Replicate) {
      pr.becomeProbe();
    }
  }

  private handleAppend(m: Message): void {
    const prevIndex = m.index ?? 0;
    if (prevIndex < this.log.committed) {
      this.send({ type: MessageType.AppResp, from: this.id, to: m.from, term: this.termNo, index: this.log.committed });
      return;
    }
    const last = this.log.maybeAppend(prevIndex, m.logTerm ?? 0, m.commit ?? 0, m.entries ?? []);
    if (last >= 0) {
      this.send({ type: MessageType.AppResp, from: this.id, to: m.from, term: this.termNo, index: last });
      return;
    }
    const [hint, hintTerm] = this.log.findConflictByTerm(Math.min(prevIndex, this.log.lastIndex()), m.logTerm ?? 0);
    this.send({ type: MessageType.AppResp, from: this.id, to: m.from, term: this.termNo, index: prevIndex, reject: true, rejectHint: hint, hintTerm });
  }

  private handleHeartbeat(m: Message): void {
    this.log.commitTo(Math.min(m.commit ?? 0, this.log.lastIndex()));
    const resp: Message = { type: MessageType.HeartbeatResp, from: this.id, to: m.from, term: this.termNo };
    if (m.context) resp.context = m.context;
    this.send(resp);
  }

  private handleSnapshot(m: Message): void {
    const meta = m.snapshot;
    if (!meta) return;
    if (this.restore(m)) {
      this.send({ type: MessageType.AppResp, from: this.id, to: m.from, term: this.termNo, index: this.log.lastIndex() });
    } else {
      this.send({ type: MessageType.AppResp, from: this.id, to: m.from, term: this.termNo, index: this.log.committed });
    }
  }

  /** Install a received snapshot (its data is held by the run loop); false when not needed. */
  private restore(m: Message): boolean {
    const meta = m.snapshot!;
    if (meta.index <= this.log.committed) return false;
    if (this.log.matchTerm(meta.index, meta.term)) {
      // We already hold that prefix: just move the commit index.
      this.log.commitTo(meta.index);
      return false;
    }
    // Entries handed to the state machine but not applied yet would be applied over the
    // snapshot's state (and a conf change among them over its configuration): refuse for now;
    // the leader sends the snapshot again once it learns this node still lags.
    if (this.cfg.asyncApply && this.log.applying > this.log.applied) return false;
    this.log.restore({ meta, data: EMPTY });
    this.conf = { voters: [...meta.conf.voters], learners: [...meta.conf.learners] };
    this.rebuildProgress();
    return true;
  }

  private handleAppendResponse(m: Message, pr: Progress): void {
    const index = m.index ?? 0;
    if (m.reject) {
      let next = m.rejectHint ?? 0;
      if ((m.hintTerm ?? 0) > 0) next = this.log.findConflictByTerm(next, m.hintTerm!)[0];
      if (pr.maybeDecrTo(index, next)) {
        if (pr.state === ProgressState.Replicate) pr.becomeProbe();
        this.sendAppend(m.from, true);
      }
      return;
    }
    const wasPaused = pr.isPaused();
    if (!pr.maybeUpdate(index)) {
      if (wasPaused && pr.state === ProgressState.Probe) this.sendAppend(m.from, true);
      return;
    }
    if (pr.state === ProgressState.Probe) pr.becomeReplicate();
    else if (pr.state === ProgressState.Snapshot && pr.match + 1 >= this.log.firstIndex()) {
      pr.becomeProbe();
      pr.becomeReplicate();
    } else if (pr.state === ProgressState.Replicate) pr.inflights.freeLE(index);

    if (this.maybeCommit()) this.onCommitAdvanced();
    // Fill the window: the follower may have room for more now.
    while (this.sendAppend(m.from, false)) {}
    // Nothing new to send but it has not heard of the commit index yet: tell it now.
    if (pr.sentCommit < this.log.committed && pr.match >= this.log.committed) this.sendAppend(m.from, true);
    if (m.from === this.leadTransferee && pr.match === this.log.lastIndex()) this.sendTimeoutNow(m.from);
  }

  // ---------------------------------------------------------------- leader helpers

  private refuseProposal(): ProposeResult | null {
    if (this.state !== State.Leader) return { ok: false, code: 'NOT_LEADER', leader: this.lead };
    if (this.leadTransferee !== null) return { ok: false, code: 'TRANSFER_IN_PROGRESS', leader: this.lead };
    return null;
  }

  private appendEntries(ents: Entry[]): void {
    this.log.append(ents);
    // The leader's own match moves only in advance(), once these entries are durable.
  }

  private maybeCommit(): boolean {
    const mci = committedIndex(this.conf.voters, (id) => this.prs.get(id)?.match ?? 0);
    if (this.cfg.unsafeTestHooks?.commitOldTermEntries && mci > this.log.committed && mci <= this.log.lastIndex()) {
      this.log.commitTo(mci);
      return true;
    }
    return this.log.maybeCommit(mci, this.termNo);
  }

  private onCommitAdvanced(): void {
    if (this.pendingReads.length > 0 && this.committedInCurrentTerm()) {
      const reads = this.pendingReads;
      this.pendingReads = [];
      for (const r of reads) this.handleReadIndex(r.context, r.from);
    }
    this.bcastAppend();
  }

  private committedInCurrentTerm(): boolean {
    return this.log.term(this.log.committed) === this.termNo;
  }

  private handleReadIndex(context: Uint8Array, from: NodeId): void {
    if (this.cfg.unsafeTestHooks?.readWithoutQuorum) {
      this.answerRead(this.log.committed, context, from);
      return;
    }
    if (!this.committedInCurrentTerm()) {
      // Our commit index may lag the previous leader's until our no-op commits.
      this.pendingReads.push({ context, from });
      return;
    }
    const index = this.log.committed;
    if (this.conf.voters.length === 1 && this.conf.voters[0] === this.id) {
      this.answerRead(index, context, from);
      return;
    }
    this.readOnly.add(index, context, from);
    this.handleReadAck(context, this.id);
    this.bcastHeartbeat(context);
  }

  private handleReadAck(context: Uint8Array, from: NodeId): void {
    const acks = this.readOnly.ack(context, from);
    if (!acks) return;
    if (!hasQuorum(this.conf.voters, (id) => acks.has(id))) return;
    for (const r of this.readOnly.advance(context)) this.answerRead(r.index, r.context, r.from);
  }

  private answerRead(index: number, context: Uint8Array, from: NodeId): void {
    if (from === this.id) this.readStates.push({ index, context });
    else this.send({ type: MessageType.ReadIndexResp, from: this.id, to: from, term: this.termNo, index, context });
  }

  private sendTimeoutNow(to: NodeId): void {
    this.send({ type: MessageType.TimeoutNow, from: this.id, to, term: this.termNo });
  }

  private bcastAppend(): void {
    for (const id of this.prs.keys()) if (id !== this.id) this.sendAppend(id, true);
  }

  private bcastHeartbeat(context: Uint8Array | null): void {
    for (const [id, pr] of this.prs) {
      if (id === this.id) continue;
      // Never tell a follower to commit beyond what it is known to hold.
      const commit = Math.min(pr.match, this.log.committed);
      if (commit > pr.sentCommit) pr.sentCommit = commit;
      const m: Message = { type: MessageType.Heartbeat, from: this.id, to: id, term: this.termNo, commit };
      if (context) m.context = context;
      this.send(m);
    }
  }

  /** Send entries (or a probe, or a snapshot) to `to`; false when nothing was sent. */
  private sendAppend(to: NodeId, sendIfEmpty: boolean): boolean {
    const pr = this.prs.get(to);
    if (!pr || pr.isPaused()) return false;
    const prevIndex = pr.next - 1;
    const prevTerm = this.log.term(prevIndex);
    if (prevTerm === NO_TERM || pr.next < this.log.firstIndex()) return this.sendSnapshot(to, pr);
    const ents = pr.next <= this.log.lastIndex() ? this.log.entriesFrom(pr.next, this.cfg.maxSizePerMsg) : [];
    if (ents.length === 0 && !sendIfEmpty) return false;
    if (ents.length > 0) {
      if (pr.state === ProgressState.Replicate) {
        const last = ents[ents.length - 1]!.index;
        let bytes = 0;
        for (let i = 0; i < ents.length; i++) bytes += entrySize(ents[i]!);
        pr.optimisticUpdate(last);
        pr.inflights.add(last, bytes);
      } else {
        pr.probeSent = true;
      }
    } else if (pr.state === ProgressState.Probe) {
      pr.probeSent = true;
    }
    pr.sentCommit = this.log.committed;
    this.send({ type: MessageType.App, from: this.id, to, term: this.termNo, index: prevIndex, logTerm: prevTerm, entries: ents, commit: this.log.committed });
    return true;
  }

  private sendSnapshot(to: NodeId, pr: Progress): boolean {
    if (!pr.recentActive) return false;
    const snap = this.log.snapshot();
    if (snap.meta.index === 0) return false;
    pr.becomeSnapshot(snap.meta.index);
    this.send({ type: MessageType.Snap, from: this.id, to, term: this.termNo, snapshot: snap.meta });
    return true;
  }

  // ---------------------------------------------------------------- membership

  private rebuildProgress(): void {
    this.prs.clear();
    this.syncProgressWithConf();
  }

  private syncProgressWithConf(): void {
    const members = new Set([...this.conf.voters, ...this.conf.learners]);
    for (const id of [...this.prs.keys()]) if (!members.has(id)) this.prs.delete(id);
    const next = this.log.lastIndex() + 1;
    for (const id of members) {
      const learner = this.conf.learners.includes(id);
      const pr = this.prs.get(id);
      if (pr) {
        pr.isLearner = learner;
        continue;
      }
      const np = new Progress(next, learner, this.cfg.maxInflightMsgs, this.cfg.maxInflightBytes);
      if (id === this.id) np.match = this.log.stableIndex();
      // A new member starts active so that a snapshot can be sent to it at once.
      np.recentActive = true;
      this.prs.set(id, np);
    }
  }

  // ---------------------------------------------------------------- output

  private send(m: Message): void {
    if (sendableBeforePersist(m.type)) this.msgs.push(m);
    else this.msgsAfterPersist.push(m);
  }
}

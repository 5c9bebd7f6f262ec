// Wire and storage types of the Raft core. Plain objects, encodable with msgpackr.
//
// Terms and indexes are `number` inside the core and on the wire: they are proven to stay
// below 2^53 (an index grows by one per entry; at 10^7 entries/s it takes ~28 years to reach
// 2^53, and a term grows by at most one per election timeout). Storage encodes them as u64 BE,
// and module boundaries that the SPEC names (C-2) convert with BigInt().

export type NodeId = string;

export enum EntryType {
  Normal = 0,
  ConfChange = 1,
}

export interface Entry {
  term: number;
  index: number;
  type: EntryType;
  /** Normal: proposal envelope (PE-1) or empty (leader no-op). ConfChange: encoded ConfChange. */
  data: Uint8Array;
}

export interface HardState {
  term: number;
  vote: NodeId | null;
  commit: number;
}

export interface ConfState {
  voters: NodeId[];
  learners: NodeId[];
}

export enum ConfChangeType {
  AddVoter = 0,
  RemoveNode = 1,
  AddLearner = 2,
  PromoteLearner = 3,
}

export interface ConfChange {
  type: ConfChangeType;
  node: NodeId;
  /** Opaque context (e.g. the peer address), carried through the log to every replica. */
  context?: Uint8Array;
}

export interface SnapshotMeta {
  index: number;
  term: number;
  conf: ConfState;
}

export interface Snapshot {
  meta: SnapshotMeta;
  /** Application data; the node streams large snapshots out of band and this may be empty. */
  data: Uint8Array;
}

export enum MessageType {
  Vote = 1,
  VoteResp = 2,
  PreVote = 3,
  PreVoteResp = 4,
  App = 5,
  AppResp = 6,
  Heartbeat = 7,
  HeartbeatResp = 8,
  Snap = 9,
  TimeoutNow = 10,
  /** Follower → leader: forwarded ReadIndex request (`context` carries the read's id). */
  ReadIndex = 11,
  /** Leader → follower: answer to ReadIndex (`index` = read index, `context` echoed). */
  ReadIndexResp = 12,
  // Local-only kinds that step() also accepts (never sent on the wire):
  SnapStatus = 20,
  Unreachable = 21,
}

/** One Raft message. Plain object; only the fields its type needs are set. */
export interface Message {
  type: MessageType;
  from: NodeId;
  to: NodeId;
  term: number;
  /** App: index of the entry before `entries`; AppResp: last index matched (or rejected index). */
  index?: number;
  /** App: term of the entry at `index`. VoteResp/PreVote: candidate's last log term. */
  logTerm?: number;
  entries?: Entry[];
  commit?: number;
  reject?: boolean;
  /** AppResp reject: follower's hint for fast back-off (its last index, or conflict index). */
  rejectHint?: number;
  /** AppResp reject: term of the entry at rejectHint on the follower. */
  hintTerm?: number;
  snapshot?: SnapshotMeta;
  /** Heartbeat/HeartbeatResp/ReadIndex/ReadIndexResp: ReadIndex context (opaque bytes echoed back). */
  context?: Uint8Array;
  /** Vote: campaign caused by a leadership transfer (TimeoutNow); voters ignore their leader lease. */
  transfer?: boolean;
}

export interface ReadState {
  /** Commit index at which the read may be served once applied. */
  index: number;
  context: Uint8Array;
}

export enum Role {
  Follower = 'follower',
  PreCandidate = 'precandidate',
  Candidate = 'candidate',
  Leader = 'leader',
  Learner = 'learner',
}

export interface SoftState {
  leader: NodeId | null;
  role: Role;
}

/**
 * What the run loop must do with one Ready. The core hands out at most one Ready at a time:
 * `ready()` returns null until `advance()` of the previous one (step/tick/propose may run in
 * between; their effects appear in the next Ready).
 *
 * 1. `messages` may be sent at once, even before anything is persisted: they are the leader's
 *    App/Heartbeat/Snap/TimeoutNow/ReadIndexResp and forwarded ReadIndex requests, none of which
 *    promises anything about this node's unpersisted state (the leader's appends are pipelined
 *    with its own fsync; it counts its own match index only in `advance()`).
 * 2. Persist, in one durable write: `snapshot` (install the received snapshot data of that meta),
 *    then `entries` (append; an entry at index i replaces the stored suffix from i on), then
 *    `hardState`. fsync.
 * 3. Only then send `messagesAfterPersist`: every other message (vote requests and responses,
 *    append/snapshot acks, heartbeat responses), since they depend on the term, vote or log of
 *    this Ready. When `hardState`, `entries` and `snapshot` are all empty they may go at once.
 * 4. Apply `committedEntries` in order (after step 2: they may include this Ready's entries); for
 *    a ConfChange entry call `applyConfChange(cc)` and persist the returned ConfState with the
 *    applied index.
 * 5. Serve each `readStates` read once the applied index ≥ its `index`.
 * 6. `advance(ready)`. (With RaftNodeConfig.asyncApply, step 4 may end after it; the
 *    application then reports its applied index with `RaftNode.appliedTo`.)
 */
export interface Ready {
  softState: SoftState | null;
  hardState: HardState | null;
  entries: Entry[];
  snapshot: Snapshot | null;
  committedEntries: Entry[];
  /** Messages that may be sent immediately (e.g. leader appends, pipelined with the local fsync). */
  messages: Message[];
  /** Messages that may be sent only after `hardState`/`entries`/`snapshot` are durable (votes, acks). */
  messagesAfterPersist: Message[];
  readStates: ReadState[];
}

export interface RaftConfig {
  id: NodeId;
  /** Election timeout in ticks (randomized in [electionTick, 2·electionTick)). */
  electionTick: number;
  heartbeatTick: number;
  preVote: boolean;
  checkQuorum: boolean;
  /** Max bytes of entries in one App message. */
  maxSizePerMsg: number;
  /** Max in-flight App messages per follower in replicate state. */
  maxInflightMsgs: number;
  /** Max in-flight bytes per follower (0 = unlimited). */
  maxInflightBytes: number;
  /** Injected randomness: returns an integer in [0, n). */
  random: (n: number) => number;
}

/**
 * Read access to the persisted log that the pure core needs (implemented in memory and on LMDB).
 * The log holds entries [firstIndex(), lastIndex()]; index firstIndex()-1 is the last entry
 * covered by the snapshot, whose term is still known. Out-of-range reads throw the raft-local
 * errors of `errors.ts`: `CompactedError` (code RAFT_COMPACTED) for an index below
 * firstIndex()-1 (term) or below firstIndex() (entries), `UnavailableError` (RAFT_UNAVAILABLE)
 * for an index above lastIndex(). The core never writes through this interface.
 */
export interface LogStorage {
  initialState(): { hardState: HardState; confState: ConfState };
  /** Entries [lo, hi), at most maxBytes of entry data (at least one entry when lo < hi). */
  entries(lo: number, hi: number, maxBytes: number): Entry[];
  /** Term of the entry at `index`, for firstIndex()-1 ≤ index ≤ lastIndex(). */
  term(index: number): number;
  firstIndex(): number;
  lastIndex(): number;
  /** The latest snapshot (meta.index 0 when there is none yet). */
  snapshot(): Snapshot;
}

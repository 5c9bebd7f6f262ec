// Wire and storage types of the Raft core. Plain objects, encodable with msgpackr.
//
// Terms and indexes are `number` inside the core and on the wire: they are proven to stay
// below 2^53 (an index grows by one per entry; at 10^7 entries/s it takes ~28 years to reach
// 2^53, and a term grows by at most one per election timeout). Storage encodes them as u64 BE,
// and module boundaries that the SPEC names (C-2) convert with BigInt().

export type NodeId = string;

export const enum EntryType {
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

export const enum ConfChangeType {
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

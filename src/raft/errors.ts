// Raft-local errors. raft/ imports nothing of ours outside raft/, so it carries its own classes;
// the node layer maps them onto the house error model.

export class RaftError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.code = code;
  }
  override get name(): string {
    return this.constructor.name;
  }
}

/** The requested index was compacted into a snapshot. */
export class CompactedError extends RaftError {
  constructor(index: number, firstIndex: number) {
    super('RAFT_COMPACTED', `raft log index ${index} is compacted (first index ${firstIndex})`);
  }
}

/** The requested index is beyond the last index of the log. */
export class UnavailableError extends RaftError {
  constructor(index: number, lastIndex: number) {
    super('RAFT_UNAVAILABLE', `raft log index ${index} is beyond the last index ${lastIndex}`);
  }
}

/** A snapshot older than the one already held was offered to storage. */
export class SnapshotOutOfDateError extends RaftError {
  constructor(index: number, current: number) {
    super('RAFT_SNAPSHOT_OUT_OF_DATE', `snapshot at index ${index} is older than the current one at ${current}`);
  }
}

/** The run loop broke the Ready protocol (e.g. advance() without a matching ready()). */
export class ReadyProtocolError extends RaftError {
  constructor(message: string) {
    super('RAFT_READY_PROTOCOL', message);
  }
}

// Public surface of the Raft core for the run loop (src/node/) and the LMDB storage.
export { applyToConfState, confChangeProblem } from './conf.js';
export { decodeConfChange, encodeConfChange } from './conf-change-codec.js';
export { CompactedError, RaftError, ReadyProtocolError, SnapshotOutOfDateError, UnavailableError } from './errors.js';
export { MemoryStorage } from './memory-storage.js';
export { type ProgressStatus, type ProposeFailure, type ProposeResult, RaftNode, type RaftNodeConfig, type RaftStatus, type RequestResult } from './node.js';
export { ProgressState } from './progress.js';
export * from './types.js';

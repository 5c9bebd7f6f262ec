// Typed errors of the storage layer (out-of-range log reads use raft's CompactedError and
// UnavailableError instead, as the LogStorage contract in raft/types.ts requires). Kept here (a subclass of the shared SealkvError) rather
// than in src/errors.ts so that the storage codes live next to the layouts that raise them.

import { SealkvError, type ErrorDetails } from '../errors.js';

export type StorageCode =
  /** WR-2: a registry key that is not exactly 6 bytes. */
  | 'REGISTRY_KEY_MALFORMED'
  /** WR-2: a registry value that is not exactly 12 bytes. */
  | 'REGISTRY_VALUE_MALFORMED'
  /** SH-3: snapshot format_version other than 1. */
  | 'SNAPSHOT_HEADER_VERSION'
  /** SH-3: truncated header, declared length out of bounds, or a required field missing. */
  | 'SNAPSHOT_HEADER_MALFORMED'
  /** Snapshot body or trailer damaged (bad record framing, checksum mismatch, truncated stream). */
  | 'SNAPSHOT_CORRUPT'
  /** A snapshot install stopped because the node is stopping (halt or close); nothing changed. */
  | 'INSTALL_ABORTED'
  /** A log write that breaks the log's shape (gap, overwrite below the compaction point). */
  | 'LOG_WRITE_INVALID'
  /** The applied index would move back, or the apply state was reloaded while batches commit. */
  | 'APPLY_ORDER'
  /** A kv key LMDB cannot store (empty, or longer than MAX_KEY_BYTES). */
  | 'KV_KEY_INVALID'
  /** A `kvmod` value that is not exactly 8 bytes (a u64 modification index, issue 12). */
  | 'KVMOD_VALUE_MALFORMED'
  /** A `meta` value that does not decode (wrong length or version). */
  | 'META_MALFORMED'
  /** An LMDB operation failed, or the store is closed / poisoned by an earlier failed commit. */
  | 'STORAGE_IO';

/** Every error this layer raises on purpose (LOG_CORRUPT uses the shared LogCorruptError). */
export class StorageError extends SealkvError {
  declare readonly code: StorageCode;
  constructor(code: StorageCode, message: string, details: ErrorDetails = {}) {
    super(code, message, details);
  }
}

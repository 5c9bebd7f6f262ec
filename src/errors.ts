// Typed errors with stable codes (DESIGN.md §5, SPEC.md §13).
//
// This module is the shared kernel of the error model: it imports nothing, so every
// layer (crypto, raft, storage, node, server) may import it without breaking the
// "arrows point down" rule. Messages name indexes, key ids and purposes — never key bytes.

export interface ErrorDetails {
  /** A sub-code, itself a code of SPEC §13 (e.g. the condition that made an apply HALT). */
  reason?: string;
  /** The underlying typed error. */
  cause?: unknown;
  /** Raft log index involved, when there is one. */
  index?: bigint;
}

/** Base class: every error sealkv raises on purpose carries a stable SCREAMING_SNAKE_CASE code. */
export class SealkvError extends Error {
  readonly code: string;
  readonly reason: string | undefined;
  readonly index: bigint | undefined;

  constructor(code: string, message: string, details: ErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.code = code;
    this.reason = details.reason;
    this.index = details.index;
  }

  override get name(): string {
    return this.constructor.name;
  }

  /** JSON shape of the admin API (C-6): `{ code, message, reason? }`. */
  toJSON(): { code: string; message: string; reason?: string } {
    return this.reason === undefined
      ? { code: this.code, message: this.message }
      : { code: this.code, message: this.message, reason: this.reason };
  }
}

/** AEAD authentication failure (tag mismatch, wrong key, AAD mismatch). */
export class IntegrityError extends SealkvError {
  constructor(message = 'authentication failed', details: ErrorDetails = {}) {
    super('INTEGRITY', message, details);
  }
}

export type CryptoCode =
  | 'BAD_KEY_SIZE'
  | 'BAD_NONCE_SIZE'
  /** An argument that must be bytes is not a byte view (issue 8: never coerced, never a bare TypeError). */
  | 'BAD_INPUT_TYPE'
  /** A second nonce factory for a purpose in one process, or a persisted-epoch token used twice (KM-8). */
  | 'NONCE_FACTORY_CONFLICT'
  | 'BACKEND_UNAVAILABLE'
  | 'NIL_KEYSTORE'
  | 'NO_CIPHER'
  | 'KEY_CONFLICT'
  | 'RESERVED_KEY_ID'
  | 'UNKNOWN_KEY_ID'
  | 'WRITE_COUNT_EXHAUSTED'
  | 'LOCAL_EPOCH_EXHAUSTED'
  | 'CRYPTO_BACKEND';

/** Cipher, keystore and nonce-factory errors other than INTEGRITY. */
export class CryptoError extends SealkvError {
  declare readonly code: CryptoCode;
  constructor(code: CryptoCode, message: string, details: ErrorDetails = {}) {
    super(code, message, details);
  }
}

/**
 * True when `e` is the cipher backend failing (not loadable, or failing a call), as opposed to
 * bytes that do not authenticate: a failing backend says nothing about the data it was given.
 */
export function isCipherBackendFailure(e: unknown): e is CryptoError {
  return e instanceof CryptoError && (e.code === 'CRYPTO_BACKEND' || e.code === 'BACKEND_UNAVAILABLE');
}

export type EnvelopeCode =
  | 'ENVELOPE_SHORT'
  | 'ENVELOPE_VERSION'
  | 'ENVELOPE_FLAG'
  | 'UNKNOWN_KEY_ID'
  | 'RESERVED_KEY_ID'
  | 'ENCRYPTED_READ_INTEGRITY'
  | 'ENCRYPTED_VALUE_RESERVED_STATE'
  | 'PROPOSAL_MALFORMED';

/** Envelope framing errors (RE-6, SE-1, SE-4, PE-2). */
export class EnvelopeError extends SealkvError {
  declare readonly code: EnvelopeCode;
  constructor(code: EnvelopeCode, message: string, details: ErrorDetails = {}) {
    super(code, message, details);
  }
}

export type HaltCode =
  | 'RAFT_UNWRAP_FAILED'
  | 'ENCRYPTION_APPLY'
  | 'ENTRY_MALFORMED'
  | 'ENVELOPE_CUTOVER_DIVERGENCE'
  | 'SIDECAR_BEHIND_RAFT_LOG'
  /** A received snapshot's wrapped DEKs do not unwrap under this node's KEK (issue 11 item 7). */
  | 'KEK_MISMATCH'
  | 'STORAGE_IO'
  | 'LOG_CORRUPT';

/** The apply loop stopped at an entry (C-3 HALT); the node exits with status 3. */
export class HaltError extends SealkvError {
  declare readonly code: HaltCode;
  constructor(code: HaltCode, message: string, details: ErrorDetails = {}) {
    super(code, message, details);
  }
}

/** The process refuses to start (C-3 REFUSE-START); exit status 2. */
export class StartupRefusedError extends SealkvError {}

export type ProposalCode =
  | 'NOT_LEADER'
  | 'ENVELOPE_CUTOVER_IN_PROGRESS'
  | 'WRITER_NOT_REGISTERED'
  | 'TIMEOUT'
  | 'ABORTED'
  | 'CLOSED'
  | 'LEADERSHIP_TRANSFER_IN_PROGRESS'
  | 'PROPOSAL_DROPPED'
  | 'UNAVAILABLE'
  /** The proposal reached a leader's log but that leader lost leadership (or the forward link
   *  dropped) before it applied: it may or may not commit. Never a safe-to-retry refusal. */
  | 'UNKNOWN_OUTCOME';

/** A proposal, read or membership operation that did not complete (PE-3, PE-6). */
export class ProposalError extends SealkvError {
  declare readonly code: ProposalCode;
  /** Raft id of the known leader, for NOT_LEADER redirects (C-7). */
  readonly leader: string | null;
  constructor(code: ProposalCode, message: string, details: ErrorDetails & { leader?: string | null } = {}) {
    super(code, message, details);
    this.leader = details.leader ?? null;
  }
}

/** Admin API failures; `status` is the HTTP status of C-7. */
export class AdminError extends SealkvError {
  readonly status: number;
  constructor(status: number, code: string, message: string, details: ErrorDetails = {}) {
    super(code, message, details);
    this.status = status;
  }
}

/** A stored Raft log record failed its CRC-32C check or could not be decoded. */
export class LogCorruptError extends SealkvError {
  constructor(index: bigint, message: string, details: ErrorDetails = {}) {
    super('LOG_CORRUPT', `log entry ${index}: ${message}`, { ...details, index });
  }
}

/** Peer transport framing errors (oversize or malformed frames). */
export class TransportError extends SealkvError {}

/** Client protocol (RESP) errors; the message becomes the `-ERR` reply text. */
export class ProtocolError extends SealkvError {}

/** Configuration and usage errors of the CLI (exit status 1 or 2). */
export class ConfigError extends SealkvError {}

/** True when `e` is a SealkvError with the given code. */
export function hasCode(e: unknown, code: string): boolean {
  return e instanceof SealkvError && e.code === code;
}

export type KeyCode =
  | 'KEK_REQUIRED_WITH_FLAG'
  | 'KEK_SOURCE_CONFLICT'
  | 'INSECURE_KEK_FILE'
  | 'KEK_INVALID'
  | 'KEK_KDF_PARAMS_MISSING'
  | 'KEK_UNWRAP_FAILED'
  | 'KEK_MISMATCH'
  | 'KEK_NOT_CONFIGURED'
  | 'SIDECAR_IO'
  | 'SIDECAR_VERSION'
  | 'SIDECAR_MALFORMED'
  | 'SIDECAR_KEY_ID_FORMAT'
  | 'SIDECAR_RESERVED_KEY_ID'
  | 'SIDECAR_PURPOSE'
  | 'SIDECAR_ACTIVE_KEY_MISSING'
  | 'SIDECAR_ACTIVE_PURPOSE_MISMATCH'
  | 'SIDECAR_PRESENT_WITHOUT_FLAG'
  | 'SIDECAR_DIR_MISSING'
  | 'SIDECAR_BEHIND_RAFT_LOG'
  | 'LOG_COMPACTED_PAST_SIDECAR'
  | 'UNSUPPORTED_FILESYSTEM'
  | 'LOCAL_EPOCH_EXHAUSTED'
  | 'LOCAL_EPOCH_ROLLBACK'
  | 'LOCAL_EPOCH_OUT_OF_RANGE'
  | 'NODE_ID_COLLISION'
  | 'NODE_ID_INVALID'
  | 'RESERVED_KEY_ID'
  | 'KEY_CONFLICT'
  | 'DUPLICATE_DEK_ID'
  | 'FOREIGN_BATCH_DEK'
  | 'FSM_WIRE_VERSION'
  | 'FSM_WIRE_MALFORMED'
  | 'FSM_WIRE_SUBTAG'
  | 'RESERVED_OPCODE'
  | 'INVALID_ARGUMENT'
  | 'CAPABILITY_CHECK_FAILED'
  | 'STORAGE_IO'
  // BR-1 (backup-verify)
  | 'BACKUP_MISSING_SIDECAR'
  | 'UNKNOWN_KEY_ID';

/**
 * Key management, sidecar, epoch and writer-registry errors (SPEC KM, WR, FW-2). The same code
 * ends differently by context (C-3): REFUSE-START at start-up (wrapped in StartupRefusedError),
 * HALT reason inside apply (HaltError ENCRYPTION_APPLY with `reason` = this code).
 */
export class KeyError extends SealkvError {
  declare readonly code: KeyCode;
  constructor(code: KeyCode, message: string, details: ErrorDetails = {}) {
    super(code, message, details);
  }
}

// The capability report (SPEC OP-2, RO-2) and the bootstrap writer batch (WR-4): pure builders and
// checks the leader's bootstrap handler runs before it proposes anything.

import { KeyError } from '../errors.js';
import type { Registration } from './registry-rules.js';
import { checkWireEpoch } from './registry-rules.js';
import { U64_MAX } from './sidecar-schema.js';

/** `GET /v1/encryption/capability` and its peer-transport twin (OP-2). */
export interface CapabilityReport {
  readonly encryption_capable: boolean;
  readonly build: string;
  readonly sidecar_present: boolean;
  /** u64 decimal string; "0" when not capable (RO-2). */
  readonly full_node_id: string;
  /** The pinned storage epoch; 0 before bootstrap or when not capable. */
  readonly local_epoch: number;
}

/** RO-2: a node without `--encryption` or without a KEK reports not capable, id "0", epoch 0. */
export function buildCapabilityReport(x: {
  capable: boolean;
  build: string;
  sidecarPresent: boolean;
  fullNodeId: bigint;
  pinnedStorageEpoch: number;
}): CapabilityReport {
  return {
    encryption_capable: x.capable,
    build: x.build,
    sidecar_present: x.sidecarPresent,
    full_node_id: x.capable ? x.fullNodeId.toString() : '0',
    local_epoch: x.capable ? x.pinnedStorageEpoch : 0,
  };
}

/** One member's answer to the fan-out: its report, or why it could not be asked. */
export type MemberVerdict =
  | { readonly member: string; readonly report: unknown }
  | { readonly member: string; readonly error: string };

/** A writer of the bootstrap batch: one per member, registered for both DEKs. */
export interface Writer {
  readonly fullNodeId: bigint;
  readonly localEpoch: number;
}

const DECIMAL = /^(0|[1-9][0-9]*)$/;

function parseFullNodeId(v: unknown, who: string): bigint {
  if (typeof v !== 'string' || v.length > 20 || !DECIMAL.test(v) || BigInt(v) > U64_MAX) {
    throw new KeyError('INVALID_ARGUMENT', `${who}: full_node_id must be a u64 decimal string`);
  }
  return BigInt(v);
}

/**
 * RO-3 / WR-4: every member must have answered and be capable; any failure rejects the whole
 * request with CAPABILITY_CHECK_FAILED naming every offending member. Each epoch is range-checked
 * before narrowing (LOCAL_EPOCH_OUT_OF_RANGE, OP-2). Members are deduplicated by full_node_id.
 */
export function writersFromCapability(verdicts: readonly MemberVerdict[]): Writer[] {
  const offenders: string[] = [];
  const writers = new Map<bigint, Writer>();
  for (const v of verdicts) {
    if ('error' in v) {
      offenders.push(`${v.member} (unreachable: ${v.error})`);
      continue;
    }
    const r = v.report as Partial<Record<keyof CapabilityReport, unknown>> | null;
    if (typeof r !== 'object' || r === null || r.encryption_capable !== true) {
      offenders.push(`${v.member} (not encryption-capable)`);
      continue;
    }
    if (typeof r.local_epoch !== 'number') throw new KeyError('INVALID_ARGUMENT', `${v.member}: local_epoch must be a number`);
    checkWireEpoch(r.local_epoch);
    const full = parseFullNodeId(r.full_node_id, v.member);
    if (full === 0n) {
      offenders.push(`${v.member} (full_node_id 0)`);
      continue;
    }
    writers.set(full, { fullNodeId: full, localEpoch: r.local_epoch });
  }
  if (offenders.length > 0) throw new KeyError('CAPABILITY_CHECK_FAILED', `capability check failed: ${offenders.join(', ')}`);
  return [...writers.values()];
}

/** OP-2 `writers` of a bootstrap request (exclusive with the fan-out): non-zero ids, epochs ≤ 0xFFFF. */
export function writersFromRequest(list: readonly { full_node_id: unknown; local_epoch: unknown }[]): Writer[] {
  const writers = new Map<bigint, Writer>();
  for (const [i, w] of list.entries()) {
    const full = parseFullNodeId(w.full_node_id, `writers[${i}]`);
    if (full === 0n) throw new KeyError('INVALID_ARGUMENT', `writers[${i}]: full_node_id must be non-zero`);
    if (typeof w.local_epoch !== 'number') throw new KeyError('INVALID_ARGUMENT', `writers[${i}]: local_epoch must be a number`);
    checkWireEpoch(w.local_epoch);
    writers.set(full, { fullNodeId: full, localEpoch: w.local_epoch });
  }
  return [...writers.values()];
}

/** WR-4: one row per writer per DEK (storage and raft) for the `0x04` entry. */
export function bootstrapBatch(writers: readonly Writer[], storageDekId: number, raftDekId: number): Registration[] {
  const rows: Registration[] = [];
  for (const w of writers) {
    rows.push({ dekId: storageDekId, fullNodeId: w.fullNodeId, localEpoch: w.localEpoch });
    rows.push({ dekId: raftDekId, fullNodeId: w.fullNodeId, localEpoch: w.localEpoch });
  }
  return rows;
}

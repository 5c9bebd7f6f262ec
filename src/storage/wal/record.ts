// Record framing of the Raft-log WAL (docs/ARCHITECTURE.md, "Raft-log WAL").
//
//   frame = crc u32 ‖ len u32 ‖ body
//   body  = type u8 ‖ index u64 ‖ term u64 ‖ payload      (len = 17 + payload length)
//   crc   = CRC-32C over len ‖ body
//
// All integers are big-endian (C-1). The CRC covers the length too, so a damaged length is caught
// even when it still points inside the file. A frame whose `len` and `crc` are both zero is the
// end of the written data: segments are preallocated with zeros, so the first zero word after the
// last record is where the next group starts. Records are never padded.

import { view } from '../bytes.js';
import { crc32c } from '../crc32c.js';

export const FRAME_HEADER = 8;
export const BODY_FIXED = 17;
export const MIN_FRAME = FRAME_HEADER + BODY_FIXED;
/** Upper bound of one record's body; a larger length field is damage, not a record. */
export const MAX_BODY = 256 * 1024 * 1024;

export enum RecordType {
  /** A Raft entry: index, term, payload = entry type u8 ‖ data. Always at lastIndex + 1. */
  Entry = 1,
  /** Hard state: index = commit, term = term, payload = has_vote u8 ‖ vote utf8. */
  HardState = 2,
  /** Conflicting suffix: every entry at index ≥ `index` is dropped (term 0). */
  Truncate = 3,
  /** Compaction point: entries ≤ index are gone, `term` is the term of `index`. */
  Compact = 4,
  /** Snapshot point: payload = flags u8 (0 record, 1 install + reset, 3 install + keep; log-model.ts) ‖ conf state msgpack. */
  Snapshot = 5,
  /** First record of every segment: index/term = last index/term of the log, payload = seq u64. */
  SegmentStart = 6,
  /** Last record of every sealed segment: index/term = last index/term, payload = next seq u64. */
  Seal = 7,
}

const TYPES = new Set<number>([1, 2, 3, 4, 5, 6, 7]);

export interface WalRecord {
  type: RecordType;
  index: number;
  term: number;
  /** A view into the scanned buffer; copy before keeping it past the buffer's life. */
  payload: Uint8Array;
}

/** Bytes one record with `payloadLen` payload bytes takes in the file. */
export function frameSize(payloadLen: number): number {
  return MIN_FRAME + payloadLen;
}

/**
 * Writes one record into `buf` at `at` and returns the offset after it. `extraHead`, when given,
 * is one byte written before `payload` (the entry type, or the snapshot flags) and counted in it.
 * `dv` may be passed in by callers that write many records into one buffer (saves a DataView).
 */
export function writeRecord(
  buf: Uint8Array,
  at: number,
  type: RecordType,
  index: number,
  term: number,
  payload: Uint8Array | null,
  extraHead?: number,
  dv: DataView = view(buf),
): number {
  const headLen = extraHead === undefined ? 0 : 1;
  const plen = headLen + (payload === null ? 0 : payload.length);
  dv.setUint32(at + 4, BODY_FIXED + plen);
  buf[at + 8] = type;
  // u64 as two u32 halves: no BigInt on the hot path (values are < 2^53, see raft/types.ts).
  dv.setUint32(at + 9, Math.floor(index / 0x1_0000_0000));
  dv.setUint32(at + 13, index >>> 0);
  dv.setUint32(at + 17, Math.floor(term / 0x1_0000_0000));
  dv.setUint32(at + 21, term >>> 0);
  if (extraHead !== undefined) buf[at + 25] = extraHead;
  if (payload !== null) buf.set(payload, at + 25 + headLen);
  const end = at + MIN_FRAME + plen;
  dv.setUint32(at, crc32c(buf.subarray(at + 4, end)));
  return end;
}

/** Result of reading at one offset: a record, the zero end marker, or damage. */
export type ReadResult =
  | { kind: 'record'; record: WalRecord; next: number }
  | { kind: 'end' }
  | { kind: 'bad'; reason: string; /** Where the next frame would start, if the length is plausible. */ next: number | null };

/** High 32 bits of Number.MAX_SAFE_INTEGER (2^53 - 1): a larger high word is not a safe integer. */
const MAX_SAFE_HI = 0x1f_ffff;

/** Reads and checks the frame at `at` of `buf` (whose valid bytes end at `limit`). */
export function readRecord(buf: Uint8Array, at: number, limit: number): ReadResult {
  if (at + FRAME_HEADER > limit) {
    // Fewer than 8 bytes left: zeros are the end, anything else a torn frame header.
    for (let k = at; k < limit; k++) if (buf[k] !== 0) return { kind: 'bad', reason: 'short frame header', next: null };
    return { kind: 'end' };
  }
  const dv = view(buf);
  const crc = dv.getUint32(at);
  const len = dv.getUint32(at + 4);
  if (len === 0 && crc === 0) return { kind: 'end' };
  if (len < BODY_FIXED || len > MAX_BODY) return { kind: 'bad', reason: `implausible record length ${len}`, next: null };
  const end = at + FRAME_HEADER + len;
  if (end > limit) return { kind: 'bad', reason: `record of ${len} bytes runs past the end of the file`, next: null };
  const actual = crc32c(buf.subarray(at + 4, end));
  if (actual !== crc) return { kind: 'bad', reason: `CRC-32C mismatch (stored ${hex32(crc)}, computed ${hex32(actual)})`, next: end };
  const type = buf[at + 8];
  if (!TYPES.has(type)) return { kind: 'bad', reason: `unknown record type ${type}`, next: end };
  const indexHi = dv.getUint32(at + 9);
  const termHi = dv.getUint32(at + 17);
  if (indexHi > MAX_SAFE_HI || termHi > MAX_SAFE_HI) return { kind: 'bad', reason: 'index or term exceeds 2^53-1', next: end };
  const index = indexHi * 0x1_0000_0000 + dv.getUint32(at + 13);
  const term = termHi * 0x1_0000_0000 + dv.getUint32(at + 21);
  return { kind: 'record', record: { type, index, term, payload: buf.subarray(at + 25, end) }, next: end };
}

function hex32(n: number): string {
  return `0x${n.toString(16).padStart(8, '0')}`;
}

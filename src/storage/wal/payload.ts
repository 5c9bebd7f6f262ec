// Payload codecs of the WAL record types that carry more than index and term (see record.ts).

import type { ConfState, HardState } from '../../raft/types.js';
import { view } from '../bytes.js';
import { decodeConfState, encodeConfState } from '../meta-store.js';
import type { SnapshotMode } from './log-model.js';

const enc = new TextEncoder();
const dec = new TextDecoder('utf-8', { fatal: true });

/** Hard state payload: has_vote u8 ‖ vote utf8 (term and commit travel in the record's term/index). */
export function encodeVote(vote: string | null): Uint8Array {
  if (vote === null) return new Uint8Array([0]);
  const v = enc.encode(vote);
  const out = new Uint8Array(1 + v.length);
  out[0] = 1;
  out.set(v, 1);
  return out;
}

export function decodeHardState(term: number, commit: number, payload: Uint8Array): HardState {
  if (payload.length < 1 || payload[0] > 1 || (payload[0] === 0 && payload.length !== 1)) throw new Error('malformed vote');
  return { term, commit, vote: payload[0] === 0 ? null : dec.decode(payload.subarray(1)) };
}

const MODE_FLAGS: Record<SnapshotMode, number> = { record: 0, reset: 1, keep: 3 };

/** Snapshot payload: flags u8 (0 record, 1 install + reset, 3 install + keep) ‖ conf state (msgpack, as in `meta`). */
export function encodeSnapshotPayload(conf: ConfState, mode: SnapshotMode): Uint8Array {
  const c = encodeConfState(conf);
  const out = new Uint8Array(1 + c.length);
  out[0] = MODE_FLAGS[mode];
  out.set(c, 1);
  return out;
}

export function decodeSnapshotPayload(payload: Uint8Array): { conf: ConfState; mode: SnapshotMode } {
  const mode = payload[0] === 0 ? 'record' : payload[0] === 1 ? 'reset' : payload[0] === 3 ? 'keep' : null;
  if (payload.length < 2 || mode === null) throw new Error('malformed snapshot payload');
  return { mode, conf: decodeConfState(payload.subarray(1), 'wal snapshot') };
}

/** Segment start payload: seq u64 ‖ compaction index u64 ‖ compaction term u64. */
export function encodeSegmentStart(seq: number, truncIndex: number, truncTerm: number): Uint8Array {
  const out = new Uint8Array(24);
  const dv = view(out);
  dv.setBigUint64(0, BigInt(seq));
  dv.setBigUint64(8, BigInt(truncIndex));
  dv.setBigUint64(16, BigInt(truncTerm));
  return out;
}

export function decodeSegmentStart(payload: Uint8Array): { seq: number; truncIndex: number; truncTerm: number } {
  if (payload.length !== 24) throw new Error('malformed segment start');
  const dv = view(payload);
  const n = (o: number): number => {
    const b = dv.getBigUint64(o);
    if (b > BigInt(Number.MAX_SAFE_INTEGER)) throw new Error('segment start value exceeds 2^53-1');
    return Number(b);
  };
  return { seq: n(0), truncIndex: n(8), truncTerm: n(16) };
}

/** Seal payload: seq u64 of the segment that follows. */
export function encodeSeq(seq: number): Uint8Array {
  const out = new Uint8Array(8);
  view(out).setBigUint64(0, BigInt(seq));
  return out;
}

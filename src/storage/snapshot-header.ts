// Snapshot stream header (SPEC SH-1, SH-3). Cleartext, all integers big-endian (C-1):
//
//   off  size  field
//   0    2     format_version u16            = 1
//   2    4     header_length u32             total header bytes, these 6 included;
//                                            bounds [HEADER_MIN_BYTES, HEADER_MAX_BYTES]
//   6    8     raft_envelope_cutover_index u64
//   14   8     sidecar_applied_index u64
//   22   8     last_included_index u64       (= the state's applied index)
//   30   8     last_included_term u64
//   38   4     conf_length u32
//   42   n     conf state, msgpack { voters: string[], learners: string[] }
//   42+n …     advisory bytes up to header_length: v1 readers ignore them (SH-3)
//
// Advisory bytes are a sequence of records tag u8 ‖ length u32 ‖ value; a reader takes the tags
// it knows and stops at the first record that does not fit (older writers put opaque bytes
// there). Tag 1 = the address book: msgpack { [peer id]: "host:port" } for the members of the
// conf state whose address the writer knew. It only helps a node that learns a member from the
// snapshot to reach it (liveness; a reader that ignores it installs the same state), so it is an
// advisory field and the format stays version 1.
//
// Version is checked before anything else (SNAPSHOT_HEADER_VERSION); a header that ends early,
// declares a length out of bounds, or whose conf state overruns it or does not decode is
// SNAPSHOT_HEADER_MALFORMED.

import { Packr } from 'msgpackr';
import type { ConfState } from '../raft/types.js';
import { view } from './bytes.js';
import { StorageError } from './errors.js';
import { decodeConfState, encodeConfState } from './meta-store.js';

export const SNAPSHOT_FORMAT_VERSION = 1;
export const HEADER_FIXED_BYTES = 42;
/** The smallest v1 header: fixed fields plus a one-byte conf state (the smallest msgpack value). */
export const HEADER_MIN_BYTES = HEADER_FIXED_BYTES + 1;
/** Upper bound on the declared header length (caps the allocation a hostile header can cause). */
export const HEADER_MAX_BYTES = 64 * 1024;

export interface SnapshotHeader {
  formatVersion: number;
  raftEnvelopeCutoverIndex: bigint;
  sidecarAppliedIndex: bigint;
  lastIndex: bigint;
  lastTerm: bigint;
  conf: ConfState;
  /** Advisory: peer id → address for members of `conf` (absent in snapshots of older writers). */
  peers?: Record<string, string>;
}

const ADVISORY_PEERS = 1;
const packr = new Packr({ useRecords: false, moreTypes: false });

function advisoryRecord(tag: number, value: Uint8Array): Uint8Array {
  const out = new Uint8Array(5 + value.length);
  out[0] = tag;
  view(out).setUint32(1, value.length);
  out.set(value, 5);
  return out;
}

/** The advisory fields this reader knows; anything it cannot parse is ignored (SH-3). */
function decodeAdvisory(b: Uint8Array): { peers?: Record<string, string> } {
  const out: { peers?: Record<string, string> } = {};
  let o = 0;
  while (o + 5 <= b.length) {
    const tag = b[o]!;
    const len = view(b).getUint32(o + 1);
    if (o + 5 + len > b.length) break;
    const value = b.subarray(o + 5, o + 5 + len);
    o += 5 + len;
    if (tag !== ADVISORY_PEERS) continue;
    try {
      const v: unknown = packr.unpack(value);
      if (typeof v !== 'object' || v === null || Array.isArray(v)) continue;
      const peers: Record<string, string> = {};
      for (const [id, addr] of Object.entries(v as Record<string, unknown>)) if (typeof addr === 'string') peers[id] = addr;
      out.peers = peers;
    } catch {
      // advisory: an undecodable address book is ignored
    }
  }
  return out;
}

export function encodeSnapshotHeader(h: Omit<SnapshotHeader, 'formatVersion'>, extraAdvisory: Uint8Array = new Uint8Array(0)): Uint8Array {
  const conf = encodeConfState(h.conf);
  const peers = h.peers === undefined ? new Uint8Array(0) : advisoryRecord(ADVISORY_PEERS, packr.pack({ ...h.peers }));
  const advisory = new Uint8Array(peers.length + extraAdvisory.length);
  advisory.set(peers, 0);
  advisory.set(extraAdvisory, peers.length);
  const len = HEADER_FIXED_BYTES + conf.length + advisory.length;
  if (len > HEADER_MAX_BYTES) throw new RangeError(`snapshot header of ${len} bytes exceeds ${HEADER_MAX_BYTES}`);
  const out = new Uint8Array(len);
  const dv = view(out);
  dv.setUint16(0, SNAPSHOT_FORMAT_VERSION);
  dv.setUint32(2, len);
  dv.setBigUint64(6, h.raftEnvelopeCutoverIndex);
  dv.setBigUint64(14, h.sidecarAppliedIndex);
  dv.setBigUint64(22, h.lastIndex);
  dv.setBigUint64(30, h.lastTerm);
  dv.setUint32(38, conf.length);
  out.set(conf, HEADER_FIXED_BYTES);
  out.set(advisory, HEADER_FIXED_BYTES + conf.length);
  return out;
}

function malformed(msg: string, cause?: unknown): StorageError {
  return new StorageError('SNAPSHOT_HEADER_MALFORMED', `snapshot header: ${msg}`, cause === undefined ? {} : { cause });
}

/** Checks the 6-byte prefix; returns the declared header length. */
export function checkHeaderPrefix(prefix: Uint8Array): number {
  if (prefix.length < 2) throw malformed(`truncated (${prefix.length} bytes)`);
  const dv = view(prefix);
  const version = dv.getUint16(0);
  if (version !== SNAPSHOT_FORMAT_VERSION) {
    throw new StorageError('SNAPSHOT_HEADER_VERSION', `snapshot format_version ${version} (this node reads ${SNAPSHOT_FORMAT_VERSION})`);
  }
  if (prefix.length < 6) throw malformed(`truncated (${prefix.length} bytes)`);
  const len = dv.getUint32(2);
  if (len < HEADER_MIN_BYTES || len > HEADER_MAX_BYTES) {
    throw malformed(`declared length ${len} outside [${HEADER_MIN_BYTES}, ${HEADER_MAX_BYTES}]`);
  }
  return len;
}

/** Decodes a complete header (exactly the declared length). */
export function decodeSnapshotHeader(b: Uint8Array): SnapshotHeader {
  const len = checkHeaderPrefix(b.subarray(0, 6));
  if (b.length < len) throw malformed(`truncated (${b.length} of ${len} bytes)`);
  const dv = view(b);
  const confLen = dv.getUint32(38);
  if (HEADER_FIXED_BYTES + confLen > len || confLen === 0) throw malformed(`conf state of ${confLen} bytes does not fit`);
  let conf: ConfState;
  try {
    conf = decodeConfState(b.subarray(HEADER_FIXED_BYTES, HEADER_FIXED_BYTES + confLen), 'snapshot header conf');
  } catch (e) {
    throw malformed('conf state does not decode', e);
  }
  const header: SnapshotHeader = {
    formatVersion: SNAPSHOT_FORMAT_VERSION,
    raftEnvelopeCutoverIndex: dv.getBigUint64(6),
    sidecarAppliedIndex: dv.getBigUint64(14),
    lastIndex: dv.getBigUint64(22),
    lastTerm: dv.getBigUint64(30),
    conf,
  };
  const { peers } = decodeAdvisory(b.subarray(HEADER_FIXED_BYTES + confLen, len));
  if (peers !== undefined) header.peers = peers;
  return header;
}

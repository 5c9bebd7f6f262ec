// Snapshot stream header (SPEC SH-1, SH-3). Cleartext, all integers big-endian (C-1):
//
//   off  size  field
//   0    2     format_version u16            = 2 (written); 1 and 2 are read
//   2    4     header_length u32             total header bytes, these 6 included;
//                                            bounds [HEADER_MIN_BYTES, HEADER_MAX_BYTES]
//   6    8     raft_envelope_cutover_index u64
//   14   8     sidecar_applied_index u64
//   22   8     last_included_index u64       (= the state's applied index)
//   30   8     last_included_term u64
//   38   4     conf_length u32
//   42   n     conf state, msgpack { voters: string[], learners: string[] }
//   42+n 4     encryption_state_length u32   version 2 only (a required section)
//   46+n m     encryption state (below); m = 0: the cluster was not bootstrapped at the snapshot
//   …    …     advisory bytes up to header_length: readers ignore them (SH-3)
//
// Version 2 (issue 11 item 7) adds the replicated encryption state as of the snapshot's applied
// index: the wrapped DEKs with their purposes, the active ids, the storage-envelope flag and
// cutover (the raft cutover is the fixed field at offset 6):
//   flags u8 (bit 0 = storage_envelope_active; other bits must be 0) ‖ storage_cutover u64 ‖
//   active_storage u32 ‖ active_raft u32 ‖ key_count u32 ‖
//   key_count × ( key_id u32 ‖ purpose u8 (1 storage, 2 raft) ‖ wrapped_len u16 ‖ wrapped )
// A joining node rebuilds its sidecar from it (no resync-sidecar). It affects correctness — a
// reader that skipped it would install values under DEKs it does not know and store new values
// in cleartext — so it cannot be an advisory v1 field (SH-3): it is a required section of a new
// format_version. A v1 reader refuses a v2 stream with SNAPSHOT_HEADER_VERSION (fail closed);
// this reader still accepts v1 streams, which carry no encryption state (`encryption: undefined`:
// the node then falls back to SH-6 and refuses a snapshot its sidecar is behind).
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

/** The version this node writes. */
export const SNAPSHOT_FORMAT_VERSION = 2;
/** Versions this node reads (v1: before the encryption state section). */
export const SNAPSHOT_READ_VERSIONS: readonly number[] = [1, 2];
export const HEADER_FIXED_BYTES = 42;
/** The smallest header: fixed fields plus a one-byte conf state (the smallest msgpack value). */
export const HEADER_MIN_BYTES = HEADER_FIXED_BYTES + 1;
/** Upper bound on the declared header length (caps the allocation a hostile header can cause). */
export const HEADER_MAX_BYTES = 64 * 1024;

/** One wrapped DEK of the replicated encryption state (purpose as on the wire: 1 storage, 2 raft). */
export interface SnapshotKey {
  keyId: number;
  purpose: 1 | 2;
  wrapped: Uint8Array;
}

/** The replicated encryption state as of the snapshot's applied index (v2 section). */
export interface SnapshotEncryptionState {
  storageEnvelopeActive: boolean;
  storageEnvelopeCutoverIndex: bigint;
  activeStorage: number;
  activeRaft: number;
  /** Ascending key_id. */
  keys: SnapshotKey[];
}

export interface SnapshotHeader {
  formatVersion: number;
  raftEnvelopeCutoverIndex: bigint;
  sidecarAppliedIndex: bigint;
  lastIndex: bigint;
  lastTerm: bigint;
  conf: ConfState;
  /** Advisory: peer id → address for members of `conf` (absent in snapshots of older writers). */
  peers?: Record<string, string>;
  /**
   * v2: the encryption state (null: not bootstrapped at the snapshot). Absent (undefined) only
   * in a v1 stream, which does not say.
   */
  encryption?: SnapshotEncryptionState | null;
}

const MAX_WRAPPED_BYTES = 1024;

/** The v2 encryption section (also the `meta` copy of the state, SH-1). Empty for null. */
export function encodeEncryptionState(s: SnapshotEncryptionState | null): Uint8Array {
  if (s === null) return new Uint8Array(0);
  const keys = [...s.keys].sort((a, b) => a.keyId - b.keyId);
  let len = 1 + 8 + 4 + 4 + 4;
  for (const k of keys) len += 4 + 1 + 2 + k.wrapped.length;
  const out = new Uint8Array(len);
  const dv = view(out);
  out[0] = s.storageEnvelopeActive ? 1 : 0;
  dv.setBigUint64(1, s.storageEnvelopeCutoverIndex);
  dv.setUint32(9, s.activeStorage);
  dv.setUint32(13, s.activeRaft);
  dv.setUint32(17, keys.length);
  let o = 21;
  for (const k of keys) {
    if (k.wrapped.length === 0 || k.wrapped.length > MAX_WRAPPED_BYTES) throw new RangeError(`wrapped DEK of key_id ${k.keyId}: ${k.wrapped.length} bytes`);
    dv.setUint32(o, k.keyId);
    out[o + 4] = k.purpose;
    dv.setUint16(o + 5, k.wrapped.length);
    out.set(k.wrapped, o + 7);
    o += 7 + k.wrapped.length;
  }
  return out;
}

/** Decodes the section; anything inconsistent is SNAPSHOT_HEADER_MALFORMED (fail closed). */
export function decodeEncryptionState(b: Uint8Array): SnapshotEncryptionState | null {
  if (b.length === 0) return null;
  if (b.length < 21) throw malformed(`encryption state of ${b.length} bytes`);
  const dv = view(b);
  if (b[0]! > 1) throw malformed(`encryption state flags ${b[0]}`);
  const count = dv.getUint32(17);
  const keys: SnapshotKey[] = [];
  let o = 21;
  for (let i = 0; i < count; i++) {
    if (o + 7 > b.length) throw malformed('encryption state: truncated key list');
    const keyId = dv.getUint32(o);
    const purpose = b[o + 4]!;
    const wl = dv.getUint16(o + 5);
    if (keyId === 0 || (purpose !== 1 && purpose !== 2) || wl === 0 || wl > MAX_WRAPPED_BYTES || o + 7 + wl > b.length) {
      throw malformed(`encryption state: key ${i} (key_id ${keyId}, purpose ${purpose}, ${wl} bytes) is invalid`);
    }
    if (keys.length > 0 && keys[keys.length - 1]!.keyId >= keyId) throw malformed('encryption state: key ids not ascending');
    keys.push({ keyId, purpose, wrapped: b.slice(o + 7, o + 7 + wl) });
    o += 7 + wl;
  }
  if (o !== b.length) throw malformed('encryption state: trailing bytes');
  const s: SnapshotEncryptionState = {
    storageEnvelopeActive: b[0] === 1,
    storageEnvelopeCutoverIndex: dv.getBigUint64(1),
    activeStorage: dv.getUint32(9),
    activeRaft: dv.getUint32(13),
    keys,
  };
  for (const [id, want] of [
    [s.activeStorage, 1],
    [s.activeRaft, 2],
  ] as const) {
    if (id !== 0 && keys.find((k) => k.keyId === id)?.purpose !== want) throw malformed(`encryption state: active key_id ${id} missing or of the other purpose`);
  }
  return s;
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
  const encState = encodeEncryptionState(h.encryption ?? null);
  const len = HEADER_FIXED_BYTES + conf.length + 4 + encState.length + advisory.length;
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
  dv.setUint32(HEADER_FIXED_BYTES + conf.length, encState.length);
  out.set(encState, HEADER_FIXED_BYTES + conf.length + 4);
  out.set(advisory, HEADER_FIXED_BYTES + conf.length + 4 + encState.length);
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
  if (!SNAPSHOT_READ_VERSIONS.includes(version)) {
    throw new StorageError('SNAPSHOT_HEADER_VERSION', `snapshot format_version ${version} (this node reads ${SNAPSHOT_READ_VERSIONS.join(', ')})`);
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
  const version = dv.getUint16(0);
  let advisoryStart = HEADER_FIXED_BYTES + confLen;
  let encryption: SnapshotEncryptionState | null | undefined;
  if (version >= 2) {
    // The required v2 section: its length field must fit, and so must the section.
    if (advisoryStart + 4 > len) throw malformed('missing the encryption state section');
    const encLen = dv.getUint32(advisoryStart);
    if (advisoryStart + 4 + encLen > len) throw malformed(`encryption state of ${encLen} bytes does not fit`);
    encryption = decodeEncryptionState(b.subarray(advisoryStart + 4, advisoryStart + 4 + encLen));
    advisoryStart += 4 + encLen;
  }
  const header: SnapshotHeader = {
    formatVersion: version,
    raftEnvelopeCutoverIndex: dv.getBigUint64(6),
    sidecarAppliedIndex: dv.getBigUint64(14),
    lastIndex: dv.getBigUint64(22),
    lastTerm: dv.getBigUint64(30),
    conf,
  };
  if (encryption !== undefined) header.encryption = encryption;
  const { peers } = decodeAdvisory(b.subarray(advisoryStart, len));
  if (peers !== undefined) header.peers = peers;
  return header;
}

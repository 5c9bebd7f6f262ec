// The proposal envelope (SPEC PE-1, PE-2): `0x01 ‖ id (u64 BE) ‖ payload`, the `entry.data` of
// every normal Raft entry the proposer submits. After the raft cutover the payload is a raft
// envelope (PE-5); the 9-byte header stays cleartext so responses can be routed by id (PE-4).

import { CryptoError, EnvelopeError } from '../../errors.js';
import { bytesArg } from '../bytes.js';

export const PROPOSAL_VERSION = 0x01;
export const PROPOSAL_HEADER_SIZE = 9;
/** Leading bytes reserved for engine-internal contexts; they never decode as proposals (PE-1). */
export const READ_INDEX_CONTEXT = 0x02;
export const CONF_CHANGE_CONTEXT = 0x03;

const U64_MAX = (1n << 64n) - 1n;

export interface DecodedProposal {
  id: bigint;
  /** A view into the input (no copy): copy it if the input buffer is reused (e.g. an LMDB read). */
  payload: Uint8Array;
}

/** Writes `0x01 ‖ id` (9 bytes) at `off`. */
export function writeProposalHeader(out: Uint8Array, off: number, id: bigint): void {
  if (typeof id !== 'bigint') throw new CryptoError('BAD_INPUT_TYPE', `proposal id must be a bigint, got ${typeof id}`);
  out = bytesArg(out, 'proposal buffer');
  if (id < 0n || id > U64_MAX) throw new RangeError(`proposal id out of u64 range: ${id}`);
  out[off] = PROPOSAL_VERSION;
  // Two u32 halves rather than a DataView (one per proposal on the leader's hot path).
  const hi = Number(id >> 32n);
  const lo = Number(id & 0xffffffffn);
  for (let k = 0; k < 4; k++) {
    out[off + 1 + k] = (hi >>> (24 - 8 * k)) & 0xff;
    out[off + 5 + k] = (lo >>> (24 - 8 * k)) & 0xff;
  }
}

/** `0x01 ‖ id ‖ payload` in a fresh buffer. */
export function encodeProposal(id: bigint, payload: Uint8Array): Uint8Array {
  payload = bytesArg(payload, 'proposal payload');
  const out = new Uint8Array(PROPOSAL_HEADER_SIZE + payload.length);
  writeProposalHeader(out, 0, id);
  out.set(payload, PROPOSAL_HEADER_SIZE);
  return out;
}

/** True when `data` decodes as a proposal (PE-2: length ≥ 9 and data[0] == 0x01). */
export function isProposal(data: Uint8Array): boolean {
  data = bytesArg(data, 'entry data');
  return data.length >= PROPOSAL_HEADER_SIZE && data[0] === PROPOSAL_VERSION;
}

/**
 * Decodes a proposal envelope (PE-2). Anything else — too short, or a leading byte other than
 * 0x01, including the reserved 0x02/0x03 contexts — throws PROPOSAL_MALFORMED; the apply path
 * turns a non-empty undecodable entry into an ENTRY_MALFORMED HALT.
 */
export function decodeProposal(data: Uint8Array): DecodedProposal {
  data = checkProposal(data);
  // The u64 id from two u32 halves (a DataView per entry costs an allocation on this hot path).
  const hi = ((data[1]! << 24) | (data[2]! << 16) | (data[3]! << 8) | data[4]!) >>> 0;
  const lo = ((data[5]! << 24) | (data[6]! << 16) | (data[7]! << 8) | data[8]!) >>> 0;
  return { id: hi === 0 ? BigInt(lo) : (BigInt(hi) << 32n) | BigInt(lo), payload: data.subarray(PROPOSAL_HEADER_SIZE) };
}

/** The payload of a proposal envelope (PE-2 checks as decodeProposal), without decoding the id. */
export function proposalPayload(data: Uint8Array): Uint8Array {
  return checkProposal(data).subarray(PROPOSAL_HEADER_SIZE);
}

function checkProposal(dataIn: Uint8Array): Uint8Array {
  const data = bytesArg(dataIn, 'entry data');
  if (data.length < PROPOSAL_HEADER_SIZE) {
    throw new EnvelopeError(
      'PROPOSAL_MALFORMED',
      `proposal envelope of ${data.length} bytes is shorter than the ${PROPOSAL_HEADER_SIZE}-byte header`,
    );
  }
  if (data[0] !== PROPOSAL_VERSION) {
    const b = data[0]!;
    const what = b === READ_INDEX_CONTEXT ? ' (read-index context)' : b === CONF_CHANGE_CONTEXT ? ' (conf-change context)' : '';
    throw new EnvelopeError(
      'PROPOSAL_MALFORMED',
      `entry data starts with 0x${b.toString(16).padStart(2, '0')}${what}, not a proposal envelope`,
    );
  }
  return data;
}

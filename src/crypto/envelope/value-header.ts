// The 9-byte value header stored in front of every `kv` value (SPEC SE-4).
//
//   byte 0   flags: bit 0 tombstone; bits 1–2 encryption_state (00 cleartext, 01 encrypted,
//            10/11 reserved); bits 3–7 reserved, must be 0
//   1..8     expireAt, u64 big-endian, ms since the Unix epoch; 0 = no expiry

import { EnvelopeError } from '../../errors.js';

export const VALUE_HEADER_SIZE = 9;

export const STATE_CLEARTEXT = 0b00;
export const STATE_ENCRYPTED = 0b01;
export type EncryptionState = typeof STATE_CLEARTEXT | typeof STATE_ENCRYPTED;

const TOMBSTONE_BIT = 0b0000_0001;
const STATE_MASK = 0b0000_0110;
const STATE_SHIFT = 1;
const RESERVED_MASK = 0b1111_1000;

export interface ValueHeader {
  tombstone: boolean;
  state: EncryptionState;
  /** ms since the Unix epoch; 0n = no expiry (C-2: u64 as bigint). */
  expireAt: bigint;
}

const U64_MAX = (1n << 64n) - 1n;

export function encodeValueHeader(h: ValueHeader, out = new Uint8Array(VALUE_HEADER_SIZE), off = 0): Uint8Array {
  if (h.expireAt < 0n || h.expireAt > U64_MAX) throw new RangeError(`expireAt out of u64 range: ${h.expireAt}`);
  out[off] = (h.tombstone ? TOMBSTONE_BIT : 0) | (h.state << STATE_SHIFT);
  // Two u32 halves rather than a DataView: this runs once per stored value.
  const e = h.expireAt;
  const hi = e === 0n ? 0 : Number(e >> 32n);
  const lo = e === 0n ? 0 : Number(e & 0xffffffffn);
  for (let k = 0; k < 4; k++) {
    out[off + 1 + k] = (hi >>> (24 - 8 * k)) & 0xff;
    out[off + 5 + k] = (lo >>> (24 - 8 * k)) & 0xff;
  }
  return out;
}

/** Decodes the header at the start of a stored record; rejects reserved states and bits (SE-4). */
export function decodeValueHeader(record: Uint8Array): ValueHeader {
  if (record.length < VALUE_HEADER_SIZE) {
    throw new EnvelopeError('ENVELOPE_SHORT', `value record of ${record.length} bytes is shorter than the 9-byte header`);
  }
  const flags = record[0]!;
  const state = (flags & STATE_MASK) >> STATE_SHIFT;
  if ((flags & RESERVED_MASK) !== 0 || state > STATE_ENCRYPTED) {
    throw new EnvelopeError(
      'ENCRYPTED_VALUE_RESERVED_STATE',
      `value header flags 0x${flags.toString(16).padStart(2, '0')} use a reserved state or bit`,
    );
  }
  return {
    tombstone: (flags & TOMBSTONE_BIT) !== 0,
    state: state as EncryptionState,
    expireAt: new DataView(record.buffer, record.byteOffset + 1, 8).getBigUint64(0, false),
  };
}

// The storage-sealing hook between the state machine and the `kv` table (SPEC SE-5, SE-6).
//
// A stored record is `value header (9 bytes, SE-4) ‖ body`. The state machine decides the
// logical header (tombstone, expireAt); the codec decides the encryption state and the body.
// The default codec stores cleartext; the encryption issue plugs in a sealing codec.

import {
  decodeValueHeader,
  encodeValueHeader,
  STATE_CLEARTEXT,
  STATE_ENCRYPTED,
  VALUE_HEADER_SIZE,
  type ValueHeader,
} from '../../crypto/envelope/value-header.js';
import { CryptoError } from '../../errors.js';
import { allocBytesUnsafe } from '../../util/alloc-bytes.js';

export type { ValueHeader } from '../../crypto/envelope/value-header.js';

/** What the state machine wants stored: the codec fills in `state`. */
export interface LogicalHeader {
  tombstone: boolean;
  /** ms since the Unix epoch; 0n = no expiry. */
  expireAt: bigint;
}

export interface DecodedRecord {
  /** The header as stored (its `state` says how the body was decoded). */
  header: ValueHeader;
  /** The user value; a fresh buffer that does not alias the record. */
  value: Uint8Array;
}

export interface ValueCodec {
  /**
   * Seals (or not) `value` for `key`. Returns the header to store (with its `state`) and the
   * body. Throws a typed error when sealing fails; inside apply that HALTs (SE-6).
   */
  encodeForStore(key: Uint8Array, header: LogicalHeader, value: Uint8Array): { header: ValueHeader; body: Uint8Array };
  /**
   * Decodes a stored record, dispatching on the header's state bits only (SE-5), and
   * authenticates it before returning (SE-8). Throws a typed error, never returns raw bytes
   * of an encrypted record.
   */
  decodeFromStore(key: Uint8Array, record: Uint8Array): DecodedRecord;
  /**
   * Optional: the whole record (`header ‖ body`) for a write inside apply. A codec that seals a
   * batch at once returns a record whose body it completes in `finishBatch`; until then
   * `decodeFromStore` must read that very record (read-your-writes inside the batch).
   */
  encodeRecord?(key: Uint8Array, header: LogicalHeader, value: Uint8Array): Uint8Array;
  /** Optional: completes every record `encodeRecord` returned since the last call (one pool round trip). */
  finishBatch?(): Promise<void>;
  /**
   * Optional, for reads: opens off the main thread the records worth a worker round trip (large
   * values, or many at once); `decodeFromStore` of those very record objects then returns the
   * result without opening them again. Anything it could not open is left to `decodeFromStore`,
   * which throws that record's typed error.
   */
  preopen?(items: readonly { key: Uint8Array; record: Uint8Array }[]): Promise<void>;
}

/** `header ‖ body` as one buffer, the bytes the `kv` table holds. */
export function joinRecord(header: ValueHeader, body: Uint8Array): Uint8Array {
  // Pooled (issue 13: one per stored value on every replica); every byte is written below.
  const out = allocBytesUnsafe(VALUE_HEADER_SIZE + body.length);
  encodeValueHeader(header, out, 0);
  out.set(body, VALUE_HEADER_SIZE);
  return out;
}

/**
 * The default codec: writes state 0b00 records; reads state 0b00 and refuses state 0b01 with
 * `NO_CIPHER` (SE-6: the raw envelope is never returned). Reserved states throw from the
 * header decoder (`ENCRYPTED_VALUE_RESERVED_STATE`).
 */
export class CleartextValueCodec implements ValueCodec {
  encodeForStore(_key: Uint8Array, header: LogicalHeader, value: Uint8Array): { header: ValueHeader; body: Uint8Array } {
    return { header: { tombstone: header.tombstone, state: STATE_CLEARTEXT, expireAt: header.expireAt }, body: value };
  }

  decodeFromStore(_key: Uint8Array, record: Uint8Array): DecodedRecord {
    const header = decodeValueHeader(record);
    if (header.state === STATE_ENCRYPTED) {
      throw new CryptoError('NO_CIPHER', 'stored value is encrypted (state 0b01) and no cipher is wired');
    }
    return { header, value: record.slice(VALUE_HEADER_SIZE) };
  }
}

export const cleartextValueCodec: ValueCodec = new CleartextValueCodec();

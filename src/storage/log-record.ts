// Binary record of one Raft log entry in the `log` table.
//
//   key   = index u64 BE (8 bytes) — big-endian so LMDB's byte order is index order.
//   value = term u64 BE (8) ‖ type u8 (1) ‖ data (n) ‖ crc u32 BE (4)
//   crc   = CRC-32C over  key ‖ value[0 .. 9+n)
//
// The CRC covers every byte stored before it *and* the key: a record that ends up under the
// wrong index (a torn page, a misdirected write) fails the check just like a flipped byte.
// A record shorter than 13 bytes, a CRC mismatch, an unknown type or a term ≥ 2^53 is
// LOG_CORRUPT with the index; a damaged record is never skipped or returned.

import { LogCorruptError } from '../errors.js';
import { type Entry, EntryType } from '../raft/types.js';
import { view } from './bytes.js';
import { crc32c } from './crc32c.js';

export const LOG_RECORD_OVERHEAD = 13;

export function logKey(index: number): Uint8Array {
  const k = new Uint8Array(8);
  view(k).setBigUint64(0, BigInt(index));
  return k;
}

export function logKeyIndex(key: Uint8Array): number {
  if (key.length !== 8) throw new LogCorruptError(-1n, `log key of ${key.length} bytes`);
  const b = view(key).getBigUint64(0);
  if (b > BigInt(Number.MAX_SAFE_INTEGER)) throw new LogCorruptError(b, 'index exceeds 2^53-1');
  return Number(b);
}

export function encodeLogRecord(e: Entry): Uint8Array {
  const n = e.data.length;
  const out = new Uint8Array(LOG_RECORD_OVERHEAD + n);
  const dv = view(out);
  dv.setBigUint64(0, BigInt(e.term));
  out[8] = e.type;
  out.set(e.data, 9);
  dv.setUint32(9 + n, crc32c(logKey(e.index), out.subarray(0, 9 + n)));
  return out;
}

/** Decodes and checks one record; `data` is a copy (the input may be a reused LMDB buffer). */
export function decodeLogRecord(index: number, value: Uint8Array): Entry {
  const big = BigInt(index);
  if (value.length < LOG_RECORD_OVERHEAD) {
    throw new LogCorruptError(big, `record of ${value.length} bytes is shorter than ${LOG_RECORD_OVERHEAD} (torn)`);
  }
  const dv = view(value);
  const body = value.length - 4;
  const stored = dv.getUint32(body);
  const actual = crc32c(logKey(index), value.subarray(0, body));
  if (stored !== actual) {
    throw new LogCorruptError(big, `CRC-32C mismatch (stored ${hex32(stored)}, computed ${hex32(actual)})`);
  }
  const term = dv.getBigUint64(0);
  if (term > BigInt(Number.MAX_SAFE_INTEGER)) throw new LogCorruptError(big, `term ${term} exceeds 2^53-1`);
  const type = value[8];
  if (type !== EntryType.Normal && type !== EntryType.ConfChange) {
    throw new LogCorruptError(big, `unknown entry type ${type}`);
  }
  return { index, term: Number(term), type, data: new Uint8Array(value.subarray(9, body)) };
}

function hex32(n: number): string {
  return `0x${n.toString(16).padStart(8, '0')}`;
}

// Raft messages on the peer wire: the entries of an append travel as ONE binary block instead of
// an array of msgpack maps (issue 13: batch-level encoding on the transport). msgpack then packs
// and unpacks a single byte string per append, and the receiver's entries are views into it.
//
//   block = entry*        entry = index u64 ‖ term u64 ‖ type u8 ‖ len u32 ‖ data[len]
//
// Integers big-endian (C-1); index and term are < 2^53 (raft/types.ts), written as two u32 halves
// so no BigInt runs on the hot path. Every other field of the message is sent as it is.

import { type Entry, EntryType, type Message } from '../raft/index.js';

/** Where the block travels in the message object (the `entries` field is absent then). */
export const ENTRY_BLOCK_FIELD = 'eb';

const ENTRY_HEAD = 21;
const MAX_SAFE_HI = 0x1f_ffff;
const ENTRY_TYPES = new Set<number>(Object.values(EntryType).filter((v): v is number => typeof v === 'number'));

/** The message as it goes to the transport: entries, if any, packed into one block. */
export function toWire<M extends Message>(m: M): object {
  const entries = m.entries;
  if (entries === undefined || entries.length === 0) return m;
  let size = 0;
  for (const e of entries) size += ENTRY_HEAD + e.data.length;
  const block = new Uint8Array(size);
  const dv = new DataView(block.buffer, block.byteOffset, block.byteLength);
  let at = 0;
  for (const e of entries) {
    dv.setUint32(at, Math.floor(e.index / 0x1_0000_0000));
    dv.setUint32(at + 4, e.index >>> 0);
    dv.setUint32(at + 8, Math.floor(e.term / 0x1_0000_0000));
    dv.setUint32(at + 12, e.term >>> 0);
    block[at + 16] = e.type;
    dv.setUint32(at + 17, e.data.length);
    block.set(e.data, at + ENTRY_HEAD);
    at += ENTRY_HEAD + e.data.length;
  }
  const { entries: _omit, ...rest } = m;
  return { ...rest, [ENTRY_BLOCK_FIELD]: block };
}

/**
 * The received message with its entries decoded (views into the block), or null when the block
 * is malformed (the caller drops the message: a peer's garbage never reaches the Raft core).
 * Messages without a block are returned unchanged.
 */
export function fromWire(m: Message & { [ENTRY_BLOCK_FIELD]?: unknown }): Message | null {
  const block = m[ENTRY_BLOCK_FIELD];
  if (block === undefined) return m;
  if (!(block instanceof Uint8Array) || m.entries !== undefined) return null;
  const entries = decodeEntryBlock(block);
  if (entries === null) return null;
  const { [ENTRY_BLOCK_FIELD]: _omit, ...rest } = m;
  return { ...rest, entries };
}

/** Entries of a block, or null when it does not parse exactly to its end. */
export function decodeEntryBlock(block: Uint8Array): Entry[] | null {
  const dv = new DataView(block.buffer, block.byteOffset, block.byteLength);
  const out: Entry[] = [];
  let at = 0;
  while (at < block.length) {
    if (at + ENTRY_HEAD > block.length) return null;
    const indexHi = dv.getUint32(at);
    const termHi = dv.getUint32(at + 8);
    if (indexHi > MAX_SAFE_HI || termHi > MAX_SAFE_HI) return null;
    const type = block[at + 16];
    if (!ENTRY_TYPES.has(type)) return null;
    const len = dv.getUint32(at + 17);
    const end = at + ENTRY_HEAD + len;
    if (end > block.length) return null;
    out.push({
      index: indexHi * 0x1_0000_0000 + dv.getUint32(at + 4),
      term: termHi * 0x1_0000_0000 + dv.getUint32(at + 12),
      type: type as EntryType,
      data: block.subarray(at + ENTRY_HEAD, end),
    });
    at = end;
  }
  return out;
}

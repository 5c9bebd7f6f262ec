// Raft messages on the peer wire (issue 13): an append's entries travel as one binary block, and
// the receiver gets back exactly the entries that were sent; a malformed block is refused.

import { describe, expect, it } from 'vitest';
import { decodeEntryBlock, ENTRY_BLOCK_FIELD, fromWire, toWire } from '../../src/node/raft-wire.js';
import { type Entry, EntryType, type Message, MessageType } from '../../src/raft/index.js';
import { decodePayload, encodeFrame } from '../../src/transport/frame-codec.js';

function app(entries: Entry[]): Message {
  return { type: MessageType.App, from: 'n1', to: 'n2', term: 7, index: 41, logTerm: 6, commit: 40, entries };
}

/** Through the real frame codec, as the transport carries it. */
function overTheWire(m: Message): unknown {
  const [, payload] = encodeFrame([0, toWire(m)]);
  return (decodePayload(payload) as unknown[])[1];
}

describe('raft wire: entry block', () => {
  it('an append round-trips through the frame codec: indexes, terms, types and data', () => {
    const entries: Entry[] = [
      { index: 42, term: 6, type: EntryType.Normal, data: new Uint8Array(0) },
      { index: 43, term: 7, type: EntryType.ConfChange, data: new Uint8Array([1, 2, 3]) },
      { index: 2 ** 40 + 5, term: 2 ** 35 + 1, type: EntryType.Normal, data: new Uint8Array(300).fill(0xab) },
    ];
    const got = fromWire(overTheWire(app(entries)) as Message);
    expect(got).not.toBeNull();
    expect(got!.entries!.map((e) => ({ ...e, data: [...e.data] }))).toEqual(entries.map((e) => ({ ...e, data: [...e.data] })));
    expect({ ...got!, entries: undefined }).toEqual({ ...app(entries), entries: undefined });
    expect(ENTRY_BLOCK_FIELD in got!).toBe(false);
  });

  it('messages without entries are sent and received unchanged', () => {
    const hb: Message = { type: MessageType.Heartbeat, from: 'n1', to: 'n2', term: 3, commit: 9, context: new Uint8Array([5]) };
    expect(toWire(hb)).toBe(hb);
    const empty = app([]);
    expect(toWire(empty)).toBe(empty);
    expect(fromWire(overTheWire(hb) as Message)).toEqual(hb);
  });

  it('a truncated, over-long or mistyped block is refused (the message is dropped)', () => {
    const wire = toWire(app([{ index: 42, term: 6, type: EntryType.Normal, data: new Uint8Array([9, 9]) }])) as Record<string, unknown>;
    const block = wire[ENTRY_BLOCK_FIELD] as Uint8Array;
    expect(decodeEntryBlock(block)).toHaveLength(1);
    expect(decodeEntryBlock(block.subarray(0, block.length - 1))).toBeNull();
    expect(decodeEntryBlock(block.subarray(0, 10))).toBeNull();
    const badType = block.slice();
    badType[16] = 9;
    expect(decodeEntryBlock(badType)).toBeNull();
    const unsafeIndex = block.slice();
    unsafeIndex[0] = 0xff;
    expect(decodeEntryBlock(unsafeIndex)).toBeNull();
    expect(fromWire({ ...(wire as object), [ENTRY_BLOCK_FIELD]: 'nope' } as unknown as Message)).toBeNull();
    expect(fromWire({ ...(wire as object), entries: [] } as unknown as Message)).toBeNull();
  });
});

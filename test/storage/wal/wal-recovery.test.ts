// Torn tails are truncated to the last valid record; damage anywhere else is LOG_CORRUPT.
import { closeSync, existsSync, openSync, readFileSync, readSync, renameSync, truncateSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadCrc32c } from '../../../src/storage/crc32c.js';
import { RecordType, WalCorruptError, WalLogStorage, type WalOptions, frameSize, segmentName, writeRecord } from '../../../src/storage/wal/index.js';
import { entry, range, tempDirs, text } from '../helpers.js';

const dirs = tempDirs();
const open: WalLogStorage[] = [];
async function wal(dir: string, opts: WalOptions = {}): Promise<WalLogStorage> {
  const w = await WalLogStorage.open(dir, { preallocate: 'truncate', segmentBytes: 65536, ...opts });
  open.push(w);
  return w;
}
afterEach(async () => {
  for (const w of open.splice(0)) await w.close().catch(() => undefined);
  dirs.cleanup();
});

function writeBytes(path: string, at: number, b: Uint8Array): void {
  const fd = openSync(path, 'r+');
  writeSync(fd, b, 0, b.length, at);
  closeSync(fd);
}
function flipByte(path: string, at: number): void {
  const fd = openSync(path, 'r+');
  const b = Buffer.alloc(1);
  readSync(fd, b, 0, 1, at);
  b[0] ^= 0x40;
  writeSync(fd, b, 0, 1, at);
  closeSync(fd);
}
function isZero(path: string, from: number, to: number): boolean {
  const b = readFileSync(path).subarray(from, to);
  return b.every((x) => x === 0);
}
async function expectCorrupt(p: Promise<unknown>, match: { segment?: string; index?: bigint }): Promise<WalCorruptError> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(WalCorruptError);
  const c = err as WalCorruptError;
  expect(c.code).toBe('LOG_CORRUPT');
  if (match.segment !== undefined) expect(c.segment).toBe(match.segment);
  if (match.index !== undefined) expect(c.index).toBe(match.index);
  return c;
}

describe('WAL recovery', () => {
  it('WAL-R1 garbage appended after the last record is truncated, and the WAL is appendable again', async () => {
    const dir = dirs.make();
    let w = await wal(dir);
    await w.persist({ entries: range(1, 10, 1), hardState: { term: 1, vote: 'a', commit: 3 } });
    const { segment, offset } = w.position();
    await w.close();
    const garbage = Buffer.from('this is not a record, just bytes a crash left behind ....');
    writeBytes(segment, offset, garbage);
    w = await wal(dir);
    expect([w.lastIndex(), w.hardState().commit]).toEqual([10, 3]);
    expect(w.position().offset).toBe(offset);
    expect(isZero(segment, offset, offset + garbage.length)).toBe(true);
    await w.persist({ entries: [entry(11, 1)] });
    await w.close();
    w = await wal(dir);
    expect(w.lastIndex()).toBe(11);
    expect(text(w.entries(11, 12, 0)[0].data)).toBe('e11t1');
  });

  it('WAL-R2 a flipped byte inside the last record drops that record and keeps the earlier ones', async () => {
    const dir = dirs.make();
    let w = await wal(dir);
    await w.persist({ entries: range(1, 5, 1) });
    const before = w.position().offset;
    await w.persist({ entries: [entry(6, 1, 'the last entry')] });
    const { segment } = w.position();
    await w.close();
    flipByte(segment, before + 30);
    w = await wal(dir);
    expect(w.lastIndex()).toBe(5);
    expect(w.entries(1, 6, 1 << 20).map((e) => text(e.data))).toEqual(['e1t1', 'e2t1', 'e3t1', 'e4t1', 'e5t1']);
    await w.persist({ entries: [entry(6, 2)] });
    await w.close();
    w = await wal(dir);
    expect([w.lastIndex(), w.term(6)]).toEqual([6, 2]);
  });

  it('WAL-R3 a flipped byte in an earlier (sealed) segment is LOG_CORRUPT naming the segment, offset and index', async () => {
    const dir = dirs.make();
    const w = await wal(dir, { segmentBytes: 4096 });
    for (let i = 1; i <= 300; i += 10) await w.persist({ entries: range(i, i + 9, 1) });
    await w.close();
    const first = join(dir, segmentName(1));
    flipByte(first, 1000);
    const c = await expectCorrupt(wal(dir, { segmentBytes: 4096 }), { segment: segmentName(1) });
    expect(c.offset).toBeLessThanOrEqual(1000);
    expect(c.offset).toBeGreaterThan(1000 - 60);
    expect(c.message).toMatch(/CRC-32C mismatch/);
    expect(Number(c.index)).toBeGreaterThan(1);
  });

  it('WAL-R4 crash mid-write: a partial record at the tail is dropped, and reopening twice is stable', async () => {
    await loadCrc32c();
    const dir = dirs.make();
    let w = await wal(dir);
    await w.persist({ entries: range(1, 3, 1) });
    const { segment, offset } = w.position();
    await w.close();
    // The first 40 bytes of a 60-byte entry record for index 4: what a crash mid-write leaves.
    const data = new Uint8Array(34).fill(9);
    const full = new Uint8Array(frameSize(1 + data.length));
    writeRecord(full, 0, RecordType.Entry, 4, 1, data, 0);
    writeBytes(segment, offset, full.subarray(0, 40));
    w = await wal(dir);
    expect(w.lastIndex()).toBe(3);
    await w.close();
    w = await wal(dir);
    expect(w.lastIndex()).toBe(3);
    // The whole record written is a valid entry, so the check above was not vacuous.
    writeBytes(segment, offset, full);
    await w.close();
    w = await wal(dir);
    expect(w.lastIndex()).toBe(4);
  });

  it('WAL-R5 a damaged record in the last segment followed by a valid record is LOG_CORRUPT, not a torn tail', async () => {
    const dir = dirs.make();
    let w = await wal(dir);
    await w.persist({ entries: range(1, 2, 1) });
    const at = w.position().offset;
    await w.persist({ entries: [entry(3, 1)] });
    await w.persist({ entries: [entry(4, 1)] });
    const { segment } = w.position();
    await w.close();
    flipByte(segment, at + 28);
    await expectCorrupt(wal(dir), { index: 3n });
    // Nothing was truncated: the bytes are still there for an operator.
    flipByte(segment, at + 28);
    w = await wal(dir);
    expect(w.lastIndex()).toBe(4);
  });

  it('WAL-R5b a power cut that left a zero sector inside a record, with the rest of its group intact, is a torn tail', async () => {
    const dir = dirs.make();
    let w = await wal(dir);
    await w.persist({ entries: range(1, 5, 1) });
    const at = w.position().offset;
    const big = 'x'.repeat(2000);
    await w.persist({ entries: [entry(6, 1, big), entry(7, 1), entry(8, 1)] });
    const { segment } = w.position();
    await w.close();
    // One aligned sector inside entry 6's data never reached the disk; entries 7 and 8 did.
    const sector = Math.ceil((at + 100) / 512) * 512;
    writeBytes(segment, sector, new Uint8Array(512));
    w = await wal(dir);
    expect(w.lastIndex()).toBe(5);
    expect(isZero(segment, at, at + 2200)).toBe(true);
  });

  it('WAL-R6 a missing segment in the middle, or a sealed segment cut before its seal, is LOG_CORRUPT', async () => {
    const dir = dirs.make();
    const w = await wal(dir, { segmentBytes: 4096 });
    for (let i = 1; i <= 300; i += 10) await w.persist({ entries: range(i, i + 9, 1) });
    await w.close();
    const second = join(dir, segmentName(2));
    renameSync(second, `${second}.bak`);
    await expectCorrupt(wal(dir, { segmentBytes: 4096 }), { segment: segmentName(3) });
    renameSync(`${second}.bak`, second);
    // Cut segment 1 inside its records: the seal is gone, the segment ends early.
    truncateSync(join(dir, segmentName(1)), 2000);
    await expectCorrupt(wal(dir, { segmentBytes: 4096 }), { segment: segmentName(1) });
  });

  it('WAL-R7 a crash after sealing a segment but before the next one got its name resumes in a new segment', async () => {
    const dir = dirs.make();
    let w = await wal(dir, { segmentBytes: 4096 });
    let sealedAt = -1;
    for (let i = 1; sealedAt < 0; i += 10) {
      const lastBefore = w.lastIndex();
      const rolled = w.stats().rollovers;
      await w.persist({ entries: range(i, i + 9, 1) });
      if (w.stats().rollovers > rolled) sealedAt = lastBefore;
    }
    const tail = w.position().segment;
    await w.close();
    // The crash: the new segment never got its name, so the sealed one is the last on disk.
    unlinkSync(tail);
    w = await wal(dir, { segmentBytes: 4096 });
    expect(w.lastIndex()).toBe(sealedAt);
    expect(w.position().segment).toBe(tail);
    expect(existsSync(tail)).toBe(true);
    await w.persist({ entries: [entry(sealedAt + 1, 2)] });
    await w.close();
    w = await wal(dir, { segmentBytes: 4096 });
    expect([w.lastIndex(), w.term(sealedAt + 1)]).toEqual([sealedAt + 1, 2]);
  });

  it('WAL-R8 stale bytes after the end of the log are cleared on open and never come back as records', async () => {
    const dir = dirs.make();
    let w = await wal(dir);
    await w.persist({ entries: range(1, 5, 1) });
    const at = w.position().offset;
    await w.persist({ entries: range(6, 8, 1) });
    const { segment } = w.position();
    await w.close();
    // A power cut lost the first sector of the last group but kept the rest: entry 6's frame
    // header reads as zeros (the end), entries 7 and 8 are still intact behind it.
    writeBytes(segment, at, new Uint8Array(8));
    w = await wal(dir);
    expect(w.lastIndex()).toBe(5);
    // A new entry 6 of exactly the old frame's length: without the cleanup the old entry 7 would
    // now sit right behind it and be read back as part of the log.
    await w.persist({ entries: [entry(6, 1, 'E6T1')] });
    await w.close();
    w = await wal(dir);
    expect(w.lastIndex()).toBe(6);
    expect(text(w.entries(6, 7, 0)[0].data)).toBe('E6T1');
  });

  it('WAL-R9 an installed snapshot that kept entries only a deleted segment held replays the same way (found by WAL-P1)', async () => {
    const dir = dirs.make();
    const opts = { segmentBytes: 1000 };
    let w = await wal(dir, opts);
    // Segment 1: entries 1..5, big enough that the next group starts segment 2.
    await w.persist({ entries: [1, 2, 3, 4, 5].map((i) => entry(i, 1, `${i}`.repeat(150))) });
    // Segment 2: a snapshot at 3 that matches the log (entries after it are kept), a conflicting
    // entry 4, entry 5, then compaction to 4: segment 1 holds no live entry and is deleted.
    await w.persist({ snapshot: { index: 3, term: 1, conf: { voters: ['a'], learners: [] } } });
    await w.persist({ entries: [entry(4, 2)] });
    await w.persist({ entries: [entry(5, 2)] });
    await w.compact(4);
    expect(w.position().segment.endsWith(segmentName(2))).toBe(true);
    expect(existsSync(join(dir, segmentName(1)))).toBe(false);
    await w.close();
    // Replay starts at segment 2, whose header knows entries 1..5 exist but not their terms: the
    // snapshot record itself must say that it kept the suffix.
    w = await wal(dir, opts);
    expect([w.firstIndex(), w.lastIndex(), w.term(4), w.term(5)]).toEqual([5, 5, 2, 2]);
    expect(w.snapshot().meta.index).toBe(3);
  });
});

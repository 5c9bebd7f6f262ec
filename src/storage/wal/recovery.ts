// Opening the WAL: replay every segment in order through two LogModels (front and disk, see
// log-model.ts) and find where the next write goes.
//
// Damage rules (the crash-safety argument is in docs/ARCHITECTURE.md):
// - A segment's magic and first record (its header) must be intact: headers are synced before the
//   segment gets its name, so a damaged one is never a torn write.
// - In a sealed (non-last) segment every record up to the Seal must be valid, and the Seal must be
//   there: anything else is LOG_CORRUPT, never skipped.
// - In the last segment, the first invalid record is the torn tail of the write that was in
//   flight at the crash — unless the record after it (found through its length) is valid, which
//   means the damage is inside data that was written after it and so synced: LOG_CORRUPT. The
//   exception to the exception: a record with a whole zero 512-byte sector was torn by a power
//   cut (that sector of the group never reached the disk, and the file reads zeros there), so the
//   valid records behind it belong to the same unsynced group.

import { readFileSync } from './wal-fs.js';
import type { Entry } from '../../raft/types.js';
import { WalCorruptError } from './errors.js';
import type { LocationIndex } from './location-index.js';
import { LogModel, ModelViolation } from './log-model.js';
import { decodeHardState, decodeSegmentStart, decodeSnapshotPayload } from './payload.js';
import { readRecord, RecordType, type WalRecord } from './record.js';
import { SEGMENT_MAGIC, listSegments, segmentName } from './segment-file.js';

export interface RecoveredTail {
  seq: number;
  /** Where the next record goes. */
  offset: number;
  /** Size of the file on disk. */
  fileSize: number;
  /** The last segment ends with a Seal (a crash between sealing and the next segment's rename). */
  sealed: boolean;
  /** Set when a torn tail was found: bytes from `offset` on must be discarded. */
  torn: { reason: string } | null;
  /** Some byte after `offset` is not zero (a torn tail, or a write that landed only in part). */
  dirty: boolean;
}

export interface Recovered {
  front: LogModel;
  disk: LogModel;
  seqs: number[];
  tail: RecoveredTail | null;
}

/** Replays the segments of `dir`. `onEntry` sees every entry record in order (for tests and caches). */
export function recover(dir: string, locations: LocationIndex, onEntry?: (e: Entry) => void): Recovered {
  const front = new LogModel(null);
  const disk = new LogModel(locations);
  const seqs = listSegments(dir);
  for (let k = 1; k < seqs.length; k++) {
    if (seqs[k] !== seqs[k - 1] + 1) {
      throw new WalCorruptError(disk.last + 1, segmentName(seqs[k]), 0, `segment ${seqs[k - 1] + 1} is missing`);
    }
  }
  let tail: RecoveredTail | null = null;
  for (let k = 0; k < seqs.length; k++) {
    const seq = seqs[k];
    const name = segmentName(seq);
    const isLast = k === seqs.length - 1;
    const buf = readFileSync(`${dir}/${name}`);
    const corrupt = (offset: number, reason: string): WalCorruptError => new WalCorruptError(disk.last + 1, name, offset, reason);
    if (buf.length < SEGMENT_MAGIC.length || !SEGMENT_MAGIC.every((b, i) => buf[i] === b)) throw corrupt(0, 'bad segment magic');
    let pos = SEGMENT_MAGIC.length;
    let sealed = false;
    let torn: { reason: string } | null = null;
    for (let n = 0; ; n++) {
      const r = readRecord(buf, pos, buf.length);
      if (r.kind === 'end') {
        if (n === 0) throw corrupt(pos, 'segment has no header record');
        break;
      }
      if (r.kind === 'bad') {
        if (!isLast || n === 0) throw corrupt(pos, r.reason);
        if (r.next !== null && !hasZeroSector(buf, pos, r.next) && readRecord(buf, r.next, buf.length).kind === 'record') {
          throw corrupt(pos, `${r.reason}, followed by a valid record at byte ${r.next}`);
        }
        torn = { reason: r.reason };
        break;
      }
      if (sealed) throw corrupt(pos, 'record after the seal');
      const rec = r.record;
      if (n === 0 && rec.type !== RecordType.SegmentStart) throw corrupt(pos, `first record is of type ${rec.type}, not a segment start`);
      if (n > 0 && rec.type === RecordType.SegmentStart) throw corrupt(pos, 'segment start inside a segment');
      try {
        apply(rec, seq, pos, r.next - pos, k === 0, front, disk);
      } catch (e) {
        // A record that does not fit the log (ModelViolation) or whose payload does not decode.
        if (e instanceof Error) throw corrupt(pos, e.message);
        throw e;
      }
      if (rec.type === RecordType.Seal) sealed = true;
      if (rec.type === RecordType.Entry && onEntry) {
        onEntry({ index: rec.index, term: rec.term, type: rec.payload[0], data: new Uint8Array(rec.payload.subarray(1)) });
      }
      pos = r.next;
    }
    if (!isLast && !sealed) throw corrupt(pos, 'sealed segment ends without its seal record');
    if (isLast) tail = { seq, offset: pos, fileSize: buf.length, sealed, torn, dirty: torn !== null || !zeroFrom(buf, pos) };
  }
  const gap = disk.missing();
  if (gap !== null) {
    const name = seqs.length > 0 ? segmentName(seqs[0]) : '(none)';
    throw new WalCorruptError(gap[0], name, 0, `entries ${gap[0]}..${gap[1]} are in no segment (an older segment is missing)`);
  }
  return { front, disk, seqs, tail };
}

const SECTOR = 512;

/** True when [from, to) covers an aligned 512-byte sector of zeros (an unwritten sector). */
function hasZeroSector(buf: Uint8Array, from: number, to: number): boolean {
  for (let s = Math.ceil(from / SECTOR) * SECTOR; s + SECTOR <= to; s += SECTOR) {
    let zero = true;
    for (let k = s; k < s + SECTOR; k++) {
      if (buf[k] !== 0) {
        zero = false;
        break;
      }
    }
    if (zero) return true;
  }
  return false;
}

function zeroFrom(buf: Uint8Array, at: number): boolean {
  for (let k = at; k < buf.length; k++) if (buf[k] !== 0) return false;
  return true;
}

function apply(rec: WalRecord, seq: number, offset: number, len: number, firstSegment: boolean, front: LogModel, disk: LogModel): void {
  switch (rec.type) {
    case RecordType.SegmentStart: {
      const s = decodeSegmentStart(rec.payload);
      if (s.seq !== seq) throw new ModelViolation(`segment header names seq ${s.seq}`);
      const trunc = { index: s.truncIndex, term: s.truncTerm };
      front.segmentStart(rec.index, rec.term, trunc, firstSegment);
      disk.segmentStart(rec.index, rec.term, trunc, firstSegment);
      return;
    }
    case RecordType.Entry: {
      if (rec.payload.length < 1 || rec.payload[0] > 1) throw new ModelViolation(`entry ${rec.index} has entry type ${rec.payload[0]}`);
      front.entry(rec.index, rec.term, null);
      disk.entry(rec.index, rec.term, { seq, offset, len });
      return;
    }
    case RecordType.HardState: {
      const hs = decodeHardState(rec.term, rec.index, rec.payload);
      front.setHardState(hs);
      disk.setHardState(hs);
      return;
    }
    case RecordType.Truncate:
      front.truncate(rec.index);
      disk.truncate(rec.index);
      return;
    case RecordType.Compact:
      front.compact(rec.index, rec.term);
      disk.compact(rec.index, rec.term);
      return;
    case RecordType.Snapshot: {
      const p = decodeSnapshotPayload(rec.payload);
      const meta = { index: rec.index, term: rec.term, conf: p.conf };
      front.snapshotPoint(meta, p.mode);
      disk.snapshotPoint(meta, p.mode);
      return;
    }
    case RecordType.Seal:
      front.checkLast(rec.index, rec.term);
      disk.checkLast(rec.index, rec.term);
      return;
  }
}

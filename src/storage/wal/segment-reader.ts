// Reads of entries that are no longer cached, from the segment files: consecutive entries of one
// segment are read with one pread (sized by the lengths the location index recorded) and every
// record is CRC-checked; damage is LOG_CORRUPT with the index, segment and offset.

import { openSync, readSync } from './wal-fs.js';
import type { Entry } from '../../raft/types.js';
import { WalCorruptError } from './errors.js';
import type { EntryLocation, LocationIndex } from './location-index.js';
import { MIN_FRAME, RecordType, readRecord } from './record.js';
import { segmentName, segmentPath } from './segment-file.js';

/** Entry data bytes of a frame of `frameLen` bytes (the entry type byte is not data). */
function dataLen(frameLen: number): number {
  return frameLen - MIN_FRAME - 1;
}

export class SegmentReader {
  constructor(
    private readonly dir: string,
    private readonly locations: LocationIndex,
    /** Open fds by segment seq, shared with the writer (which closes them on deletion). */
    private readonly fds: Map<number, number>,
  ) {}

  /**
   * Appends entries [lo, end) to `out`, stopping before the entry that would take the data past
   * `maxBytes` (but taking at least one entry when `out` is empty). Returns the data bytes taken.
   */
  read(lo: number, end: number, maxBytes: number, out: Entry[]): number {
    let bytes = 0;
    let i = lo;
    while (i < end) {
      const first = this.locate(i);
      if (out.length > 0 && bytes + dataLen(first.len) > maxBytes) return bytes;
      const idx: number[] = [i];
      const offs: number[] = [first.offset];
      let planned = bytes + dataLen(first.len);
      let spanEnd = first.offset + first.len;
      let full = false;
      for (let j = i + 1; j < end; j++) {
        const loc = this.locate(j);
        if (loc.seq !== first.seq || loc.offset < spanEnd) break;
        if (planned + dataLen(loc.len) > maxBytes) {
          full = true;
          break;
        }
        planned += dataLen(loc.len);
        spanEnd = loc.offset + loc.len;
        idx.push(j);
        offs.push(loc.offset);
      }
      const buf = Buffer.allocUnsafe(spanEnd - first.offset);
      const n = readSync(this.fd(first.seq), buf, 0, buf.length, first.offset);
      for (let k = 0; k < idx.length; k++) {
        const index = idx[k];
        const fail = (why: string): WalCorruptError => new WalCorruptError(index, segmentName(first.seq), offs[k], why);
        const r = readRecord(buf, offs[k] - first.offset, n);
        if (r.kind !== 'record') throw fail(r.kind === 'bad' ? r.reason : 'no record where the index points');
        const rec = r.record;
        if (rec.type !== RecordType.Entry || rec.index !== index) {
          throw fail(`record of type ${rec.type} for index ${rec.index} where entry ${index} should be`);
        }
        const data = rec.payload.subarray(1);
        out.push({ index, term: rec.term, type: rec.payload[0], data });
        bytes += data.length;
      }
      i += idx.length;
      if (full) return bytes;
    }
    return bytes;
  }

  private locate(index: number): EntryLocation {
    const loc = this.locations.get(index);
    if (loc === undefined) throw new WalCorruptError(index, '(index)', -1, 'entry has no location in the WAL');
    return loc;
  }

  private fd(seq: number): number {
    let fd = this.fds.get(seq);
    if (fd === undefined) {
      fd = openSync(segmentPath(this.dir, seq), 'r');
      this.fds.set(seq, fd);
    }
    return fd;
  }
}

// Segment files of the WAL: naming, the file magic, and the few async fs calls the writer needs,
// as promises over node's callback API (they run on the libuv threadpool, so a pwrite or
// fdatasync never blocks the main thread; measured in src/bench/wal.ts).

import * as fs from './wal-fs.js';
import { join } from 'node:path';

/** First 8 bytes of every segment: "SKVWAL" ‖ format version 1 ‖ '\n'. */
export const SEGMENT_MAGIC = new Uint8Array([0x53, 0x4b, 0x56, 0x57, 0x41, 0x4c, 0x01, 0x0a]);
export const SPARE_NAME = 'spare.wal.tmp';

const NAME = /^([0-9a-f]{16})\.wal$/;

export function segmentName(seq: number): string {
  return `${seq.toString(16).padStart(16, '0')}.wal`;
}

export function parseSegmentName(name: string): number | null {
  const m = NAME.exec(name);
  return m === null ? null : Number.parseInt(m[1], 16);
}

/** Segment seqs in `dir`, ascending. */
export function listSegments(dir: string): number[] {
  const seqs: number[] = [];
  for (const name of fs.readdirSync(dir)) {
    const s = parseSegmentName(name);
    if (s !== null) seqs.push(s);
  }
  return seqs.sort((a, b) => a - b);
}

/**
 * How a fresh segment's space is reserved. 'zero': written with zeros and synced, so appends
 * overwrite allocated blocks and fdatasync has no metadata to flush. 'truncate': ftruncate to the
 * size (a sparse file; every append allocates blocks). 'none': the file grows with each append.
 */
export type Preallocation = 'zero' | 'truncate' | 'none';

export function writeAt(fd: number, bufs: Uint8Array[], position: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const total = bufs.reduce((n, b) => n + b.length, 0);
    fs.writev(fd, bufs, position, (err, written) => {
      if (err) return reject(err);
      if (written === total) return resolve();
      // A short write on a regular file is rare (disk full, signal); finish it piece by piece.
      const rest = Buffer.concat(bufs).subarray(written);
      writeAt(fd, [rest], position + written).then(resolve, reject);
    });
  });
}

export function fdatasync(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fs.fdatasync(fd, (err) => (err ? reject(err) : resolve())));
}

export function closeFd(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fs.close(fd, (err) => (err ? reject(err) : resolve())));
}

export function fsyncDir(dir: string): Promise<void> {
  return new Promise((resolve, reject) => {
    fs.open(dir, 'r', (err, fd) => {
      if (err) return reject(err);
      fs.fsync(fd, (e1) => fs.close(fd, (e2) => (e1 || e2 ? reject(e1 ?? e2) : resolve())));
    });
  });
}

const ZERO_CHUNK = 1024 * 1024;

/** Creates `path` (replacing it) with `size` bytes reserved per `mode`, synced; returns its fd. */
export async function createPreallocated(path: string, size: number, mode: Preallocation): Promise<number> {
  const fd = await new Promise<number>((resolve, reject) => fs.open(path, 'w+', 0o600, (err, f) => (err ? reject(err) : resolve(f))));
  try {
    if (mode === 'truncate') {
      await new Promise<void>((resolve, reject) => fs.ftruncate(fd, size, (err) => (err ? reject(err) : resolve())));
    } else if (mode === 'zero') {
      const zeros = new Uint8Array(Math.min(ZERO_CHUNK, size));
      for (let at = 0; at < size; at += zeros.length) await writeAt(fd, [zeros.subarray(0, Math.min(zeros.length, size - at))], at);
    }
    await fdatasync(fd);
    return fd;
  } catch (e) {
    await closeFd(fd).catch(() => undefined);
    throw e;
  }
}

export function renameFile(from: string, to: string): Promise<void> {
  return new Promise((resolve, reject) => fs.rename(from, to, (err) => (err ? reject(err) : resolve())));
}

export function unlinkFile(path: string): Promise<void> {
  return new Promise((resolve, reject) => fs.unlink(path, (err) => (err ? reject(err) : resolve())));
}

export function segmentPath(dir: string, seq: number): string {
  return join(dir, segmentName(seq));
}

// The offline at-rest scan behind `sealkv verify-at-rest` (issue 11 item 8).
//
// Reads raw bytes, never through LMDB: the LMDB environment `<data-dir>/db` (data.mdb holds every
// page — live, free and never-used slack up to the file's end; lock.mdb holds reader slots) and
// every other file under the data directory (Raft WAL segments under wal/, snapshot staging,
// peers.json, the sidecar encryption/keys.json and its .tmp), plus an explicit sidecar path when
// the operator keeps it elsewhere. A needle found anywhere is reported with file and offset.

import { closeSync, type Dirent, openSync, readdirSync, readSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { type NeedleHit, type NeedleSet, NeedleStream } from './needle-search.js';

/** lmdb-js opens the environment as a directory (noSubdir false) at this path (storage/env.ts). */
export const LMDB_SUBDIR = 'db';
export const LMDB_DATA_FILE = 'data.mdb';
export const LMDB_LOCK_FILE = 'lock.mdb';

const CHUNK = 4 * 1024 * 1024;

export interface ScanHit extends NeedleHit {
  /** File path as given to the scan (relative to the data dir when inside it). */
  readonly file: string;
}

export interface ScanResult {
  readonly files: number;
  readonly bytes: number;
  readonly hits: number;
  /** Entries that are neither regular files nor directories (sockets, symlinks): not followed. */
  readonly skipped: readonly string[];
}

/** Every regular file under `dir`, sorted, depth first; symlinks and specials go to `skipped`. */
export function listFiles(dir: string, skipped: string[] = []): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    const entries: Dirent[] = readdirSync(d, { withFileTypes: true });
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of entries) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) out.push(p);
      else skipped.push(p);
    }
  };
  walk(dir);
  return out;
}

/** Streams one file through the needle search in fixed chunks; returns the bytes read. */
export function scanFile(path: string, set: NeedleSet, onHit: (hit: NeedleHit) => void, buf = new Uint8Array(CHUNK)): number {
  const fd = openSync(path, 'r');
  try {
    const stream = new NeedleStream(set, onHit);
    let total = 0;
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      stream.push(buf.subarray(0, n));
      total += n;
    }
    return total;
  } finally {
    closeSync(fd);
  }
}

/**
 * Scans the data directory (and `extraFiles`, e.g. a sidecar kept outside it). Throws the fs
 * error of a file it cannot read: a partial scan must never pass as clean.
 */
export function scanDataDir(dataDir: string, set: NeedleSet, onHit: (hit: ScanHit) => void, extraFiles: readonly string[] = []): ScanResult {
  const root = resolve(dataDir);
  const skipped: string[] = [];
  const files = listFiles(root, skipped);
  for (const f of extraFiles) {
    const p = resolve(f);
    if (!files.includes(p)) files.push(p);
  }
  const buf = new Uint8Array(CHUNK);
  let bytes = 0;
  let hits = 0;
  for (const path of files) {
    const rel = relative(root, path);
    const name = rel.startsWith('..') ? path : rel;
    bytes += scanFile(path, set, (h) => {
      hits++;
      onHit({ ...h, file: name });
    }, buf);
  }
  return { files: files.length, bytes, hits, skipped: skipped.map((p) => relative(root, p)) };
}

/** True when `<dataDir>/db/data.mdb` exists: the directory holds an LMDB environment to scan. */
export function hasLmdbEnv(dataDir: string): boolean {
  try {
    return statSync(join(dataDir, LMDB_SUBDIR, LMDB_DATA_FILE)).isFile();
  } catch {
    return false;
  }
}

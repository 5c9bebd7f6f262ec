// The raw cost of a durable log append on this disk, for comparing the nodes' Raft-log persist time
// with (issue 13: "mean log persist ≤ 2× the raw fdatasync append, same disk, same run"), and the
// nodes' own persist figures from /metrics.
//
// The probe does what the WAL does, without the WAL: 4 KiB appends to a file preallocated with
// zeros and opened with O_DSYNC (one pwrite = one durable write), issued through node's async fs
// (the libuv threadpool) one at a time per file. `writers` files are written concurrently, so the
// 3-writer figure shows what three nodes appending to one disk at the same time cost each other.

import * as fs from 'node:fs';
import { join } from 'node:path';

const FILE_BYTES = 16 * 1024 * 1024;

const write = (fd, buf, pos) => new Promise((resolve, reject) => fs.write(fd, buf, 0, buf.length, pos, (e) => (e ? reject(e) : resolve())));

/**
 * @param {{ dir: string, ms?: number, writers?: number, bytes?: number }} o
 * @returns {Promise<{ writers: number, bytes: number, ops: number, meanMs: number, p50Ms: number, p99Ms: number }>}
 */
export async function rawDsyncAppend({ dir, ms = 2000, writers = 1, bytes = 4096 }) {
  fs.mkdirSync(dir, { recursive: true });
  const files = [];
  for (let w = 0; w < writers; w++) {
    const path = join(dir, `probe-${w}.bin`);
    const fd = fs.openSync(path, 'w+', 0o600);
    const zeros = Buffer.alloc(1024 * 1024);
    for (let at = 0; at < FILE_BYTES; at += zeros.length) fs.writeSync(fd, zeros, 0, zeros.length, at);
    fs.fdatasyncSync(fd);
    fs.closeSync(fd);
    files.push({ path, fd: fs.openSync(path, fs.constants.O_RDWR | fs.constants.O_DSYNC) });
  }
  const lat = [];
  const buf = Buffer.alloc(bytes, 0x5a);
  const end = performance.now() + ms;
  try {
    await Promise.all(
      files.map(async (f) => {
        let pos = 0;
        while (performance.now() < end) {
          const t0 = performance.now();
          await write(f.fd, buf, pos);
          lat.push(performance.now() - t0);
          pos = (pos + bytes) % FILE_BYTES;
        }
      }),
    );
  } finally {
    for (const f of files) {
      fs.closeSync(f.fd);
      fs.rmSync(f.path, { force: true });
    }
  }
  lat.sort((a, b) => a - b);
  const q = (p) => (lat.length ? lat[Math.min(lat.length - 1, Math.floor(p * lat.length))] : NaN);
  const mean = lat.reduce((a, b) => a + b, 0) / Math.max(1, lat.length);
  return { writers, bytes, ops: lat.length, meanMs: mean, p50Ms: q(0.5), p99Ms: q(0.99) };
}

/** The log-persist and WAL counters of one node's /metrics (null when it does not answer). */
export async function persistCounters(node) {
  try {
    const text = await (await fetch(`http://${node.admin}/metrics`, { signal: AbortSignal.timeout(5000) })).text();
    const v = (name) => {
      const m = new RegExp(`^${name} ([0-9.eE+-]+)$`, 'm').exec(text);
      return m ? Number(m[1]) : NaN;
    };
    return {
      persistSum: v('sealkv_raft_log_persist_seconds_sum'),
      persistCount: v('sealkv_raft_log_persist_seconds_count'),
      walWriteSum: v('sealkv_wal_write_seconds_total'),
      walGroups: v('sealkv_wal_groups_total'),
    };
  } catch {
    return null;
  }
}

/** Mean persist (and mean WAL write) in ms per node between two `persistCounters` snapshots. */
export function persistMeans(nodes, before, after) {
  const out = {};
  nodes.forEach((n, i) => {
    const b = before[i];
    const a = after[i];
    if (!a || !b) return;
    const count = a.persistCount - b.persistCount;
    const groups = a.walGroups - b.walGroups;
    out[n.id] = {
      persists: count,
      meanPersistMs: count > 0 ? ((a.persistSum - b.persistSum) / count) * 1000 : null,
      meanWalWriteMs: groups > 0 ? ((a.walWriteSum - b.walWriteSum) / groups) * 1000 : null,
    };
  });
  return out;
}

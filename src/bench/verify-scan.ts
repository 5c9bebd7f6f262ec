// Throughput of the verify-at-rest scan (issue 11 item 8): `node dist/bench/verify-scan.js [MiB] [needles]`.
// Builds a fake stopped data dir (db/data.mdb of the given size: a mix of zero pages, random
// pages and repetitive text pages, like a real env with slack, values and keys), then scans it
// with N random 16-byte needles via the same code the CLI runs, warm page cache.

import { randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { scanDataDir } from '../verify/at-rest.js';
import { NeedleSet } from '../verify/needle-search.js';

const mib = Number(process.argv[2] ?? 256);
const count = Number(process.argv[3] ?? 1000);
const dir = mkdtempSync(join(tmpdir(), 'sealkv-verify-bench-'));
try {
  mkdirSync(join(dir, 'db'));
  const fd = openSync(join(dir, 'db', 'data.mdb'), 'w');
  const page = 4096;
  const text = Buffer.alloc(page, 'key:user:000123 value={"a":1,"b":"hello"} ');
  const zero = Buffer.alloc(page);
  for (let i = 0; i < (mib * 1024 * 1024) / page; i++) {
    const kind = i % 4;
    writeSync(fd, kind === 0 || kind === 1 ? zero : kind === 2 ? randomBytes(page) : text);
  }
  closeSync(fd);
  const needles = Array.from({ length: count }, () => Uint8Array.from(randomBytes(16)));
  const set = new NeedleSet(needles);
  scanDataDir(dir, set, () => {}); // warm the page cache
  const runs: number[] = [];
  for (let r = 0; r < 3; r++) {
    const t0 = process.hrtime.bigint();
    const res = scanDataDir(dir, set, () => {});
    const s = Number(process.hrtime.bigint() - t0) / 1e9;
    runs.push(res.bytes / 1048576 / s);
  }
  runs.sort((a, b) => a - b);
  process.stdout.write(`verify-scan: ${mib} MiB, ${count} needles of 16 B: median ${runs[1]!.toFixed(0)} MiB/s (runs ${runs.map((x) => x.toFixed(0)).join(', ')})\n`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}

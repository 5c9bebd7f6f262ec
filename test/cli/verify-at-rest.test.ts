// `sealkv verify-at-rest` (issue 11 item 8) on the compiled CLI: exit codes 0/4/1/2, every file of
// the data dir scanned raw (LMDB free pages, WAL, sidecar, a needle across the 4 MiB read-chunk
// boundary), and the refusal while an LMDB environment is open in another process.

import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openStorageEnv } from '../../src/storage/env.js';

const main = join(import.meta.dirname, '../../dist/cli/main.js');
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'sealkv-verify-'));
  dirs.push(d);
  return d;
}

function run(args: string[]) {
  return spawnSync(process.execPath, [main, 'verify-at-rest', ...args], { encoding: 'utf8', timeout: 60_000 });
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/** A data dir with an LMDB env holding `rows`, closed again (as a stopped node leaves it). */
async function dataDirWith(rows: [string, Uint8Array][], del: string[] = [], after: [string, Uint8Array][] = []): Promise<string> {
  const dir = tmp();
  const env = await openStorageEnv(dir);
  for (const [k, v] of rows) await env.durable(env.writes.submitOps([{ db: env.kv, key: Buffer.from(k), value: v }]));
  for (const k of del) await env.durable(env.writes.submitOps([{ db: env.kv, key: Buffer.from(k), value: null }]));
  for (const [k, v] of after) await env.durable(env.writes.submitOps([{ db: env.kv, key: Buffer.from(k), value: v }]));
  await env.close();
  return dir;
}

describe('sealkv verify-at-rest', () => {
  it('usage errors exit 1: no needle, bad hex, odd length, unknown option, no data dir flag', async (ctx) => {
    if (!existsSync(main)) ctx.skip('dist/cli/main.js not built');
    const dir = tmp();
    for (const args of [['--data-dir', dir], ['--data-dir', dir, '--needle', 'zz'], ['--data-dir', dir, '--needle', 'abc'], ['--data-dir', dir, '--needle', 'ab', '--bogus'], ['--needle', 'ab']]) {
      const r = run(args);
      expect(r.status, args.join(' ')).toBe(1);
      expect(r.stderr).toMatch(/^error: USAGE: /);
    }
    const f = join(dir, 'needles.txt');
    writeFileSync(f, 'abcd\n# comment\n\nxyz1\n');
    const r = run(['--data-dir', dir, '--needles-file', f]);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(`${f}:4`);
  });

  it('refuses with exit 2 when the directory holds no LMDB environment (a typo must not pass as clean)', (ctx) => {
    if (!existsSync(main)) ctx.skip('dist/cli/main.js not built');
    const r = run(['--data-dir', join(tmp(), 'nope'), '--needle', 'abcd']);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/^error: VERIFY_NO_DATA_DIR: /);
    const r2 = run(['--data-dir', tmp(), '--needle', 'abcd']);
    expect(r2.status).toBe(2);
    expect(r2.stderr).toMatch(/^error: VERIFY_NO_LMDB_ENV: /);
  });

  it('finds live values (exit 4), not absent needles (exit 0); one FOUND line per hit and the summary line', async (ctx) => {
    if (!existsSync(main)) ctx.skip('dist/cli/main.js not built');
    const present = randomBytes(16);
    const absent = randomBytes(16);
    const dir = await dataDirWith([['k1', Buffer.concat([randomBytes(100), present, randomBytes(100)])]]);
    const r = run(['--data-dir', dir, '--needle', hex(present), '--needle', hex(absent)]);
    expect(r.status, r.stderr).toBe(4);
    const lines = r.stdout.trim().split('\n');
    expect(lines[0]).toMatch(new RegExp(`^FOUND ${hex(present)} db/data\\.mdb offset=\\d+$`));
    expect(lines.at(-1)).toMatch(/^verify-at-rest: scanned \d+ files, \d+ bytes, 1 hits$/);
    expect(r.stdout).not.toContain(hex(absent));
    const clean = run(['--data-dir', dir, '--needle', hex(absent)]);
    expect(clean.status).toBe(0);
    expect(clean.stdout.trim()).toMatch(/^verify-at-rest: scanned \d+ files, \d+ bytes, 0 hits$/);
  });

  it('scans LMDB free pages: a deleted value is still found in data.mdb after more writes', async (ctx) => {
    if (!existsSync(main)) ctx.skip('dist/cli/main.js not built');
    // LMDB does not zero freed pages; it reuses them lowest page number first, a few per write
    // transaction. So the reliable witness is a needle in the LAST page of a large freed overflow
    // run (256 KiB = 64 pages): 20 small writes afterwards cannot reach it. (The first pages of the
    // run are reused by then — measured: a needle at offset 16 is gone after 5 writes.)
    const gone = randomBytes(16);
    const value = randomBytes(256 * 1024);
    gone.copy(value, value.length - 32);
    const dir = tmp();
    const env = await openStorageEnv(dir);
    const put = (k: string, v: Uint8Array | null) => env.durable(env.writes.submitOps([{ db: env.kv, key: Buffer.from(k), value: v }]));
    await put('victim', value);
    await put('victim', null);
    for (let i = 0; i < 20; i++) await put(`other${i}`, randomBytes(200));
    expect(env.kv.getBinary(Buffer.from('victim'))).toBeUndefined(); // not live: only free pages hold it
    await env.close();
    const r = run(['--data-dir', dir, '--needle', hex(gone)]);
    expect(r.status, r.stdout + r.stderr).toBe(4);
    expect(r.stdout).toMatch(new RegExp(`^FOUND ${hex(gone)} db/data\\.mdb offset=\\d+\n`));
  });

  it('scans every other file (WAL segment, sidecar, peers.json), a needle across the 4 MiB read-chunk boundary too', async (ctx) => {
    if (!existsSync(main)) ctx.skip('dist/cli/main.js not built');
    const dir = await dataDirWith([['k', randomBytes(10)]]);
    const [inWal, inSidecar, inPeers, straddle] = [randomBytes(16), randomBytes(16), randomBytes(8), randomBytes(32)];
    mkdirSync(join(dir, 'wal'));
    const seg = Buffer.alloc(9 * 1024 * 1024);
    inWal.copy(seg, 123);
    const chunk = 4 * 1024 * 1024;
    straddle.copy(seg, chunk - 13); // 13 bytes in the first read, 19 in the second
    writeFileSync(join(dir, 'wal', '00000001.seg'), seg);
    mkdirSync(join(dir, 'encryption'));
    writeFileSync(join(dir, 'encryption', 'keys.json'), `{"x":"${hex(inSidecar)}"}`);
    writeFileSync(join(dir, 'peers.json'), Buffer.concat([Buffer.from('{"a":"'), inPeers, Buffer.from('"}')]));
    const r = run(['--data-dir', dir, ...[inWal, inSidecar, inPeers, straddle].flatMap((n) => ['--needle', hex(n)])]);
    expect(r.status).toBe(4);
    expect(r.stdout).toContain(`FOUND ${hex(inWal)} wal/00000001.seg offset=123\n`);
    expect(r.stdout).toContain(`FOUND ${hex(straddle)} wal/00000001.seg offset=${chunk - 13}\n`);
    expect(r.stdout).toContain(`FOUND ${hex(inPeers)} peers.json offset=6\n`);
    // The sidecar is text: its hex spelling is what is stored, so that is the needle that hits.
    const r2 = run(['--data-dir', dir, '--needle', hex(Buffer.from(hex(inSidecar)))]);
    expect(r2.status).toBe(4);
    expect(r2.stdout).toContain('encryption/keys.json offset=6');
    expect(r.stdout).toMatch(/, 3 hits\n$/);
  });

  it('refuses with exit 2 while another process has the LMDB environment open, and runs once it is closed', async (ctx) => {
    if (!existsSync(main)) ctx.skip('dist/cli/main.js not built');
    if (!existsSync('/proc/locks')) ctx.skip('in-use detection needs Linux /proc');
    const dir = tmp();
    const env = await openStorageEnv(dir); // held by this (test) process; the CLI is another pid
    try {
      const r = run(['--data-dir', dir, '--needle', 'abcd']);
      expect(r.status).toBe(2);
      expect(r.stderr).toMatch(/^error: VERIFY_ENV_IN_USE: .*stop the node first/);
      expect(r.stdout).toBe('');
    } finally {
      await env.close();
    }
    expect(run(['--data-dir', dir, '--needle', 'abcd']).status).toBe(0);
  });
});

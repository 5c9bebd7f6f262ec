// `sealkv start` refuses a bad configuration with exit code 2 and one clear line (issue: port in
// use, missing peers, data dir of another cluster id); usage errors exit 1. Runs the compiled CLI.

import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const main = join(import.meta.dirname, '../../dist/cli/main.js');
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'sealkv-cli-'));
  dirs.push(d);
  return d;
}

function run(args: string[]) {
  return spawnSync(process.execPath, [main, ...args], { encoding: 'utf8', timeout: 20_000 });
}

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

function base(dir: string, raft: number, resp: number, admin: number, extra: string[] = []): string[] {
  return ['start', '--id', 'n1', '--data-dir', dir, '--raft', `127.0.0.1:${raft}`, '--resp', `127.0.0.1:${resp}`, '--admin', `127.0.0.1:${admin}`, '--peers', `n1=127.0.0.1:${raft}`, '--log-level', 'silent', ...extra];
}

describe('sealkv start refusals', () => {
  it('an unknown option is a usage error (exit 1)', (ctx) => {
    if (!existsSync(main)) ctx.skip('dist/cli/main.js not built (run npx tsc -p tsconfig.json)');
    const r = run(['start', '--bogus']);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^error: USAGE: unknown option --bogus/);
  });

  it('missing --peers is refused with exit 2 and one line', (ctx) => {
    if (!existsSync(main)) ctx.skip('dist/cli/main.js not built');
    const r = run(['start', '--id', 'n1', '--data-dir', tmp(), '--raft', '127.0.0.1:1']);
    expect(r.status).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^error: CONFIG_INVALID: --peers/);
  });

  it('--peers that does not list this node is refused', (ctx) => {
    if (!existsSync(main)) ctx.skip('dist/cli/main.js not built');
    const r = run(['start', '--id', 'n1', '--data-dir', tmp(), '--raft', '127.0.0.1:1', '--peers', 'n2=127.0.0.1:2']);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/CONFIG_INVALID: --peers does not list this node 'n1'/);
  });

  it('a non-loopback admin address without a token file is refused', (ctx) => {
    if (!existsSync(main)) ctx.skip('dist/cli/main.js not built');
    const r = run(['start', '--id', 'n1', '--data-dir', tmp(), '--raft', '127.0.0.1:1', '--peers', 'n1=127.0.0.1:1', '--admin', '0.0.0.0:8081']);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/--admin-token-file is required/);
  });

  it('a port in use is refused with ADDRESS_IN_USE (exit 2)', async (ctx) => {
    if (!existsSync(main)) ctx.skip('dist/cli/main.js not built');
    const blocker: Server = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const busy = (blocker.address() as { port: number }).port;
    try {
      const r = run(base(tmp(), busy, await freePort(), await freePort()));
      expect(r.status).toBe(2);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(/^error: ADDRESS_IN_USE: /);
    } finally {
      blocker.close();
    }
  });

  it('a data dir of another cluster id is refused with CLUSTER_ID_MISMATCH', async (ctx) => {
    if (!existsSync(main)) ctx.skip('dist/cli/main.js not built');
    const dir = tmp();
    const [raft, resp, admin] = [await freePort(), await freePort(), await freePort()];
    // First start creates the identity; a port clash on RESP then stops it (exit 2) — fine,
    // the data dir is now owned by cluster "a".
    const blocker: Server = createServer();
    await new Promise<void>((r) => blocker.listen(resp, '127.0.0.1', r));
    try {
      expect(run(base(dir, raft, resp, admin, ['--cluster-id', 'a'])).status).toBe(2);
    } finally {
      blocker.close();
    }
    const r = run(base(dir, raft, resp, admin, ['--cluster-id', 'b']));
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/^error: CLUSTER_ID_MISMATCH: .*belongs to cluster 'a', not 'b'/);
  });
});

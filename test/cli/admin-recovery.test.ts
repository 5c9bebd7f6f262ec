// OP-3 argument handling of the recovery commands: `resync-sidecar` (KM-13) and `register-writer`
// (WR-3). Usage errors exit 1 with `error: USAGE: …` and touch nothing; a data dir that is not a
// node's is a typed refusal (exit 2). The working paths run on real clusters
// (test/integration/encryption-resync.test.ts).
import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const MAIN = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));
const run = promisify(execFile);

async function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return run(process.execPath, [MAIN, 'admin', 'encryption', ...args], { env: { ...process.env, SEALKV_T_KEK: Buffer.alloc(32, 7).toString('base64') } }).then(
    (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
    (e: { code?: number; stdout?: string; stderr?: string }) => ({ code: e.code ?? -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' }),
  );
}

describe('sealkv admin encryption resync-sidecar / register-writer (arguments)', () => {
  it('KM-13, OP-3: resync-sidecar needs --data-dir and a KEK option; --leader-admin and --leader-report are mutually exclusive', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sealkv-resync-'));
    for (const [args, what] of [
      [[], /--data-dir is required/],
      [['--data-dir', dir], /a KEK option is required/],
      [['--data-dir', dir, '--kek-env', 'SEALKV_T_KEK', '--leader-admin', '127.0.0.1:1', '--leader-report', 'x.json'], /mutually exclusive/],
      [['--data-dir', dir, '--kek-env', 'SEALKV_T_KEK', '--token-file', 't'], /--token-file goes with --leader-admin/],
      [['--data-dir', dir, '--bogus', '1'], /bad option '--bogus'/],
    ] as const) {
      const r = await cli('resync-sidecar', ...args);
      expect(r.code, args.join(' ')).toBe(1);
      expect(r.stderr).toMatch(/^error: USAGE: /);
      expect(r.stderr).toMatch(what);
    }
  });

  it('KM-13: resync-sidecar on a directory without a node database refuses (exit 2) and writes nothing', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sealkv-resync-'));
    const r = await cli('resync-sidecar', '--data-dir', dir, '--kek-env', 'SEALKV_T_KEK');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^error: INVALID_ARGUMENT: .*holds no LMDB environment/);
  });

  it('WR-3, OP-3: register-writer needs --dek-id, --full-node-id and --local-epoch as decimal integers', async () => {
    const missing = await cli('register-writer', '--admin', '127.0.0.1:1', '--dek-id', '5');
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^error: USAGE: register-writer needs --dek-id N --full-node-id U64 --local-epoch N/);
    const bad = await cli('register-writer', '--admin', '127.0.0.1:1', '--dek-id', '5', '--full-node-id', 'x', '--local-epoch', '1');
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/decimal integers/);
  });
});

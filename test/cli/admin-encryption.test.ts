// OP-3 offline commands of `sealkv admin encryption`: kek-params (print, floors, --install) and
// disable (always refuses, pointing to docs/OPERATIONS.md). Runs the compiled CLI from dist/.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const MAIN = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));
const run = promisify(execFile);

async function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return run(process.execPath, [MAIN, 'admin', 'encryption', ...args]).then(
    (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
    (e: { code?: number; stdout?: string; stderr?: string }) => ({ code: e.code ?? -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' }),
  );
}

describe('sealkv admin encryption (offline commands)', () => {
  it('OP-3 kek-params: prints a fresh kek_kdf object; values below the floors are a typed error', async () => {
    const a = await cli('kek-params', '--memory-kib', '19456');
    expect(a.code).toBe(0);
    const doc = JSON.parse(a.stdout) as Record<string, unknown>;
    expect(doc).toMatchObject({ algorithm: 'argon2id', version: 19, memory_kib: 19456, iterations: 3, parallelism: 4 });
    const b = JSON.parse((await cli('kek-params')).stdout) as Record<string, unknown>;
    expect(b.salt).not.toBe(doc.salt);
    const low = await cli('kek-params', '--memory-kib', '10');
    expect(low.code).toBe(2);
    expect(low.stderr).toMatch(/^error: INVALID_ARGUMENT: .*memory_kib/);
  });

  it('OP-3 kek-params --install: creates a sidecar holding the object; again is unchanged; a different one is KEK_MISMATCH', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sealkv-kdf-'));
    const file = join(dir, 'kdf.json');
    writeFileSync(file, (await cli('kek-params', '--memory-kib', '19456')).stdout);
    const sidecar = join(dir, 'keys.json');
    expect((await cli('kek-params', '--install', file, '--sidecar', sidecar)).stdout).toBe(`created kek_kdf in ${sidecar}\n`);
    expect(readFileSync(sidecar, 'utf8')).toContain('"kek_kdf"');
    expect((await cli('kek-params', '--install', file, '--sidecar', sidecar)).stdout).toBe(`unchanged kek_kdf in ${sidecar}\n`);
    writeFileSync(file, (await cli('kek-params', '--memory-kib', '19456')).stdout);
    const other = await cli('kek-params', '--install', file, '--sidecar', sidecar);
    expect(other.code).toBe(2);
    expect(other.stderr).toMatch(/^error: KEK_MISMATCH: /);
    writeFileSync(file, '{not json');
    expect((await cli('kek-params', '--install', file, '--sidecar', sidecar)).stderr).toMatch(/^error: INVALID_ARGUMENT: /);
  });

  it('RO-15 disable: refuses (exit 2) and points to the dump-and-reload procedure; an unknown command is a usage error', async () => {
    const d = await cli('disable');
    expect(d.code).toBe(2);
    expect(d.stderr).toMatch(/^error: ENCRYPTION_DISABLE_UNSUPPORTED: .*docs\/OPERATIONS\.md/);
    expect((await cli('rotate-everything')).code).toBe(1);
  });
});

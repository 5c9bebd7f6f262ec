// KM-1 / OP-1 / OP-4 through the compiled CLI: `sealkv start` with encryption options refuses with
// one line `error: <CODE>: …` and exit 2 (usage errors exit 1), before anything listens.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { bytes32, tmp, writeSecret } from './helpers.js';

const main = join(import.meta.dirname, '../../dist/cli/main.js');

function start(dataDir: string, extra: string[], env: NodeJS.ProcessEnv = {}) {
  const args = ['start', '--id', 'n1', '--data-dir', dataDir, '--raft', '127.0.0.1:1', '--resp', '127.0.0.1:2', '--admin', '127.0.0.1:3', '--peers', 'n1=127.0.0.1:1', '--log-level', 'silent', ...extra];
  return spawnSync(process.execPath, [main, ...args], { encoding: 'utf8', timeout: 20_000, env: { ...process.env, ...env } });
}

describe('sealkv start encryption refusals (compiled CLI)', () => {
  it('KM-1: --encryption without a KEK option exits 2 with KEK_REQUIRED_WITH_FLAG; with --kek-file and --kek-env, KEK_SOURCE_CONFLICT', (ctx) => {
    if (!existsSync(main)) ctx.skip('dist/cli/main.js not built (npm run build:ts)');
    const d = tmp();
    const r = start(join(d, 'data'), ['--encryption']);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/^error: KEK_REQUIRED_WITH_FLAG: .*--kek-file/);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    const key = writeSecret(d, 'kek', bytes32(1));
    const c = start(join(d, 'data'), ['--encryption', '--kek-file', key, '--kek-env', 'SEALKV_KEK_B64']);
    expect(c.status).toBe(2);
    expect(c.stderr).toMatch(/^error: KEK_SOURCE_CONFLICT: /);
  });

  it('KM-2/OP-4: an insecure key file exits 2 with INSECURE_KEK_FILE; a sidecar without --encryption with SIDECAR_PRESENT_WITHOUT_FLAG', (ctx) => {
    if (!existsSync(main)) ctx.skip('dist/cli/main.js not built');
    const d = tmp();
    const r = start(join(d, 'data'), ['--encryption', '--kek-file', writeSecret(d, 'kek', bytes32(1), 0o644)]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/^error: INSECURE_KEK_FILE: --kek-file .* mode 0644/);
    const data = join(d, 'data2');
    mkdirSync(join(data, 'encryption'), { recursive: true });
    writeFileSync(join(data, 'encryption', 'keys.json'), '{}');
    const s = start(data, []);
    expect(s.status).toBe(2);
    expect(s.stderr).toMatch(/^error: SIDECAR_PRESENT_WITHOUT_FLAG: /);
  });

  it('OP-1: a KEK option without --encryption is a usage error (exit 1); KM-6 a corrupt sidecar exits 2 with SIDECAR_MALFORMED', (ctx) => {
    if (!existsSync(main)) ctx.skip('dist/cli/main.js not built');
    const d = tmp();
    const r = start(join(d, 'data'), ['--kek-env', 'SEALKV_KEK_B64']);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^error: USAGE: --kek-env needs --encryption/);
    const data = join(d, 'data2');
    mkdirSync(join(data, 'encryption'), { recursive: true });
    writeFileSync(join(data, 'encryption', 'keys.json'), '{"version": 1, "raft_applied_index": ');
    const m = start(data, ['--encryption', '--kek-env', 'SEALKV_KEK_B64'], { SEALKV_KEK_B64: Buffer.from(bytes32(1)).toString('base64') });
    expect(m.status).toBe(2);
    expect(m.stderr).toMatch(/^error: SIDECAR_MALFORMED: /);
  });
});

// OP-3 for the raft-envelope cutover: `sealkv admin encryption enable-raft-envelope` posts to
// /v1/encryption/enable-raft-envelope and prints the stable cutover lines; errors print
// `error: <CODE>: …`. A stub admin server answers; runs the compiled CLI from dist/.
import { execFile } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';

const MAIN = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));
const run = promisify(execFile);
let server: Server | null = null;
afterEach(() => {
  server?.close();
  server = null;
});

async function stub(status: number, body: unknown): Promise<{ addr: string; seen: string[] }> {
  const seen: string[] = [];
  server = createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  });
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
  return { addr: `127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
}

async function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return run(process.execPath, [MAIN, 'admin', 'encryption', ...args]).then(
    (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
    (e: { code?: number; stdout?: string; stderr?: string }) => ({ code: e.code ?? -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' }),
  );
}

describe('sealkv admin encryption enable-raft-envelope', () => {
  it('OP-3/RO-6: prints `enabled applied_index=N` for a fresh cutover', async () => {
    const s = await stub(200, { applied_index: '57', was_already_active: false, cutover_index_unknown: false, capability_summary: [] });
    const r = await cli('enable-raft-envelope', '--admin', s.addr);
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe('enabled applied_index=57');
    expect(s.seen).toEqual(['POST /v1/encryption/enable-raft-envelope']);
  });

  it('OP-3/AS-26: prints `already-active applied_index=N` for a retry', async () => {
    const s = await stub(200, { applied_index: '57', was_already_active: true, cutover_index_unknown: false, capability_summary: [] });
    const r = await cli('enable-raft-envelope', '--admin', s.addr);
    expect(r.stdout.trim()).toBe('already-active applied_index=57');
  });

  it('OP-3/RO-13: a refusal prints `error: RAFT_ENVELOPE_GATED: …` with a non-zero status', async () => {
    const s = await stub(409, { error: { code: 'RAFT_ENVELOPE_GATED', message: 'the raft envelope is gated off in this build' } });
    const r = await cli('enable-raft-envelope', '--admin', s.addr);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/^error: RAFT_ENVELOPE_GATED: /);
  });
});

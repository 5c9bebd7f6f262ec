// `sealkv admin add-node / promote-node` (issue 9, defect 9): add-node asks for a learner unless
// `--voter` is given; promote-node calls the promote endpoint. Runs `runAdmin` against a stub
// HTTP server that records what the CLI sent.

import { createServer, type Server } from 'node:http';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { runAdmin } from '../../src/cli/admin.js';

interface Seen {
  method: string;
  url: string;
  body: unknown;
}

let server: Server | null = null;
afterEach(async () => {
  vi.restoreAllMocks();
  const s = server;
  server = null;
  if (s) await new Promise((r) => s.close(r));
});

async function stub(): Promise<{ addr: string; seen: Seen[] }> {
  const seen: Seen[] = [];
  const s = createServer((req, res) => {
    let text = '';
    req.on('data', (c: Buffer) => {
      text += c.toString('utf8');
    });
    req.on('end', () => {
      seen.push({ method: req.method!, url: req.url!, body: text === '' ? undefined : JSON.parse(text) });
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"applied_index":"7"}');
    });
  });
  server = s;
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return { addr: `127.0.0.1:${(s.address() as { port: number }).port}`, seen };
}

describe('admin add-node / promote-node', () => {
  it('defect 9.9 (learner join): add-node asks for a learner by default and a voter only with --voter; promote-node promotes', async () => {
    vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    const { addr, seen } = await stub();
    expect(await runAdmin(['add-node', '--admin', addr, '--id', 'n4', '--address', '127.0.0.1:7004'])).toBe(0);
    expect(await runAdmin(['add-node', '--admin', addr, '--id', 'n5', '--address', '127.0.0.1:7005', '--voter'])).toBe(0);
    expect(await runAdmin(['promote-node', '--admin', addr, '--id', 'n4'])).toBe(0);
    expect(seen).toHaveLength(3);
    expect(seen[0]).toMatchObject({ method: 'POST', url: '/v1/members' });
    // No role: the server's default (learner, promoted once caught up).
    expect(seen[0]!.body).toEqual({ id: 'n4', address: '127.0.0.1:7004' });
    expect(seen[1]).toEqual({ method: 'POST', url: '/v1/members', body: { id: 'n5', address: '127.0.0.1:7005', role: 'voter' } });
    expect(seen[2]).toMatchObject({ method: 'POST', url: '/v1/members/n4/promote' });
  });
});

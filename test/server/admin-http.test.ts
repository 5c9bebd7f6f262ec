// Admin HTTP: bearer token, JSON errors and the status mapping of SPEC C-7.

import { afterEach, describe, expect, it } from 'vitest';
import { AdminError, ProposalError } from '../../src/errors.js';
import { AdminHttpServer } from '../../src/server/admin-http.js';

let servers: AdminHttpServer[] = [];
afterEach(async () => {
  for (const s of servers) await s.close();
  servers = [];
});

async function serve(token: string | null): Promise<{ url: string; server: AdminHttpServer }> {
  const server = new AdminHttpServer(token);
  servers.push(server);
  server.route('GET', '/v1/status', async () => ({ body: { id: 'n1' } }));
  server.route('POST', '/v1/members', async (req) => ({ body: { got: req.body, deadlineInFuture: req.deadline > Date.now() } }));
  server.route('POST', '/v1/transfer-leader', async () => {
    throw new ProposalError('NOT_LEADER', 'this node is not the leader', { leader: 'n2' });
  });
  server.route('POST', '/v1/slow', async () => {
    throw new ProposalError('TIMEOUT', 'deadline passed');
  });
  server.route('POST', '/v1/busy', async () => {
    throw new ProposalError('ENVELOPE_CUTOVER_IN_PROGRESS', 'raft cutover in progress');
  });
  server.route('POST', '/v1/unknown', async () => {
    throw new ProposalError('UNKNOWN_OUTCOME', 'it may or may not commit');
  });
  server.route('POST', '/v1/conflict', async () => {
    throw new AdminError(409, 'ENCRYPTION_NOT_BOOTSTRAPPED', 'not bootstrapped');
  });
  server.route('POST', '/v1/boom', async () => {
    throw new Error('unexpected');
  });
  await server.listen('127.0.0.1', 0);
  const a = server.address()!;
  return { url: `http://127.0.0.1:${a.port}`, server };
}

const post = (url: string, body: string, headers: Record<string, string> = {}) =>
  fetch(url, { method: 'POST', body, headers: { 'content-type': 'application/json', ...headers } });

describe('admin HTTP API', () => {
  it('OP-2: a missing or wrong bearer token answers 401 UNAUTHORIZED; the right one passes', async () => {
    const { url } = await serve('s3cret');
    let r = await fetch(`${url}/v1/status`);
    expect(r.status).toBe(401);
    expect(await r.json()).toEqual({ error: { code: 'UNAUTHORIZED', message: 'missing or wrong bearer token' } });
    r = await fetch(`${url}/v1/status`, { headers: { authorization: 'Bearer s3cre' } });
    expect(r.status).toBe(401);
    r = await fetch(`${url}/v1/status`, { headers: { authorization: 'Bearer s3cret' } });
    expect(r.status).toBe(200);
    expect(await r.json()).toEqual({ id: 'n1' });
  });

  it('C-7: malformed JSON, a non-object body and a bad timeout_ms are 400 INVALID_ARGUMENT', async () => {
    const { url } = await serve(null);
    for (const body of ['{', '[1]', '{"timeout_ms": 0}', '{"timeout_ms": 600001}', '{"timeout_ms": "5"}']) {
      const r = await post(`${url}/v1/members`, body);
      expect(r.status, body).toBe(400);
      expect(((await r.json()) as { error: { code: string } }).error.code).toBe('INVALID_ARGUMENT');
    }
    const ok = await post(`${url}/v1/members`, '{"id":"n4","timeout_ms":1000}');
    expect(await ok.json()).toEqual({ got: { id: 'n4', timeout_ms: 1000 }, deadlineInFuture: true });
  });

  it('C-7: NOT_LEADER is 421 with the leader hint, TIMEOUT 504, retryable refusals 503, preconditions 409', async () => {
    const { url } = await serve(null);
    let r = await post(`${url}/v1/transfer-leader`, '{}');
    expect(r.status).toBe(421);
    expect(await r.json()).toEqual({ error: { code: 'NOT_LEADER', message: 'this node is not the leader', leader: 'n2' } });
    r = await post(`${url}/v1/slow`, '{}');
    expect(r.status).toBe(504);
    r = await post(`${url}/v1/busy`, '{}');
    expect(r.status).toBe(503);
    expect(((await r.json()) as { error: { code: string } }).error.code).toBe('ENVELOPE_CUTOVER_IN_PROGRESS');
    // Issue 9 defect 8: an unknown outcome is 503 UNAVAILABLE with the code as reason (C-7).
    r = await post(`${url}/v1/unknown`, '{}');
    expect(r.status).toBe(503);
    expect(await r.json()).toEqual({ error: { code: 'UNAVAILABLE', message: 'it may or may not commit', reason: 'UNKNOWN_OUTCOME' } });
    r = await post(`${url}/v1/conflict`, '{}');
    expect(r.status).toBe(409);
    r = await post(`${url}/v1/boom`, '{}');
    expect(r.status).toBe(500);
    expect(((await r.json()) as { error: { code: string } }).error.code).toBe('INTERNAL');
  });

  it('unknown paths are 404 and wrong methods 405, as JSON errors', async () => {
    const { url } = await serve(null);
    expect((await fetch(`${url}/v1/nope`)).status).toBe(404);
    const r = await fetch(`${url}/v1/status`, { method: 'DELETE' });
    expect(r.status).toBe(405);
    expect(((await r.json()) as { error: { code: string } }).error.code).toBe('METHOD_NOT_ALLOWED');
  });
});

// `sealkv admin ...`: a thin client of the admin HTTP API. Prints the JSON answer; on an error
// prints `error: <CODE>: <message>` and returns a non-zero status (OP-3).

import { readFileSync } from 'node:fs';

const FLAGS = new Set(['admin', 'token-file', 'id', 'address', 'role', 'timeout-ms']);
/** Flags without a value. `--voter`: add-node adds a voter directly instead of a learner. */
const BOOL_FLAGS = new Set(['voter']);

export async function runAdmin(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  const f: Record<string, string> = {};
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i]!;
    const name = a.replace(/^--/, '');
    if (a.startsWith('--') && BOOL_FLAGS.has(name)) {
      f[name] = 'true';
      continue;
    }
    if (!a.startsWith('--') || !FLAGS.has(name) || rest[i + 1] === undefined) {
      process.stderr.write(`error: USAGE: bad option '${a}'\n`);
      return 1;
    }
    f[name] = rest[++i]!;
  }
  const base = `http://${f.admin ?? '127.0.0.1:8081'}`;
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (f['token-file']) headers.authorization = `Bearer ${readFileSync(f['token-file'], 'utf8').trim()}`;
  const timeout = f['timeout-ms'] ? { timeout_ms: Number(f['timeout-ms']) } : {};
  let method = 'GET';
  let path: string;
  let body: object | undefined;
  switch (sub) {
    case 'status':
      path = '/v1/status';
      break;
    case 'members':
      path = '/v1/members';
      break;
    case 'add-node':
      method = 'POST';
      path = '/v1/members';
      // Without --voter (or --role voter) the node joins as a learner and is promoted by the
      // leader once it has caught up.
      if (f.voter && f.role && f.role !== 'voter') {
        process.stderr.write('error: USAGE: --voter contradicts --role\n');
        return 1;
      }
      body = { id: f.id, address: f.address, ...(f.voter ? { role: 'voter' } : f.role ? { role: f.role } : {}), ...timeout };
      break;
    case 'promote-node':
      method = 'POST';
      path = `/v1/members/${encodeURIComponent(f.id ?? '')}/promote`;
      body = timeout;
      break;
    case 'remove-node':
      method = 'DELETE';
      path = `/v1/members/${encodeURIComponent(f.id ?? '')}`;
      body = timeout;
      break;
    case 'transfer-leader':
      method = 'POST';
      path = '/v1/transfer-leader';
      body = { id: f.id, ...timeout };
      break;
    case 'encryption':
      process.stderr.write('error: ENCRYPTION_MUTATORS_DISABLED: encryption administration is not available in this build\n');
      return 2;
    default:
      process.stderr.write(`error: USAGE: unknown admin command '${sub ?? ''}'\n`);
      return 1;
  }
  let res: Response;
  try {
    res = await fetch(base + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (e) {
    process.stderr.write(`error: UNAVAILABLE: cannot reach ${base}: ${(e as Error).message}\n`);
    return 2;
  }
  const text = await res.text();
  if (!res.ok) {
    try {
      const err = (JSON.parse(text) as { error: { code: string; message: string; leader?: string } }).error;
      process.stderr.write(`error: ${err.code}: ${err.message}${err.leader ? ` (leader: ${err.leader})` : ''}\n`);
    } catch {
      process.stderr.write(`error: HTTP_${res.status}: ${text}\n`);
    }
    return 2;
  }
  process.stdout.write(`${text}\n`);
  return 0;
}

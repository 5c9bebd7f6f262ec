// `sealkv admin ...`: a thin client of the admin HTTP API. Prints the JSON answer; on an error
// prints `error: <CODE>: <message>` and returns a non-zero status (OP-3).

import { readFileSync } from 'node:fs';
import { runBackup, runBackupVerify } from './backup.js';
import { runKekParams } from './kek-params.js';
import { runResyncSidecar } from './resync-sidecar.js';

// ---- KM-13 / BR-1 / WR-3 recovery commands ----

/** Offline commands over a stopped node's data directory or a backup (no admin request). */
const OFFLINE_COMMANDS: Record<string, (argv: string[]) => Promise<number>> = {
  'resync-sidecar': runResyncSidecar,
  backup: runBackup,
  'backup-verify': runBackupVerify,
};
const RECOVERY_COMMANDS = ['register-writer', ...Object.keys(OFFLINE_COMMANDS)];
const RECOVERY_FLAGS = ['dek-id', 'full-node-id', 'local-epoch'];

const FLAGS = new Set(['admin', 'token-file', 'id', 'address', 'role', 'timeout-ms', 'purpose', 'writer', ...RECOVERY_FLAGS]);
/** Flags without a value. `--voter`: add-node adds a voter directly instead of a learner. */
const BOOL_FLAGS = new Set(['voter']);

/** The encryption subcommands served over the admin API (OP-3), and how each prints its answer. */
const ENCRYPTION_COMMANDS = new Set([
  'capability',
  'status',
  'sidecar',
  'bootstrap',
  'enable-storage-envelope',
  'enable-raft-envelope',
  'rotate-dek',
  'disable',
  'kek-params',
  ...RECOVERY_COMMANDS,
]);

/** OP-3 `register-writer --dek-id N --full-node-id U64 --local-epoch N` (the node checks the ranges). */
function registerWriterRequest(f: Record<string, string>, timeout: object): { method: string; path: string; body: object } | string {
  const dek = f['dek-id'];
  const node = f['full-node-id'];
  const epoch = f['local-epoch'];
  if (dek === undefined || node === undefined || epoch === undefined) return 'register-writer needs --dek-id N --full-node-id U64 --local-epoch N';
  if (!/^[0-9]{1,10}$/.test(dek) || !/^[0-9]{1,20}$/.test(node) || !/^[0-9]{1,10}$/.test(epoch)) return 'register-writer: --dek-id, --full-node-id and --local-epoch are decimal integers';
  return { method: 'POST', path: '/v1/encryption/register-writer', body: { dek_id: Number(dek), full_node_id: node, local_epoch: Number(epoch), ...timeout } };
}

export async function runAdmin(argv: string[]): Promise<number> {
  let [sub, ...rest] = argv;
  let encSub: string | undefined;
  if (sub === 'encryption') {
    encSub = rest[0];
    rest = rest.slice(1);
    if (encSub === 'kek-params') return runKekParams(rest);
    const offline = OFFLINE_COMMANDS[encSub ?? ''];
    if (offline !== undefined) return offline(rest);
    if (encSub === 'disable') {
      // RO-15: one way; no request is sent.
      process.stderr.write('error: ENCRYPTION_DISABLE_UNSUPPORTED: encryption cannot be disabled in place; follow the dump-and-reload procedure in docs/OPERATIONS.md\n');
      return 2;
    }
    if (encSub === undefined || !ENCRYPTION_COMMANDS.has(encSub)) {
      process.stderr.write(`error: USAGE: unknown or unavailable encryption command '${encSub ?? ''}' (available: ${[...ENCRYPTION_COMMANDS].join(', ')})\n`);
      return 1;
    }
  }
  const writers: string[] = [];
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
    if (name === 'writer') writers.push(rest[++i]!);
    else f[name] = rest[++i]!;
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
    case 'encryption': {
      const r = encryptionRequest(encSub!, f, writers, timeout);
      if (typeof r === 'string') {
        process.stderr.write(`error: USAGE: ${r}\n`);
        return 1;
      }
      ({ method, path, body } = r);
      break;
    }
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
  process.stdout.write(`${encSub === undefined ? text : encryptionOutput(encSub, text)}\n`);
  return 0;
}

function encryptionRequest(
  sub: string,
  f: Record<string, string>,
  writers: string[],
  timeout: object,
): { method: string; path: string; body?: object } | string {
  switch (sub) {
    case 'capability':
    case 'status':
    case 'sidecar':
      return { method: 'GET', path: `/v1/encryption/${sub}` };
    case 'bootstrap': {
      const list: { full_node_id: string; local_epoch: number }[] = [];
      for (const w of writers) {
        const m = /^([0-9]{1,20}):([0-9]{1,6})$/.exec(w);
        if (!m) return `--writer must be <full_node_id>:<local_epoch>, got '${w}'`;
        list.push({ full_node_id: m[1]!, local_epoch: Number(m[2]) });
      }
      return { method: 'POST', path: '/v1/encryption/bootstrap', body: { ...(list.length > 0 ? { writers: list } : {}), ...timeout } };
    }
    case 'enable-storage-envelope':
      return { method: 'POST', path: '/v1/encryption/enable-storage-envelope', body: timeout };
    // issue 11
    case 'enable-raft-envelope':
      return { method: 'POST', path: '/v1/encryption/enable-raft-envelope', body: timeout };
    case 'rotate-dek':
      if (f.purpose === undefined) return 'rotate-dek needs --purpose storage|raft';
      return { method: 'POST', path: '/v1/encryption/rotate-dek', body: { purpose: f.purpose, ...timeout } };
    case 'register-writer':
      return registerWriterRequest(f, timeout);
    default:
      return `unknown encryption command '${sub}'`;
  }
}

/** OP-3's stable lines for the cutover and rotation; JSON for everything else. */
function encryptionOutput(sub: string, text: string): string {
  let doc: Record<string, unknown>;
  try {
    doc = JSON.parse(text) as Record<string, unknown>;
  } catch {
    return text;
  }
  if (sub === 'enable-storage-envelope' || sub === 'enable-raft-envelope') {
    const line = `${doc.was_already_active === true ? 'already-active' : 'enabled'} applied_index=${String(doc.applied_index)}`;
    return doc.cutover_index_unknown === true ? `${line}\nwarning: cutover index unknown` : line;
  }
  if (sub === 'register-writer') return `${doc.proposed === true ? 'registered' : 'already-registered'} applied_index=${String(doc.applied_index)}`;
  if (sub === 'rotate-dek') return `rotated purpose=${String(doc.purpose ?? 'storage')} key_id=${String(doc.key_id)} applied_index=${String(doc.applied_index)}`;
  if (sub === 'bootstrap') {
    return `bootstrapped storage_dek_id=${String(doc.storage_dek_id)} raft_dek_id=${String(doc.raft_dek_id)} applied_index=${String(doc.applied_index)}`;
  }
  return text;
}

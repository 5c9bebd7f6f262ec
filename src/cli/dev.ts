// `sealkv dev` (= `npm start`): a 3-node cluster on loopback under ./.sealkv-dev, one child
// process per node, with encryption on: a generated DEVELOPMENT KEK file (mode 0600), then
// bootstrap and the storage envelope switched on through the admin API. Ctrl-C stops all three.

import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const DEV_KEK_WARNING = [
  '',
  '[dev] ************************************************************************',
  '[dev] *  WARNING: DEVELOPMENT KEK. The key-encryption key is a generated file  *',
  '[dev] *  next to the data. Anyone who can read this directory can decrypt it.  *',
  '[dev] *  Never use `sealkv dev` or this key file for data you care about.     *',
  '[dev] ************************************************************************',
  '',
].join('\n');

/** 32 random bytes, mode 0600, created once per dev directory. */
function devKekFile(dir: string): string {
  const path = join(dir, 'dev-kek.bin');
  if (!existsSync(path)) writeFileSync(path, randomBytes(32), { mode: 0o600, flag: 'wx' });
  return path;
}

/** POSTs to whichever node is the leader (trying each admin port) until it answers 2xx or an accepted code. */
async function postToLeader(ports: number[], path: string, accept: string[], deadline: number): Promise<string> {
  let last = '';
  while (Date.now() < deadline) {
    for (const port of ports) {
      try {
        const res = await fetch(`http://127.0.0.1:${port}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
        const text = await res.text();
        if (res.ok) return text;
        last = text;
        if (accept.some((c) => text.includes(`"${c}"`))) return text;
      } catch (e) {
        last = (e as Error).message;
      }
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`${path}: no leader accepted it (last: ${last})`);
}

export async function runDev(argv: string[]): Promise<void> {
  let dir = '.sealkv-dev';
  let base = 6379;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--dir') dir = argv[++i] ?? dir;
    else if (argv[i] === '--base-port') base = Number(argv[++i]);
  }
  dir = resolve(dir);
  const ids = ['n1', 'n2', 'n3'];
  const peers = ids.map((id, i) => `${id}=127.0.0.1:${7001 + i}`).join(',');
  const main = fileURLToPath(new URL('./main.js', import.meta.url));
  const children: ChildProcess[] = [];
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const kekFile = devKekFile(dir);
  process.stderr.write(`${DEV_KEK_WARNING}\n[dev] KEK file: ${kekFile}\n`);
  ids.forEach((id, i) => {
    const dataDir = join(dir, id);
    mkdirSync(dataDir, { recursive: true });
    const args = [
      main,
      'start',
      '--id',
      id,
      '--cluster-id',
      'sealkv-dev',
      '--data-dir',
      dataDir,
      '--raft',
      `127.0.0.1:${7001 + i}`,
      '--resp',
      `127.0.0.1:${base + i}`,
      '--admin',
      `127.0.0.1:${8081 + i}`,
      '--peers',
      peers,
      '--log-level',
      'warn',
      '--encryption',
      '--kek-file',
      kekFile,
    ];
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'inherit', 'inherit'] });
    child.on('exit', (code, signal) => {
      if (!stopping) process.stderr.write(`[dev] ${id} exited (${signal ?? code})\n`);
    });
    children.push(child);
  });
  let stopping = false;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    process.stdout.write('\n[dev] stopping the cluster...\n');
    for (const c of children) c.kill('SIGTERM');
    let left = children.length;
    for (const c of children) {
      if (c.exitCode !== null || c.signalCode !== null) left--;
      else c.once('exit', () => --left === 0 && process.exit(0));
    }
    if (left === 0) process.exit(0);
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  process.stdout.write(
    [
      `[dev] 3-node sealkv cluster under ${dir}`,
      `[dev]   RESP:  redis-cli -p ${base}   (also ${base + 1}, ${base + 2}; any node accepts writes)`,
      '[dev]   admin: curl http://127.0.0.1:8081/v1/status   (8082, 8083)',
      '[dev]   encryption: bootstrapping and switching on the storage and raft envelopes...; Ctrl-C stops all three',
      '',
    ].join('\n'),
  );
  const ports = ids.map((_, i) => 8081 + i);
  try {
    const deadline = Date.now() + 60_000;
    await postToLeader(ports, '/v1/encryption/bootstrap', ['ENCRYPTION_ALREADY_BOOTSTRAPPED'], deadline);
    const en = await postToLeader(ports, '/v1/encryption/enable-storage-envelope', [], deadline);
    process.stdout.write(`[dev] encryption bootstrapped; storage envelope on: ${en}\n`);
    // Both envelopes by default (issue 11): the raft cutover runs the quiescence barrier (RO-7).
    const raft = await postToLeader(ports, '/v1/encryption/enable-raft-envelope', [], deadline);
    process.stdout.write(`[dev] raft envelope on: ${raft}\n`);
  } catch (e) {
    process.stderr.write(`[dev] could not switch encryption on: ${(e as Error).message}\n`);
  }
}

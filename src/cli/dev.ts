// `sealkv dev` (= `npm start`): a 3-node cluster on loopback under ./.sealkv-dev, one child
// process per node. Ctrl-C stops all three cleanly.

import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

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
      '[dev]   encryption is not switched on in this build (cleartext values); Ctrl-C stops all three',
      '',
    ].join('\n'),
  );
}

// A 3-member etcd cluster on loopback for the comparison: separate data dirs, plain HTTP, every
// setting at its default (so WAL fsync is on, snapshot-count 100000, GOMAXPROCS = cores).

import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { freePorts, runToCompletion, sleep, startProcess } from './procs.mjs';

export function etcdVersion() {
  const r = spawnSync('etcd', ['--version'], { encoding: 'utf8' });
  if (r.error || r.status !== 0) return null;
  return /etcd Version: (\S+)/.exec(r.stdout)?.[1] ?? null;
}

/**
 * @param {string} dir
 * @param {(msg: string) => void} log
 */
export async function startEtcdCluster(dir, log) {
  const ports = await freePorts(6);
  const members = ['e1', 'e2', 'e3'].map((name, i) => ({
    name,
    client: `127.0.0.1:${ports[2 * i]}`,
    peer: `127.0.0.1:${ports[2 * i + 1]}`,
    dataDir: join(dir, name),
  }));
  const initialCluster = members.map((m) => `${m.name}=http://${m.peer}`).join(',');
  for (const m of members) {
    mkdirSync(m.dataDir, { recursive: true });
    m.proc = startProcess(`etcd ${m.name}`, 'etcd', [
      '--name', m.name,
      '--data-dir', m.dataDir,
      '--listen-client-urls', `http://${m.client}`,
      '--advertise-client-urls', `http://${m.client}`,
      '--listen-peer-urls', `http://${m.peer}`,
      '--initial-advertise-peer-urls', `http://${m.peer}`,
      '--initial-cluster', initialCluster,
      '--initial-cluster-state', 'new',
      '--initial-cluster-token', `bench-${process.pid}`,
      '--logger', 'zap',
      '--log-level', 'warn',
    ], { logPath: join(dir, `${m.name}.log`) });
  }
  const endpoints = members.map((m) => m.client).join(',');
  const deadline = Date.now() + 30_000;
  for (;;) {
    for (const m of members) {
      if (m.proc.child.exitCode !== null) throw new Error(`etcd ${m.name} exited with ${m.proc.child.exitCode}; see ${m.proc.logPath}`);
    }
    const st = await etcdStatus(endpoints).catch(() => null);
    if (st && st.length === 3 && st.every((s) => s.leader !== '0' && s.leader === st[0].leader)) {
      const leader = members[st.findIndex((s) => s.memberId === s.leader)];
      if (leader) {
        log(`etcd: 3 members up, leader ${leader.name} (${leader.client})`);
        return { members, endpoints, leader };
      }
    }
    if (Date.now() > deadline) throw new Error('etcd: no leader within 30 s');
    await sleep(300);
  }
}

/**
 * `etcdctl endpoint status` for every endpoint. Member ids are 64-bit, beyond a double's exact
 * range, so they are read from the JSON text as digit strings rather than through JSON.parse.
 * @returns {Promise<{ endpoint: string, memberId: string, leader: string, revision: number, raftIndex: number, dbSize: number }[]>}
 */
export async function etcdStatus(endpoints) {
  const r = await runToCompletion('etcdctl', ['--endpoints', endpoints, '--command-timeout', '3s', 'endpoint', 'status', '-w', 'json'], {
    env: { ...process.env, ETCDCTL_API: '3' },
    timeoutMs: 10_000,
  });
  if (r.code !== 0) throw new Error(`etcdctl endpoint status failed: ${r.stderr.trim()}`);
  const out = [];
  for (const m of r.stdout.matchAll(/\{"Endpoint":"([^"]+)".*?"member_id":(\d+).*?"revision":(\d+).*?"leader":(\d+).*?"raftIndex":(\d+)/g)) {
    const dbSize = /"dbSize":(\d+)/.exec(r.stdout.slice(m.index))?.[1];
    out.push({ endpoint: m[1], memberId: m[2], revision: Number(m[3]), leader: m[4], raftIndex: Number(m[5]), dbSize: Number(dbSize ?? 0) });
  }
  return out;
}

// A fresh 3-node sealkv cluster on loopback for the benchmark (`node dist/cli/main.js start`),
// fsync on (the default), optionally every node under `node --cpu-prof`, and optionally with the
// encryption bootstrapped and both envelopes enabled — the configuration the product exists for.

import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { freePorts, sleep, startProcess, stopProcess } from './procs.mjs';

/**
 * @param {{ repo: string, dir: string, clusterId: string, cpuProfDir?: string|null, encryption: boolean, nodeArgs: string[], log: (m: string) => void }} o
 */
export async function startSealkvCluster(o) {
  const main = join(o.repo, 'dist', 'cli', 'main.js');
  if (!existsSync(main)) throw new Error(`${main} does not exist (build with: npx tsc -p tsconfig.json)`);
  const ports = await freePorts(9);
  const ids = ['n1', 'n2', 'n3'];
  const nodes = ids.map((id, i) => ({
    id,
    raft: `127.0.0.1:${ports[3 * i]}`,
    resp: `127.0.0.1:${ports[3 * i + 1]}`,
    admin: `127.0.0.1:${ports[3 * i + 2]}`,
    dataDir: join(o.dir, id),
    proc: null,
  }));
  const peers = nodes.map((n) => `${n.id}=${n.raft}`).join(',');
  mkdirSync(o.dir, { recursive: true });
  let kekArgs = [];
  if (o.encryption) {
    // A throwaway KEK for this run only, outside every data dir, mode 0600 as KM-2 requires.
    const kek = join(o.dir, 'bench-kek.bin');
    writeFileSync(kek, randomBytes(32), { mode: 0o600 });
    chmodSync(kek, 0o600);
    kekArgs = ['--encryption', '--kek-file', kek];
  }
  for (const n of nodes) {
    mkdirSync(n.dataDir, { recursive: true });
    const nodeFlags = o.cpuProfDir ? ['--cpu-prof', '--cpu-prof-dir', join(o.cpuProfDir, n.id)] : [];
    // Extra flags for node itself (e.g. --trace-gc for A/B work; NODE_OPTIONS refuses some).
    if (process.env.SEALKV_BENCH_NODE_FLAGS) nodeFlags.push(...process.env.SEALKV_BENCH_NODE_FLAGS.split(/\s+/).filter(Boolean));
    const args = [
      ...nodeFlags,
      main,
      'start',
      '--id', n.id,
      '--cluster-id', o.clusterId,
      '--data-dir', n.dataDir,
      '--raft', n.raft,
      '--resp', n.resp,
      '--admin', n.admin,
      '--peers', peers,
      '--log-level', 'warn',
      ...kekArgs,
      ...o.nodeArgs,
    ];
    n.args = args;
    n.proc = startProcess(`sealkv ${n.id}`, process.execPath, args, { logPath: join(o.dir, `${n.id}.log`), cwd: o.repo });
  }
  const cluster = { nodes, leader: null, followers: [] };
  await waitForLeader(cluster, 60_000, o.log);
  return cluster;
}

/** GET /v1/status of one node, or null when it does not answer. */
export async function nodeStatus(n) {
  try {
    const r = await fetch(`http://${n.admin}/v1/status`, { signal: AbortSignal.timeout(2000) });
    if (!r.ok) return null;
    return await r.json();
  } catch {
    return null;
  }
}

/** Waits until all three nodes agree on one leader; fills cluster.leader / cluster.followers. */
export async function waitForLeader(cluster, timeoutMs, log) {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    for (const n of cluster.nodes) {
      const c = n.proc.child;
      if (c.exitCode !== null || c.signalCode !== null) {
        await n.proc.exited;
        await sleep(300); // let the log pipe drain into the file
        let tail = '';
        try {
          tail = readFileSync(n.proc.logPath, 'utf8').trim().split('\n').slice(0, 3).join(' | ');
        } catch {
          // No log: the message without it still names the node and status.
        }
        const err = new Error(`sealkv ${n.id} exited (${c.exitCode ?? c.signalCode}) during start-up: ${tail}`);
        err.startupLog = tail;
        throw err;
      }
    }
    const st = await Promise.all(cluster.nodes.map(nodeStatus));
    const leaderId = st[0]?.leader ?? null;
    const agreed = leaderId && st.every((s) => s && s.leader === leaderId);
    const leader = agreed ? cluster.nodes.find((n, i) => n.id === leaderId && st[i].role === 'leader') : null;
    if (leader) {
      cluster.leader = leader;
      cluster.followers = cluster.nodes.filter((n) => n !== leader);
      log(`sealkv: 3 nodes up, leader ${leader.id} (resp ${leader.resp}), term ${st[0].term}`);
      return leader;
    }
    const summary = st.map((s, i) => `${cluster.nodes[i].id}:${s ? `${s.role}/${s.leader}` : 'down'}`).join(' ');
    if (summary !== last) {
      log(`sealkv: waiting for a leader (${summary})`);
      last = summary;
    }
    if (Date.now() > deadline) throw new Error(`sealkv: no leader within ${timeoutMs / 1000} s (${summary})`);
    await sleep(250);
  }
}

async function adminPost(n, path, body) {
  const r = await fetch(`http://${n.admin}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(60_000),
  });
  const text = await r.text();
  if (!r.ok) throw new Error(`POST ${path} on ${n.id}: HTTP ${r.status} ${text}`);
  return JSON.parse(text);
}

/**
 * Bootstrap, then the storage envelope (Phase 1), then the raft envelope (Phase 2), on the leader.
 * `{ raft: false }` stops after Phase 1 (the raft-envelope cutover is not built yet).
 */
export async function enableEncryption(cluster, log, { raft = true } = {}) {
  const l = cluster.leader;
  const b = await adminPost(l, '/v1/encryption/bootstrap', {});
  log(`sealkv: encryption bootstrapped at index ${b.applied_index} (storage DEK ${b.storage_dek_id}, raft DEK ${b.raft_dek_id})`);
  const s = await adminPost(l, '/v1/encryption/enable-storage-envelope', {});
  log(`sealkv: storage envelope enabled at index ${s.applied_index}`);
  let r = null;
  if (raft) {
    r = await adminPost(l, '/v1/encryption/enable-raft-envelope', {});
    log(`sealkv: raft envelope enabled at index ${r.applied_index}`);
  }
  const st = await nodeStatus(l);
  return { bootstrap: b, storage: s, raft: r, status: st?.encryption ?? null };
}

/** SIGTERM every node and wait (the CPU profile is written on this clean exit). */
export async function stopSealkvCluster(cluster) {
  const res = await Promise.all(cluster.nodes.map((n) => stopProcess(n.proc, 30_000)));
  await sleep(200); // let the log pipes drain
  return Object.fromEntries(cluster.nodes.map((n, i) => [n.id, { ...res[i], log: logSummary(n.proc.logPath) }]));
}

/** What a node logged at --log-level warn (its log is deleted with the temp dir). */
export function logSummary(path) {
  try {
    const lines = readFileSync(path, 'utf8').split('\n').filter((l) => l.trim() !== '');
    return { lines: lines.length, first: lines.slice(0, 5).map((l) => l.slice(0, 400)) };
  } catch {
    return null;
  }
}

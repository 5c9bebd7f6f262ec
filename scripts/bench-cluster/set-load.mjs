#!/usr/bin/env node
// One quick SET load against a fresh 3-node cluster, for A/B work on the write path (not a
// report): `redis-benchmark -t set -d 256` through the leader, then per-node CPU (user/sys, µs per
// write) and the apply / log-persist / LMDB-commit counters from /metrics. The full, reported
// comparison with etcd is scripts/bench-cluster.mjs.
//
//   node scripts/bench-cluster/set-load.mjs [-c=64] [-P=1] [-n=100000] [--prof] [--threads] [--storage-envelope] [--na=<node arg>]...
// --threads also splits each node's CPU by thread name (main loop, libuv pool, V8 GC/compiler
// workers, LMDB's writer, …), which says where the time goes without a profiler's overhead.
// --storage-envelope starts the nodes with --encryption (a generated KEK), bootstraps and enables the
// storage envelope before the load (the cipher is the node default unless --na=--cipher=… is given).
// --raft-envelope does the same and then also enables the raft envelope (both envelopes on).
//
// --prof runs every node under --cpu-prof and keeps the profiles (the path is printed).

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readCpu, readThreadCpu } from './procs.mjs';
import { redisBenchmark } from './redis-bench.mjs';
import { enableEncryption, startSealkvCluster, stopSealkvCluster } from './sealkv.mjs';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const args = process.argv.slice(2);
const num = (flag, dflt) => {
  const a = args.find((x) => x.startsWith(`${flag}=`));
  const v = a === undefined ? dflt : Number(a.slice(flag.length + 1));
  if (!(Number.isInteger(v) && v > 0)) {
    console.error(`set-load: ${flag} needs a positive integer`);
    process.exit(1);
  }
  return v;
};
const prof = args.includes('--prof');
const raftEnvelope = args.includes('--raft-envelope');
const storageEnvelope = raftEnvelope || args.includes('--storage-envelope');
const threads = args.includes('--threads');
const requests = num('-n', 100_000);
const pipeline = num('-P', 1);
const clients = num('-c', 64);
const nodeArgs = args.filter((a) => a.startsWith('--na=')).map((a) => a.slice(5));
const dir = mkdtempSync(join(tmpdir(), 'sealkv-set-load-'));
const log = (m) => console.log(m);

const cl = await startSealkvCluster({ repo: REPO, dir, clusterId: 'set-load', cpuProfDir: prof ? join(dir, 'prof') : null, encryption: storageEnvelope, nodeArgs, log });
try {
  if (storageEnvelope) await enableEncryption(cl, log, { raft: raftEnvelope });
  const before = cl.nodes.map((x) => readCpu(x.proc.child.pid));
  const beforeT = threads ? cl.nodes.map((x) => readThreadCpu(x.proc.child.pid)) : null;
  const r = await redisBenchmark({ endpoint: cl.leader.resp, tests: 'set', dataSize: 256, clients, requests, pipeline, log });
  const after = cl.nodes.map((x) => readCpu(x.proc.child.pid));
  const afterT = threads ? cl.nodes.map((x) => readThreadCpu(x.proc.child.pid)) : null;
  if (!r.ok) console.log(`redis-benchmark failed: ${JSON.stringify(r.errorLines)}`);
  console.log(`redis-benchmark CPU ${r.clientCpuS} s (${((r.clientCpuS * 1e6) / requests).toFixed(0)} µs/req)`);
  cl.nodes.forEach((x, i) => {
    const user = after[i].userS - before[i].userS;
    const sys = after[i].sysS - before[i].sysS;
    console.log(`${x.id} ${x === cl.leader ? 'leader  ' : 'follower'} user ${user.toFixed(2)} s, sys ${sys.toFixed(2)} s, ${(((user + sys) * 1e6) / requests).toFixed(0)} µs/write`);
    if (threads) {
      const byName = new Map();
      const us = (s) => ((s * 1e6) / requests).toFixed(1);
      for (const [tid, t] of afterT[i]) {
        const b = beforeT[i].get(tid) ?? { name: t.name, userS: 0, sysS: 0, switches: 0 };
        // Node 20 leaves its threads unnamed ("node"): the main thread is the one whose tid is the pid.
        const name = tid === String(x.proc.child.pid) ? 'main' : t.name === 'node' ? 'other' : t.name;
        const e = byName.get(name) ?? { user: 0, sys: 0, n: 0, top: [], csw: 0 };
        e.csw += t.switches - b.switches;
        e.top.push(`${tid}:${us(t.userS - b.userS)}+${us(t.sysS - b.sysS)}`);
        e.user += t.userS - b.userS;
        e.sys += t.sysS - b.sysS;
        e.n++;
        byName.set(name, e);
      }
      const parts = [...byName.entries()]
        .filter(([, e]) => e.user + e.sys > 0)
        .sort((a, b) => b[1].user + b[1].sys - (a[1].user + a[1].sys))
        .map(([name, e]) => `${name}×${e.n} ${us(e.user)}+${us(e.sys)} (${(e.csw / requests).toFixed(2)} switches/write)${e.n > 1 ? ` [${e.top.join(' ')}]` : ''}`);
      console.log(`   threads (user+sys µs/write): ${parts.join(', ')}`);
    }
  });
  const wanted = /^sealkv_(apply_batch_entries_count|apply_batch_seconds_sum|raft_log_persist_seconds_count|raft_log_persist_seconds_sum|storage_commits_total|wal_groups_total|wal_write_seconds_total|crypto_seconds_total|crypto_pool_batches)\b/;
  for (const x of cl.nodes) {
    const text = await (await fetch(`http://${x.admin}/metrics`)).text();
    console.log(`${x.id} ${text.split('\n').filter((l) => wanted.test(l)).join(', ')}`);
  }
} finally {
  await stopSealkvCluster(cl);
  if (prof) console.log(`CPU profiles in ${join(dir, 'prof')} (leader ${cl.leader.id})`);
  else if (!process.env.KEEP_DIR) rmSync(dir, { recursive: true, force: true });
  if (process.env.KEEP_DIR) console.log(`kept ${dir}`);
}

#!/usr/bin/env node
// Cluster benchmark (issue 4, "Measured"): a fresh 3-node sealkv cluster on loopback (fsync on,
// encryption bootstrapped with both envelopes enabled unless --no-encryption) driven by
// redis-benchmark, a CPU profile of the leader, and a 3-member etcd 3.4 cluster from Debian's
// etcd-server driven with the same value size and 64 concurrent clients, all in one run.
// Writes bench/results/cluster-<date>.json and .md; stops every process it started, also on Ctrl-C.
//
//   node scripts/bench-cluster.mjs [--only sealkv|etcd] [--quick] [--etcd-total N]
//        [--encryption auto|on|off] [--node-arg ARG]... [--out DIR] [--keep] [--wait-quiet SECONDS]
//
// --encryption auto (the default) runs encrypted when the node build accepts `--encryption` and
// says so in the report when it does not.
//        [--rebuild cluster-<date>.json]
//
// --rebuild re-renders the .json/.md of an earlier run from its JSON data (no measurement).
// --quick divides every request count by 20 (a smoke test of the script, not a measurement).

import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { gzipSync } from 'node:zlib';
import { findCpuProfiles, summariseCpuProfile } from './bench-cluster/cpuprofile.mjs';
import { persistCounters, persistMeans, rawDsyncAppend } from './bench-cluster/disk-probe.mjs';
import { etcdStatus, etcdVersion, startEtcdCluster } from './bench-cluster/etcd.mjs';
import { cpuDelta, killAllNow, machineBusy, machineCpu, readCpu, runToCompletion, sleep, stopAll, stopProcess } from './bench-cluster/procs.mjs';
import { redisBenchmark, redisCli } from './bench-cluster/redis-bench.mjs';
import { enableEncryption, logSummary, nodeStatus, startSealkvCluster, stopSealkvCluster } from './bench-cluster/sealkv.mjs';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..');

function parseArgs(argv) {
  const o = { only: 'all', quick: false, etcdTotal: 100_000, encryption: 'auto', nodeArgs: [], out: join(REPO, 'bench', 'results'), keep: false, waitQuietS: 0 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => {
      const v = argv[++i];
      if (v === undefined) usage(`${a} needs a value`);
      return v;
    };
    if (a === '--only') o.only = val();
    else if (a === '--quick') o.quick = true;
    else if (a === '--etcd-total') o.etcdTotal = Number(val());
    else if (a === '--encryption') o.encryption = val();
    else if (a === '--no-encryption') o.encryption = 'off';
    else if (a === '--node-arg') o.nodeArgs.push(val());
    else if (a === '--out') o.out = resolve(val());
    else if (a === '--keep') o.keep = true;
    else if (a === '--rebuild') o.rebuild = resolve(val());
    else if (a === '--wait-quiet') o.waitQuietS = Number(val());
    else usage(`unknown argument ${a}`);
  }
  if (!['all', 'sealkv', 'etcd'].includes(o.only)) usage('--only takes sealkv or etcd');
  if (!['auto', 'on', 'off'].includes(o.encryption)) usage('--encryption takes auto, on or off');
  if (!(Number.isInteger(o.etcdTotal) && o.etcdTotal > 0)) usage('--etcd-total needs a positive integer');
  return o;
}

function usage(msg) {
  console.error(`bench-cluster: ${msg}`);
  console.error('usage: node scripts/bench-cluster.mjs [--only sealkv|etcd] [--quick] [--etcd-total N] [--encryption auto|on|off] [--node-arg ARG]... [--out DIR] [--keep] [--wait-quiet SECONDS] [--rebuild FILE.json]');
  process.exit(1);
}

const opts = parseArgs(process.argv.slice(2));
const t0 = Date.now();
let startedAt = new Date().toISOString();
const loadAtStart = loadavg()
  .map((x) => x.toFixed(2))
  .join(' ');
const log = (m) => console.log(`[${((Date.now() - t0) / 1000).toFixed(1).padStart(6)} s] ${m}`);
const scale = (n) => (opts.quick ? Math.max(1000, Math.round(n / 20)) : n);
const workDir = mkdtempSync(join(tmpdir(), 'sealkv-bench-cluster-'));

// Cleanup on every exit path: Ctrl-C / SIGTERM stop our processes gracefully, then remove the temp dir.
let interrupted = false;
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    if (interrupted) return;
    interrupted = true;
    log(`${sig}: stopping every process this run started`);
    stopAll(5000).finally(() => {
      if (!opts.keep) rmSync(workDir, { recursive: true, force: true });
      process.exit(130);
    });
  });
}
process.on('exit', killAllNow);

/** CPU seconds used by each process of a cluster between two snapshots. */
function cpuSnapshot(procs) {
  return procs.map((p) => ({ name: p.name, pid: p.child.pid, cpu: readCpu(p.child.pid) }));
}
function cpuUsed(before, after) {
  const out = {};
  before.forEach((b, i) => {
    out[b.name] = cpuDelta(b.cpu, after[i]?.cpu);
  });
  return out;
}

/**
 * CPU seconds the rest of the machine (other engineers' work) used during a run: machine busy
 * time minus our servers and client (server CPU from /proc, sampled at the run's ends).
 */
function foreignCpu(m0, m1, serverCpuS, clientCpuS) {
  const ours = Object.values(serverCpuS).reduce((a, b) => a + (b ?? 0), 0) + (clientCpuS ?? 0);
  const busy = m1.busyS - m0.busyS;
  const wall = (m1.totalS - m0.totalS) / cpus().length;
  return { machineBusyS: Math.round(busy * 10) / 10, oursS: Math.round(ours * 10) / 10, foreignS: Math.round(Math.max(0, busy - ours) * 10) / 10, foreignCores: wall > 0 ? Math.round((Math.max(0, busy - ours) / wall) * 100) / 100 : null };
}

async function quietCheck(label) {
  let busy = await machineBusy(2000);
  const deadline = Date.now() + opts.waitQuietS * 1000;
  while (busy > 0.25 && Date.now() < deadline) {
    log(`machine ${Math.round(busy * 100)}% busy before ${label}; waiting for it to quieten`);
    await sleep(10_000);
    busy = await machineBusy(2000);
  }
  const pct = Math.round(busy * 100);
  log(`machine ${pct}% busy (2 s sample, all cores) before ${label}; load average ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  return pct;
}

// ---------------------------------------------------------------- sealkv

/** Whether the runs are encrypted; decided by the first cluster start under --encryption auto. */
let encryptionInUse = null;
let encryptionUnavailable = null;

async function startCluster(o) {
  const want = encryptionInUse ?? opts.encryption !== 'off';
  try {
    const c = await startSealkvCluster({ ...o, encryption: want });
    encryptionInUse = want;
    return c;
  } catch (e) {
    if (!(want && opts.encryption === 'auto' && /--encryption/.test(e.startupLog ?? ''))) throw e;
    await stopAll(10_000);
    encryptionUnavailable = e.startupLog;
    log(`sealkv: this build refuses --encryption (${e.startupLog.split(' | ')[0]}); running WITHOUT encryption`);
    rmSync(o.dir, { recursive: true, force: true });
    encryptionInUse = false;
    return startSealkvCluster({ ...o, encryption: false });
  }
}

async function benchSealkv() {
  const out = { encryption: null, runs: [], smoke: [], profile: null, stops: {} };
  const nodeArgs = opts.nodeArgs;

  // Phase A: unprofiled cluster — acceptance runs and the like-for-like runs.
  log('sealkv phase A: starting a fresh 3-node cluster (fsync on)');
  const dirA = join(workDir, 'sealkv-a');
  const a = await startCluster({ repo: REPO, dir: dirA, clusterId: 'B', nodeArgs, log });
  try {
    if (encryptionInUse) out.encryption = await enableEncryption(a, log);
    const follower = a.followers[0];
    for (const [role, n] of [
      ['leader', a.leader],
      ['follower', follower],
    ]) {
      const ping = await redisCli(n.resp, ['PING']);
      const set = await redisCli(n.resp, ['SET', 'bench:smoke', `via-${role}`]);
      const get = await redisCli(n.resp, ['GET', 'bench:smoke']);
      const ok = ping.out === 'PONG' && set.out === 'OK' && get.out === `via-${role}`;
      out.smoke.push({ role, node: n.id, ping: ping.out, set: set.out, get: get.out, ok });
      log(`redis-cli via ${role} ${n.id}: PING → ${ping.out}, SET → ${set.out}, GET → ${get.out} ${ok ? '(ok)' : '(FAILED)'}`);
    }
    const procs = a.nodes.map((n) => n.proc);
    const run = async (name, target, bench) => {
      const busyPct = await quietCheck(name);
      const p0 = await Promise.all(a.nodes.map(persistCounters));
      const before = cpuSnapshot(procs);
      const m0 = machineCpu();
      const r = await redisBenchmark({ endpoint: target.resp, log, ...bench });
      const m1 = machineCpu();
      const after = cpuSnapshot(procs);
      const persist = persistMeans(a.nodes, p0, await Promise.all(a.nodes.map(persistCounters)));
      const serverCpuS = cpuUsed(before, after);
      const entry = { name, target: target.id, targetRole: target === a.leader ? 'leader' : 'follower', machineBusyPctBefore: busyPct, ...r, serverCpuS, persist, machine: foreignCpu(m0, m1, serverCpuS, r.clientCpuS) };
      out.runs.push(entry);
      return entry;
    };
    await run('set,get via leader', a.leader, { tests: 'set,get', dataSize: 256, clients: 50, requests: scale(100_000), pipeline: 1 });
    await run('set,get via follower', follower, { tests: 'set,get', dataSize: 256, clients: 50, requests: scale(100_000), pipeline: 1 });
    await run('SET -c 50 -P 16 (acceptance)', a.leader, { tests: 'set', dataSize: 256, clients: 50, requests: scale(200_000), pipeline: 16 });
    await run('SET -c 64 -P 16', a.leader, { tests: 'set', dataSize: 256, clients: 64, requests: scale(200_000), pipeline: 16 });
    // The raw durable-append cost on the nodes' disk, next to the run whose persist it is compared with.
    out.disk = [];
    for (const writers of [1, 3]) {
      const d = await rawDsyncAppend({ dir: join(workDir, 'disk-probe'), ms: 3000, writers });
      out.disk.push(d);
      log(`raw O_DSYNC 4 KiB append, ${writers} writer(s) at once: mean ${d.meanMs.toFixed(3)} ms, p50 ${d.p50Ms.toFixed(3)}, p99 ${d.p99Ms.toFixed(3)} (${d.ops} appends)`);
    }
    await run('SET -c 64 -P 1 (64 in flight, as etcd)', a.leader, { tests: 'set', dataSize: 256, clients: 64, requests: scale(200_000), pipeline: 1 });
    // The benchmark's fixed key must read back as its 256-byte value through both roles.
    for (const n of [a.leader, follower]) {
      const len = await redisCli(n.resp, ['STRLEN', 'key:__rand_int__']);
      out.smoke.push({ role: n === a.leader ? 'leader' : 'follower', node: n.id, strlenAfterBench: len.out, ok: len.out === '256' });
      log(`redis-cli STRLEN key:__rand_int__ via ${n.id}: ${len.out}`);
    }
    out.statusAfterA = await Promise.all(a.nodes.map(nodeStatus));
    out.encryptionInUse = encryptionInUse;
    out.encryptionUnavailable = encryptionUnavailable;
  } finally {
    out.stops.phaseA = await stopSealkvCluster(a);
    log(`sealkv phase A stopped: ${Object.entries(out.stops.phaseA).map(([id, x]) => `${id} exit ${x.code ?? x.signal}, ${x.log?.lines ?? 0} log lines`).join('; ')}`);
  }

  // Phase B: every node under --cpu-prof (the leader's profile is the one summarised), the
  // like-for-like SET run again; the profile covers the process lifetime, the summary only the run.
  log('sealkv phase B: fresh cluster, every node under node --cpu-prof');
  const dirB = join(workDir, 'sealkv-b');
  const profDir = join(dirB, 'cpuprof');
  const b = await startCluster({ repo: REPO, dir: dirB, clusterId: 'B', nodeArgs, cpuProfDir: profDir, log });
  let window = null;
  const leaderId = b.leader.id;
  try {
    if (encryptionInUse) await enableEncryption(b, log);
    // Unmeasured warm-up (JIT, LMDB pages, connections), as phase A's set,get runs are for its SET runs.
    log('warm-up (not measured):');
    await redisBenchmark({ endpoint: b.leader.resp, log, tests: 'set', dataSize: 256, clients: 64, requests: scale(40_000), pipeline: 16 });
    const busyPct = await quietCheck('profiled run');
    const procs = b.nodes.map((n) => n.proc);
    const before = cpuSnapshot(procs);
    const m0 = machineCpu();
    const benchStart = Date.now();
    const r = await redisBenchmark({ endpoint: b.leader.resp, log, tests: 'set', dataSize: 256, clients: 64, requests: scale(200_000), pipeline: 16 });
    const benchEnd = Date.now();
    const m1 = machineCpu();
    const after = cpuSnapshot(procs);
    const serverCpuS = cpuUsed(before, after);
    out.runs.push({ name: 'SET -c 64 -P 16, leader under --cpu-prof', target: leaderId, targetRole: 'leader', machineBusyPctBefore: busyPct, ...r, serverCpuS, machine: foreignCpu(m0, m1, serverCpuS, r.clientCpuS) });
    window = { benchStart, benchEnd };
  } finally {
    // Stop the leader last-but-separately so its exit time anchors the profile window.
    const followersStopped = Promise.all(b.followers.map((n) => stopProcess(n.proc, 30_000)));
    const leaderExit = await stopProcess(b.leader.proc, 30_000);
    const exitAt = Date.now();
    await followersStopped;
    await sleep(200);
    out.stops.phaseB = Object.fromEntries(b.nodes.map((n) => [n.id, { ...(n === b.leader ? leaderExit : {}), log: logSummary(n.proc.logPath) }]));
    if (window) window.exitAt = exitAt;
    log(`sealkv phase B stopped (leader ${leaderId}: ${JSON.stringify(leaderExit)})`);
  }
  const files = findCpuProfiles(join(profDir, leaderId));
  if (files.length === 0) {
    out.profile = { error: `no .cpuprofile written under ${join(profDir, leaderId)} (the node must exit cleanly on SIGTERM)` };
    log(out.profile.error);
  } else {
    const w = window ? { startBeforeEndMs: window.exitAt - window.benchStart, endBeforeEndMs: window.exitAt - window.benchEnd } : null;
    out.profile = { leader: leaderId, threads: files.map((f) => summariseCpuProfile(f, 25, w)) };
    const main = out.profile.threads.find((t) => t.thread === 'main') ?? out.profile.threads[0];
    log(`leader profile (${main.thread} thread, benchmark window): busy ${main.busyMs} ms of ${main.sampledMs} ms sampled; top self time:`);
    for (const f of main.functions.slice(0, 10)) log(`  ${String(f.pctOfBusy).padStart(5)}%  ${f.function}  ${f.url}:${f.line}`);
    if (opts.keep) log(`profiles kept under ${join(profDir, leaderId)}`);
    else {
      // Keep the leader's main-thread profile beside the report (gzipped; skipped when large, as
      // it would be committed with the results).
      const gz = gzipSync(readFileSync(main.file));
      if (gz.length <= 8 * 2 ** 20) {
        mkdirSync(opts.out, { recursive: true });
        const dest = join(opts.out, `cluster-${startedAt.slice(0, 10)}-leader.cpuprofile.gz`);
        writeFileSync(dest, gz);
        out.profile.savedAs = dest;
      } else {
        out.profile.savedAs = null;
        log(`leader profile is ${(gz.length / 2 ** 20).toFixed(1)} MiB gzipped: not copied into the results (use --keep)`);
      }
      if (out.profile.savedAs) log(`leader main-thread profile saved as ${out.profile.savedAs} (open in Chrome DevTools after gunzip)`);
    }
  }
  return out;
}

// ---------------------------------------------------------------- etcd

async function benchEtcd() {
  const version = etcdVersion();
  if (!version) return { error: 'etcd is not installed (apt-get install -y etcd-server etcd-client)' };
  const out = { version, runs: [] };
  log(`etcd ${version}: starting a 3-member loopback cluster (fsync on)`);
  const c = await startEtcdCluster(join(workDir, 'etcd'), log);
  const procs = c.members.map((m) => m.proc);
  const putTool = join(REPO, 'scripts', 'bench-cluster', 'etcd-put.mjs');
  const load = async (name, clients, conns, total, record) => {
    const busyPct = record ? await quietCheck(name) : null;
    const st0 = await etcdStatus(c.endpoints);
    const before = cpuSnapshot(procs);
    const m0 = machineCpu();
    const args = [putTool, '--endpoint', c.leader.client, '--clients', String(clients), '--conns', String(conns), '--val-size', '256', '--key-size', '8', '--total', String(total)];
    log(`$ node ${args.map((x) => x.replace(`${REPO}/`, '')).join(' ')}`);
    let lastShown = 0;
    const r = await runToCompletion(process.execPath, args, {
      timeoutMs: 30 * 60_000,
      // The generator prints `etcd-put: done/total` every second; show a few of them.
      onErrLine: (l) => {
        const m = /etcd-put: (\d+)\//.exec(l);
        if (m && Number(m[1]) - lastShown >= total / 4) {
          lastShown = Number(m[1]);
          log(`  ${l.trim()}`);
        }
      },
    });
    const m1 = machineCpu();
    const after = cpuSnapshot(procs);
    if (r.code !== 0) throw new Error(`etcd load generator failed (${r.code}): ${r.stderr.slice(-500)}`);
    const res = JSON.parse(r.stdout.trim().split('\n').pop());
    const st1 = await etcdStatus(c.endpoints);
    const leaderBefore = st0.find((s) => s.endpoint === c.leader.client);
    const leaderAfter = st1.find((s) => s.endpoint === c.leader.client);
    const revisionDelta = leaderAfter.revision - leaderBefore.revision;
    const leaderUnchanged = st1.every((s) => s.leader === leaderBefore.leader);
    log(
      `  ${name}: ${res.putsPerS.toFixed(0)} puts/s, p50 ${res.latencyMs?.p50} ms, p99 ${res.latencyMs?.p99} ms, max ${res.latencyMs?.max} ms, ` +
        `${res.errorCount} errors, revision +${revisionDelta} (expected +${res.ok}), client CPU ${res.clientCpuS.toFixed(2)} s`,
    );
    if (!record) return null;
    const entry = {
      name,
      machineBusyPctBefore: busyPct,
      ...res,
      revisionDelta,
      revisionCheck: revisionDelta === res.ok,
      leaderUnchanged,
      serverCpuS: cpuUsed(before, after),
      clientProcessCpuS: r.cpu ? Math.round((r.cpu.userS + r.cpu.sysS) * 100) / 100 : null,
    };
    entry.machine = foreignCpu(m0, m1, entry.serverCpuS, Math.max(entry.clientProcessCpuS ?? 0, res.clientCpuS));
    out.runs.push(entry);
    return entry;
  };
  try {
    // A short unmeasured warm-up: connections, Go runtime, bbolt pages (the sealkv runs get theirs
    // from the set,get runs that precede the measured ones).
    await load('warm-up', 64, 64, scale(5000), false);
    await load('put 64 clients / 64 conns (as `benchmark put --clients 64 --conns 64`)', 64, 64, scale(opts.etcdTotal), true);
    await load('put 1024 clients / 64 conns (16 in flight per conn, like -c 64 -P 16)', 1024, 64, scale(opts.etcdTotal), true);
    out.statusAfter = await etcdStatus(c.endpoints);
  } finally {
    await Promise.all(procs.map((p) => stopProcess(p, 15_000)));
    log('etcd stopped');
  }
  return out;
}

// ---------------------------------------------------------------- report

function fmt(x, d = 0) {
  return typeof x === 'number' && Number.isFinite(x) ? x.toFixed(d) : 'n/a';
}

/** Server CPU (all three nodes) per request, µs: robust to the machine being shared. */
function cpuPerOpUs(serverCpuS, ops) {
  const sum = Object.values(serverCpuS ?? {}).reduce((a, b) => a + (b ?? 0), 0);
  return ops > 0 ? (sum / ops) * 1e6 : null;
}

function otherLoad(m) {
  return m ? `${fmt(m.foreignS, 1)} CPU s (${fmt(m.foreignCores, 2)} cores)` : 'n/a';
}

function buildReport(sealkv, etcd, durationS) {
  const tables = [];
  const checks = [];
  const notes = [];
  const runOf = (name) => sealkv?.runs?.find((r) => r.name === name);
  if (sealkv && !sealkv.error) {
    tables.push({
      title: 'sealkv: redis-benchmark (3 nodes, loopback, fsync on)',
      columns: ['run', 'target', 'test', 'req/s', 'p50 ms', 'p99 ms', 'max ms', 'error replies', 'server CPU s (n1/n2/n3)', 'server CPU µs/req (3 nodes)', 'redis-benchmark CPU s', 'busy before', 'other load during run'],
      rows: sealkv.runs.flatMap((r) =>
        Object.entries(r.results).map(([t, v]) => [
          r.name,
          `${r.target} (${r.targetRole})`,
          t,
          fmt(v.rps),
          fmt(v.p50Ms, 3),
          fmt(v.p99Ms, 3),
          fmt(v.maxMs, 3),
          r.ok ? 'none' : `${r.errorLineCount} lines, exit ${r.exitCode}`,
          Object.values(r.serverCpuS).map((x) => fmt(x, 1)).join(' / '),
          fmt(cpuPerOpUs(r.serverCpuS, r.requestsTotal)),
          fmt(r.clientCpuS, 1),
          `${r.machineBusyPctBefore}%`,
          otherLoad(r.machine),
        ]),
      ),
      note: sealkv.runs.map((r) => `\`${r.command.replace(/-h \S+ -p \S+ /, '')}\``).filter((v, i, s) => s.indexOf(v) === i).join(', '),
    });
    for (const r of sealkv.runs.filter((x) => x.name.startsWith('set,get'))) {
      checks.push({
        name: `redis-benchmark -t set,get -d 256 -c 50 -n ${r.command.match(/-n (\d+)/)[1]} via ${r.targetRole}`,
        measured: r.ok ? `completed, SET ${fmt(r.results.SET?.rps)} req/s, GET ${fmt(r.results.GET?.rps)} req/s, no error replies` : `${r.errorLineCount} error lines, exit ${r.exitCode}: ${r.errorLines[0] ?? r.stderr[0] ?? ''}`,
        required: 'completes with no errors',
        pass: r.ok,
      });
    }
    const smokeOk = sealkv.smoke.every((s) => s.ok);
    checks.push({ name: 'redis-cli PING/SET/GET/STRLEN via leader and follower', measured: smokeOk ? 'all as expected' : JSON.stringify(sealkv.smoke.filter((s) => !s.ok)), required: 'works', pass: smokeOk });
    if (sealkv.profile?.threads) {
      const main = sealkv.profile.threads.find((t) => t.thread === 'main');
      if (main?.inclusive) {
        const ours = main.inclusive.filter((f) => f.url.startsWith('dist/') || f.url.startsWith('node_modules/') || f.function === '(garbage collector)');
        const where = (f) => `${f.url}${f.line > 0 ? `:${f.line}` : ''}`;
        tables.push({
          title: `Leader ${sealkv.profile.leader} CPU profile, main thread: total (inclusive) time by function during the profiled SET run`,
          columns: ['function', 'where', 'total ms', '% of busy'],
          rows: ours.slice(0, 20).map((f) => [f.function, where(f), fmt(f.ms, 1), fmt((f.ms / main.busyMs) * 100, 1)]),
          note: `Longest stretches with the leader's event loop never idle (every client waits at least this long): ${main.longestBusyStretches
            .map((st) => `${st.ms} ms (${st.top.slice(0, 3).map((f) => `${f.function} ${where(f)} ${fmt(f.ms)} ms`).join(', ')})`)
            .join('; ')}.`,
        });
      }
      for (const t of sealkv.profile.threads) {
        tables.push({
          title: `Leader ${sealkv.profile.leader} CPU profile, ${t.thread} thread: top self time during the profiled SET run`,
          columns: ['function', 'where', 'self ms', '% of busy'],
          rows: t.functions.slice(0, t.thread === 'main' ? 25 : 10).map((f) => [f.function, `${f.url}${f.line > 0 ? `:${f.line}` : ''}`, fmt(f.selfMs, 1), fmt(f.pctOfBusy, 1)]),
          note: `Busy ${fmt(t.busyMs)} ms, idle ${fmt(t.idleMs)} ms of ${fmt(t.sampledMs)} ms sampled in the benchmark window. By area: ${t.areas
            .slice(0, 12)
            .map((x) => `${x.area} ${x.pctOfBusy === null ? `${fmt(x.selfMs)} ms` : `${fmt(x.pctOfBusy, 1)}%`}`)
            .join(', ')}.`,
        });
      }
    } else if (sealkv.profile?.error) {
      notes.push(`CPU profile: ${sealkv.profile.error}`);
    }
  } else if (sealkv?.error) {
    notes.push(`sealkv half not measured: ${sealkv.error}`);
  }
  const e64 = etcd?.runs?.[0];
  const e1024 = etcd?.runs?.[1];
  if (etcd && !etcd.error) {
    tables.push({
      title: `etcd ${etcd.version}: 3 members, loopback, fsync on, puts to the leader`,
      columns: ['run', 'puts/s', 'p50 ms', 'p99 ms', 'max ms', 'errors', 'revision check', 'server CPU s (e1/e2/e3)', 'server CPU µs/put (3 nodes)', 'client CPU s', 'busy before', 'other load during run'],
      rows: etcd.runs.map((r) => [
        r.name,
        fmt(r.putsPerS),
        fmt(r.latencyMs?.p50, 3),
        fmt(r.latencyMs?.p99, 3),
        fmt(r.latencyMs?.max, 3),
        String(r.errorCount),
        r.revisionCheck ? `+${r.revisionDelta} = successes` : `MISMATCH +${r.revisionDelta} vs ${r.ok}`,
        Object.values(r.serverCpuS).map((x) => fmt(x, 1)).join(' / '),
        fmt(cpuPerOpUs(r.serverCpuS, r.ok)),
        fmt(r.clientCpuS, 1),
        `${r.machineBusyPctBefore}%`,
        otherLoad(r.machine),
      ]),
      note:
        'Client: scripts/bench-cluster/etcd-put.mjs — etcd `tools/benchmark put` semantics (N workers over M HTTP/2 connections, one Put in flight per worker, 8-byte key, key space 1, random 256-byte value) speaking gRPC `etcdserverpb.KV/Put` directly; Debian ships no `benchmark` binary (see notes).',
    });
  } else if (etcd?.error) {
    notes.push(`etcd half not measured: ${etcd.error}`);
  }
  const comparisons = [
    ['SET -c 64 -P 16', e64, 'the comparison the issue names: 64 clients, 256 B; redis-benchmark pipelines 16 per client'],
    ['SET -c 64 -P 16, leader under --cpu-prof', e64, 'same, every sealkv node profiled'],
    ['SET -c 64 -P 1 (64 in flight, as etcd)', e64, 'strictly like-for-like: 64 requests in flight on both sides'],
    ['SET -c 64 -P 16', e1024, 'like-for-like in requests in flight: 1024 on both sides'],
  ];
  const rows = [];
  for (const [name, e, what] of comparisons) {
    const run = runOf(name);
    const s = run?.results?.SET;
    if (!s || !e) continue;
    const ratio = s.rps / e.putsPerS;
    const cpuS = cpuPerOpUs(run.serverCpuS, run.requestsTotal);
    const cpuE = cpuPerOpUs(e.serverCpuS, e.ok);
    rows.push([`${name} vs etcd ${e.name.split(' (')[0]}`, fmt(s.rps), fmt(e.putsPerS), `${fmt(ratio, 2)}×`, fmt(s.p99Ms, 2), fmt(e.latencyMs?.p99, 2), `${fmt(cpuS)} vs ${fmt(cpuE)}`, what]);
    if (name === 'SET -c 64 -P 16' && e === e64) {
      checks.push({ name: 'SET throughput vs etcd put throughput (256 B, 64 clients)', measured: `${fmt(s.rps)} vs ${fmt(e.putsPerS)} req/s = ${fmt(ratio, 2)}×`, required: '≥ 2×', pass: ratio >= 2 });
      checks.push({ name: 'SET p99 vs etcd put p99 (256 B, 64 clients)', measured: `${fmt(s.p99Ms, 2)} vs ${fmt(e.latencyMs?.p99, 2)} ms`, required: 'no worse', pass: s.p99Ms <= e.latencyMs.p99 });
    }
    if (name === 'SET -c 64 -P 1 (64 in flight, as etcd)') {
      checks.push({ name: 'Strict like-for-like (no pipelining, 64 in flight): throughput', measured: `${fmt(s.rps)} vs ${fmt(e.putsPerS)} req/s = ${fmt(ratio, 2)}×`, required: '≥ 2× (informative)', pass: ratio >= 2 });
      checks.push({ name: 'Strict like-for-like (no pipelining, 64 in flight): p99', measured: `${fmt(s.p99Ms, 2)} vs ${fmt(e.latencyMs?.p99, 2)} ms`, required: 'no worse (informative)', pass: s.p99Ms <= e.latencyMs.p99 });
    }
  }
  if (rows.length) tables.unshift({ title: 'sealkv vs etcd', columns: ['comparison', 'sealkv SET/s', 'etcd put/s', 'ratio', 'sealkv p99 ms', 'etcd p99 ms', 'server CPU µs/write, sealkv vs etcd', 'what it compares'], rows, note: 'Server CPU per write is the sum over the three nodes of CPU time during the run divided by the writes: on 2 shared cores with every process CPU-bound it is the throughput ceiling, and it is far less disturbed by other work on the machine than req/s.' });
  const p1 = runOf('SET -c 64 -P 1 (64 in flight, as etcd)');
  const raw1 = sealkv?.disk?.find((d) => d.writers === 1);
  if (p1?.persist && raw1) {
    const raw3 = sealkv.disk.find((d) => d.writers === 3);
    const rows = Object.entries(p1.persist).map(([id, x]) => [
      `${id}${id === p1.target ? ' (leader)' : ''}`,
      String(x.persists),
      fmt(x.meanPersistMs, 3),
      fmt(x.meanWalWriteMs, 3),
      `${fmt(x.meanPersistMs / raw1.meanMs, 2)}×`,
    ]);
    tables.push({
      title: 'Raft log persist during SET -c 64 -P 1 vs the raw durable append on the same disk',
      columns: ['node', 'persists', 'mean persist ms', 'mean WAL write ms (issue → completion)', 'persist / raw 1-writer append'],
      rows,
      note: `Raw: 4 KiB O_DSYNC appends to a zero-preallocated file through the libuv threadpool (what the WAL does), measured just before the run: 1 writer mean ${fmt(raw1.meanMs, 3)} ms (p99 ${fmt(raw1.p99Ms, 3)}), 3 writers at once ${fmt(raw3?.meanMs, 3)} ms each (p99 ${fmt(raw3?.p99Ms, 3)}) — three nodes share this disk. Persist − WAL write = encoding and queueing in the node.`,
    });
    const worst = Math.max(...Object.values(p1.persist).map((x) => x.meanPersistMs ?? Number.POSITIVE_INFINITY));
    checks.push({ name: 'Mean Raft log persist vs raw fdatasync append (same disk, same run)', measured: `worst node ${fmt(worst, 3)} ms vs raw ${fmt(raw1.meanMs, 3)} ms = ${fmt(worst / raw1.meanMs, 2)}×`, required: '≤ 2×', pass: worst <= 2 * raw1.meanMs });
  }
  const p1Cpu = p1 ? cpuPerOpUs(p1.serverCpuS, p1.requestsTotal) : null;
  if (p1Cpu !== null) {
    checks.push({ name: 'Server CPU per write, 3 nodes summed (SET -c 64 -P 1)', measured: `${fmt(p1Cpu)} µs (${Object.entries(p1.serverCpuS).map(([k, v]) => `${k} ${fmt(((v ?? 0) / p1.requestsTotal) * 1e6)}`).join(', ')})`, required: '≤ 100 µs', pass: p1Cpu <= 100 });
  }
  const acc = runOf('SET -c 50 -P 16 (acceptance)')?.results?.SET;
  if (acc) {
    checks.push({ name: 'Measured: redis-benchmark -t set -d 256 -c 50 -n 200000 -P 16 via the leader', measured: `${fmt(acc.rps)} SET/s, p50 ${fmt(acc.p50Ms, 3)} ms, p99 ${fmt(acc.p99Ms, 3)} ms`, required: 'report (fsync on)', pass: runOf('SET -c 50 -P 16 (acceptance)').ok === true });
  }
  notes.push(
    'etcd client choice: Debian 12 ships etcd 3.4.23 (`etcd-server`, `etcd-client`) with `etcd` and `etcdctl` only — no `benchmark` tool and no Go toolchain to build it. `etcdctl check perf` is a fixed-profile load (rate limits 150/1000/8000/15000 puts/s, 50–1000 clients, 256-byte keys, 1 KiB values, 60 s) that can express neither 64 clients nor 256-byte values; a loop of concurrent `etcdctl put` processes measures process start-up. So the run drives etcd with a small gRPC client that reproduces `benchmark put --clients 64 --conns 64 --val-size 256` (closed loop, one Put in flight per client); it frames HTTP/2 itself because node:http2 cost ≈130 µs of client CPU per call, which on 2 shared cores is taken from etcd. Every etcd run checks that the store revision advanced by exactly the number of successful puts.',
    'Both clients and all three servers of each system share this machine\'s cores (the issue asks for "this machine"); server and client CPU seconds are in the tables. Both systems keep their default durability: etcd fsyncs its WAL; sealkv fsyncs its LMDB log commits.',
    'redis-benchmark without -r writes one fixed key (`key:__rand_int__`), and the etcd client uses a key space of 1 (the `benchmark` tool\'s default): both overwrite a single key.',
    '-P 16 keeps 16 requests in flight per connection (1024 for -c 64) while etcd\'s benchmark keeps one per client (64): the table therefore also shows sealkv at -P 1 and etcd at 1024 in-flight requests.',
    'One run on a shared 2-core machine. "busy before" is the whole machine\'s CPU use in the 2 s before a run (our idle servers included); "other load during run" is the machine\'s busy CPU time during the run minus our servers\' and client\'s — work of other engineers competing for the same 2 cores.',
  );
  if (e64) {
    notes.push(
      `The issue quotes etcd on this machine at 2.0–3.8 k puts/s with p99 40–90 ms; this run measured ${fmt(e64.putsPerS)} puts/s, p99 ${fmt(e64.latencyMs?.p99, 1)} ms with 64 clients. A higher etcd figure makes the 2× target harder, not easier; the client and machine load that produced the quoted range are not recorded.`,
    );
  }
  for (const [phase, stops] of Object.entries(sealkv?.stops ?? {})) {
    for (const [id, x] of Object.entries(stops)) {
      if (x.log?.lines) notes.push(`sealkv ${phase} ${id} logged ${x.log.lines} lines at --log-level warn; first: ${x.log.first[0]}`);
    }
  }
  if (sealkv?.encryption) notes.push(`sealkv encryption: bootstrapped, storage envelope and raft envelope enabled before the runs (status after: ${JSON.stringify(sealkv.encryption.status)}).`);
  else if (sealkv && !sealkv.error) {
    notes.unshift(
      encryptionUnavailable
        ? `sealkv ran WITHOUT encryption: this build of the node refuses \`--encryption\` (${encryptionUnavailable.split(' | ')[0]}), so values and log entries were stored in cleartext; the numbers do not include any AES-GCM work.`
        : 'sealkv ran WITHOUT encryption (--encryption off).',
    );
  }
  if (opts.quick) notes.unshift('QUICK MODE: request counts divided by 20 — a smoke test of the script, not a measurement.');
  return {
    name: 'cluster',
    title: 'Cluster benchmark: sealkv vs etcd, 3 nodes on loopback',
    startedAt,
    durationS,
    environment: machineEnv(etcd),
    tables,
    checks,
    notes,
    data: { options: opts, sealkv, etcd },
  };
}

function machineEnv(etcd) {
  const c = cpus();
  const rb = spawnSync('redis-benchmark', ['--version'], { encoding: 'utf8' }).stdout?.trim() ?? 'not installed';
  const fs = spawnSync('df', ['-T', tmpdir()], { encoding: 'utf8' }).stdout?.split('\n')[1]?.split(/\s+/)[1] ?? 'unknown';
  return {
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    cpuModel: c[0]?.model ?? 'unknown',
    cores: c.length,
    dataDirFs: `${tmpdir()} (${fs})`,
    loadAverageAtStart: loadAtStart,
    redisBenchmark: rb,
    etcd: etcd?.version ?? 'n/a',
    sealkvEncryption: encryptionInUse === null ? 'n/a' : encryptionInUse ? 'on (both envelopes)' : 'off (cleartext)',
  };
}

async function writeReportFiles(report) {
  const lib = join(REPO, 'dist', 'bench', 'report.js');
  if (existsSync(lib)) {
    const { writeReport } = await import(pathToFileURL(lib).href);
    return writeReport(opts.out, report);
  }
  // Fallback when dist/ is not built: plain JSON and a minimal Markdown.
  mkdirSync(opts.out, { recursive: true });
  const stem = join(opts.out, `cluster-${report.startedAt.slice(0, 10)}`);
  writeFileSync(`${stem}.json`, `${JSON.stringify(report, null, 2)}\n`);
  const md = [`# ${report.title}`, '', ...report.checks.map((c) => `- ${c.name}: ${c.measured} (required ${c.required}) ${c.pass === null ? 'n/a' : c.pass ? 'PASS' : 'FAIL'}`), '', ...report.notes.map((n) => `- ${n}`), ''];
  writeFileSync(`${stem}.md`, md.join('\n'));
  return [`${stem}.json`, `${stem}.md`];
}

// ---------------------------------------------------------------- main

if (opts.rebuild) {
  const prev = JSON.parse(readFileSync(opts.rebuild, 'utf8'));
  startedAt = prev.startedAt;
  encryptionInUse = prev.data.sealkv?.encryptionInUse ?? null;
  encryptionUnavailable = prev.data.sealkv?.encryptionUnavailable ?? null;
  opts.quick = prev.data.options?.quick ?? false;
  // Re-summarise the kept leader profile, so summary changes apply to earlier runs too.
  const prof = prev.data.sealkv?.profile;
  if (prof?.savedAs && existsSync(prof.savedAs) && prof.threads?.[0]) {
    prof.threads[0] = { ...summariseCpuProfile(prof.savedAs, 25, prof.threads[0].window), thread: prof.threads[0].thread, file: prof.threads[0].file };
  }
  const report = buildReport(prev.data.sealkv, prev.data.etcd, prev.durationS);
  report.environment = prev.environment;
  report.data.options = prev.data.options;
  log(`rebuilt ${(await writeReportFiles(report)).join(', ')}`);
  rmSync(workDir, { recursive: true, force: true });
  process.exit(0);
}

let sealkv = null;
let etcd = null;
let failed = false;
try {
  log(`work dir ${workDir}; ${cpus().length} cores; load average ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  if (opts.only !== 'etcd') {
    try {
      sealkv = await benchSealkv();
    } catch (e) {
      failed = true;
      sealkv = { error: e.message };
      log(`sealkv half failed: ${e.message}`);
      await stopAll(10_000);
    }
  }
  if (opts.only !== 'sealkv' && !interrupted) {
    try {
      etcd = await benchEtcd();
    } catch (e) {
      failed = true;
      etcd = { error: e.message };
      log(`etcd half failed: ${e.message}`);
      await stopAll(10_000);
    }
  }
  const report = buildReport(sealkv, etcd, (Date.now() - t0) / 1000);
  const written = await writeReportFiles(report);
  log(`wrote ${written.join(', ')}`);
  for (const c of report.checks) log(`${c.pass === null ? 'n/a ' : c.pass ? 'PASS' : 'FAIL'}  ${c.name}: ${c.measured} (required ${c.required})`);
} finally {
  await stopAll(10_000);
  if (opts.keep || failed) log(`work dir kept: ${workDir}`);
  else rmSync(workDir, { recursive: true, force: true });
}
process.exitCode = failed ? 1 : 0;

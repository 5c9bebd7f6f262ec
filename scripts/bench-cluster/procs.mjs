// Child-process bookkeeping for the cluster benchmark: every server and load generator we start is
// registered here so that a normal exit, an error or Ctrl-C stops exactly those processes (by pid,
// never by name) and nothing is left listening on the machine that other engineers share.

import { spawn } from 'node:child_process';
import { createWriteStream, readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';

/** @typedef {{ name: string, child: import('node:child_process').ChildProcess, exited: Promise<{code: number|null, signal: string|null}>, logPath: string|null }} Managed */

/** @type {Set<Managed>} */
const live = new Set();

/**
 * Starts a long-running process with stdout/stderr captured into `logPath` (or discarded).
 * @param {string} name
 * @param {string} cmd
 * @param {string[]} args
 * @param {{ logPath?: string, env?: NodeJS.ProcessEnv, cwd?: string }} [opts]
 * @returns {Managed}
 */
export function startProcess(name, cmd, args, opts = {}) {
  const child = spawn(cmd, args, {
    cwd: opts.cwd,
    env: opts.env ?? process.env,
    stdio: ['ignore', opts.logPath ? 'pipe' : 'ignore', opts.logPath ? 'pipe' : 'ignore'],
  });
  if (opts.logPath) {
    const log = createWriteStream(opts.logPath, { flags: 'a' });
    child.stdout?.pipe(log, { end: false });
    child.stderr?.pipe(log, { end: false });
    child.once('close', () => log.end());
  }
  const exited = new Promise((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
    // A spawn failure (ENOENT) emits 'error' and may never emit 'exit'.
    child.once('error', () => resolve({ code: -1, signal: null }));
  });
  /** @type {Managed} */
  const m = { name, child, exited, logPath: opts.logPath ?? null };
  live.add(m);
  exited.then(() => live.delete(m));
  return m;
}

/**
 * Stops one process: SIGTERM, then SIGKILL after `graceMs`. Resolves with how it ended.
 * @param {Managed} m
 * @param {number} [graceMs]
 */
export async function stopProcess(m, graceMs = 10_000) {
  if (m.child.exitCode !== null || m.child.signalCode !== null) return m.exited;
  m.child.kill('SIGTERM');
  const timer = setTimeout(() => m.child.kill('SIGKILL'), graceMs);
  const r = await m.exited;
  clearTimeout(timer);
  return r;
}

/** Stops everything still registered (used on exit paths). */
export async function stopAll(graceMs = 10_000) {
  await Promise.all([...live].map((m) => stopProcess(m, graceMs)));
}

/** Synchronous last resort for `process.on('exit')`: SIGKILL whatever is still running. */
export function killAllNow() {
  for (const m of live) {
    try {
      m.child.kill('SIGKILL');
    } catch {
      // Already gone.
    }
  }
}

/**
 * Runs a command to completion, collecting its output.
 * @param {string} cmd
 * @param {string[]} args
 * @param {{ timeoutMs?: number, onLine?: (line: string) => void, onErrLine?: (line: string) => void, env?: NodeJS.ProcessEnv }} [opts]
 * @returns {Promise<{ code: number|null, signal: string|null, stdout: string, stderr: string, cpu: CpuSample|null, wallMs: number }>}
 */
export function runToCompletion(cmd, args, opts = {}) {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const child = spawn(cmd, args, { env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    const managed = {
      name: cmd,
      child,
      exited: new Promise((r) => {
        child.once('close', (code, signal) => r({ code, signal }));
        child.once('error', () => r({ code: -1, signal: null }));
      }),
      logPath: null,
    };
    live.add(managed);
    let stdout = '';
    let stderr = '';
    let partial = '';
    // The last /proc sample before exit is the process's own CPU time (Node gives no rusage of children).
    let cpu = null;
    const sampler = setInterval(() => {
      const s = readCpu(child.pid);
      if (s) cpu = s;
    }, 250);
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stdout.on('data', (d) => {
      stdout += d;
      if (opts.onLine) {
        partial += d;
        const lines = partial.split(/\r|\n/);
        partial = lines.pop() ?? '';
        for (const l of lines) if (l.trim()) opts.onLine(l);
      }
    });
    let partialErr = '';
    child.stderr.on('data', (d) => {
      stderr += d;
      if (opts.onErrLine) {
        partialErr += d;
        const lines = partialErr.split(/\r|\n/);
        partialErr = lines.pop() ?? '';
        for (const l of lines) if (l.trim()) opts.onErrLine(l);
      }
    });
    const timer = opts.timeoutMs ? setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs) : null;
    child.once('error', (e) => {
      stderr += String(e);
    });
    managed.exited.then(({ code, signal }) => {
      clearInterval(sampler);
      if (timer) clearTimeout(timer);
      live.delete(managed);
      resolve({ code, signal, stdout, stderr, cpu, wallMs: performance.now() - t0 });
    });
  });
}

/** @typedef {{ userS: number, sysS: number }} CpuSample */

const CLK_TCK = 100; // Linux USER_HZ; /proc/<pid>/stat counts clock ticks.

/**
 * CPU time consumed so far by a process, from /proc (null if it is gone or not Linux).
 * @param {number|undefined} pid
 * @returns {CpuSample|null}
 */
export function readCpu(pid) {
  if (pid === undefined) return null;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { userS: Number(rest[11]) / CLK_TCK, sysS: Number(rest[12]) / CLK_TCK };
  } catch {
    return null;
  }
}

/** Per-thread CPU and context switches of a process: tid → { name, userS, sysS, switches } (empty when it is gone). */
export function readThreadCpu(pid) {
  const out = new Map();
  let tids = [];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const tid of tids) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const status = readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8');
      const csw = (k) => Number(new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? 0);
      out.set(tid, {
        name,
        userS: Number(rest[11]) / CLK_TCK,
        sysS: Number(rest[12]) / CLK_TCK,
        switches: csw('voluntary_ctxt_switches') + csw('nonvoluntary_ctxt_switches'),
      });
    } catch {
      // The thread ended between the listing and the read.
    }
  }
  return out;
}

/** CPU seconds between two samples of the same process. */
export function cpuDelta(a, b) {
  if (!a || !b) return null;
  return Math.round((b.userS + b.sysS - a.userS - a.sysS) * 100) / 100;
}

/**
 * Reserves `n` distinct free loopback ports (bind to port 0, read, close). There is a small window
 * in which another program could take one; the servers then fail to start and the run says so.
 * @param {number} n
 * @returns {Promise<number[]>}
 */
export async function freePorts(n) {
  const servers = [];
  const ports = [];
  for (let i = 0; i < n; i++) {
    const s = createServer();
    await new Promise((resolve, reject) => {
      s.once('error', reject);
      s.listen(0, '127.0.0.1', resolve);
    });
    servers.push(s);
    ports.push(/** @type {import('node:net').AddressInfo} */ (s.address()).port);
  }
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

/** Machine-wide CPU seconds so far (all cores), busy and total, from /proc/stat. */
export function machineCpu() {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const total = f.slice(0, 8).reduce((a, b) => a + b, 0) / CLK_TCK;
  const idle = (f[3] + (f[4] ?? 0)) / CLK_TCK;
  return { busyS: total - idle, totalS: total };
}

/** Total system CPU busy fraction over an interval, from /proc/stat (for "is the machine quiet"). */
export async function machineBusy(ms = 2000) {
  const read = () => {
    const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    const idle = f[3] + (f[4] ?? 0);
    const total = f.reduce((a, b) => a + b, 0);
    return { idle, total };
  };
  const a = read();
  await new Promise((r) => setTimeout(r, ms));
  const b = read();
  const total = b.total - a.total;
  return total > 0 ? 1 - (b.idle - a.idle) / total : 0;
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

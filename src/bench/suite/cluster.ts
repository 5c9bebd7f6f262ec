// A 3-node sealkv cluster for the suite's cluster sections: the existing launcher
// (scripts/bench-cluster/sealkv.mjs, a JavaScript module typed here), started with `--encryption`
// and a throwaway KEK so the cutover admin operations can run, `--cipher <backend>`, optionally
// under `--cpu-prof`; plus the admin operations (the HTTP calls `sealkv admin encryption …`
// makes) and a /metrics scrape.

import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { SectionSkipped } from './section.js';

export interface ClusterNode {
  id: string;
  resp: string;
  admin: string;
  proc: { child: { pid?: number } };
}
export interface Cluster {
  nodes: ClusterNode[];
  leader: ClusterNode;
}
interface LauncherModule {
  startSealkvCluster(o: { repo: string; dir: string; clusterId: string; cpuProfDir: string | null; encryption: boolean; nodeArgs: string[]; log: (m: string) => void }): Promise<Cluster>;
  stopSealkvCluster(c: Cluster): Promise<Record<string, { code: number | null; signal: string | null; log: { lines: number; first: string[] } | null }>>;
}
interface ProcsModule {
  readCpu(pid: number | undefined): { userS: number; sysS: number } | null;
  killAllNow(): void;
}

export interface ClusterTools {
  launcher: LauncherModule;
  procs: ProcsModule;
  scripts: string;
}

/** Loads the launcher modules; skips the section when the build is missing. */
export async function clusterTools(repo: string): Promise<ClusterTools> {
  const main = join(repo, 'dist', 'cli', 'main.js');
  if (!existsSync(main)) throw new SectionSkipped(`${main} is missing (build with: npm run build:ts)`);
  const scripts = join(repo, 'scripts', 'bench-cluster');
  const launcher = (await import(pathToFileURL(join(scripts, 'sealkv.mjs')).href)) as LauncherModule;
  const procs = (await import(pathToFileURL(join(scripts, 'procs.mjs')).href)) as ProcsModule;
  return { launcher, procs, scripts };
}

export interface ClusterRunOptions {
  repo: string;
  backend: string;
  log: (m: string) => void;
  /** Directory for the nodes' --cpu-prof output (per node id below it), or null. */
  cpuProfDir?: string | null;
  extraNodeArgs?: string[];
}

/**
 * Starts a cluster, runs `body` with it and always stops it (by pid) and removes its data. The
 * nodes run with --encryption (not yet bootstrapped: cleartext until the admin operations run).
 */
let killHooked = false;

export async function withCluster<T>(tools: ClusterTools, o: ClusterRunOptions, body: (c: Cluster) => Promise<T>): Promise<T> {
  // Whatever ends this process, the nodes it started go with it (the launcher tracks their pids).
  if (!killHooked) {
    process.once('exit', tools.procs.killAllNow);
    killHooked = true;
  }
  const dir = mkdtempSync(join(tmpdir(), 'sealkv-bench-suite-'));
  const removeDir = (): void => rmSync(dir, { recursive: true, force: true });
  process.once('exit', removeDir);
  let cluster: Cluster | null = null;
  try {
    cluster = await tools.launcher.startSealkvCluster({
      repo: o.repo,
      dir,
      clusterId: `bench-${o.backend}`,
      cpuProfDir: o.cpuProfDir ?? null,
      encryption: true,
      nodeArgs: ['--cipher', o.backend, ...(o.extraNodeArgs ?? [])],
      log: o.log,
    });
    return await body(cluster);
  } finally {
    if (cluster) {
      const stopped = await tools.launcher.stopSealkvCluster(cluster);
      for (const [id, s] of Object.entries(stopped)) {
        if (s.log && s.log.lines > 0) o.log(`${id} logged ${s.log.lines} warning line(s), first: ${s.log.first[0]?.slice(0, 200)}`);
      }
    }
    process.removeListener('exit', removeDir);
    removeDir();
  }
}

export class AdminOpError extends Error {
  readonly code = 'BENCH_ADMIN_OP';
}

/** POST one admin operation to a node (as `sealkv admin encryption <op>` does). */
export async function adminPost(n: ClusterNode, path: string, body: Record<string, unknown> = {}): Promise<Record<string, unknown>> {
  const r = await fetch(`http://${n.admin}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
    // The server's own deadline (timeout_ms, 30 s by default) answers first; this only bounds a hang.
    signal: AbortSignal.timeout(Number(body.timeout_ms ?? 30_000) + 30_000),
  });
  const text = await r.text();
  if (!r.ok) throw new AdminOpError(`POST ${path} on ${n.id}: HTTP ${r.status} ${text.slice(0, 300)}`);
  return JSON.parse(text) as Record<string, unknown>;
}

/** GET /metrics of a node (Prometheus text), or null when it does not answer in time. */
export async function scrapeMetrics(n: ClusterNode, timeoutMs = 2000): Promise<string | null> {
  try {
    const r = await fetch(`http://${n.admin}/metrics`, { signal: AbortSignal.timeout(timeoutMs) });
    return r.ok ? await r.text() : null;
  } catch {
    return null;
  }
}

export function splitHostPort(addr: string): [string, number] {
  const i = addr.lastIndexOf(':');
  return [addr.slice(0, i), Number(addr.slice(i + 1))];
}

// Suite section "cluster-throughput" (issue 15 item 3): closed-loop saturation of a 3-node
// cluster through the leader — N clients with one SET in flight each, over a grid of client
// counts and value sizes — with encryption off, the storage envelope on, and both envelopes on,
// per cipher backend (one cluster per backend: the grid runs in cleartext, then bootstrap and
// the storage envelope, the grid again, then the raft envelope, the grid again). etcd 3.4 runs the same grid as the peer reference, through
// its own gRPC Put (scripts/bench-cluster/etcd-put.mjs), or is skipped with a notice when absent.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { type ClosedLoopResult, runClosedLoop } from '../closed-loop.js';
import { adminPost, type Cluster, clusterTools, splitHostPort, withCluster } from '../cluster.js';
import { idPart } from '../loadrun-report.js';
import type { Figure, RunMode, Table } from '../results.js';
import { profileTables } from '../profiles.js';
import { emptyOutput, type Section, type SectionContext, type SectionOutput } from '../section.js';

export interface ThroughputPoint {
  clients: number;
  valueBytes: number;
}

export function throughputPlan(mode: RunMode): { points: ThroughputPoint[]; pointMs: number } {
  if (mode === 'smoke') return { points: [{ clients: 4, valueBytes: 1024 }], pointMs: 700 };
  if (mode === 'quick') {
    return {
      points: [
        { clients: 1, valueBytes: 1024 },
        { clients: 16, valueBytes: 1024 },
        { clients: 64, valueBytes: 1024 },
        { clients: 16, valueBytes: 16384 },
      ],
      pointMs: 1200,
    };
  }
  const points: ThroughputPoint[] = [];
  for (const valueBytes of [64, 1024, 16384]) for (const clients of [1, 4, 16, 64, 256]) points.push({ clients, valueBytes });
  return { points, pointMs: 4000 };
}

/** The encryption configurations, in the order one cluster goes through them. */
const ENCRYPTION_STEPS: { mode: string; enable: ((c: Cluster) => Promise<void>) | null }[] = [
  { mode: 'off', enable: null },
  {
    mode: 'storage',
    enable: async (c) => {
      await adminPost(c.leader, '/v1/encryption/bootstrap');
      await adminPost(c.leader, '/v1/encryption/enable-storage-envelope');
    },
  },
  {
    mode: 'both',
    enable: async (c) => {
      await adminPost(c.leader, '/v1/encryption/enable-raft-envelope');
    },
  },
];

interface Row {
  system: string;
  encryption: string;
  r: ClosedLoopResult;
}

const sizeLabel = (n: number): string => (n >= 1024 ? `${n / 1024} KiB` : `${n} B`);
const ms = (us: number): number => Math.round(us / 10) / 100;

async function sealkvRows(ctx: SectionContext, backend: string, points: ThroughputPoint[], pointMs: number, out: SectionOutput): Promise<Row[]> {
  const tools = await clusterTools(ctx.repo);
  const profileDir = ctx.profile ? join(ctx.resultsDir, 'profiles', `throughput-${backend}`) : null;
  let nodes: string[] = [];
  const rows = await withCluster(tools, { repo: ctx.repo, backend, log: ctx.log, cpuProfDir: profileDir }, async (c) => {
    nodes = c.nodes.map((n) => n.id);
    const rows: Row[] = [];
    const [host, port] = splitHostPort(c.leader.resp);
    for (const step of ENCRYPTION_STEPS) {
      if (step.enable) await step.enable(c);
      for (const p of points) {
        const r = await runClosedLoop({ host, port, clients: p.clients, valueBytes: p.valueBytes, durationMs: pointMs });
        const errs = Object.values(r.errorReplies).reduce((a, b) => a + b, 0);
        ctx.log(`${backend} enc=${step.mode} ${p.clients} clients × ${sizeLabel(p.valueBytes)}: ${r.opsPerS} SET/s, p50 ${ms(r.latency.p50Us)} ms, p99 ${ms(r.latency.p99Us)} ms${errs ? `, ${errs} error replies` : ''}`);
        rows.push({ system: `sealkv ${backend}`, encryption: step.mode, r });
      }
    }
    return rows;
  });
  if (profileDir) {
    const p = await profileTables(ctx.repo, ctx.resultsDir, profileDir, nodes, `throughput ${backend}`, ctx.log);
    out.tables.push(p.table);
    out.notes.push(...p.notes);
  }
  return rows;
}

interface EtcdModule {
  etcdVersion(): string | null;
  startEtcdCluster(dir: string, log: (m: string) => void): Promise<{ members: { proc: unknown }[]; leader: { client: string } }>;
}
interface EtcdPutModule {
  runPutLoad(o: { endpoint: string; impl: 'raw' | 'http2'; clients: number; conns: number; valSize: number; keySize: number; keySpaceSize: number; total: number }): Promise<{
    ok: number;
    errorCount: number;
    errors: Record<string, number>;
    wallS: number;
    putsPerS: number;
    latencyMs: { p50: number; p99: number; p999: number; max: number; avg: number } | null;
  }>;
}
interface ProcsStop {
  stopProcess(m: unknown, graceMs?: number): Promise<unknown>;
}

/** etcd on the same grid, or a notice why not. Puts per point are sized from sealkv's rate. */
async function etcdRows(ctx: SectionContext, points: ThroughputPoint[], pointMs: number): Promise<{ rows: Row[]; notice: string | null }> {
  const scripts = join(ctx.repo, 'scripts', 'bench-cluster');
  const etcd = (await import(pathToFileURL(join(scripts, 'etcd.mjs')).href)) as EtcdModule;
  const version = etcd.etcdVersion();
  if (!version) return { rows: [], notice: 'etcd is not installed (Debian etcd-server): the peer reference was skipped.' };
  const put = (await import(pathToFileURL(join(scripts, 'etcd-put.mjs')).href)) as EtcdPutModule;
  const procs = (await import(pathToFileURL(join(scripts, 'procs.mjs')).href)) as ProcsStop;
  const dir = mkdtempSync(join(tmpdir(), 'sealkv-bench-etcd-'));
  const rows: Row[] = [];
  let cluster: Awaited<ReturnType<EtcdModule['startEtcdCluster']>> | null = null;
  try {
    cluster = await etcd.startEtcdCluster(dir, ctx.log);
    for (const p of points) {
      // The lean framing sends a request in one HTTP/2 DATA frame, which must stay within the
      // default 16 KiB frame size; larger values go through node:http2.
      const impl = p.valueBytes + 64 > 16_384 ? 'http2' : 'raw';
      // A first short burst estimates the rate; the measured run then lasts about pointMs.
      const probe = await put.runPutLoad({ endpoint: cluster.leader.client, impl, clients: p.clients, conns: Math.min(p.clients, 64), valSize: p.valueBytes, keySize: 8, keySpaceSize: 10_000, total: Math.max(p.clients * 4, 50) });
      const total = Math.max(p.clients * 4, Math.round((probe.putsPerS * pointMs) / 1000));
      const r = await put.runPutLoad({ endpoint: cluster.leader.client, impl, clients: p.clients, conns: Math.min(p.clients, 64), valSize: p.valueBytes, keySize: 8, keySpaceSize: 10_000, total });
      const l = r.latencyMs;
      const us = (x: number | undefined): number => Math.round((x ?? 0) * 1000);
      ctx.log(`etcd ${version} ${p.clients} clients × ${sizeLabel(p.valueBytes)}: ${Math.round(r.putsPerS)} put/s, p50 ${l?.p50} ms, p99 ${l?.p99} ms${r.errorCount ? `, ${r.errorCount} errors (${Object.keys(r.errors).slice(0, 2).join('; ')})` : ''}`);
      rows.push({
        system: `etcd ${version}`,
        encryption: 'off',
        r: {
          clients: p.clients,
          valueBytes: p.valueBytes,
          durationMs: Math.round(r.wallS * 1000),
          completed: r.ok,
          errorReplies: r.errorCount ? { ERROR: r.errorCount } : {},
          opsPerS: Math.round(r.putsPerS * 10) / 10,
          latency: { count: r.ok, meanUs: us(l?.avg), p50Us: us(l?.p50), p99Us: us(l?.p99), p999Us: us(l?.p999), maxUs: us(l?.max) },
          connectionErrors: [],
        },
      });
    }
  } finally {
    if (cluster) await Promise.all(cluster.members.map((m) => procs.stopProcess(m.proc, 10_000)));
    rmSync(dir, { recursive: true, force: true });
  }
  return { rows, notice: null };
}

export const clusterThroughputSection: Section = {
  id: 'cluster-throughput',
  title: 'Cluster throughput: closed-loop SET saturation per backend, encryption off / storage envelope / both envelopes, with etcd as the peer reference',
  async run(ctx) {
    const { points, pointMs } = throughputPlan(ctx.mode);
    const backends = ctx.mode === 'smoke' ? [ctx.backends.includes('node') ? 'node' : ctx.backends[0]!] : ctx.backends;
    const out = emptyOutput();
    const rows: Row[] = [];
    for (const b of backends) {
      try {
        rows.push(...(await sealkvRows(ctx, b, points, pointMs, out)));
      } catch (e) {
        out.notes.push(`sealkv ${b}: failed: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
    if (ctx.mode !== 'smoke') {
      try {
        const e = await etcdRows(ctx, points, pointMs);
        rows.push(...e.rows);
        if (e.notice) {
          out.notes.push(e.notice);
          ctx.log(e.notice);
        }
      } catch (e) {
        out.notes.push(`etcd: failed: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
    if (rows.length === 0) throw new Error(`nothing measured: ${out.notes.join('; ')}`);
    const figures: Figure[] = [];
    for (const { system, encryption, r } of rows) {
      const id = `${idPart(system.replace(/^sealkv /, ''))}.enc-${encryption}.c${r.clients}.${r.valueBytes}B`;
      const label = `${system}, encryption ${encryption}, ${r.clients} clients, ${sizeLabel(r.valueBytes)}`;
      figures.push(
        { id: `${id}.opsPerS`, label: `${label}: writes per second`, value: r.opsPerS, unit: '1/s', better: 'higher' },
        { id: `${id}.p50Us`, label: `${label}: latency p50`, value: r.latency.p50Us, unit: 'µs', better: 'lower' },
        { id: `${id}.p99Us`, label: `${label}: latency p99`, value: r.latency.p99Us, unit: 'µs', better: 'lower' },
      );
    }
    out.figures = figures;
    const table: Table = {
      title: 'Closed-loop SET throughput through the leader',
      columns: ['system', 'encryption', 'clients', 'value', 'writes/s', 'p50 (ms)', 'p99 (ms)', 'p99.9 (ms)', 'error replies'],
      rows: rows.map(({ system, encryption, r }) => [
        system,
        encryption,
        r.clients,
        sizeLabel(r.valueBytes),
        r.opsPerS,
        ms(r.latency.p50Us),
        ms(r.latency.p99Us),
        ms(r.latency.p999Us),
        Object.entries(r.errorReplies).map(([k, v]) => `-${k} ${v}`).join(', ') || '0',
      ]),
      note: `Each client keeps one SET in flight on its own connection for ${pointMs / 1000} s. etcd: gRPC KV/Put through its leader (scripts/bench-cluster/etcd-put.mjs), fsync on, defaults.`,
    };
    out.tables.unshift(table);
    // Native vs js peak at 1 KiB per encryption mode (the issue's target: ≥ 5× with both envelopes).
    const at = (sys: string, enc: string, v: number) => rows.filter((x) => x.system === sys && x.encryption === enc && x.r.valueBytes === v).sort((a, b) => b.r.opsPerS - a.r.opsPerS)[0];
    for (const enc of ['storage', 'both']) {
      const nat = at('sealkv native', enc, 1024);
      const js = at('sealkv js', enc, 1024);
      if (!nat || !js || js.r.opsPerS <= 0) continue;
      const ratio = Math.round((nat.r.opsPerS / js.r.opsPerS) * 100) / 100;
      out.figures.push({ id: `native-over-js.enc-${enc}.1024B.ratio`, label: `native / js peak writes per second, encryption ${enc}, 1 KiB`, value: ratio, unit: 'ratio', better: 'higher' });
      out.notes.push(`Peak at 1 KiB, encryption ${enc}: native ${nat.r.opsPerS}/s (${nat.r.clients} clients) vs js ${js.r.opsPerS}/s (${js.r.clients} clients): ${ratio}×${enc === 'both' ? ' (target ≥ 5×)' : ''}.`);
    }
    // Chart: peak writes/s per system and encryption at each value size.
    const sizes = [...new Set(rows.map((x) => x.r.valueBytes))].sort((a, b) => a - b);
    const series = [...new Set(rows.map((x) => `${x.system} · ${x.encryption}`))];
    out.charts.push({
      kind: 'bar',
      id: 'cluster-throughput-peak',
      title: 'Peak closed-loop writes per second by value size (best client count)',
      xLabel: 'value size',
      yLabel: 'writes per second (1/s)',
      groups: sizes.map(sizeLabel),
      series,
      values: sizes.map((s) => series.map((name) => Math.max(0, ...rows.filter((x) => `${x.system} · ${x.encryption}` === name && x.r.valueBytes === s).map((x) => x.r.opsPerS)) || null)),
    });
    const clientCounts = [...new Set(rows.map((x) => x.r.clients))].sort((a, b) => a - b);
    const size1k = sizes.includes(1024) ? 1024 : sizes[0]!;
    out.charts.push({
      kind: 'bar',
      id: 'cluster-throughput-clients',
      title: `Closed-loop writes per second by client count, ${sizeLabel(size1k)} values`,
      xLabel: 'clients',
      yLabel: 'writes per second (1/s)',
      groups: clientCounts.map(String),
      series,
      values: clientCounts.map((cc) => series.map((name) => rows.find((x) => `${x.system} · ${x.encryption}` === name && x.r.valueBytes === size1k && x.r.clients === cc)?.r.opsPerS ?? null)),
    });
    return out;
  },
};

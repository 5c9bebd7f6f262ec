// Suite section "cutover" — the headline (issue 15 item 1): per cipher backend, a fresh 3-node
// cluster (--encryption --cipher <backend>) under a steady open-loop SET load through the leader
// runs in cleartext, then through the cutover steps of CUTOVER_STEPS (bootstrap →
// enable-storage-envelope → enable-raft-envelope → raft rotate-dek → storage rotate-dek). Per
// phase: client latency p50/p99/p99.9 (HDR), throughput, -TRYAGAIN and other error replies, the
// longest reply gap (the write pause); from the nodes' /metrics: wrap and apply latency p50/p99,
// main-thread busy share, crypto pool queue depth.

import { join } from 'node:path';
import { type Cluster, clusterTools, splitHostPort, withCluster } from '../cluster.js';
import { startOpenLoop } from '../loadgen.js';
import { idPart, loadRunCharts, loadRunFigures, loadRunTable } from '../loadrun-report.js';
import { MetricsSampler, type NodePhaseFigures, phaseNodeFigures } from '../node-metrics.js';
import { CUTOVER_STEPS, type OpRecord, type PhaseTiming, plannedDurationMs, runPhases, transitionName } from '../phase-runner.js';
import { profileTables } from '../profiles.js';
import type { Figure, LoadRun, RunMode, Table } from '../results.js';
import { emptyOutput, type Section, type SectionChart } from '../section.js';
import { PALETTE } from '../svg.js';

export interface CutoverPlan extends PhaseTiming {
  ratePerS: number;
  intervalMs: number;
  connections: number;
  valueBytes: number;
  sampleEveryMs: number;
  /** Per-operation time budget added to the load duration. */
  opBudgetMs: number;
}

export function cutoverPlan(mode: RunMode): CutoverPlan {
  if (mode === 'smoke') return { ratePerS: 200, intervalMs: 250, connections: 4, valueBytes: 256, warmupMs: 500, holdMs: 600, settleMs: 200, sampleEveryMs: 250, opBudgetMs: 600, opTimeoutMs: 30_000 };
  if (mode === 'quick') return { ratePerS: 1000, intervalMs: 250, connections: 8, valueBytes: 256, warmupMs: 1500, holdMs: 2000, settleMs: 500, sampleEveryMs: 250, opBudgetMs: 800, opTimeoutMs: 8000 };
  return { ratePerS: 2000, intervalMs: 250, connections: 16, valueBytes: 256, warmupMs: 5000, holdMs: 10_000, settleMs: 1000, sampleEveryMs: 500, opBudgetMs: 2000, opTimeoutMs: 60_000 };
}

/** Smoke runs one backend (node:crypto is always there); the others run every backend asked for. */
function backendsFor(mode: RunMode, asked: string[]): string[] {
  return mode === 'smoke' ? [asked.includes('node') ? 'node' : asked[0]!] : asked;
}

interface BackendRun {
  backend: string;
  load: LoadRun;
  ops: OpRecord[];
  /** Per phase name, per node. */
  node: Map<string, NodePhaseFigures[]>;
  leader: string;
}

const ms = (us: number): number => Math.round(us / 10) / 100;

function nodeFigures(r: BackendRun): Figure[] {
  const out: Figure[] = [];
  const b = idPart(r.backend);
  for (const [phase, figs] of r.node) {
    const p = idPart(phase);
    for (const f of figs) {
      const who = f.node === r.leader ? 'leader' : idPart(f.node);
      const label = `${r.backend}, ${phase}, ${f.node === r.leader ? `leader ${f.node}` : f.node}`;
      out.push({ id: `${b}.${p}.${who}.mainThreadShare`, label: `${label}: main-thread busy share`, value: f.mainThreadShare, unit: 'ratio', better: 'lower' });
      if (f.node !== r.leader) continue;
      out.push(
        { id: `${b}.${p}.leader.wrapP50Us`, label: `${label}: wrap latency p50 (admitted → handed to Raft)`, value: f.wrapP50Us, unit: 'µs', better: 'lower' },
        { id: `${b}.${p}.leader.wrapP99Us`, label: `${label}: wrap latency p99`, value: f.wrapP99Us, unit: 'µs', better: 'lower' },
        { id: `${b}.${p}.leader.applyP50Us`, label: `${label}: apply latency p50 (committed → applied)`, value: f.applyP50Us, unit: 'µs', better: 'lower' },
        { id: `${b}.${p}.leader.applyP99Us`, label: `${label}: apply latency p99`, value: f.applyP99Us, unit: 'µs', better: 'lower' },
        { id: `${b}.${p}.leader.poolQueueDepthMax`, label: `${label}: crypto pool queue depth, max of samples`, value: f.queueDepthMax, unit: 'count', better: 'lower' },
      );
    }
  }
  for (const op of r.ops) {
    out.push({ id: `${b}.op.${idPart(op.step)}.durationMs`, label: `${r.backend}: ${op.label} took`, value: op.durationMs, unit: 'ms', better: 'lower' });
  }
  return out;
}

function phaseTable(runs: BackendRun[]): Table {
  const rows: (string | number)[][] = [];
  for (const r of runs) {
    for (const p of r.load.phases) {
      const lead = r.node.get(p.name)?.find((f) => f.node === r.leader);
      const all = r.node.get(p.name) ?? [];
      const errs = Object.entries(p.errorReplies).map(([k, v]) => `-${k} ${v}`).join(', ') || '0';
      rows.push([
        r.backend,
        p.name,
        ms(p.latency.p50Us),
        ms(p.latency.p99Us),
        ms(p.latency.p999Us),
        p.throughputPerS,
        p.longestReplyGapMs,
        errs,
        lead ? ms(lead.wrapP50Us) : '–',
        lead ? ms(lead.wrapP99Us) : '–',
        lead ? ms(lead.applyP50Us) : '–',
        lead ? ms(lead.applyP99Us) : '–',
        all.length ? all.map((f) => `${f.node === r.leader ? '*' : ''}${f.mainThreadShare.toFixed(2)}`).join(' / ') : '–',
        lead ? `${lead.queueDepthMax} / ${lead.queueDepthMean}` : '–',
      ]);
    }
  }
  return {
    title: 'Across the cutover: client latency, throughput, write pause, error replies and node-side figures per backend and phase',
    columns: ['backend', 'phase', 'p50 (ms)', 'p99 (ms)', 'p99.9 (ms)', 'replies/s', 'write pause (ms)', 'error replies', 'wrap p50 (ms)', 'wrap p99 (ms)', 'apply p50 (ms)', 'apply p99 (ms)', 'main-thread share n1/n2/n3 (* leader)', 'pool queue max / mean'],
    rows,
    note: '"cutover to X" phases run from issuing the admin operation until it returned plus a settle time: the barrier pause and -TRYAGAIN replies land there. The other phases are the steady state. Wrap and apply latency are the leader\'s, from its /metrics histograms (bucket-interpolated, so resolution is the bucket width); wrap latency is 0 until the raft envelope is enabled (no wrap installed).',
  };
}

function headlineTable(runs: BackendRun[]): Table {
  const rows = runs.map((r) => {
    const p = (name: string) => r.load.phases.find((x) => x.name === name);
    const clear = p('cleartext');
    const before = p('storage envelope');
    const after = p('raft envelope');
    const barrier = p('cutover to raft envelope');
    const trans = r.load.phases.filter((x) => x.name.startsWith('cutover to '));
    const tryagain = r.load.phases.reduce((a, x) => a + (x.errorReplies.TRYAGAIN ?? 0), 0);
    const lead = r.node.get('raft envelope')?.find((f) => f.node === r.leader);
    const ratio = before && after && before.latency.p99Us > 0 ? Math.round((after.latency.p99Us / before.latency.p99Us) * 100) / 100 : '–';
    return [
      r.backend,
      clear ? ms(clear.latency.p99Us) : '–',
      before ? ms(before.latency.p99Us) : '–',
      after ? ms(after.latency.p99Us) : '–',
      ratio,
      barrier ? barrier.longestReplyGapMs : '–',
      Math.max(0, ...trans.map((x) => x.longestReplyGapMs)),
      tryagain,
      lead ? `${ms(lead.wrapP50Us)} / ${ms(lead.wrapP99Us)}` : '–',
      lead ? `${ms(lead.applyP50Us)} / ${ms(lead.applyP99Us)}` : '–',
      r.ops.map((o) => `${o.step} ${Math.round(o.durationMs)}${o.error ? ' FAILED' : ''}`).join(', '),
    ];
  });
  return {
    title: 'Headline per backend: steady-state p99 before and after the raft cutover, the barrier pause, -TRYAGAIN, wrap/apply latency with both envelopes',
    columns: [
      'backend',
      'p99 cleartext (ms)',
      'p99 storage envelope = before raft (ms)',
      'p99 raft envelope = after (ms)',
      'after / before',
      'raft barrier pause (ms)',
      'worst write pause in any cutover (ms)',
      '-TRYAGAIN',
      'wrap p50 / p99, raft envelope (ms)',
      'apply p50 / p99, raft envelope (ms)',
      'admin operations (ms)',
    ],
    rows,
    note: 'Targets (issue 15): native after/before ≤ 1.15; raft barrier pause ≤ 50 ms at 2,000 writes/s (full mode). The barrier pause is the longest stretch without any reply in the "cutover to raft envelope" phase; wrap and apply latency are the leader\'s in the steady "raft envelope" phase.',
  };
}

/** Latency over time for one backend, with a marker where each admin operation was issued. */
function backendLatencyChart(r: BackendRun, color: string): SectionChart {
  const base = loadRunCharts(`cutover-${idPart(r.backend)}`, ` — ${r.backend}`, [r.load])[0]!;
  if (base.kind !== 'line') return base;
  const markers = r.load.phases
    .filter((p) => p.name === 'cleartext' || p.name.startsWith('cutover to '))
    .map((p) => ({ x: p.startMs / 1000, label: p.name.replace('cutover to ', '→ '), color: '#555' }));
  return { ...base, title: `Client latency over time across the cutover — ${r.backend}`, series: base.series.map((s) => ({ ...s, color })), markers };
}

function nodeChart(runs: BackendRun[]): SectionChart {
  const phases = [...new Set(runs.flatMap((r) => r.load.phases.map((p) => p.name)))].filter((n) => n !== 'warm-up' && !n.startsWith('cutover to '));
  const series = runs.flatMap((r) => [`${r.backend} apply p99`, `${r.backend} wrap p99`]);
  return {
    kind: 'bar',
    id: 'cutover-node-latency',
    title: 'Leader apply and wrap latency p99 per backend and steady phase',
    xLabel: 'phase',
    yLabel: 'latency (ms)',
    groups: phases,
    series,
    maxBarWidth: 14,
    values: phases.map((ph) =>
      runs.flatMap((r) => {
        const f = r.node.get(ph)?.find((x) => x.node === r.leader);
        return f ? [ms(f.applyP99Us) || null, ms(f.wrapP99Us) || null] : [null, null];
      }),
    ),
  };
}

async function runBackend(ctx: Parameters<Section['run']>[0], backend: string, plan: CutoverPlan, profileDir: string | null): Promise<{ run: BackendRun; tables: Table[]; notes: string[] }> {
  const tools = await clusterTools(ctx.repo);
  // The plan ends the load itself (stop() after the last hold); this is only the upper bound, for
  // admin operations slower than their budget on a loaded machine.
  const plannedMs = plannedDurationMs(CUTOVER_STEPS, plan, plan.opBudgetMs);
  const durationMs = 3 * plannedMs + 60_000;
  let nodes: string[] = [];
  const result = await withCluster(tools, { repo: ctx.repo, backend, log: ctx.log, cpuProfDir: profileDir }, async (c: Cluster) => {
    nodes = c.nodes.map((n) => n.id);
    const [host, port] = splitHostPort(c.leader.resp);
    ctx.log(`${backend}: open loop ${plan.ratePerS} SET/s of ${plan.valueBytes} B for about ${(plannedMs / 1000).toFixed(1)} s over ${plan.connections} connections to leader ${c.leader.id}`);
    const run = await startOpenLoop({
      host,
      port,
      connections: plan.connections,
      ratePerS: plan.ratePerS,
      durationMs,
      intervalMs: plan.intervalMs,
      drainMs: 5000,
      valueBytes: plan.valueBytes,
      progressEveryMs: ctx.mode === 'full' ? 5000 : 2000,
      onProgress: (p) => ctx.log(`${backend} ${(p.elapsedMs / 1000).toFixed(0)} s [${p.phase ?? '-'}]: ${p.sent} sent, ${p.completed} answered, ${p.errorReplies} error replies`),
    });
    const sampler = new MetricsSampler(c.nodes, () => run.elapsedMs(), plan.sampleEveryMs);
    await sampler.sampleNow();
    sampler.start();
    // runPhases records a failed operation and returns; the load still runs to its end.
    const ops = await runPhases(run, c, CUTOVER_STEPS, plan, ctx.log);
    run.stop();
    const load = await run.done;
    await sampler.stop();
    const node = new Map<string, NodePhaseFigures[]>();
    for (const p of load.phases) {
      node.set(
        p.name,
        c.nodes.map((n) => phaseNodeFigures(sampler.samples, n.id, p.startMs, p.stopMs)).filter((f): f is NodePhaseFigures => f !== null),
      );
    }
    return { backend, load: { backend, ...load }, ops, node, leader: c.leader.id } satisfies BackendRun;
  });
  const tables: Table[] = [];
  const notes: string[] = [];
  if (profileDir) {
    const p = await profileTables(ctx.repo, ctx.resultsDir, profileDir, nodes, `cutover ${backend}`, ctx.log);
    tables.push(p.table);
    notes.push(...p.notes);
  }
  return { run: result, tables, notes };
}

export const cutoverSection: Section = {
  id: 'cutover',
  title: 'Across the cutover (headline): 3-node cluster under open-loop SET load, cleartext → bootstrap → storage envelope → raft envelope → raft rotate-dek → storage rotate-dek, per backend',
  async run(ctx) {
    const plan = cutoverPlan(ctx.mode);
    const out = emptyOutput();
    const runs: BackendRun[] = [];
    for (const backend of backendsFor(ctx.mode, ctx.backends)) {
      const profileDir = ctx.profile ? join(ctx.resultsDir, 'profiles', `cutover-${backend}`) : null;
      try {
        const r = await runBackend(ctx, backend, plan, profileDir);
        runs.push(r.run);
        out.tables.push(...r.tables);
        out.notes.push(...r.notes);
        const failed = r.run.ops.find((o) => o.error);
        if (failed) out.notes.push(`${backend}: ${failed.label} failed: ${failed.error}`);
      } catch (e) {
        out.notes.push(`${backend}: the run failed: ${e instanceof Error ? e.message : String(e)}`);
        ctx.log(`${backend}: FAILED — ${e instanceof Error ? e.message : String(e)}`);
      }
    }
    if (runs.length === 0) throw new Error(`no backend completed: ${out.notes.join('; ')}`);
    out.loadRuns = runs.map((r) => r.load);
    out.figures = [...loadRunFigures(out.loadRuns), ...runs.flatMap(nodeFigures)];
    out.tables.unshift(headlineTable(runs), phaseTable(runs), loadRunTable(out.loadRuns));
    for (const [i, r] of runs.entries()) out.charts.push(backendLatencyChart(r, PALETTE[i % PALETTE.length]!));
    // Throughput over time (all backends in one chart: their phase markers are in the per-backend
    // latency charts above, the operations were issued at slightly different times per backend),
    // throughput per phase, and client latency percentiles per phase, one chart per backend.
    const combined = loadRunCharts('cutover', ' — per backend', out.loadRuns);
    const overTime = combined[1]!;
    if (overTime.kind === 'line') out.charts.push({ ...overTime, markers: [], title: `${overTime.title} (phase markers: see the latency charts)` });
    const steady = (r: LoadRun): LoadRun => ({ ...r, phases: r.phases.filter((p) => p.name !== 'warm-up') });
    const perPhase = loadRunCharts('cutover', ' — per backend', out.loadRuns.map(steady))[2]!;
    if (perPhase.kind === 'bar') out.charts.push({ ...perPhase, maxBarWidth: 16 });
    for (const r of out.loadRuns) {
      const pct = loadRunCharts(`cutover-${idPart(r.backend)}`, ` — ${r.backend}`, [steady(r)])[3]!;
      if (pct.kind === 'bar') out.charts.push({ ...pct, maxBarWidth: 22 });
    }
    out.charts.push(nodeChart(runs));
    out.notes.unshift(
      `Open loop: ${plan.ratePerS} SET/s of ${plan.valueBytes} B through the leader over ${plan.connections} connections; each admin operation is issued on the leader while the load runs; steady phases hold ${plan.holdMs / 1000} s after a ${plan.settleMs} ms settle.`,
      `Admin operations: ${CUTOVER_STEPS.filter((s) => s.op).map((s) => `${transitionName(s)}: ${s.op!.label}`).join('; ')} (the HTTP call the CLI makes, issued from the suite).`,
      ...runs.map((r) => `${r.backend}: answered ${r.load.achievedPerS}/s of ${plan.ratePerS}/s, ${r.load.unanswered} unanswered, worst generator lateness ${r.load.maxSendLagMs} ms.`),
    );
    return out;
  },
};

// Suite section "micro": the per-area micro-benchmarks folded into the report — the Raft core
// (dist/bench/raft.js, 3 in-memory nodes), LMDB storage (dist/bench/storage.js) and the Raft-log
// WAL (dist/bench/wal.js) — each run as a child process in a short setting for the mode, its JSON
// read back into figures and tables; their own files stay under raw/<name>/.

import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runChild } from '../child.js';
import { idPart } from '../loadrun-report.js';
import type { Figure, RunMode, Table } from '../results.js';
import { emptyOutput, type Section, type SectionContext, type SectionOutput, SectionSkipped } from '../section.js';

function settings(mode: RunMode): { raftS: number; storageS: number; walS: number; walRounds: number } {
  if (mode === 'smoke') return { raftS: 0.3, storageS: 0.1, walS: 0.05, walRounds: 1 };
  if (mode === 'quick') return { raftS: 1, storageS: 0.5, walS: 0.3, walRounds: 1 };
  return { raftS: 3, storageS: 4, walS: 2, walRounds: 4 };
}

interface RaftJson {
  entriesPerSec: number;
  cpuNsPerEntry: number;
  batch: number;
  payloadBytes: number;
  target: number;
  pass: boolean;
}
interface StorageCase {
  name: string;
  entriesPerSec: number;
  batchesPerSec: number;
  p50Ms: number;
  p99Ms: number;
  eventLoopActiveUsPerEntry?: number;
}
interface WalCase {
  name: string;
  kind: string;
  ops: number;
  meanMs: number;
  p50Ms: number;
  p99Ms: number;
  mainThreadUs: number;
}

async function child(ctx: SectionContext, name: string, script: string, args: string[]): Promise<{ code: number | null; lines: string[] }> {
  const lines: string[] = [];
  const r = await runChild(process.execPath, [script, ...args], {
    cwd: ctx.repo,
    timeoutMs: ctx.mode === 'full' ? 10 * 60_000 : 2 * 60_000,
    onLine: (l) => {
      lines.push(l);
      ctx.log(`${name}: ${l}`);
    },
  });
  if (r.code === null) throw new Error(`${name} benchmark was killed (${r.signal}): ${r.stderrTail.slice(-2).join(' | ')}`);
  return { code: r.code, lines };
}

export async function runMicro(ctx: SectionContext): Promise<SectionOutput> {
  const dist = join(ctx.repo, 'dist', 'bench');
  if (!existsSync(join(dist, 'raft.js'))) throw new SectionSkipped(`${dist}/raft.js is missing (build with: npm run build:ts)`);
  const s = settings(ctx.mode);
  const out = emptyOutput();
  const figures: Figure[] = [];

  // Raft core: exits 1 when below its own target; the JSON line is the result either way.
  const raft = await child(ctx, 'raft', join(dist, 'raft.js'), ['--json', '--seconds', String(s.raftS)]);
  const raftLine = raft.lines.reverse().find((l) => l.startsWith('{'));
  if (raftLine) {
    const j = JSON.parse(raftLine) as RaftJson;
    figures.push(
      { id: 'raft.entriesPerS', label: `Raft core (3 in-memory nodes, ${j.payloadBytes} B, batches of ${j.batch}): entries committed per second`, value: j.entriesPerSec, unit: '1/s', better: 'higher' },
      { id: 'raft.cpuNsPerEntry', label: 'Raft core: CPU per entry (all 3 nodes)', value: j.cpuNsPerEntry, unit: 'ns', better: 'lower' },
    );
    out.tables.push({
      title: 'Raft core (npm run bench:raft)',
      columns: ['entries/s', 'CPU ns per entry', 'target', 'result'],
      rows: [[j.entriesPerSec, j.cpuNsPerEntry, `≥ ${j.target}/s`, j.pass ? 'PASS' : 'below target']],
    });
  } else out.notes.push(`raft benchmark printed no JSON (exit ${raft.code}).`);

  const storageOut = join(ctx.resultsDir, 'raw', 'storage', 'storage.json');
  const st = await child(ctx, 'storage', join(dist, 'storage.js'), ['--seconds-per-case', String(s.storageS), '--out', storageOut]);
  if (st.code === 0 && existsSync(storageOut)) {
    const j = JSON.parse(readFileSync(storageOut, 'utf8')) as { results: StorageCase[] };
    const t: Table = { title: 'LMDB storage (npm run bench:storage)', columns: ['case', 'entries/s', 'batches/s', 'p50 (ms)', 'p99 (ms)', 'event-loop µs/entry'], rows: [] };
    for (const c of j.results) {
      const id = `storage.${idPart(c.name)}`;
      figures.push(
        { id: `${id}.entriesPerS`, label: `storage ${c.name}: entries per second`, value: Math.round(c.entriesPerSec), unit: '1/s', better: 'higher' },
        { id: `${id}.p99Ms`, label: `storage ${c.name}: latency p99`, value: Math.round(c.p99Ms * 1000) / 1000, unit: 'ms', better: 'lower' },
      );
      t.rows.push([c.name, Math.round(c.entriesPerSec), Math.round(c.batchesPerSec), Math.round(c.p50Ms * 1000) / 1000, Math.round(c.p99Ms * 1000) / 1000, c.eventLoopActiveUsPerEntry === undefined ? '–' : Math.round(c.eventLoopActiveUsPerEntry * 100) / 100]);
    }
    out.tables.push(t);
    out.notes.push('Raw output of the storage benchmark: raw/storage/storage.json.');
  } else out.notes.push(`storage benchmark failed (exit ${st.code}).`);

  const walDir = join(ctx.resultsDir, 'raw', 'wal');
  const wal = await child(ctx, 'wal', join(dist, 'wal.js'), ['--seconds-per-case', String(s.walS), '--rounds', String(s.walRounds), '--out', walDir]);
  const walFile = existsSync(walDir) ? readdirSync(walDir).find((f) => f.endsWith('.json')) : undefined;
  if (wal.code === 0 && walFile) {
    const j = JSON.parse(readFileSync(join(walDir, walFile), 'utf8')) as { data: WalCase[] };
    const t: Table = { title: 'Raft-log WAL: durable persist (npm run bench:wal)', columns: ['case', 'kind', 'ops', 'mean (ms)', 'p50 (ms)', 'p99 (ms)', 'main-thread µs/op'], rows: [] };
    for (const c of j.data) {
      const id = `wal.${idPart(c.name)}`;
      figures.push(
        { id: `${id}.meanMs`, label: `WAL ${c.name}: mean persist`, value: Math.round(c.meanMs * 1000) / 1000, unit: 'ms', better: 'lower' },
        { id: `${id}.p99Ms`, label: `WAL ${c.name}: p99 persist`, value: Math.round(c.p99Ms * 1000) / 1000, unit: 'ms', better: 'lower' },
      );
      t.rows.push([c.name, c.kind, c.ops, Math.round(c.meanMs * 1000) / 1000, Math.round(c.p50Ms * 1000) / 1000, Math.round(c.p99Ms * 1000) / 1000, Math.round(c.mainThreadUs)]);
    }
    out.tables.push(t);
    out.notes.push(`Raw output of the WAL benchmark: raw/wal/${walFile} (and its .md).`);
  } else out.notes.push(`WAL benchmark failed (exit ${wal.code}).`);
  out.figures = figures;
  if (figures.length === 0) throw new Error(`no micro-benchmark produced figures: ${out.notes.join(' ')}`);
  return out;
}

export const microSection: Section = {
  id: 'micro',
  title: 'Micro-benchmarks: Raft core, LMDB storage, Raft-log WAL',
  run: runMicro,
};

// LMDB storage benchmark: Raft log append throughput with fsync (persist() resolves only when
// durable) for batches of 1, 64 and 1024 entries of 256 B; the same with LMDB syncing inside
// the commit (overlappingSync off); a group-commit run (16 writers, one entry each in flight);
// and the apply transaction (ApplyBatch of 1024 kv puts) against the rejected alternative
// (putSync inside a transaction callback), with event-loop active time per entry, which is
// what the node's run loop pays. Prints progress and writes bench/results/storage-<date>.json.
//
//   node dist/bench/storage.js [--seconds-per-case 4] [--dir /path/on/the/data/disk] [--out file.json]
//
// Each case uses a fresh environment. Latency is per persist() call, from the call to the
// resolution of its promise (commit + fsync). One batch is in flight at a time except in the
// group-commit case, where C writers each keep one single-entry persist in flight.

import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { ApplyStore } from '../storage/apply-txn.js';
import { type StorageEnv, openStorageEnv } from '../storage/env.js';
import { LmdbLogStorage } from '../storage/log-store.js';
import { type Entry, EntryType } from '../raft/types.js';

interface CaseResult {
  name: string;
  batchEntries: number;
  entryBytes: number;
  overlappingSync: boolean;
  concurrency: number;
  batches: number;
  entries: number;
  seconds: number;
  entriesPerSec: number;
  batchesPerSec: number;
  mbPerSec: number;
  p50Ms: number;
  p99Ms: number;
  lmdbTransactions: number;
}

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : dflt;
}

const SECONDS = Number(arg('seconds-per-case', '4'));
const BASE = arg('dir', tmpdir());
const ENTRY_BYTES = 256;

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

function payload(i: number): Uint8Array {
  const b = new Uint8Array(ENTRY_BYTES);
  b.fill(i & 0xff);
  return b;
}

async function withEnv<T>(overlappingSync: boolean, f: (env: StorageEnv) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(BASE, 'sealkv-bench-storage-'));
  const env = await openStorageEnv(dir, { overlappingSync });
  try {
    return await f(env);
  } finally {
    await env.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

function summarize(
  name: string,
  batchEntries: number,
  overlappingSync: boolean,
  concurrency: number,
  lat: number[],
  seconds: number,
  txns: number,
): CaseResult {
  lat.sort((a, b) => a - b);
  const entries = lat.length * batchEntries;
  const r: CaseResult = {
    name,
    batchEntries,
    entryBytes: ENTRY_BYTES,
    overlappingSync,
    concurrency,
    batches: lat.length,
    entries,
    seconds,
    entriesPerSec: entries / seconds,
    batchesPerSec: lat.length / seconds,
    mbPerSec: (entries * ENTRY_BYTES) / seconds / 1e6,
    p50Ms: quantile(lat, 0.5),
    p99Ms: quantile(lat, 0.99),
    lmdbTransactions: txns,
  };
  console.log(
    `  ${name.padEnd(34)} ${r.entriesPerSec.toFixed(0).padStart(9)} entries/s ${r.batchesPerSec.toFixed(1).padStart(8)} batches/s ` +
      `${r.mbPerSec.toFixed(2).padStart(7)} MB/s  p50 ${r.p50Ms.toFixed(2)} ms  p99 ${r.p99Ms.toFixed(2)} ms  (${r.batches} batches, ${txns} txns)`,
  );
  return r;
}

/** Sequential appends: one persist of `batch` entries in flight at a time. */
async function appendCase(batch: number, overlappingSync: boolean): Promise<CaseResult> {
  return withEnv(overlappingSync, async (env) => {
    const log = LmdbLogStorage.open(env);
    const lat: number[] = [];
    let next = 1;
    const data = payload(1);
    const t0 = performance.now();
    const g0 = env.writes.groups;
    while (performance.now() - t0 < SECONDS * 1000) {
      const entries: Entry[] = [];
      for (let k = 0; k < batch; k++) entries.push({ index: next + k, term: 1, type: EntryType.Normal, data });
      const s = performance.now();
      await log.persist({ entries, hardState: { term: 1, vote: 'n1', commit: next - 1 } });
      lat.push(performance.now() - s);
      next += batch;
      // Keep the log bounded like a running node would (snapshot + compaction).
      if (next > 200_000 && next % (batch * 64) < batch) await log.compact(next - 100_000);
    }
    const secs = (performance.now() - t0) / 1000;
    return summarize(`append batch=${batch}${overlappingSync ? '' : ' (sync in commit)'}`, batch, overlappingSync, 1, lat, secs, env.writes.groups - g0);
  });
}

/** C writers, each with one single-entry persist in flight: shows group commit. */
async function groupCommitCase(writers: number): Promise<CaseResult> {
  return withEnv(true, async (env) => {
    const log = LmdbLogStorage.open(env);
    const lat: number[] = [];
    let next = 1;
    const data = payload(2);
    const t0 = performance.now();
    const g0 = env.writes.groups;
    const deadline = t0 + SECONDS * 1000;
    const writer = async (): Promise<void> => {
      while (performance.now() < deadline) {
        const idx = next++;
        const s = performance.now();
        await log.persist({ entries: [{ index: idx, term: 1, type: EntryType.Normal, data }] });
        lat.push(performance.now() - s);
      }
    };
    await Promise.all(Array.from({ length: writers }, writer));
    const secs = (performance.now() - t0) / 1000;
    return summarize(`group commit ${writers}×batch=1`, 1, true, writers, lat, secs, env.writes.groups - g0);
  });
}

/** User keys scattered over a 100 000-key space, as a KV workload writes them. */
function userKey(n: number): Uint8Array {
  return Buffer.from(`user:${((n * 7919) % 100_000).toString().padStart(8, '0')}`);
}

/** Apply pipeline: commitBatch of `batch` kv puts (256 B) + applied index per transaction. */
async function applyCase(batch: number): Promise<CaseResult> {
  return withEnv(true, async (env) => {
    const store = new ApplyStore(env);
    const lat: number[] = [];
    const data = payload(3);
    let applied = 0n;
    let n = 0;
    const t0 = performance.now();
    const g0 = env.writes.groups;
    while (performance.now() - t0 < SECONDS * 1000) {
      const s = performance.now();
      const writes = [];
      for (let k = 0; k < batch; k++) writes.push({ table: 'kv' as const, key: userKey(n++), value: data });
      applied += BigInt(batch);
      await store.commitBatch(writes, applied);
      lat.push(performance.now() - s);
    }
    const secs = (performance.now() - t0) / 1000;
    return summarize(`apply commitBatch=${batch} (kv puts)`, batch, true, 1, lat, secs, env.writes.groups - g0);
  });
}

/**
 * The alternative the apply design rejected: the same puts with putSync inside a transaction
 * callback (CommitQueue.submitTxn), executed on the main thread.
 */
async function txnCallbackCase(batch: number): Promise<CaseResult> {
  return withEnv(true, async (env) => {
    const lat: number[] = [];
    const data = payload(4);
    let n = 0;
    const t0 = performance.now();
    const g0 = env.writes.groups;
    while (performance.now() - t0 < SECONDS * 1000) {
      const s = performance.now();
      const keys: Uint8Array[] = [];
      for (let k = 0; k < batch; k++) keys.push(userKey(n++));
      await env.writes.submitTxn(() => {
        for (const key of keys) env.kv.putSync(key, data);
      });
      lat.push(performance.now() - s);
    }
    const secs = (performance.now() - t0) / 1000;
    return summarize(`putSync in txn callback=${batch}`, batch, true, 1, lat, secs, env.writes.groups - g0);
  });
}

/**
 * Event-loop active time per entry (ELU): the main-thread cost that differs between the two
 * apply designs (a transaction callback runs on the loop; write-thread puts do not). It is an
 * upper bound (it includes callback dispatch), so it is reported for the apply cases only.
 */
async function mainThreadCost<T extends CaseResult>(f: () => Promise<T>): Promise<T & { eventLoopActiveUsPerEntry: number }> {
  const elu0 = performance.eventLoopUtilization();
  const r = await f();
  const elu = performance.eventLoopUtilization(elu0);
  const us = (elu.active * 1000) / Math.max(1, r.entries);
  console.log(`    event-loop active ${us.toFixed(2)} µs/entry`);
  return { ...r, eventLoopActiveUsPerEntry: us };
}

async function main(): Promise<void> {
  console.log(`storage bench: ${SECONDS}s per case, dir ${BASE}, ${cpus().length} cpus, load ${loadavg().map((x) => x.toFixed(2)).join(' ')}, node ${process.version}`);
  const results: CaseResult[] = [];
  console.log('log append with fsync (persist resolves when durable):');
  for (const b of [1, 64, 1024]) results.push(await appendCase(b, true));
  results.push(await appendCase(64, false));
  console.log('group commit:');
  results.push(await groupCommitCase(16));
  console.log('apply transactions:');
  results.push(await mainThreadCost(() => applyCase(1024)));
  results.push(await mainThreadCost(() => txnCallbackCase(1024)));
  const date = new Date().toISOString().replace(/[:.]/g, '-');
  const out = arg('out', join('bench', 'results', `storage-${date}.json`));
  mkdirSync(join(out, '..'), { recursive: true });
  writeFileSync(
    out,
    `${JSON.stringify({ bench: 'storage', date: new Date().toISOString(), node: process.version, cpus: cpus().length, loadavgAtEnd: loadavg(), dir: BASE, secondsPerCase: SECONDS, results }, null, 2)}\n`,
  );
  console.log(`wrote ${out}`);
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});

// Prometheus metrics (prom-client), one registry per node process.

import { performance } from 'node:perf_hooks';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { NodeMetricsSink } from '../node/metrics.js';
import { FastHistogram } from './fast-histogram.js';

/** What the encryption wing reports (plain values; cli/ adapts the runtime to it). */
export interface EncryptionMetricsSnapshot {
  pool: { queueDepth: number; inflight: number; poolBatches: number; inlineBatches: number; cryptoSeconds: Record<string, number> };
  activeDekIds: { storage: number; raft: number };
  decryptFailures: ReadonlyMap<string, number>;
  writesPerDek: ReadonlyMap<number, number>;
}

const LATENCY_BUCKETS = [0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

export class NodeMetrics implements NodeMetricsSink {
  readonly registry = new Registry();
  readonly term = new Gauge({ name: 'sealkv_raft_term', help: 'Current Raft term', registers: [this.registry] });
  readonly commitIndex = new Gauge({ name: 'sealkv_raft_commit_index', help: 'Raft commit index', registers: [this.registry] });
  readonly appliedIndex = new Gauge({ name: 'sealkv_raft_applied_index', help: 'State machine applied index', registers: [this.registry] });
  readonly isLeader = new Gauge({ name: 'sealkv_raft_is_leader', help: '1 when this node is the leader', registers: [this.registry] });
  readonly proposals = new Counter({
    name: 'sealkv_proposals_total',
    help: 'Proposals by outcome',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });
  readonly applyBatchSize = new Histogram({
    name: 'sealkv_apply_batch_entries',
    help: 'Entries per apply batch',
    buckets: [1, 4, 16, 64, 256, 1024, 4096],
    registers: [this.registry],
  });
  readonly applyBatchSeconds = new Histogram({
    name: 'sealkv_apply_batch_seconds',
    help: 'Apply batch latency (unwrap + state machine, until the batch is handed to LMDB)',
    buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1],
    registers: [this.registry],
  });
  readonly logPersistSeconds = new FastHistogram({
    name: 'sealkv_raft_log_persist_seconds',
    help: 'Raft log batch persist latency (one fsync per batch)',
    buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1],
    registers: [this.registry],
  });
  /**
   * Per-entry latencies for the benchmark suite (issue 15): 1-2.5-5 buckets from 25 µs to 5 s, so
   * a scraper can interpolate p50/p99 between two scrapes. One observe is ~150 ns.
   */
  readonly wrapSeconds = new FastHistogram({
    name: 'sealkv_wrap_seconds',
    help: 'Proposal admitted → sealed entry handed to Raft, per proposal (0 while no raft-envelope wrap is installed)',
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  readonly applySeconds = new FastHistogram({
    name: 'sealkv_apply_seconds',
    help: 'Entry committed → applied (unwrap, state machine, reseal; handed to LMDB), per entry',
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  /** Main-thread busy time (event-loop utilization), read at scrape time: no hot-path cost. */
  readonly mainThreadBusySeconds = new Counter({
    name: 'sealkv_main_thread_busy_seconds_total',
    help: 'Seconds the main thread (event loop) was busy since the process started (event-loop utilization)',
    registers: [this.registry],
    collect: () => this.syncMainThreadBusy(),
  });
  private mainThreadBusySeen = 0;
  /** LMDB write transactions committed (log appends, apply batches, compaction, snapshots). */
  readonly storageCommits = new Counter({
    name: 'sealkv_storage_commits_total',
    help: 'LMDB write transactions committed by this node',
    registers: [this.registry],
    collect: () => this.syncStorageCommits(),
  });
  private storageCommitsSource: (() => number) | null = null;
  private walSource: (() => { groups: number; writeSeconds: number }) | null = null;
  readonly walGroups: Gauge = new Gauge({
    name: 'sealkv_wal_groups_total',
    help: 'Raft-log WAL group commits (one durable write each) since start',
    registers: [this.registry],
    collect: (): void => this.walGroups.set(this.walSource?.().groups ?? 0),
  });
  readonly walWriteSeconds: Gauge = new Gauge({
    name: 'sealkv_wal_write_seconds_total',
    help: 'Seconds from issuing WAL group writes to their completion (write + sync + threadpool round trip)',
    registers: [this.registry],
    collect: (): void => this.walWriteSeconds.set(this.walSource?.().writeSeconds ?? 0),
  });
  private storageCommitsSeen = 0;
  readonly poolQueueDepth = new Gauge({ name: 'sealkv_crypto_pool_queue_depth', help: 'Crypto pool batches waiting or in flight', registers: [this.registry] });
  readonly cryptoSeconds = new Counter({
    name: 'sealkv_crypto_seconds_total',
    help: 'Seconds spent in seal/open by backend',
    labelNames: ['backend'] as const,
    registers: [this.registry],
  });
  readonly respCommands = new Counter({
    name: 'sealkv_resp_commands_total',
    help: 'RESP commands by kind',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });

  readonly poolInflight = new Gauge({ name: 'sealkv_crypto_pool_inflight', help: 'Crypto pool batches in workers', registers: [this.registry] });
  readonly poolBatches = new Gauge({
    name: 'sealkv_crypto_pool_batches',
    help: 'Crypto pool batches run, by where they ran (worker or inline on the main thread)',
    labelNames: ['where'] as const,
    registers: [this.registry],
  });
  readonly activeDekId = new Gauge({
    name: 'sealkv_encryption_active_dek_id',
    help: 'Active DEK key_id per purpose (0 = none)',
    labelNames: ['purpose'] as const,
    registers: [this.registry],
  });
  readonly decryptFailures = new Gauge({
    name: 'sealkv_encryption_decrypt_failures_total',
    help: 'Stored values that failed to decrypt, by reason (error code)',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  readonly writesPerDek = new Gauge({
    name: 'sealkv_encryption_writes_per_dek',
    help: 'Values sealed under each storage DEK by this process',
    labelNames: ['dek_id'] as const,
    registers: [this.registry],
  });
  private encryptionSource: (() => EncryptionMetricsSnapshot) | null = null;

  /** Where the encryption and pool metrics read their values (set when --encryption is on). */
  setEncryptionSource(read: () => EncryptionMetricsSnapshot): void {
    this.encryptionSource = read;
  }

  /** Copies the encryption/pool snapshot into the gauges; called by /metrics before rendering. */
  syncEncryption(): void {
    const s = this.encryptionSource?.();
    if (!s) return;
    this.poolQueueDepth.set(s.pool.queueDepth);
    this.poolInflight.set(s.pool.inflight);
    this.poolBatches.set({ where: 'worker' }, s.pool.poolBatches);
    this.poolBatches.set({ where: 'inline' }, s.pool.inlineBatches);
    for (const [backend, secs] of Object.entries(s.pool.cryptoSeconds)) {
      const prev = this.cryptoSecondsSeen.get(backend) ?? 0;
      if (secs > prev) this.cryptoSeconds.inc({ backend }, secs - prev);
      this.cryptoSecondsSeen.set(backend, secs);
    }
    this.activeDekId.set({ purpose: 'storage' }, s.activeDekIds.storage);
    this.activeDekId.set({ purpose: 'raft' }, s.activeDekIds.raft);
    for (const [reason, n] of s.decryptFailures) this.decryptFailures.set({ reason }, n);
    for (const [id, n] of s.writesPerDek) this.writesPerDek.set({ dek_id: String(id) }, n);
  }
  private readonly cryptoSecondsSeen = new Map<string, number>();

  /** Where sealkv_storage_commits_total reads its running count (the commit queue). */
  setStorageCommitsSource(read: () => number): void {
    this.storageCommitsSource = read;
  }

  setWalSource(read: () => { groups: number; writeSeconds: number }): void {
    this.walSource = read;
  }

  private syncMainThreadBusy(): void {
    const s = performance.eventLoopUtilization().active / 1000;
    if (s > this.mainThreadBusySeen) this.mainThreadBusySeconds.inc(s - this.mainThreadBusySeen);
    this.mainThreadBusySeen = Math.max(this.mainThreadBusySeen, s);
  }

  private syncStorageCommits(): void {
    const n = this.storageCommitsSource?.() ?? this.storageCommitsSeen;
    if (n > this.storageCommitsSeen) this.storageCommits.inc(n - this.storageCommitsSeen);
    this.storageCommitsSeen = n;
  }

  constructor(collectDefaults = true) {
    if (collectDefaults) collectDefaultMetrics({ register: this.registry, prefix: 'sealkv_' });
  }
}

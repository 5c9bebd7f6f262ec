// Prometheus metrics (prom-client), one registry per node process.

import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { NodeMetricsSink } from '../node/metrics.js';

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
  readonly logPersistSeconds = new Histogram({
    name: 'sealkv_raft_log_persist_seconds',
    help: 'Raft log batch persist latency (one fsync per batch)',
    buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1],
    registers: [this.registry],
  });
  /** LMDB write transactions committed (log appends, apply batches, compaction, snapshots). */
  readonly storageCommits = new Counter({
    name: 'sealkv_storage_commits_total',
    help: 'LMDB write transactions committed by this node',
    registers: [this.registry],
    collect: () => this.syncStorageCommits(),
  });
  private storageCommitsSource: (() => number) | null = null;
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

  /** Where sealkv_storage_commits_total reads its running count (the commit queue). */
  setStorageCommitsSource(read: () => number): void {
    this.storageCommitsSource = read;
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

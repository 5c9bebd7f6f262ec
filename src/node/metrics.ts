// What the node reports, as an interface the node owns: the server's Prometheus registry
// (server/metrics.ts) implements it, tests can pass a no-op. node/ never imports server/.

export interface GaugeSink {
  set(value: number): void;
}

export interface ObserveSink {
  observe(value: number): void;
}

export interface LabelledCounterSink<L extends string> {
  inc(labels: Partial<Record<L, string>>, value?: number): void;
}

export interface NodeMetricsSink {
  readonly term: GaugeSink;
  readonly commitIndex: GaugeSink;
  readonly appliedIndex: GaugeSink;
  readonly isLeader: GaugeSink;
  readonly proposals: LabelledCounterSink<'outcome'>;
  readonly applyBatchSize: ObserveSink;
  readonly applyBatchSeconds: ObserveSink;
  readonly logPersistSeconds: ObserveSink;
  /** Per proposal: admitted by the proposer → sealed entry handed to Raft (0 while no wrap is installed). */
  readonly wrapSeconds: ObserveSink;
  /** Per entry: committed (handed to the apply pipeline) → applied (unwrap, state machine, reseal; submitted to LMDB). */
  readonly applySeconds: ObserveSink;
  /** Where the LMDB write-transaction counter reads its running count. */
  setStorageCommitsSource(read: () => number): void;
  /** Where the WAL counters (group commits, seconds in the durable write) are read. */
  setWalSource?(read: () => { groups: number; writeSeconds: number }): void;
}

// The node's configuration and the host:port / node-id syntax it is built from. Owned by node/
// (the CLI builds it, the server reads it) so no lower layer imports cli/.

import type { BackendName } from '../crypto/aead.js';
import { ConfigError } from '../errors.js';

export interface HostPort {
  host: string;
  port: number;
}

export interface NodeConfig {
  id: string;
  clusterId: string;
  dataDir: string;
  raft: HostPort;
  resp: HostPort;
  admin: HostPort;
  /** Initial membership: raft id → peer address (this node included). */
  peers: Map<string, HostPort>;
  /** Join an existing cluster instead of bootstrapping from `peers`. */
  join: boolean;
  cipher: BackendName;
  cryptoWorkers: number;
  /** RO-13: `closed` refuses fresh raft cutovers with RAFT_ENVELOPE_GATED (default open). */
  raftEnvelopeGate?: 'open' | 'closed';
  adminTokenFile: string | null;
  logLevel: string;
  tickMs: number;
  electionTicks: number;
  heartbeatTicks: number;
  /** Applied entries beyond the last snapshot that trigger a new snapshot + log compaction. */
  snapshotThreshold: number;
  /** Entries kept in the log behind a snapshot so slow followers can catch up without one. */
  compactionMargin: number;
  maxBulkBytes: number;
  /** Deadline of a client write or linearizable read, ms. */
  requestTimeoutMs: number;
}

export function parseHostPort(s: string, what: string): HostPort {
  const m = /^(\[[^\]]+\]|[^:]+):(\d{1,5})$/.exec(s.trim());
  if (!m) throw new ConfigError('CONFIG_INVALID', `${what}: expected host:port, got '${s}'`);
  const host = m[1]!.replace(/^\[|\]$/g, '');
  const port = Number(m[2]);
  if (port < 1 || port > 65535) throw new ConfigError('CONFIG_INVALID', `${what}: port ${port} out of range`);
  return { host, port };
}

export function checkNodeId(id: string): void {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(id)) {
    throw new ConfigError('NODE_ID_INVALID', `node id '${id}' must be 1–64 characters of [A-Za-z0-9._-]`);
  }
}

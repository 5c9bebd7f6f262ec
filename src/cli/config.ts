// `sealkv start` configuration: flags and/or a JSON file (DESIGN.md §4), validated up front so a
// bad configuration is refused with one clear line (exit 2) before anything listens or writes.

import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import type { BackendName } from '../crypto/aead.js';
import { ConfigError } from '../errors.js';
import { checkNodeId, type HostPort, type NodeConfig, parseHostPort } from '../node/config.js';

// Moved to node/ (node must not import cli/); re-exported for the CLI's callers.
export { checkNodeId, type HostPort, type NodeConfig, parseHostPort };

const BACKENDS: readonly BackendName[] = ['native', 'wasm', 'js', 'node'];

const DEFAULTS = {
  clusterId: 'sealkv',
  cipher: 'native' as BackendName,
  logLevel: 'info',
  tickMs: 100,
  electionTicks: 10,
  heartbeatTicks: 1,
  snapshotThreshold: 100_000,
  compactionMargin: 10_000,
  maxBulkBytes: 512 * 1024 * 1024,
  requestTimeoutMs: 10_000,
};

/** Flags taking a value; the rest are booleans. */
const VALUE_FLAGS = new Set([
  'id',
  'cluster-id',
  'data-dir',
  'raft',
  'resp',
  'admin',
  'peers',
  'cipher',
  'crypto-workers',
  // RO-13 kill switch for fresh raft cutovers (issue 11): open | closed.
  'raft-envelope-gate',
  'admin-token-file',
  'log-level',
  'tick-ms',
  'election-ticks',
  'heartbeat-ticks',
  'snapshot-threshold',
  'compaction-margin',
  'max-bulk-bytes',
  'request-timeout-ms',
  'config',
  // Encryption (SPEC OP-1); parsed by encryption-config.ts.
  'kek-file',
  'kek-env',
  'kek-passphrase-file',
  'sidecar',
]);
const BOOL_FLAGS = new Set(['join', 'encryption', 'rotate-on-startup']);

/** Parses `--flag value` / `--flag=value` pairs into a plain record (usage errors → code USAGE). */
export function parseFlags(argv: readonly string[]): Record<string, string | boolean> {
  const out: Record<string, string | boolean> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith('--')) throw new ConfigError('USAGE', `unexpected argument '${a}'`);
    const eq = a.indexOf('=');
    const name = eq > 0 ? a.slice(2, eq) : a.slice(2);
    if (BOOL_FLAGS.has(name)) {
      out[name] = eq > 0 ? a.slice(eq + 1) !== 'false' : true;
    } else if (VALUE_FLAGS.has(name)) {
      const v = eq > 0 ? a.slice(eq + 1) : argv[++i];
      if (v === undefined) throw new ConfigError('USAGE', `--${name} needs a value`);
      out[name] = v;
    } else {
      throw new ConfigError('USAGE', `unknown option --${name}`);
    }
  }
  return out;
}

export function parsePeers(s: string): Map<string, HostPort> {
  const peers = new Map<string, HostPort>();
  for (const part of s.split(',').map((p) => p.trim()).filter(Boolean)) {
    const eq = part.indexOf('=');
    if (eq <= 0) throw new ConfigError('CONFIG_INVALID', `--peers: expected id=host:port, got '${part}'`);
    const id = part.slice(0, eq);
    checkNodeId(id);
    if (peers.has(id)) throw new ConfigError('CONFIG_INVALID', `--peers: node '${id}' listed twice`);
    peers.set(id, parseHostPort(part.slice(eq + 1), `--peers ${id}`));
  }
  return peers;
}

function intOpt(v: unknown, name: string, min: number, max: number, dflt: number): number {
  if (v === undefined) return dflt;
  const n = typeof v === 'number' ? v : Number(v);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new ConfigError('CONFIG_INVALID', `--${name} must be an integer in [${min}, ${max}], got '${String(v)}'`);
  }
  return n;
}

function strOpt(v: unknown, name: string): string | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || v === '') throw new ConfigError('CONFIG_INVALID', `--${name} must be a non-empty string`);
  return v;
}

/** Builds the validated configuration from flags, with `--config file.json` underneath them. */
export function buildConfig(flags: Record<string, string | boolean>, cores: number): NodeConfig {
  let file: Record<string, unknown> = {};
  if (typeof flags.config === 'string') {
    try {
      const parsed: unknown = JSON.parse(readFileSync(flags.config, 'utf8'));
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('not a JSON object');
      file = parsed as Record<string, unknown>;
    } catch (e) {
      throw new ConfigError('CONFIG_INVALID', `--config ${flags.config}: ${(e as Error).message}`);
    }
    for (const k of Object.keys(file)) {
      if (!VALUE_FLAGS.has(k) && !BOOL_FLAGS.has(k)) throw new ConfigError('CONFIG_INVALID', `--config: unknown key '${k}'`);
    }
  }
  const get = (k: string): unknown => (flags[k] !== undefined ? flags[k] : file[k]);
  const id = strOpt(get('id'), 'id');
  if (!id) throw new ConfigError('CONFIG_INVALID', '--id is required');
  checkNodeId(id);
  const dataDir = strOpt(get('data-dir'), 'data-dir');
  if (!dataDir) throw new ConfigError('CONFIG_INVALID', '--data-dir is required');
  const raftS = strOpt(get('raft'), 'raft');
  if (!raftS) throw new ConfigError('CONFIG_INVALID', '--raft host:port is required');
  const peersS = strOpt(get('peers'), 'peers');
  if (!peersS) throw new ConfigError('CONFIG_INVALID', '--peers id=host:port,... is required (include this node)');
  const peers = parsePeers(peersS);
  const raft = parseHostPort(raftS, '--raft');
  if (!peers.has(id)) throw new ConfigError('CONFIG_INVALID', `--peers does not list this node '${id}'`);
  const cipher = (strOpt(get('cipher'), 'cipher') ?? DEFAULTS.cipher) as BackendName;
  if (!BACKENDS.includes(cipher)) throw new ConfigError('CONFIG_INVALID', `--cipher must be one of ${BACKENDS.join(', ')}`);
  const admin = parseHostPort(strOpt(get('admin'), 'admin') ?? '127.0.0.1:8081', '--admin');
  const adminTokenFile = strOpt(get('admin-token-file'), 'admin-token-file') ?? null;
  if (!isLoopback(admin.host) && !adminTokenFile) {
    throw new ConfigError('CONFIG_INVALID', `--admin ${admin.host} is not loopback: --admin-token-file is required`);
  }
  const electionTicks = intOpt(get('election-ticks'), 'election-ticks', 2, 1000, DEFAULTS.electionTicks);
  const heartbeatTicks = intOpt(get('heartbeat-ticks'), 'heartbeat-ticks', 1, 1000, DEFAULTS.heartbeatTicks);
  if (heartbeatTicks >= electionTicks) throw new ConfigError('CONFIG_INVALID', '--heartbeat-ticks must be below --election-ticks');
  const joinV = get('join');
  return {
    id,
    clusterId: strOpt(get('cluster-id'), 'cluster-id') ?? DEFAULTS.clusterId,
    dataDir,
    raft,
    resp: parseHostPort(strOpt(get('resp'), 'resp') ?? '127.0.0.1:6379', '--resp'),
    admin,
    peers,
    join: joinV === true || joinV === 'true',
    cipher,
    cryptoWorkers: intOpt(get('crypto-workers'), 'crypto-workers', 0, 64, Math.max(1, cores - 1)),
    raftEnvelopeGate: raftGateOpt(get('raft-envelope-gate')),
    adminTokenFile,
    logLevel: strOpt(get('log-level'), 'log-level') ?? DEFAULTS.logLevel,
    tickMs: intOpt(get('tick-ms'), 'tick-ms', 1, 10_000, DEFAULTS.tickMs),
    electionTicks,
    heartbeatTicks,
    snapshotThreshold: intOpt(get('snapshot-threshold'), 'snapshot-threshold', 10, 1e9, DEFAULTS.snapshotThreshold),
    compactionMargin: intOpt(get('compaction-margin'), 'compaction-margin', 0, 1e9, DEFAULTS.compactionMargin),
    maxBulkBytes: intOpt(get('max-bulk-bytes'), 'max-bulk-bytes', 1, 2 ** 32, DEFAULTS.maxBulkBytes),
    requestTimeoutMs: intOpt(get('request-timeout-ms'), 'request-timeout-ms', 1, 600_000, DEFAULTS.requestTimeoutMs),
  };
}

function raftGateOpt(v: unknown): 'open' | 'closed' {
  if (v === undefined) return 'open';
  if (v === 'open' || v === 'closed') return v;
  throw new ConfigError('CONFIG_INVALID', '--raft-envelope-gate must be open or closed');
}

export function isLoopback(host: string): boolean {
  if (host === 'localhost' || host === '::1') return true;
  return isIP(host) === 4 && host.startsWith('127.');
}

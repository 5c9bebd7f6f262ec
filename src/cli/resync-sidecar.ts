// `sealkv admin encryption resync-sidecar` (KM-13, OP-3): repairs a STOPPED node's sidecar
// offline. Without a leader source it replays the node's own Raft log (local replay); with
// `--leader-admin ADDR` (POST /v1/encryption/resync-sidecar on the leader) or `--leader-report
// FILE` (that answer saved) it takes keys, active ids, flags and cutovers from the leader's
// report and computes every local_epoch above both the old local value and the registry's.
// Everything is checked (report freshness, every wrapped DEK unwraps under this node's KEK)
// before the one KM-7 write; a refusal writes nothing.

import { readFileSync } from 'node:fs';
import { decodeProposal } from '../crypto/envelope/proposal.js';
import { CryptoError, KeyError, SealkvError } from '../errors.js';
import { loadKek, selectKekSource } from '../keys/kek-source.js';
import { deriveNodeIdentity } from '../keys/node-identity.js';
import { resyncByLocalReplay, resyncFromReport } from '../keys/resync.js';
import type { Sidecar } from '../keys/sidecar-schema.js';
import { parseSidecarReport } from '../keys/sidecar-report.js';
import { SidecarStore } from '../keys/sidecar-store.js';
import { openOfflineNode, requireStoppedEnv, storedRaftId } from './offline-data-dir.js';

interface Io {
  out: (line: string) => void;
  err: (line: string) => void;
}

const stdio: Io = { out: (l) => process.stdout.write(`${l}\n`), err: (l) => process.stderr.write(`${l}\n`) };

export const RESYNC_USAGE = `usage:
  sealkv admin encryption resync-sidecar --data-dir DIR [--sidecar PATH] (--kek-file F | --kek-env VAR | --kek-passphrase-file F)
         [--leader-admin HOST:PORT [--token-file F] | --leader-report FILE] [--timeout-ms N]`;

const FLAGS = ['data-dir', 'sidecar', 'kek-file', 'kek-env', 'kek-passphrase-file', 'leader-admin', 'token-file', 'leader-report', 'timeout-ms'];

/** The leader's report (OP-2 `POST /v1/encryption/resync-sidecar`) for `fullNodeId`. */
async function fetchLeaderReport(addr: string, tokenFile: string | undefined, fullNodeId: bigint, timeoutMs: number): Promise<unknown> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (tokenFile !== undefined) headers.authorization = `Bearer ${readFileSync(tokenFile, 'utf8').trim()}`;
  let res: Response;
  try {
    res = await fetch(`http://${addr}/v1/encryption/resync-sidecar`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ full_node_id: fullNodeId.toString() }),
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (e) {
    throw new SealkvError('UNAVAILABLE', `cannot reach the leader's admin API at ${addr}: ${(e as Error).message}`);
  }
  const text = await res.text();
  if (!res.ok) {
    let code = `HTTP_${res.status}`;
    let message = text;
    try {
      const err = (JSON.parse(text) as { error: { code: string; message: string; leader?: string } }).error;
      code = err.code;
      message = `${err.message}${err.leader ? ` (leader: ${err.leader})` : ''}`;
    } catch {
      // not a JSON error body: keep the raw text
    }
    throw new SealkvError(code, `the leader refused the report: ${message}`);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new KeyError('INVALID_ARGUMENT', 'the leader answered with a body that is not JSON');
  }
}

function readReportFile(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new KeyError('INVALID_ARGUMENT', `--leader-report ${path}: ${(e as Error).message}`);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new KeyError('INVALID_ARGUMENT', `--leader-report ${path} is not JSON`);
  }
}

const describeKeys = (s: Sidecar): string =>
  [...s.keys]
    .sort((a, b) => a[0] - b[0])
    .map(([id, k]) => `${id}:${k.purpose}:${k.localEpoch}`)
    .join(',');

export async function runResyncSidecar(argv: string[], io: Io = stdio): Promise<number> {
  const f: Record<string, string> = {};
  for (let i = 0; i < argv.length; i++) {
    const name = argv[i]!.replace(/^--/, '');
    if (!argv[i]!.startsWith('--') || !FLAGS.includes(name) || argv[i + 1] === undefined) {
      io.err(`error: USAGE: bad option '${argv[i]}'\n${RESYNC_USAGE}`);
      return 1;
    }
    f[name] = argv[++i]!;
  }
  const usage = (m: string): number => {
    io.err(`error: USAGE: ${m}\n${RESYNC_USAGE}`);
    return 1;
  };
  if (f['data-dir'] === undefined) return usage('--data-dir is required');
  if (f['leader-admin'] !== undefined && f['leader-report'] !== undefined) return usage('--leader-admin and --leader-report are mutually exclusive');
  if (f['token-file'] !== undefined && f['leader-admin'] === undefined) return usage('--token-file goes with --leader-admin');
  const dataDir = f['data-dir'];
  try {
    const source = selectKekSource(true, { kekFile: f['kek-file'], kekEnv: f['kek-env'], kekPassphraseFile: f['kek-passphrase-file'] });
    if (source === null) return usage("a KEK option is required (the node's own: --kek-file, --kek-env or --kek-passphrase-file)");
    requireStoppedEnv(dataDir, io.err);
    const identity = deriveNodeIdentity(storedRaftId(dataDir));
    const store = SidecarStore.open(dataDir, f.sidecar);
    const local = await store.read();
    const { kek } = await loadKek(source, { readKdf: () => store.readKdf() });
    const node = await openOfflineNode(dataDir);
    let next: Sidecar;
    let how: string;
    try {
      const base = {
        local,
        appliedIndex: node.appliedIndex,
        kek,
        registry: { get: (d: number, n: number) => node.registry.get(d, n) },
        fullNodeId: identity.fullNodeId,
        nodeId16: identity.nodeId16,
        now: new Date().toISOString(),
      };
      if (f['leader-admin'] !== undefined || f['leader-report'] !== undefined) {
        const timeoutMs = f['timeout-ms'] === undefined ? 10_000 : Number(f['timeout-ms']);
        if (!Number.isSafeInteger(timeoutMs) || timeoutMs <= 0) return usage('--timeout-ms must be a positive integer');
        const doc =
          f['leader-admin'] !== undefined
            ? await fetchLeaderReport(f['leader-admin'], f['token-file'], identity.fullNodeId, timeoutMs)
            : readReportFile(f['leader-report']!);
        next = resyncFromReport(base, parseSidecarReport(doc));
        how = 'leader-report';
      } else {
        next = resyncByLocalReplay({
          ...base,
          snapshotIndex: node.snapshotIndex,
          // L (SH-1's sidecar index of the snapshot) is not recorded yet (snapshot header work of
          // part 2). L ≤ S always, so S stands in for it: local replay then refuses whenever the
          // sidecar is older than the snapshot, because the compacted range might have held an
          // encryption entry; the leader's report is the remedy (KM-13).
          snapshotSidecarIndex: node.snapshotIndex,
          log: node.log,
          payloadOf: (e, wrapped) => {
            if (wrapped) throw new CryptoError('NO_CIPHER', 'raft-envelope entries are part 2');
            return decodeProposal(e.data).payload;
          },
        });
        how = 'local-replay';
      }
    } finally {
      await node.close();
    }
    await store.write(next);
    io.out(`resynced source=${how} raft_applied_index=${next.raftAppliedIndex} node_id=${identity.fullNodeId} keys=${describeKeys(next) || '-'}`);
    return 0;
  } catch (e) {
    if (e instanceof SealkvError) {
      io.err(`error: ${e.code}: ${e.message}`);
      return 2;
    }
    throw e;
  }
}

// Read-only access to a STOPPED node's data directory for the offline admin commands
// (`resync-sidecar`, KM-13; `backup`/`backup-verify`, BR-1): the node's raft id (cluster.json),
// the state machine's applied index and registry (LMDB, opened read-only through the node's own
// storage module), and the Raft log and snapshot point (the WAL, read with the WAL module's own
// recovery, which does not write). Refuses a directory a running node holds.

import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { KeyError } from '../errors.js';
import type { LogEntryView, LogView } from '../keys/startup-guards.js';
import { WAL_DIR } from '../node/node-storage.js';
import { EntryType, type Entry } from '../raft/types.js';
import { loadCrc32c } from '../storage/crc32c.js';
import { openStorageEnv, type StorageEnv } from '../storage/env.js';
import { MetaStore } from '../storage/meta-store.js';
import { RegistryStore } from '../storage/registry-store.js';
import { LocationIndex } from '../storage/wal/location-index.js';
import { recover } from '../storage/wal/recovery.js';
import { hasLmdbEnv, LMDB_LOCK_FILE, LMDB_SUBDIR } from '../verify/at-rest.js';
import { checkInUse } from '../verify/env-in-use.js';

/** The raft id recorded in `<data-dir>/cluster.json` at the node's first start. */
export function storedRaftId(dataDir: string): string {
  const path = join(dataDir, 'cluster.json');
  let doc: { nodeId?: unknown };
  try {
    doc = JSON.parse(readFileSync(path, 'utf8')) as { nodeId?: unknown };
  } catch (e) {
    throw new KeyError('INVALID_ARGUMENT', `cannot read the node id from ${path}: ${(e as Error).message}`);
  }
  if (typeof doc.nodeId !== 'string' || doc.nodeId === '') throw new KeyError('INVALID_ARGUMENT', `${path} holds no node id`);
  return doc.nodeId;
}

/** Refuses a directory without an LMDB environment or one a running process holds. */
export function requireStoppedEnv(dataDir: string, warn: (line: string) => void): void {
  if (!hasLmdbEnv(dataDir)) throw new KeyError('INVALID_ARGUMENT', `${join(dataDir, LMDB_SUBDIR)} holds no LMDB environment (data.mdb)`);
  const use = checkInUse(dataDir, join(dataDir, LMDB_SUBDIR, LMDB_LOCK_FILE));
  if (use.state === 'in-use') throw new KeyError('INVALID_ARGUMENT', `the data directory is in use (${use.evidence}); stop the node first`);
  if (use.state === 'unknown') warn(`warning: cannot tell whether a node is using ${dataDir} (${use.why}); make sure it is stopped`);
}

/** The offline view of a stopped node: LMDB open read-only until `close`. */
export interface OfflineNode {
  readonly env: StorageEnv;
  /** E: the state machine's durable applied index. */
  readonly appliedIndex: bigint;
  /** S: the WAL's snapshot point (0 if none). */
  readonly snapshotIndex: bigint;
  readonly registry: RegistryStore;
  readonly log: LogView;
  close(): Promise<void>;
}

export async function openOfflineNode(dataDir: string): Promise<OfflineNode> {
  const env = await openStorageEnv(dataDir, { readOnly: true });
  try {
    const appliedIndex = new MetaStore(env.meta).appliedIndex();
    const walDir = join(dataDir, WAL_DIR);
    // Entries by index; a later record for the same index replaces an earlier one (a truncated
    // suffix). Entries at or below the applied index are committed, so the last one stands.
    const byIndex = new Map<number, Entry>();
    let first = 1;
    let last = 0;
    let snapshotIndex = 0;
    if (existsSync(walDir)) {
      await loadCrc32c();
      const r = recover(walDir, new LocationIndex(), (e) => byIndex.set(e.index, e));
      first = r.disk.firstIndex();
      last = r.disk.last;
      snapshotIndex = r.disk.snapshot.index;
    }
    const log: LogView = {
      firstIndex: () => BigInt(first),
      *entries(lo: bigint, hi: bigint): Iterable<LogEntryView> {
        for (let i = Number(lo) + 1; i <= Number(hi); i++) {
          const e = i <= last ? byIndex.get(i) : undefined;
          if (e === undefined) throw new KeyError('LOG_COMPACTED_PAST_SIDECAR', `entry ${i} is not in the log (it holds ${first}..${last})`);
          yield { index: BigInt(i), kind: e.type === EntryType.ConfChange ? 'conf-change' : 'normal', data: e.data };
        }
      },
    };
    return { env, appliedIndex, snapshotIndex: BigInt(snapshotIndex), registry: new RegistryStore(env.registry), log, close: () => env.close() };
  } catch (e) {
    await env.close();
    throw e;
  }
}

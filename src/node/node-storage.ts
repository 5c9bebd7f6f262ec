// Opens the node's two durable stores and makes them agree (issue 13): the Raft log and hard
// state in the WAL (`<data-dir>/wal/`), the state machine in LMDB (`<data-dir>/db`). The two are
// written separately, so a crash can leave them one step apart; this module finishes that step
// at start (docs/ARCHITECTURE.md, "Two stores: the crash-safety argument"):
//
// - a data dir of the previous layout (log in LMDB) is migrated into a new WAL first;
// - a snapshot install whose state landed in LMDB but whose log reset did not reach the WAL
//   (applied > the WAL's commit, applied = LMDB's snapshot point) gets its reset written now;
// - a local snapshot point recorded in LMDB but not yet in the WAL is recorded there;
// - a WAL compacted past the state's applied index is refused: the entries a replay needs are
//   gone (the node compacts only up to the synced applied index, so this means damage).

import { existsSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { LogCorruptError } from '../errors.js';
import type { ConfState } from '../raft/types.js';
import type { ApplyStore, StorageEnv, WriteOp } from '../storage/index.js';
import { LmdbLogStorage } from '../storage/log-store.js';
import { META_KEYS, type StoredSnapshotMeta } from '../storage/meta-store.js';
import { fsyncDir } from '../storage/wal/segment-file.js';
import { WalLogStorage, type WalOptions } from '../storage/wal/wal-log.js';
import { crashPoint } from './crash-points.js';
import { defectOn } from '../defect-switches.js';

export const WAL_DIR = 'wal';
const MIGRATING_DIR = 'wal.migrating';
const MIGRATE_CHUNK_BYTES = 16 * 1024 * 1024;

export interface OpenedLog {
  wal: WalLogStorage;
  /** What start-up did to reconcile the stores (for a log line). */
  repairs: string[];
}

/** True when the LMDB environment holds a Raft log of the previous layout. */
function hasLmdbLog(env: StorageEnv): boolean {
  if (env.meta.get(META_KEYS.hardState) !== undefined || env.meta.get(META_KEYS.logTrunc) !== undefined) return true;
  for (const _ of env.log.getKeys({ limit: 1 })) return true;
  return false;
}

/** Deletes the previous layout's log, hard state and compaction point from LMDB (durably). */
async function dropLmdbLog(env: StorageEnv): Promise<void> {
  const ops: WriteOp[] = [
    { db: env.meta, key: META_KEYS.hardState, value: null },
    { db: env.meta, key: META_KEYS.logTrunc, value: null },
  ];
  for (const key of env.log.getKeys({})) ops.push({ db: env.log, key: key as Uint8Array, value: null });
  await env.writes.submitOps(ops);
}

/**
 * Copies the previous layout's Raft log (compaction point, entries, hard state, snapshot point)
 * into a new WAL. Written in `wal.migrating/` and renamed to `wal/` only when complete and
 * durable, so a crash during the copy leaves the old layout to migrate again; the LMDB log is
 * deleted only after the rename.
 */
async function migrate(dataDir: string, env: StorageEnv, opts: WalOptions): Promise<void> {
  const old = LmdbLogStorage.open(env); // checks every record (LOG_CORRUPT on damage)
  const tmp = join(dataDir, MIGRATING_DIR);
  rmSync(tmp, { recursive: true, force: true });
  const wal = await WalLogStorage.open(tmp, opts);
  try {
    const snap = old.snapshotMeta();
    const truncIndex = old.firstIndex() - 1;
    if (truncIndex > 0) {
      const conf = snap.index === truncIndex ? snap.conf : old.initialState().confState;
      await wal.persist({ snapshot: { index: truncIndex, term: old.term(truncIndex), conf } });
    }
    for (let lo = old.firstIndex(); lo <= old.lastIndex(); ) {
      const batch = old.entries(lo, old.lastIndex() + 1, MIGRATE_CHUNK_BYTES);
      await wal.persist({ entries: batch });
      lo += batch.length;
    }
    await wal.persist({ hardState: old.hardState() });
    if (snap.index > truncIndex) await wal.recordSnapshot({ index: snap.index, term: snap.term, conf: snap.conf });
  } finally {
    await wal.close();
  }
  crashPoint('wal-migrate:written');
  renameSync(tmp, join(dataDir, WAL_DIR));
  await fsyncDir(dataDir);
  crashPoint('wal-migrate:renamed');
  await dropLmdbLog(env);
}

/**
 * Opens `<dataDir>/wal` (migrating an LMDB log first), then reconciles it with the state in
 * `store` as described at the top of this file.
 */
export async function openRaftLog(dataDir: string, env: StorageEnv, store: ApplyStore, opts: WalOptions = {}): Promise<OpenedLog> {
  const repairs: string[] = [];
  const dir = join(dataDir, WAL_DIR);
  if (!existsSync(dir) && hasLmdbLog(env)) {
    await migrate(dataDir, env, opts);
    repairs.push('migrated the Raft log from LMDB into the WAL');
  } else if (existsSync(dir) && hasLmdbLog(env)) {
    await dropLmdbLog(env); // a crash after the migration's rename
  }
  const wal = await WalLogStorage.open(dir, { ...opts, confState: opts.confState ?? (() => store.meta.confState()) });
  try {
    const applied = store.appliedIndex();
    const snap = store.meta.snapshotMeta();
    // (The defect switch, off in production, skips the repair: issue 9 defect 1.)
    if (!defectOn('install-no-reset-repair') && (await finishInstallReset(wal, applied, snap))) repairs.push(`finished the log reset of the snapshot install at ${snap.index}`);
    else if (snap.index > wal.snapshot().meta.index && snap.index >= wal.firstIndex() - 1 && snap.index <= wal.lastIndex() && wal.term(snap.index) === snap.term) {
      await wal.recordSnapshot({ index: snap.index, term: snap.term, conf: snap.conf });
      repairs.push(`recorded the snapshot point ${snap.index} in the WAL`);
    }
    if (BigInt(wal.firstIndex() - 1) > applied) {
      throw new LogCorruptError(
        applied + 1n,
        `the Raft log is compacted up to ${wal.firstIndex() - 1} but the state machine has applied only up to ${applied}: the entries in between are gone`,
      );
    }
  } catch (e) {
    await wal.close().catch(() => undefined);
    throw e;
  }
  return { wal, repairs };
}

/**
 * A snapshot install is two durable writes: the state (LMDB, with its snapshot point and applied
 * index) first, then the log reset in the WAL. After a crash between them the state is applied
 * past the WAL's commit index; this writes the reset the install would have written (the WAL is
 * unchanged since, so it decides keep/reset exactly as then). Returns false if nothing to do.
 */
export async function finishInstallReset(wal: WalLogStorage, applied: bigint, snap: StoredSnapshotMeta): Promise<boolean> {
  const hs = wal.hardState();
  if (applied <= BigInt(hs.commit)) return false;
  if (BigInt(snap.index) !== applied) return false; // not an install: the core refuses applied > commit
  await wal.persist({ snapshot: { index: snap.index, term: snap.term, conf: snap.conf }, hardState: { ...hs, commit: snap.index } });
  return true;
}

/**
 * First start of a founding member: the state (applied index 1, configuration, snapshot point)
 * is written to LMDB first, then the WAL's bootstrap. A crash in between leaves an empty WAL,
 * so the next start bootstraps again (this write is idempotent).
 */
export async function bootstrapStores(env: StorageEnv, store: ApplyStore, wal: WalLogStorage, voters: string[]): Promise<boolean> {
  if (wal.lastIndex() > 0 || wal.firstIndex() > 1 || wal.hardState().term > 0) return false;
  if (store.appliedIndex() > 1n) return false;
  const conf: ConfState = { voters: [...voters], learners: [] };
  // SH-1: the founding point's cutover is known: nothing was applied before index 1, so 0.
  const snap: StoredSnapshotMeta = { index: 1, term: 1, conf, raftEnvelopeCutoverIndex: 0n, sidecarAppliedIndex: 0n };
  await env.writes.submitOps([store.meta.opAppliedIndex(1n), store.meta.opConfState(conf), store.meta.opSnapshotMeta(snap)]);
  store.reload();
  return wal.bootstrap(voters);
}

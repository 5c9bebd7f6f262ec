// Offline editing of a STOPPED node's data directory (SPEC §17: "edit the LMDB tables and the
// sidecar of a stopped node offline"): the Raft log and hard state in the WAL (`<data-dir>/wal/`,
// issue 13), raw records of the LMDB `meta`, `kv`, `registry` and `kvmod` tables (and `log`, which
// only a data dir of the pre-WAL layout still fills; the node migrates it away at start), decoded
// views of the log and meta, and the sidecar `<data-dir>/encryption/keys.json`. LMDB is opened
// through the node's own storage module (src/storage/env.ts), read-only unless the helper edits,
// and closed again before it returns; the WAL is read with the WAL module's own recovery and
// record decoder. So the node can be restarted on the directory at once. Never use these on a
// running node: it would not see the edit in its caches, and both would write.
//
// WAL records keep their CRC-32C unless a helper says otherwise:
// `corruptLogEntry(…, { recomputeChecksum: true })` rewrites the CRC so that a layer above the
// record check (the AEAD, the envelope/proposal decoder) is the one that notices, as AS-2/AS-3,
// AS-22 and the EH scenarios need; without it the WAL's recovery finds the damage (LOG_CORRUPT).

import { chmodSync, closeSync, copyFileSync, existsSync, fsyncSync, openSync, readFileSync, statSync, truncateSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { parseSidecar, type Sidecar, serializeSidecar } from '../../../src/keys/sidecar-schema.js';
import { SidecarStore } from '../../../src/keys/sidecar-store.js';
import type { Entry, HardState } from '../../../src/raft/types.js';
import { u64be } from '../../../src/storage/bytes.js';
import { type BinaryDb, openStorageEnv, type StorageEnv } from '../../../src/storage/env.js';
import { type LogTrunc, META_KEYS, MetaStore, type StoredSnapshotMeta } from '../../../src/storage/meta-store.js';
import { crc32c, loadCrc32c } from '../../../src/storage/crc32c.js';
import { LocationIndex } from '../../../src/storage/wal/location-index.js';
import { encodeVote } from '../../../src/storage/wal/payload.js';
import { frameSize, MIN_FRAME, RecordType, readRecord as readWalFrame, writeRecord as writeWalFrame } from '../../../src/storage/wal/record.js';
import { type Recovered, recover } from '../../../src/storage/wal/recovery.js';
import { segmentName } from '../../../src/storage/wal/segment-file.js';
import { WAL_DIR } from '../../../src/node/node-storage.js';
import { encodeRegistryValue, type RegistryEntry, type RegistryRow, RegistryStore, registryKey } from '../../../src/storage/registry-store.js';

export type TableName = 'log' | 'meta' | 'kv' | 'registry' | 'kvmod';

export interface RawRecord {
  key: Uint8Array;
  value: Uint8Array;
}

const bytes = (v: Uint8Array | string): Uint8Array => (typeof v === 'string' ? new TextEncoder().encode(v) : v);

/**
 * Opens the node's LMDB (read-only unless `write`), runs `fn`, closes. Refuses a directory that
 * holds no database (a wrong path must not silently create an empty one).
 */
export async function withStoredNode<T>(dataDir: string, fn: (env: StorageEnv) => T | Promise<T>, opts: { write?: boolean } = {}): Promise<T> {
  if (!existsSync(join(dataDir, 'db', 'data.mdb'))) throw new Error(`no LMDB environment under ${dataDir}/db`);
  const env = await openStorageEnv(dataDir, { readOnly: !opts.write });
  try {
    return await fn(env);
  } finally {
    await env.close();
  }
}

function table(env: StorageEnv, name: TableName): BinaryDb {
  return env[name];
}

/** A copy of one raw record, or undefined. */
export function readRecord(dataDir: string, name: TableName, key: Uint8Array | string): Promise<Uint8Array | undefined> {
  return withStoredNode(dataDir, (env) => {
    const v = table(env, name).getBinary(bytes(key));
    return v === undefined ? undefined : new Uint8Array(v);
  });
}

/** Every record of a table in key order (copies). */
export function listRecords(dataDir: string, name: TableName): Promise<RawRecord[]> {
  return withStoredNode(dataDir, (env) =>
    [...table(env, name).getRange({})].map(({ key, value }) => ({ key: new Uint8Array(key), value: new Uint8Array(value) })),
  );
}

/** Writes (value) or deletes (null) raw records in one durable transaction. */
export function writeRecords(dataDir: string, name: TableName, records: ReadonlyArray<{ key: Uint8Array | string; value: Uint8Array | null }>): Promise<void> {
  return withStoredNode(
    dataDir,
    (env) => env.writes.submitOps(records.map((r) => ({ db: table(env, name), key: bytes(r.key), value: r.value }))),
    { write: true },
  );
}

export const writeRecord = (dataDir: string, name: TableName, key: Uint8Array | string, value: Uint8Array): Promise<void> =>
  writeRecords(dataDir, name, [{ key, value }]);

export const deleteRecord = (dataDir: string, name: TableName, key: Uint8Array | string): Promise<void> => writeRecords(dataDir, name, [{ key, value: null }]);

// ---- log (the WAL, `<data-dir>/wal/`) ----
//
// Read through the WAL module's own recovery (src/storage/wal/recovery.ts) and record reader
// (record.ts), exactly as the node reads at start: same damage rules, same entry locations. The
// recovery is read-only; WalLogStorage.open is not used because it writes (cuts a torn tail,
// starts a segment). Edits are in-place pwrites into the segment file plus an fsync.

export interface StoredLogRecord {
  index: number;
  /** Path of the segment file that holds the record. */
  segment: string;
  /** Byte offset of the frame in the segment. */
  offset: number;
  /** The whole frame: crc ‖ len ‖ type ‖ index ‖ term ‖ entry type ‖ data (a copy). */
  frame: Uint8Array;
}

/** Bytes before an entry's data in its frame: frame header, fixed body, entry type. */
const ENTRY_DATA_AT = MIN_FRAME + 1;

async function recoverWal(dataDir: string): Promise<Recovered & { dir: string }> {
  const dir = join(dataDir, WAL_DIR);
  if (!existsSync(dir)) throw new Error(`no WAL under ${dir}`);
  await loadCrc32c();
  return { ...recover(dir, new LocationIndex()), dir };
}

function writeInPlace(path: string, offset: number, bytes: Uint8Array): void {
  const fd = openSync(path, 'r+');
  try {
    writeSync(fd, bytes, 0, bytes.length, offset);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** First and last index the WAL holds an entry for (null when it holds none). Throws LOG_CORRUPT like the node. */
export async function logBounds(dataDir: string): Promise<{ first: number; last: number } | null> {
  const { disk } = await recoverWal(dataDir);
  return disk.last < disk.firstIndex() ? null : { first: disk.firstIndex(), last: disk.last };
}

/**
 * The stored frame of entry `index` and where it is (for `restoreLogRecord`), or undefined when
 * the log does not hold it. Throws LOG_CORRUPT (a WalCorruptError naming segment and offset)
 * when the WAL is damaged, as the node's start would.
 */
export async function readRawLogRecord(dataDir: string, index: number): Promise<StoredLogRecord | undefined> {
  const { disk, dir } = await recoverWal(dataDir);
  const loc = disk.locations?.get(index);
  if (loc === undefined) return undefined;
  const segment = join(dir, segmentName(loc.seq));
  const frame = new Uint8Array(readFileSync(segment).subarray(loc.offset, loc.offset + loc.len));
  return { index, segment, offset: loc.offset, frame };
}

function decodeEntryFrame(rec: StoredLogRecord): Entry {
  const r = readWalFrame(rec.frame, 0, rec.frame.length);
  if (r.kind !== 'record' || r.record.type !== RecordType.Entry || r.record.index !== rec.index) {
    throw new Error(`WAL frame at ${rec.segment}:${rec.offset} is not entry ${rec.index}`); // recovery checked it: a harness bug
  }
  const p = r.record.payload;
  return { index: rec.index, term: r.record.term, type: p[0], data: new Uint8Array(p.subarray(1)) };
}

/** The decoded entry at `index` (throws LOG_CORRUPT on a damaged WAL, like the node's start). */
export async function readLogEntry(dataDir: string, index: number): Promise<Entry | undefined> {
  const raw = await readRawLogRecord(dataDir, index);
  return raw === undefined ? undefined : decodeEntryFrame(raw);
}

/**
 * Every entry the WAL holds, in index order, from one recovery and one read per segment (a scan
 * of a whole log with `readLogEntry` would recover the WAL once per entry).
 */
export async function readLogEntries(dataDir: string): Promise<Entry[]> {
  const { disk, dir } = await recoverWal(dataDir);
  const out: Entry[] = [];
  if (disk.last < disk.firstIndex()) return out;
  const segments = new Map<number, Buffer>();
  for (let index = disk.firstIndex(); index <= disk.last; index++) {
    const loc = disk.locations?.get(index);
    if (loc === undefined) continue;
    let bytes = segments.get(loc.seq);
    const segment = join(dir, segmentName(loc.seq));
    if (bytes === undefined) {
      bytes = readFileSync(segment);
      segments.set(loc.seq, bytes);
    }
    const frame = new Uint8Array(bytes.subarray(loc.offset, loc.offset + loc.len));
    out.push(decodeEntryFrame({ index, segment, offset: loc.offset, frame }));
  }
  return out;
}

/**
 * Writes a saved frame back where it was (undoes `corruptLogEntry` / `editLogEntryData`). Needs
 * no recovery, so it works on a WAL the node would refuse.
 */
export function restoreLogRecord(saved: StoredLogRecord): void {
  writeInPlace(saved.segment, saved.offset, saved.frame);
}

/**
 * Replaces the data of entry `index` (term and type kept), CRC recomputed, in place. The new data
 * must have the old length: a WAL record cannot grow or shrink in the middle of a segment without
 * rewriting every record after it (and the location of each), so a different length is refused.
 * Returns the original record for `restoreLogRecord`.
 */
export async function editLogEntryData(dataDir: string, index: number, edit: (data: Uint8Array) => Uint8Array): Promise<StoredLogRecord> {
  const raw = await readRawLogRecord(dataDir, index);
  if (!raw) throw new Error(`no log entry at ${index}`);
  const e = decodeEntryFrame(raw);
  const data = edit(new Uint8Array(e.data));
  if (data.length !== e.data.length) {
    throw new RangeError(`editLogEntryData: entry ${index} has ${e.data.length} data bytes, the edit has ${data.length}; only same-length edits are possible in place`);
  }
  const frame = new Uint8Array(raw.frame.length);
  writeWalFrame(frame, 0, RecordType.Entry, index, e.term, data, e.type);
  writeInPlace(raw.segment, raw.offset, frame);
  return raw;
}

export interface CorruptOptions {
  /** Byte of the entry's data to flip (XOR `mask`); negative counts from the end. Default -1 (the last). */
  dataOffset?: number;
  mask?: number;
  /** Recompute the record CRC so the record check passes and a higher layer must notice. Default false. */
  recomputeChecksum?: boolean;
}

/**
 * Flips one data byte of entry `index` in its segment file; returns the original record for
 * `restoreLogRecord`. Without `recomputeChecksum` the WAL's CRC check finds it at the next start
 * (LOG_CORRUPT naming the index) — unless no valid record follows it in the last segment: then
 * recovery cannot tell it from a torn write and drops it with everything after (the WAL's damage
 * rules, recovery.ts); the record is then simply gone from the log.
 */
export async function corruptLogEntry(dataDir: string, index: number, opts: CorruptOptions = {}): Promise<StoredLogRecord> {
  const raw = await readRawLogRecord(dataDir, index);
  if (!raw) throw new Error(`no log entry at ${index}`);
  const n = raw.frame.length - ENTRY_DATA_AT;
  if (n === 0) throw new Error(`log entry ${index} has no data to corrupt`);
  const off = opts.dataOffset ?? -1;
  const at = off < 0 ? n + off : off;
  if (at < 0 || at >= n) throw new RangeError(`data offset ${off} outside the ${n} data bytes of entry ${index}`);
  const out = new Uint8Array(raw.frame);
  out[ENTRY_DATA_AT + at] ^= opts.mask ?? 0xff;
  if (opts.recomputeChecksum) new DataView(out.buffer).setUint32(0, crc32c(out.subarray(4)));
  writeInPlace(raw.segment, raw.offset, out);
  return raw;
}

/**
 * Appends one record at the end of the WAL's last segment (hard state, compaction point), framed
 * by the module's own writer. Refused when the tail is torn or sealed: the node would cut or
 * close that segment first, and the record would not be read where it was written.
 */
async function appendWalRecord(dataDir: string, type: RecordType, index: number, term: number, payload: Uint8Array | null): Promise<void> {
  const { tail, dir } = await recoverWal(dataDir);
  if (tail === null || tail.torn !== null || tail.sealed) throw new Error(`cannot append to the WAL in ${dir}: its last segment is ${tail === null ? 'missing' : tail.sealed ? 'sealed' : 'torn'}`);
  const frame = new Uint8Array(frameSize(payload?.length ?? 0));
  writeWalFrame(frame, 0, type, index, term, payload);
  writeInPlace(join(dir, segmentName(tail.seq)), tail.offset, frame);
}

// ---- meta ----
//
// Since issue 13 the hard state and the log's compaction point are WAL records (the LMDB
// `hard_state` and `log_trunc` keys are deleted by the migration); the rest stays in LMDB `meta`.

export interface StoredMeta {
  /** WAL: the last hard-state record. */
  hardState: HardState;
  appliedIndex: bigint;
  raftCutoverIndex: bigint;
  sidecarAppliedIndex: bigint;
  /** WAL: the compaction point (entries ≤ index are gone). */
  logTrunc: LogTrunc;
  snapshot: StoredSnapshotMeta;
}

/** The decoded meta (LMDB) and hard state / compaction point (WAL), with the node's own decoders. */
export async function readMeta(dataDir: string): Promise<StoredMeta> {
  const { disk } = await recoverWal(dataDir);
  return withStoredNode(dataDir, (env) => {
    const m = new MetaStore(env.meta);
    return {
      hardState: { ...disk.hardState },
      appliedIndex: m.appliedIndex(),
      raftCutoverIndex: m.raftCutoverIndex(),
      sidecarAppliedIndex: m.sidecarAppliedIndex(),
      logTrunc: { ...disk.trunc },
      snapshot: m.snapshotMeta(),
    };
  });
}

/**
 * Rewrites meta: the LMDB fields in one durable transaction (the node's encoders); `hardState`
 * and `logTrunc` as a HardState / Compact record appended to the WAL (which the node's recovery
 * checks against the log, so e.g. a compaction point past the last entry makes it refuse).
 */
export async function rewriteMeta(
  dataDir: string,
  patch: Partial<Pick<StoredMeta, 'hardState' | 'appliedIndex' | 'raftCutoverIndex' | 'sidecarAppliedIndex' | 'logTrunc'>>,
): Promise<void> {
  if (patch.logTrunc) await appendWalRecord(dataDir, RecordType.Compact, patch.logTrunc.index, patch.logTrunc.term, null);
  if (patch.hardState) await appendWalRecord(dataDir, RecordType.HardState, patch.hardState.commit, patch.hardState.term, encodeVote(patch.hardState.vote));
  if (patch.appliedIndex === undefined && patch.raftCutoverIndex === undefined && patch.sidecarAppliedIndex === undefined) return;
  await withStoredNode(
    dataDir,
    (env) => {
      const m = new MetaStore(env.meta);
      const ops = [];
      if (patch.appliedIndex !== undefined) ops.push(m.opAppliedIndex(patch.appliedIndex));
      if (patch.raftCutoverIndex !== undefined) ops.push(m.opRaftCutoverIndex(patch.raftCutoverIndex));
      if (patch.sidecarAppliedIndex !== undefined) ops.push(m.opSidecarAppliedIndex(patch.sidecarAppliedIndex));
      return env.writes.submitOps(ops);
    },
    { write: true },
  );
}

/** The raw meta key names (for `readRecord(dir, 'meta', …)` / `deleteRecord`). */
export const META_KEY = META_KEYS;
export { u64be };

// ---- kv ----

/** Raw stored value (header ‖ body) of a user key. */
export const readKv = (dataDir: string, key: Uint8Array | string): Promise<Uint8Array | undefined> => readRecord(dataDir, 'kv', key);
export const writeKv = (dataDir: string, key: Uint8Array | string, value: Uint8Array): Promise<void> => writeRecord(dataDir, 'kv', key, value);
export const deleteKv = (dataDir: string, key: Uint8Array | string): Promise<void> => deleteRecord(dataDir, 'kv', key);

// ---- registry ----

export const readRegistry = (dataDir: string): Promise<RegistryEntry[]> => withStoredNode(dataDir, (env) => new RegistryStore(env.registry).all());

export const writeRegistryRow = (dataDir: string, dekId: number, nodeId16: number, row: RegistryRow): Promise<void> =>
  writeRecord(dataDir, 'registry', registryKey(dekId, nodeId16), encodeRegistryValue(row));

export const deleteRegistryRow = (dataDir: string, dekId: number, nodeId16: number): Promise<void> =>
  deleteRecord(dataDir, 'registry', registryKey(dekId, nodeId16));

// ---- sidecar ----

export const sidecarPath = (dataDir: string): string => SidecarStore.defaultPath(dataDir);

export const readSidecarText = (dataDir: string): string => readFileSync(sidecarPath(dataDir), 'utf8');

/** The parsed, validated sidecar (throws the node's KeyError on an invalid file). */
export const readSidecar = (dataDir: string): Sidecar => parseSidecar(readSidecarText(dataDir));

/** Writes text as the sidecar, keeping mode 0600 (no tmp/rename: the node is stopped). */
export function writeSidecarText(dataDir: string, text: string): void {
  writeFileSync(sidecarPath(dataDir), text, { mode: 0o600 });
  chmodSync(sidecarPath(dataDir), 0o600);
}

/** A validated edit: `fn` returns the new sidecar (the schema's own serialiser writes it). */
export function editSidecar(dataDir: string, fn: (s: Sidecar) => Sidecar): Sidecar {
  const next = fn(readSidecar(dataDir));
  writeSidecarText(dataDir, serializeSidecar(next));
  return next;
}

/**
 * An unvalidated edit of the JSON document (u64 fields are decimal strings): for contents the
 * schema refuses, which is what the refusal tests need. `fn` mutates `doc` in place.
 */
export function editSidecarJson(dataDir: string, fn: (doc: Record<string, unknown>) => void): void {
  const doc = JSON.parse(readSidecarText(dataDir)) as Record<string, unknown>;
  fn(doc);
  writeSidecarText(dataDir, `${JSON.stringify(doc, null, 2)}\n`);
}

/** Saves the sidecar to `dest` (AS-17, AS-19: put an old copy back later with `restoreSidecar`). */
export function copySidecar(dataDir: string, dest: string): void {
  copyFileSync(sidecarPath(dataDir), dest);
}

export function restoreSidecar(dataDir: string, saved: string): void {
  copyFileSync(saved, sidecarPath(dataDir));
  chmodSync(sidecarPath(dataDir), 0o600);
}

// ---- files ----

/** Truncates a file to `length` bytes, or by `by` bytes from its end (a torn write). */
export function truncateFile(path: string, to: { length: number } | { by: number }): number {
  const size = statSync(path).size;
  const length = 'length' in to ? to.length : Math.max(0, size - to.by);
  truncateSync(path, length);
  return length;
}

/** XORs one byte of a file (negative offset counts from the end). */
export function flipFileByte(path: string, offset: number, mask = 0xff): void {
  const b = readFileSync(path);
  const at = offset < 0 ? b.length + offset : offset;
  if (at < 0 || at >= b.length) throw new RangeError(`offset ${offset} outside ${path} (${b.length} bytes)`);
  b[at] ^= mask;
  writeFileSync(path, b);
}

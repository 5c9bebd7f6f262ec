// Offline editing of a STOPPED node's data directory (SPEC §17: "edit the LMDB tables and the
// sidecar of a stopped node offline"): raw records of the `log`, `meta`, `kv`, `registry` and
// `kvmod` tables, decoded views of the log and meta records, and the sidecar
// `<data-dir>/encryption/keys.json`. LMDB is opened through the node's own storage module
// (src/storage/env.ts), read-only unless the helper edits, and closed again before it returns, so
// the node can be restarted on the directory at once. Never use these on a running node: LMDB
// would let both write, and the node would not see the edit in its caches.
//
// Log records keep their CRC-32C (src/storage/log-record.ts) unless a helper says otherwise:
// `corruptLogEntry(…, { recomputeChecksum: true })` rewrites the CRC so that a layer above the
// record check (the AEAD, the decoder) is the one that notices, as AS-3 and AS-22 need; without it
// the node's own record check finds the damage (LOG_CORRUPT).

import { chmodSync, copyFileSync, existsSync, readFileSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseSidecar, type Sidecar, serializeSidecar } from '../../../src/keys/sidecar-schema.js';
import { SidecarStore } from '../../../src/keys/sidecar-store.js';
import type { Entry, HardState } from '../../../src/raft/types.js';
import { u64be } from '../../../src/storage/bytes.js';
import { type BinaryDb, openStorageEnv, type StorageEnv } from '../../../src/storage/env.js';
import { decodeLogRecord, encodeLogRecord, LOG_RECORD_OVERHEAD, logKey, logKeyIndex } from '../../../src/storage/log-record.js';
import { type LogTrunc, META_KEYS, MetaStore, type StoredSnapshotMeta } from '../../../src/storage/meta-store.js';
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

// ---- log ----

/** First and last index with a record in `log` (null when empty). */
export function logBounds(dataDir: string): Promise<{ first: number; last: number } | null> {
  return withStoredNode(dataDir, (env) => {
    const first = [...env.log.getKeys({ limit: 1 })][0];
    const last = [...env.log.getKeys({ limit: 1, reverse: true })][0];
    return first === undefined || last === undefined ? null : { first: logKeyIndex(first), last: logKeyIndex(last) };
  });
}

/** The raw record at `index` (term ‖ type ‖ data ‖ crc). */
export const readRawLogRecord = (dataDir: string, index: number): Promise<Uint8Array | undefined> => readRecord(dataDir, 'log', logKey(index));

/** The decoded entry at `index` (throws LOG_CORRUPT on a damaged record, like the node). */
export async function readLogEntry(dataDir: string, index: number): Promise<Entry | undefined> {
  const raw = await readRawLogRecord(dataDir, index);
  return raw === undefined ? undefined : decodeLogRecord(index, raw);
}

/** Writes `entry` at its index with a correct CRC (restoring a saved entry, or planting a new one). */
export const writeLogEntry = (dataDir: string, entry: Entry): Promise<void> => writeRecord(dataDir, 'log', logKey(entry.index), encodeLogRecord(entry));

export const writeRawLogRecord = (dataDir: string, index: number, raw: Uint8Array): Promise<void> => writeRecord(dataDir, 'log', logKey(index), raw);

export const deleteLogEntry = (dataDir: string, index: number): Promise<void> => deleteRecord(dataDir, 'log', logKey(index));

/** Replaces the data of the entry at `index` (term and type kept), CRC recomputed. */
export async function editLogEntryData(dataDir: string, index: number, edit: (data: Uint8Array) => Uint8Array): Promise<Entry> {
  const e = await readLogEntry(dataDir, index);
  if (!e) throw new Error(`no log record at ${index}`);
  const next = { ...e, data: edit(new Uint8Array(e.data)) };
  await writeLogEntry(dataDir, next);
  return next;
}

export interface CorruptOptions {
  /** Byte of the entry's data to flip (XOR `mask`); negative counts from the end. Default -1 (the last). */
  dataOffset?: number;
  mask?: number;
  /** Recompute the record CRC so the record check passes and a higher layer must notice. Default false. */
  recomputeChecksum?: boolean;
}

/** Flips one data byte of the record at `index`; returns the original record for `writeRawLogRecord`. */
export async function corruptLogEntry(dataDir: string, index: number, opts: CorruptOptions = {}): Promise<Uint8Array> {
  const raw = await readRawLogRecord(dataDir, index);
  if (!raw) throw new Error(`no log record at ${index}`);
  const n = raw.length - LOG_RECORD_OVERHEAD;
  if (n === 0) throw new Error(`log record at ${index} has no data to corrupt`);
  const off = opts.dataOffset ?? -1;
  const at = off < 0 ? n + off : off;
  if (at < 0 || at >= n) throw new RangeError(`data offset ${off} outside the ${n} data bytes of entry ${index}`);
  const out = new Uint8Array(raw);
  out[9 + at] ^= opts.mask ?? 0xff;
  if (opts.recomputeChecksum) {
    const e = { index, term: Number(new DataView(out.buffer).getBigUint64(0)), type: out[8], data: out.subarray(9, 9 + n) } as Entry;
    await writeRawLogRecord(dataDir, index, encodeLogRecord(e));
  } else {
    await writeRawLogRecord(dataDir, index, out);
  }
  return raw;
}

// ---- meta ----

export interface StoredMeta {
  hardState: HardState;
  appliedIndex: bigint;
  raftCutoverIndex: bigint;
  sidecarAppliedIndex: bigint;
  logTrunc: LogTrunc;
  snapshot: StoredSnapshotMeta;
}

/** The decoded meta records (the node's own decoders). */
export function readMeta(dataDir: string): Promise<StoredMeta> {
  return withStoredNode(dataDir, (env) => {
    const m = new MetaStore(env.meta);
    return {
      hardState: m.hardState(),
      appliedIndex: m.appliedIndex(),
      raftCutoverIndex: m.raftCutoverIndex(),
      sidecarAppliedIndex: m.sidecarAppliedIndex(),
      logTrunc: m.logTrunc(),
      snapshot: m.snapshotMeta(),
    };
  });
}

/** Rewrites the given meta records in one durable transaction (encoded as the node encodes them). */
export function rewriteMeta(
  dataDir: string,
  patch: Partial<Pick<StoredMeta, 'hardState' | 'appliedIndex' | 'raftCutoverIndex' | 'sidecarAppliedIndex' | 'logTrunc'>>,
): Promise<void> {
  return withStoredNode(
    dataDir,
    (env) => {
      const m = new MetaStore(env.meta);
      const ops = [];
      if (patch.hardState) ops.push(m.opHardState(patch.hardState));
      if (patch.appliedIndex !== undefined) ops.push(m.opAppliedIndex(patch.appliedIndex));
      if (patch.raftCutoverIndex !== undefined) ops.push(m.opRaftCutoverIndex(patch.raftCutoverIndex));
      if (patch.sidecarAppliedIndex !== undefined) ops.push(m.opSidecarAppliedIndex(patch.sidecarAppliedIndex));
      if (patch.logTrunc) ops.push(m.opLogTrunc(patch.logTrunc));
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

// Snapshot streams: write the `kv` and `registry` tables from ONE LMDB read transaction (a
// consistent point-in-time view; values stay ciphertext, SH-1), and install a received stream
// atomically (SH-3: on any error nothing changes).
//
// Stream layout (all integers big-endian, C-1):
//   header                      see snapshot-header.ts (SH-1)
//   record*                     tag u8 (1 = kv, 2 = registry, 3 = kvmod) ‖ key_len u16 ‖ key ‖ value_len u32 ‖ value
//   end                         0xFF ‖ record_count u64
//   crc                         CRC-32C u32 over every byte before it (header included)
// Nothing may follow the crc. The stream is cut into chunks of at most `chunkBytes` (default
// 1 MiB) regardless of record boundaries, so the node can send chunk by chunk with back-pressure.
//
// Install: the header is checked first (and handed to the caller's `check`, where the node runs
// SH-5/SH-6) before anything is written. Records are then staged in the internal `snapstage`
// table in ~1 MiB transactions (bounded memory), and only after the trailer and CRC verify does
// ONE transaction replace kv + registry with the staged records and write the snapshot meta,
// applied index and SH-1 copies. A failure before that leaves kv, registry and meta untouched.

import type { Transaction } from 'lmdb';
import { LogCorruptError } from '../errors.js';
import { view } from './bytes.js';
import { createCrc32cStream } from './crc32c.js';
import { MAX_KEY_BYTES, type StorageEnv } from './env.js';
import type { WriteOp } from './commit-queue.js';
import { StorageError } from './errors.js';
import { decodeLogRecord, logKey } from './log-record.js';
import { MetaStore, type StoredSnapshotMeta } from './meta-store.js';
import { decodeRegistryKey, decodeRegistryValue } from './registry-store.js';
import {
  SNAPSHOT_FORMAT_VERSION,
  type SnapshotHeader,
  checkHeaderPrefix,
  decodeEncryptionState,
  decodeSnapshotHeader,
  encodeEncryptionState,
  encodeSnapshotHeader,
} from './snapshot-header.js';
import { registryKey } from './registry-store.js';

export type { SnapshotHeader } from './snapshot-header.js';

const TAG_KV = 1;
const TAG_REGISTRY = 2;
/** Per-key modification indexes (WATCH, issue 12): state-machine state like kv itself. */
const TAG_KVMOD = 3;
const TAG_END = 0xff;
/** Largest value a record may declare (Redis's 512 MiB string limit plus header room). */
export const MAX_RECORD_VALUE_BYTES = 512 * 1024 * 1024 + 64;
const STAGE_TXN_BYTES = 1024 * 1024;

export interface SnapshotStream {
  /** The header, known before the first chunk (the node uses it for the Snap message). */
  readonly header: SnapshotHeader;
  /** The whole stream, header first, in chunks of at most `chunkBytes`. Iterate once. */
  readonly chunks: AsyncIterable<Uint8Array>;
  /** Releases the read transaction if the stream is abandoned before the end. */
  close(): void;
}

export interface SnapshotWriteOptions {
  chunkBytes?: number;
  /**
   * The writer's address book; the header carries the entries of the snapshot's members
   * (advisory, see snapshot-header.ts).
   */
  peers?: ReadonlyMap<string, string>;
  /** Advisory header bytes (SH-3); v1 readers ignore them. For tests and later extensions. */
  advisory?: Uint8Array;
  /**
   * Term of a log index, from the node's Raft log (the WAL, issue 13). Without it the term is
   * read from this environment's own `log` table (the layout before the WAL).
   */
  termOf?: (index: number) => number;
  /**
   * SH-4: the highest non-zero raft cutover this process has seen and the sidecar's current one;
   * with them the header never downgrades the cutover (errors go to `onCutoverError`).
   */
  cutoverSeen?: () => { seen: bigint; sidecar: bigint };
  onCutoverError?: (message: string) => void;
}

function corrupt(msg: string, cause?: unknown): StorageError {
  return new StorageError('SNAPSHOT_CORRUPT', `snapshot stream: ${msg}`, cause === undefined ? {} : { cause });
}

/** Term of `index` as seen by `txn`: the snapshot point, the log record, else the compaction point. */
function termAt(env: StorageEnv, meta: MetaStore, index: number, txn: Transaction | undefined, termOf?: (index: number) => number): number {
  if (index === 0) return 0;
  const snap = meta.snapshotMeta(txn);
  if (snap.index === index) return snap.term;
  // The WAL answers for every index from its compaction point on, and the node never compacts
  // it past the applied index (docs/ARCHITECTURE.md, "State sync").
  if (termOf) return termOf(index);
  const rec = env.log.get(logKey(index), txn ? { transaction: txn } : {}) as Uint8Array | undefined;
  if (rec !== undefined) return decodeLogRecord(index, rec).term;
  const trunc = meta.logTrunc(txn);
  if (trunc.index === index) return trunc.term;
  throw new LogCorruptError(BigInt(index), 'applied entry is neither in the log nor the snapshot point');
}

/** Reads the header fields of the current state from one read transaction. */
function headerAt(env: StorageEnv, txn: Transaction, termOf?: (index: number) => number): SnapshotHeader {
  const meta = new MetaStore(env.meta);
  const applied = meta.appliedIndex(txn);
  if (applied > BigInt(Number.MAX_SAFE_INTEGER)) throw new StorageError('META_MALFORMED', `applied index ${applied} exceeds 2^53-1`);
  return {
    formatVersion: SNAPSHOT_FORMAT_VERSION,
    raftEnvelopeCutoverIndex: meta.raftCutoverIndex(txn),
    sidecarAppliedIndex: meta.sidecarAppliedIndex(txn),
    lastIndex: applied,
    lastTerm: BigInt(termAt(env, meta, Number(applied), txn, termOf)),
    conf: meta.confState(txn),
    // v2 (issue 11 item 7): the encryption state of the same read transaction.
    encryption: decodeEncryptionState(meta.encryptionStateBytes(txn)),
  };
}

/**
 * SH-4: the header's cutover is the `meta` value, but never lower than a non-zero cutover this
 * process has already seen (`seen`); `sidecar` is the sidecar's current value. Returns the value
 * to write and, when something dropped to 0, the error line to log (the snapshot still goes out).
 */
export function chooseHeaderCutover(meta: bigint, seen: bigint, sidecar: bigint, lastIndex?: bigint): { cutover: bigint; error: string | null } {
  // A cutover seen at an index after the snapshot's state (the marker applied while this read
  // transaction was already open) is not part of that state: a header claiming it would make the
  // receiver HALT with ENVELOPE_CUTOVER_DIVERGENCE (found by the whole-node simulator, issue 14).
  if (lastIndex !== undefined && seen > lastIndex) seen = 0n;
  if (meta === 0n && seen !== 0n) {
    return { cutover: seen, error: `SH-4: meta's raft cutover reads 0 but this process saw ${seen}; the snapshot header keeps ${seen}` };
  }
  if (sidecar === 0n && meta !== 0n) {
    return { cutover: meta, error: `SH-4: the sidecar's raft cutover reads 0 but meta holds ${meta}; the snapshot header keeps ${meta}` };
  }
  return { cutover: meta, error: null };
}

/** Opens a snapshot of the current applied state. The read transaction is held until the end. */
export function createSnapshotStream(env: StorageEnv, opts: SnapshotWriteOptions = {}): SnapshotStream {
  const chunkBytes = Math.max(64, opts.chunkBytes ?? 1024 * 1024);
  const txn = env.root.useReadTransaction();
  let released = false;
  const release = (): void => {
    if (!released) {
      released = true;
      txn.done();
    }
  };
  let header: SnapshotHeader;
  try {
    header = headerAt(env, txn, opts.termOf);
    if (opts.cutoverSeen) {
      const { seen, sidecar } = opts.cutoverSeen();
      const c = chooseHeaderCutover(header.raftEnvelopeCutoverIndex, seen, sidecar, header.lastIndex);
      header.raftEnvelopeCutoverIndex = c.cutover;
      if (c.error !== null) opts.onCutoverError?.(c.error);
    }
    if (opts.peers) {
      const peers: Record<string, string> = {};
      for (const id of [...header.conf.voters, ...header.conf.learners]) {
        const addr = opts.peers.get(id);
        if (addr !== undefined) peers[id] = addr;
      }
      header.peers = peers;
    }
  } catch (e) {
    release();
    throw e;
  }
  const headerBytes = encodeSnapshotHeader(header, opts.advisory);

  async function* generate(): AsyncGenerator<Uint8Array> {
    const crc = await createCrc32cStream();
    let chunk = new Uint8Array(chunkBytes);
    let pos = 0;
    const full: Uint8Array[] = [];
    const write = (b: Uint8Array, hash = true): void => {
      if (hash) crc.update(b);
      let o = 0;
      while (o < b.length) {
        const n = Math.min(b.length - o, chunkBytes - pos);
        chunk.set(b.subarray(o, o + n), pos);
        pos += n;
        o += n;
        if (pos === chunkBytes) {
          full.push(chunk);
          chunk = new Uint8Array(chunkBytes);
          pos = 0;
        }
      }
    };
    try {
      write(headerBytes);
      let count = 0n;
      const prefix = new Uint8Array(3);
      const vlen = new Uint8Array(4);
      for (const [tag, db] of [
        [TAG_KV, env.kv],
        [TAG_REGISTRY, env.registry],
        [TAG_KVMOD, env.kvmod],
      ] as const) {
        for (const { key, value } of db.getRange({ transaction: txn })) {
          prefix[0] = tag;
          view(prefix).setUint16(1, key.length);
          view(vlen).setUint32(0, value.length);
          write(prefix);
          write(key);
          write(vlen);
          write(value);
          count++;
          while (full.length > 0) yield full.shift() as Uint8Array;
        }
      }
      const end = new Uint8Array(9);
      end[0] = TAG_END;
      view(end).setBigUint64(1, count);
      write(end);
      const tail = new Uint8Array(4);
      view(tail).setUint32(0, crc.value());
      write(tail, false); // the checksum does not cover itself
      while (full.length > 0) yield full.shift() as Uint8Array;
      if (pos > 0) yield chunk.subarray(0, pos);
    } finally {
      release();
    }
  }
  return { header, chunks: generate(), close: release };
}

/** Pulls exact byte counts out of an async iterable of chunks, feeding a CRC as it goes. */
class ByteReader {
  private buf: Uint8Array[] = [];
  private have = 0;
  private done = false;
  private readonly it: AsyncIterator<Uint8Array>;

  constructor(source: AsyncIterable<Uint8Array>, private readonly onConsume: (b: Uint8Array) => void) {
    this.it = source[Symbol.asyncIterator]();
  }

  /** Exactly n bytes, or fewer only when the stream ended first. */
  async read(n: number, hash = true): Promise<Uint8Array> {
    while (this.have < n && !this.done) {
      const r = await this.it.next();
      if (r.done) this.done = true;
      else if (r.value.length > 0) {
        this.buf.push(r.value);
        this.have += r.value.length;
      }
    }
    const take = Math.min(n, this.have);
    const out = new Uint8Array(take);
    let o = 0;
    while (o < take) {
      const head = this.buf[0];
      const k = Math.min(head.length, take - o);
      out.set(head.subarray(0, k), o);
      o += k;
      if (k === head.length) this.buf.shift();
      else this.buf[0] = head.subarray(k);
    }
    this.have -= take;
    if (hash) this.onConsume(out);
    return out;
  }

  async atEnd(): Promise<boolean> {
    if (this.have > 0) return false;
    while (!this.done) {
      const r = await this.it.next();
      if (r.done) this.done = true;
      else if (r.value.length > 0) {
        this.buf.push(r.value);
        this.have += r.value.length;
        return false;
      }
    }
    return true;
  }
}

export interface InstallOptions {
  /**
   * Called with the validated header before anything is written; throwing refuses the install
   * with nothing changed (the node runs SH-5 / SH-6 here).
   */
  check?: (header: SnapshotHeader) => void | Promise<void>;
  /**
   * Called once every record is staged and verified, just before the swap transaction; throwing
   * refuses the install with nothing of kv/registry/meta changed. The node rebuilds a lagging
   * sidecar here (it reads the staged registry rows with `stagedRegistryRow`).
   */
  staged?: (header: SnapshotHeader) => void | Promise<void>;
  /**
   * Checked before staging and again inside the swap transaction: true refuses the install
   * (INSTALL_ABORTED) with nothing changed. The node aborts when it halted meanwhile.
   */
  aborted?: () => boolean;
  /**
   * More writes for the swap transaction, computed inside it (after the state's own writes, so
   * reads see them): the node resets its Raft log to start after the snapshot here, so the
   * installed state and the log reset are one atomic step. Called at most once, and only if the
   * transaction then commits or the install rejects.
   */
  commitOps?: (header: SnapshotHeader) => readonly WriteOp[];
}

function abortedError(): StorageError {
  return new StorageError('INSTALL_ABORTED', 'snapshot install aborted (the node is stopping); nothing changed');
}

/**
 * Reads a snapshot stream and installs it atomically. Resolves (with the header) once the new
 * state is durable; on any error nothing of kv, registry or meta has changed. Callers must
 * not apply entries while an install runs, and should call `ApplyStore.reload()` afterwards.
 * The log reset belongs in the same transaction (`commitOps` with
 * `LmdbLogStorage.snapshotResetOps`): done separately, a crash in between leaves applied >
 * commit, which the Raft core refuses at every start.
 */
export async function installSnapshot(
  env: StorageEnv,
  source: AsyncIterable<Uint8Array>,
  opts: InstallOptions = {},
): Promise<SnapshotHeader> {
  const crc = await createCrc32cStream();
  const r = new ByteReader(source, (b) => crc.update(b));

  // Header (SH-3): version first, then the declared length, then the fields.
  const prefix = await r.read(6);
  const len = checkHeaderPrefix(prefix);
  const rest = await r.read(len - 6);
  const headerBytes = new Uint8Array(len);
  headerBytes.set(prefix, 0);
  headerBytes.set(rest, 6);
  if (rest.length < len - 6) throw new StorageError('SNAPSHOT_HEADER_MALFORMED', `snapshot header: truncated (${6 + rest.length} of ${len} bytes)`);
  const header = decodeSnapshotHeader(headerBytes);
  if (header.lastIndex > BigInt(Number.MAX_SAFE_INTEGER) || header.lastTerm > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new StorageError('SNAPSHOT_HEADER_MALFORMED', 'snapshot header: last index or term exceeds 2^53-1');
  }
  if (opts.check) await opts.check(header);
  if (opts.aborted?.()) throw abortedError();

  const staging = env.staging;
  const clearStaging = (): Promise<void> => env.writes.submitTxn(() => staging.clearSync());
  await clearStaging();
  try {
    let count = 0n;
    let batch: Array<[Uint8Array, Uint8Array]> = [];
    let batchBytes = 0;
    const flush = async (): Promise<void> => {
      if (batch.length === 0) return;
      const rows = batch;
      batch = [];
      batchBytes = 0;
      await env.writes.submitOps(rows.map(([key, value]) => ({ db: staging, key, value })));
    };
    for (;;) {
      const tag = await r.read(1);
      if (tag.length < 1) throw corrupt('ends before the end marker');
      if (tag[0] === TAG_END) break;
      if (tag[0] !== TAG_KV && tag[0] !== TAG_REGISTRY && tag[0] !== TAG_KVMOD) throw corrupt(`unknown record tag ${tag[0]} after ${count} records`);
      const kl = await r.read(2);
      if (kl.length < 2) throw corrupt('truncated record');
      const keyLen = view(kl).getUint16(0);
      if (keyLen === 0 || keyLen > MAX_KEY_BYTES) throw corrupt(`record key of ${keyLen} bytes`);
      const key = await r.read(keyLen);
      const vl = await r.read(4);
      if (key.length < keyLen || vl.length < 4) throw corrupt('truncated record');
      const valueLen = view(vl).getUint32(0);
      if (valueLen > MAX_RECORD_VALUE_BYTES) throw corrupt(`record value of ${valueLen} bytes`);
      const value = await r.read(valueLen);
      if (value.length < valueLen) throw corrupt('truncated record');
      if (tag[0] === TAG_KVMOD && valueLen !== 8) throw corrupt(`kvmod record value of ${valueLen} bytes (a u64 index)`);
      if (tag[0] === TAG_REGISTRY) {
        decodeRegistryKey(key); // WR-2: malformed rows are refused, never installed
        decodeRegistryValue(value, 'snapshot registry row');
      }
      const skey = new Uint8Array(1 + keyLen);
      skey[0] = tag[0];
      skey.set(key, 1);
      batch.push([skey, value]);
      batchBytes += skey.length + value.length;
      count++;
      if (batchBytes >= STAGE_TXN_BYTES) await flush();
    }
    await flush();
    const cnt = await r.read(8);
    if (cnt.length < 8) throw corrupt('truncated trailer');
    if (view(cnt).getBigUint64(0) !== count) throw corrupt(`trailer counts ${view(cnt).getBigUint64(0)} records, stream had ${count}`);
    const expected = crc.value();
    const tail = await r.read(4, false);
    if (tail.length < 4) throw corrupt('truncated checksum');
    if (view(tail).getUint32(0) !== expected) throw corrupt('CRC-32C mismatch');
    if (!(await r.atEnd())) throw corrupt('bytes after the checksum');
    await opts.staged?.(header);

    const meta = new MetaStore(env.meta);
    const snap: StoredSnapshotMeta = {
      index: Number(header.lastIndex),
      term: Number(header.lastTerm),
      conf: header.conf,
      raftEnvelopeCutoverIndex: header.raftEnvelopeCutoverIndex,
      sidecarAppliedIndex: header.sidecarAppliedIndex,
    };
    await env.writes.submitTxn(() => {
      // Throwing here rolls back this child transaction only: nothing of the snapshot lands.
      if (opts.aborted?.()) throw abortedError();
      env.kv.clearSync();
      env.registry.clearSync();
      env.kvmod.clearSync();
      for (const { key, value } of staging.getRange({})) {
        const k = key.subarray(1);
        if (key[0] === TAG_KV) env.kv.putSync(k, value);
        else if (key[0] === TAG_KVMOD) env.kvmod.putSync(k, value);
        else env.registry.putSync(k, value);
      }
      staging.clearSync();
      meta.stageSnapshotMeta(snap);
      meta.stageConfState(header.conf);
      meta.stageAppliedIndex(header.lastIndex);
      meta.stageRaftCutoverIndex(header.raftEnvelopeCutoverIndex);
      meta.stageSidecarAppliedIndex(header.sidecarAppliedIndex);
      // A v1 stream does not carry the state: the node's own copy stays (its sidecar was
      // required to be up to date, SH-6).
      if (header.encryption !== undefined) meta.stageEncryptionState(encodeEncryptionState(header.encryption));
      if (opts.commitOps) {
        for (const op of opts.commitOps(header)) {
          if (op.value === null) op.db.removeSync(op.key);
          else op.db.putSync(op.key, op.value);
        }
      }
    });
    return header;
  } catch (e) {
    await clearStaging().catch(() => undefined);
    throw e;
  }
}

/**
 * A registry row of the snapshot being installed, as staged (between `check` and the swap):
 * the raw 12-byte value or undefined. Only meaningful inside `InstallOptions.staged`.
 */
export function stagedRegistryRow(env: StorageEnv, dekId: number, nodeId16: number): Uint8Array | undefined {
  const k = registryKey(dekId, nodeId16);
  const sk = new Uint8Array(1 + k.length);
  sk[0] = TAG_REGISTRY;
  sk.set(k, 1);
  const v = env.staging.get(sk) as Uint8Array | undefined;
  return v === undefined ? undefined : new Uint8Array(v);
}

/**
 * Records a local snapshot point (SH-1: with the cutover and sidecar_applied_index as of the
 * applied index) in `meta`, read and written in one write transaction. The caller then
 * compacts the log (`LmdbLogStorage.compact`) up to at most the returned index.
 */
export async function recordLocalSnapshot(env: StorageEnv, opts: { termOf?: (index: number) => number } = {}): Promise<StoredSnapshotMeta> {
  const meta = new MetaStore(env.meta);
  const recorded: StoredSnapshotMeta[] = [];
  await env.writes.submitTxn(() => {
    // Reads inside the write transaction see exactly the state being recorded.
    const applied = meta.appliedIndex();
    const index = Number(applied);
    const term = termAt(env, meta, index, undefined, opts.termOf);
    const m: StoredSnapshotMeta = {
      index,
      term,
      conf: meta.confState(),
      raftEnvelopeCutoverIndex: meta.raftCutoverIndex(),
      sidecarAppliedIndex: meta.sidecarAppliedIndex(),
    };
    meta.stageSnapshotMeta(m);
    recorded.push(m);
  });
  return recorded[0];
}

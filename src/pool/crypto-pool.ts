// The crypto worker pool (DESIGN.md §2): batched seal / open / reseal on Piscina workers.
//
// - One task = one batch = one transferred ArrayBuffer in (task-format.ts); one message back
//   carrying the output buffer (results are views into it, in item order) and the task buffer,
//   both transferred, never copied. The task buffer is reused for later batches because fresh
//   memory costs the main thread page faults (about 1 ms per MiB on the reference VM).
// - DEKs reach workers through the shared key table (key-table.ts), installed once per key and
//   never carried by a task.
// - At most `maxInflightBatches` batches are outstanding; further callers wait for a slot.
// - Small batches run inline on the main thread with the same backend (inline-policy.ts).

import { availableParallelism } from 'node:os';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import {
  type Aead,
  type BackendName,
  type BatchItem,
  D_AAD,
  D_AAD_LEN,
  D_DATA,
  D_DATA_LEN,
  D_NONCE,
  D_OUT,
  DESC_FIELDS,
  integrityError,
  NONCE_SIZE,
  type PackedBatch,
} from '../crypto/aead.js';
import { itemArg, itemsArg } from '../crypto/bytes.js';
import { ENV_KEY_ID_OFFSET, readU32 } from '../crypto/envelope/framing.js';
import type { NonceFactory } from '../crypto/envelope/nonce.js';
import { loadAead } from '../crypto/index.js';
import type { Keystore } from '../crypto/keystore.js';
import { CryptoError, EnvelopeError, type IntegrityError } from '../errors.js';
import { BufferRecycler } from './buffer-recycler.js';
import { cryptoMs, type ExecutorKeys, executeTask } from './execute.js';
import { DEFAULT_INLINE_THRESHOLD_US, inlineCostUs } from './inline-policy.js';
import { KeyTableWriter, createKeyTableBuffer, DEFAULT_KEY_SLOTS } from './key-table.js';
import { PoolCounters, type PoolMetrics } from './metrics.js';
import { Slots } from './slots.js';
import {
  BATCH_KEY_TABLE_BEHIND,
  BATCH_OK,
  BATCH_UNKNOWN_KEY_ID,
  H_BATCH_KEY,
  H_BATCH_STATUS,
  OP_OPEN,
  OP_SEAL,
  packPing,
  packReseal,
  packSealOpen,
  payloadLength,
  type ResealItem,
  RS_ENV,
  RS_ENV_LEN,
  RS_FIELDS,
  RS_PLAIN,
  RS_STORE,
  ST_ENVELOPE_FLAG,
  ST_ENVELOPE_SHORT,
  ST_ENVELOPE_VERSION,
  ST_INTEGRITY,
  ST_OK,
  ST_UNKNOWN_KEY_ID,
  type TaskViews,
  sealOpenViews,
  viewTask,
} from './task-format.js';
import type { PoolWorkerData, WorkerResult } from './worker-data.js';

/** Task buffers above this size are not kept for reuse (bounds idle memory). */
const MAX_RECYCLED_BYTES = 32 * 1024 * 1024;

export type { ResealItem } from './task-format.js';
export type { PoolMetrics } from './metrics.js';

export interface CryptoPoolOptions {
  backend: BackendName;
  /**
   * Worker threads; default max(1, cores − 1). 0: no worker threads at all, every batch runs
   * inline (the whole-node simulator: deterministic, nothing outside the virtual clock).
   */
  workers?: number;
  /** Batches outstanding in workers at once; default 2 × workers. */
  maxInflightBatches?: number;
  /**
   * Main-thread microseconds below which a batch runs inline (estimated from the backend's cost
   * model, inline-policy.ts). 0 sends every batch to a worker; Infinity runs everything inline.
   */
  inlineThreshold?: number;
  /** Capacity of the shared key table (DEKs loaded at once); default 64. */
  keySlots?: number;
  /** Draws storage nonces for reseal items that carry none (KM-9: one counter per purpose). */
  storageNonces?: NonceFactory;
  /**
   * Test seam (the whole-node simulator injects backend failures): wraps the backend the main
   * thread uses for inline batches. Workers always run the backend itself. Production passes none.
   */
  wrapInlineAead?: (aead: Aead) => Aead;
  /** The compiled worker module; default dist/pool/worker.js beside this module. */
  workerFile?: string | URL;
}

/** A reseal result: the opened raft payload and the storage envelope of it (SE-1). */
export interface Resealed {
  payload: Uint8Array;
  storageEnvelope: Uint8Array;
}

export type ResealResult = Resealed | IntegrityError | EnvelopeError;

/** Item shape accepted by `reseal`: the storage nonce may be left to the pool's nonce factory. */
export type ResealInput = Omit<ResealItem, 'nonce'> & { nonce?: Uint8Array };

function defaultWorkerFile(): string {
  const here = fileURLToPath(new URL('./worker.js', import.meta.url));
  if (existsSync(here)) return here;
  // Loaded from sources (vitest runs the .ts files): workers must run compiled JS from dist/.
  const dist = here.replace(/([/\\])src([/\\])pool([/\\])worker\.js$/, '$1dist$2pool$3worker.js');
  if (dist !== here && existsSync(dist)) return dist;
  throw new CryptoError('BACKEND_UNAVAILABLE', `crypto pool worker not found at ${here}; run \`npx tsc -p tsconfig.json\``);
}

export class CryptoPool {
  readonly backend: BackendName;
  readonly workers: number;
  readonly maxInflightBatches: number;
  readonly inlineThreshold: number;
  private readonly aead: Aead;
  private readonly keys: KeyTableWriter;
  private readonly inlineKeys: ExecutorKeys;
  private readonly piscina: Piscina<ArrayBuffer, WorkerResult> | null;
  private readonly buffers: BufferRecycler;
  private readonly take: (n: number) => ArrayBuffer;
  private readonly slots: Slots;
  private readonly counters = new PoolCounters();
  private readonly storageNonces: NonceFactory | undefined;
  private closed = false;
  private closing: Promise<void> | undefined;

  private constructor(aead: Aead, opts: CryptoPoolOptions) {
    this.backend = opts.backend;
    this.aead = aead;
    this.workers = opts.workers ?? Math.max(1, availableParallelism() - 1);
    if (!Number.isInteger(this.workers) || this.workers < 0) throw new RangeError(`workers must be a non-negative integer, got ${this.workers}`);
    const inlineOnly = this.workers === 0;
    this.maxInflightBatches = opts.maxInflightBatches ?? Math.max(1, 2 * this.workers);
    this.inlineThreshold = inlineOnly ? Number.POSITIVE_INFINITY : (opts.inlineThreshold ?? DEFAULT_INLINE_THRESHOLD_US);
    this.slots = new Slots(this.maxInflightBatches);
    this.storageNonces = opts.storageNonces;
    // Backends that hold per-key state (native contexts, wasm key slots) drop it the moment a
    // DEK leaves the table, before its bytes are wiped (issue 8 item 4).
    const dispose = (aead as { disposeKey?: (key: Uint8Array) => void }).disposeKey?.bind(aead);
    this.keys = new KeyTableWriter(createKeyTableBuffer(opts.keySlots ?? DEFAULT_KEY_SLOTS), dispose);
    const keys = this.keys;
    this.inlineKeys = {
      refresh: () => keys.version,
      get: (id) => keys.get(id),
      loadedKeyIds: () => keys.loadedKeyIds(),
    };
    // Enough warm buffers for every in-flight batch plus one being packed and one inline.
    this.buffers = new BufferRecycler(this.maxInflightBatches + 2, MAX_RECYCLED_BYTES);
    this.take = (n) => this.buffers.take(n);
    if (inlineOnly) {
      this.piscina = null;
      return;
    }
    const workerFile = opts.workerFile === undefined ? defaultWorkerFile() : opts.workerFile instanceof URL ? fileURLToPath(opts.workerFile) : opts.workerFile;
    const workerData: PoolWorkerData = { backend: this.backend, keyTable: this.keys.buffer };
    this.piscina = new Piscina<ArrayBuffer, WorkerResult>({
      filename: workerFile,
      minThreads: this.workers,
      maxThreads: this.workers,
      idleTimeout: Number.POSITIVE_INFINITY,
      concurrentTasksPerWorker: 1,
      // Idle workers wait with Atomics.waitAsync, so their event loop runs and the key-table
      // watcher (worker.ts) wipes a removed DEK at once rather than at the worker's next task.
      atomics: 'async',
      workerData,
    });
  }

  /** Loads the backend on the main thread (BACKEND_UNAVAILABLE when it cannot) and starts the workers. */
  static async create(opts: CryptoPoolOptions): Promise<CryptoPool> {
    const loaded = await loadAead(opts.backend);
    const pool = new CryptoPool(opts.wrapInlineAead ? opts.wrapInlineAead(loaded) : loaded, opts);
    // One ping per worker: each is answered only once a worker has loaded the backend, so a
    // backend that loads on the main thread but not in a worker fails here, not on first use.
    try {
      await Promise.all(
        Array.from({ length: pool.workers }, () => {
          const t = packPing();
          return pool.piscina!.run(t.buffer, { transferList: [t.buffer] });
        }),
      );
    } catch (e) {
      await pool.piscina?.destroy();
      throw new CryptoError('BACKEND_UNAVAILABLE', `crypto workers could not load the ${opts.backend} backend: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
    }
    return pool;
  }

  /** Installs a DEK in every worker; visible to every task submitted after this call returns. */
  installKey(keyId: number, dek: Uint8Array): void {
    this.keys.install(keyId, dek);
  }

  /** Removes a DEK from every worker (tasks submitted later fail with UNKNOWN_KEY_ID). */
  removeKey(keyId: number): boolean {
    return this.keys.remove(keyId);
  }

  /** Installs the keystore's DEKs and follows its changes; returns the unsubscribe function. */
  followKeystore(keystore: Keystore): () => void {
    return this.keys.follow(keystore);
  }

  get metrics(): PoolMetrics {
    return {
      queueDepth: this.slots.waiting,
      inflight: this.slots.inUse,
      poolBatches: this.counters.poolBatches,
      inlineBatches: this.counters.inlineBatches,
      items: this.counters.items,
      cryptoSeconds: { ...this.counters.cryptoSeconds },
    };
  }

  /** Seals every item with DEK `keyId`; results (ciphertext ‖ tag) are views in item order. */
  async seal(keyId: number, items: readonly BatchItem[]): Promise<Uint8Array[]> {
    this.checkUsable(keyId);
    const direct = this.directKey(keyId, items);
    if (direct !== undefined) {
      const t0 = performance.now();
      const out = this.aead.sealBatch(direct, items as BatchItem[]);
      this.counters.record(this.backend, true, items.length, performance.now() - t0);
      return out;
    }
    const t = packSealOpen(OP_SEAL, keyId, this.keys.version, items, this.take);
    const done = await this.run(t, items.length, dataBytes(t));
    const views = sealOpenViews(done.task, done.output);
    this.buffers.give(done.task.buffer);
    return views;
  }

  /**
   * Seals a batch already in the packed layout (the storage codec builds its apply batches so)
   * into `batch.output`. Inline by the usual policy with one backend call and no extra copy;
   * otherwise the items go to a worker like `seal` and the results are copied into place.
   */
  async sealPacked(keyId: number, batch: PackedBatch): Promise<void> {
    this.checkUsable(keyId);
    const { count, desc, output } = batch;
    const key = this.packedInlineKey(keyId, batch);
    if (key !== undefined) {
      const t0 = performance.now();
      this.aead.sealPacked(key, batch);
      this.counters.record(this.backend, true, count, performance.now() - t0);
      return;
    }
    const sealed = await this.seal(keyId, packedItems(batch));
    for (let i = 0; i < count; i++) output.set(sealed[i]!, desc[i * DESC_FIELDS + D_OUT]!);
  }

  /**
   * Opens a batch already in the packed layout into `batch.output`; `status[i]` is 1 when item i
   * authenticated, 0 otherwise (its output bytes zero). Inline by the usual policy with one
   * backend call; otherwise through a worker like `open`, results copied into place.
   */
  async openPacked(keyId: number, batch: PackedBatch, status: Uint8Array): Promise<void> {
    this.checkUsable(keyId);
    const { count, desc, output } = batch;
    const key = this.packedInlineKey(keyId, batch);
    if (key !== undefined) {
      const t0 = performance.now();
      this.aead.openPacked(key, batch, status);
      this.counters.record(this.backend, true, count, performance.now() - t0);
      return;
    }
    const opened = await this.open(keyId, packedItems(batch));
    for (let i = 0; i < count; i++) {
      const r = opened[i]!;
      if (r instanceof Uint8Array) {
        output.set(r, desc[i * DESC_FIELDS + D_OUT]!);
        status[i] = 1;
      } else {
        status[i] = 0;
      }
    }
  }

  /** Opens every item; a failed item is an IntegrityError at its position, the rest are unaffected. */
  async open(keyId: number, items: readonly BatchItem[]): Promise<(Uint8Array | IntegrityError)[]> {
    this.checkUsable(keyId);
    const direct = this.directKey(keyId, items);
    if (direct !== undefined) {
      const t0 = performance.now();
      const out = this.aead.openBatch(direct, items as BatchItem[]);
      this.counters.record(this.backend, true, items.length, performance.now() - t0);
      for (let i = 0; i < out.length; i++) {
        const r = out[i]!;
        // CK-3: the backend's own error is the cause.
        if (!(r instanceof Uint8Array)) out[i] = integrityError(`batch item ${i} failed authentication (key_id ${keyId}, ${this.backend})`, r);
      }
      return out;
    }
    const t = packSealOpen(OP_OPEN, keyId, this.keys.version, items, this.take);
    const done = await this.run(t, items.length, dataBytes(t));
    const views: (Uint8Array | IntegrityError)[] = sealOpenViews(done.task, done.output);
    const st = done.task.status;
    for (let i = 0; i < views.length; i++) {
      if (st[i] !== ST_OK) {
        views[i] = integrityError(`batch item ${i} failed authentication (key_id ${keyId}, ${this.backend})`, statusCause(this.backend, st[i]!));
      }
    }
    this.buffers.give(done.task.buffer);
    return views;
  }

  /**
   * Opens each raft envelope (its own key_id names the raft DEK) and seals the payload into a
   * storage envelope under `storageKeyId` with the SE-2 AAD, in one worker round trip. Per item:
   * `{ payload, storageEnvelope }`, or the typed error of that item (RE-6 order: ENVELOPE_SHORT,
   * ENVELOPE_VERSION, ENVELOPE_FLAG, UNKNOWN_KEY_ID, INTEGRITY); other items are unaffected.
   */
  async reseal(storageKeyId: number, items: readonly ResealInput[]): Promise<ResealResult[]> {
    this.checkUsable(storageKeyId);
    const full = this.withNonces(items);
    const t = packReseal(storageKeyId, this.keys.version, full, this.take);
    let bytes = 0;
    for (let i = 0; i < full.length; i++) bytes += t.desc[i * RS_FIELDS + RS_ENV_LEN]!;
    const done = await this.run(t, items.length, 2 * bytes);
    const results = resealResults(done.task, done.output, this.backend);
    this.buffers.give(done.task.buffer);
    return results;
  }

  /** Waits for in-flight batches, stops the workers and wipes the shared key table. */
  close(): Promise<void> {
    if (this.closing === undefined) {
      this.closed = true;
      this.slots.rejectWaiters(new CryptoError('CRYPTO_BACKEND', 'crypto pool closed'));
      this.closing = (this.piscina?.close() ?? Promise.resolve()).finally(() => this.keys.clear());
    }
    return this.closing;
  }

  /**
   * The DEK when this batch runs inline: then the backend's own batch call takes the items as
   * they are (no task buffer, no packing copy, no result views), which is the same backend code
   * over the same bytes (CK-4) at a fraction of the main-thread cost for the small batches of a
   * busy node. Undefined: pack a task (worker, or the inline executor for malformed input, whose
   * typed errors come from packSealOpen).
   */
  private directKey(keyId: number, items: readonly BatchItem[]): Uint8Array | undefined {
    if (!Array.isArray(items) || this.inlineThreshold <= 0) return undefined;
    let bytes = 0;
    for (let i = 0; i < items.length; i++) {
      const d = (items[i] as BatchItem | undefined)?.data;
      // Anything unusual goes the packing way, which reports it with its typed error.
      if (!(d instanceof Uint8Array)) return undefined;
      bytes += d.length;
    }
    if (inlineCostUs(this.backend, items.length, bytes) >= this.inlineThreshold) return undefined;
    return this.keys.get(keyId);
  }

  /** The DEK when a packed batch runs inline by the policy (its data bytes read from `desc`). */
  private packedInlineKey(keyId: number, batch: PackedBatch): Uint8Array | undefined {
    if (this.inlineThreshold <= 0) return undefined;
    let bytes = 0;
    for (let d = D_DATA_LEN; d < batch.count * DESC_FIELDS; d += DESC_FIELDS) bytes += batch.desc[d]!;
    return inlineCostUs(this.backend, batch.count, bytes) < this.inlineThreshold ? this.keys.get(keyId) : undefined;
  }

  private checkUsable(keyId: number): void {
    if (this.closed) throw new CryptoError('CRYPTO_BACKEND', 'crypto pool closed');
    if (!this.keys.has(keyId)) {
      throw new CryptoError('UNKNOWN_KEY_ID', `key_id ${keyId} is not installed in the crypto pool`);
    }
  }

  private withNonces(itemsIn: readonly ResealInput[]): ResealItem[] {
    const items = itemsArg<ResealInput>(itemsIn, 'reseal items');
    for (let i = 0; i < items.length; i++) itemArg(items[i], `reseal item ${i}`);
    let missing = 0;
    for (const it of items) if (it.nonce === undefined) missing++;
    if (missing === 0) return items as ResealItem[];
    const f = this.storageNonces;
    if (f === undefined) throw new CryptoError('CRYPTO_BACKEND', 'reseal item without a nonce and no storage nonce factory configured');
    // One atomic reservation for the whole batch (KM-9), then the nonces in item order.
    const nonces = new Uint8Array(missing * NONCE_SIZE);
    f.nextBatchInto(missing, nonces, 0);
    let k = 0;
    return items.map((it) => {
      if (it.nonce !== undefined) return it as ResealItem;
      const nonce = nonces.subarray(k * NONCE_SIZE, (k + 1) * NONCE_SIZE);
      k++;
      return { ...it, nonce };
    });
  }

  private async run(t: TaskViews, items: number, bytes: number): Promise<Done> {
    let done: Done;
    if (this.piscina === null || inlineCostUs(this.backend, items, bytes) < this.inlineThreshold) {
      const output = executeTask(t.buffer, this.aead, this.inlineKeys);
      this.counters.record(this.backend, true, items, cryptoMs(t.buffer));
      done = { task: t, output };
    } else {
      // Dispatch without an intervening await when a slot is free, so a batch submitted before
      // close() is already in Piscina's hands when close() drains it.
      if (!this.slots.tryAcquire()) {
        await this.slots.acquire();
        if (this.closed) {
          this.slots.release();
          throw new CryptoError('CRYPTO_BACKEND', 'crypto pool closed');
        }
      }
      try {
        const r = await this.piscina.run(t.buffer, { transferList: [t.buffer] });
        done = { task: viewTask(r.task), output: r.output };
      } catch (e) {
        if (e instanceof CryptoError) throw e;
        throw new CryptoError('CRYPTO_BACKEND', `crypto worker failed: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
      } finally {
        this.slots.release();
      }
      this.counters.record(this.backend, false, items, cryptoMs(done.task.buffer));
    }
    const h = done.task.header;
    const status = h[H_BATCH_STATUS];
    if (status !== BATCH_OK) {
      this.buffers.give(done.task.buffer);
      const keyId = h[H_BATCH_KEY]!;
      if (status === BATCH_UNKNOWN_KEY_ID) throw new CryptoError('UNKNOWN_KEY_ID', `key_id ${keyId} is not loaded in the crypto worker`);
      if (status === BATCH_KEY_TABLE_BEHIND) throw new CryptoError('CRYPTO_BACKEND', 'crypto worker key table behind the task');
      throw new CryptoError('CRYPTO_BACKEND', `crypto worker rejected a malformed task (status ${status})`);
    }
    return done;
  }
}

/** The items of a packed batch as views into its input (for the worker path). */
function packedItems(batch: PackedBatch): BatchItem[] {
  const { count, desc, input } = batch;
  const items = new Array<BatchItem>(count);
  for (let i = 0, d = 0; i < count; i++, d += DESC_FIELDS) {
    const n = desc[d + D_NONCE]!;
    const a = desc[d + D_AAD]!;
    const x = desc[d + D_DATA]!;
    items[i] = {
      nonce: input.subarray(n, n + NONCE_SIZE),
      aad: input.subarray(a, a + desc[d + D_AAD_LEN]!),
      data: input.subarray(x, x + desc[d + D_DATA_LEN]!),
    };
  }
  return items;
}

/** A task after execution: statuses in the task buffer, results in the output buffer. */
interface Done {
  task: TaskViews;
  output: ArrayBuffer;
}

/** Data bytes of a packed seal/open task (read from its descriptors: the items were checked there). */
function dataBytes(t: TaskViews): number {
  let n = 0;
  for (let d = 4; d < t.desc.length; d += 6) n += t.desc[d]!; // D_DATA_LEN of each item
  return n;
}

/** The backend's per-item report, as the CK-3 cause (an Error cannot cross the thread boundary typed). */
function statusCause(backend: string, status: number): Error {
  return new Error(status === ST_INTEGRITY ? `${backend}: GCM tag verification failed (item status ${status})` : `${backend}: item status ${status}`);
}

function resealResults(t: TaskViews, outputBuffer: ArrayBuffer, backend: string): ResealResult[] {
  const count = t.status.length;
  const out = new Array<ResealResult>(count);
  const { desc, input, status } = t;
  const output = new Uint8Array(outputBuffer);
  for (let i = 0, d = 0; i < count; i++, d += RS_FIELDS) {
    const envLen = desc[d + RS_ENV_LEN]!;
    const st = status[i];
    if (st === ST_OK) {
      const pl = payloadLength(envLen);
      const p = desc[d + RS_PLAIN]!;
      const s = desc[d + RS_STORE]!;
      out[i] = { payload: output.subarray(p, p + pl), storageEnvelope: output.subarray(s, s + envLen) };
      continue;
    }
    const env = desc[d + RS_ENV]!;
    const rid = envLen >= ENV_KEY_ID_OFFSET + 4 ? readU32(input, env + ENV_KEY_ID_OFFSET) : 0;
    switch (st) {
      case ST_INTEGRITY:
        out[i] = integrityError(`reseal item ${i}: raft envelope under key_id ${rid} failed authentication (${backend})`, statusCause(backend, st!));
        break;
      case ST_ENVELOPE_SHORT:
        out[i] = new EnvelopeError('ENVELOPE_SHORT', `reseal item ${i}: raft envelope of ${envLen} bytes is shorter than 34 bytes`);
        break;
      case ST_ENVELOPE_VERSION:
        out[i] = new EnvelopeError('ENVELOPE_VERSION', `reseal item ${i}: raft envelope version 0x${input[env]!.toString(16).padStart(2, '0')} is not supported`);
        break;
      case ST_ENVELOPE_FLAG:
        out[i] = new EnvelopeError('ENVELOPE_FLAG', `reseal item ${i}: raft envelope flag 0x${input[env + 1]!.toString(16).padStart(2, '0')} is reserved`);
        break;
      case ST_UNKNOWN_KEY_ID:
        out[i] = new EnvelopeError('UNKNOWN_KEY_ID', `reseal item ${i}: raft key_id ${rid} is not loaded`);
        break;
      default:
        // Never processed: must not read as success (C-5).
        out[i] = integrityError(`reseal item ${i}: not processed by the crypto worker`, statusCause(backend, st!));
    }
  }
  return out;
}

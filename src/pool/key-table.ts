// DEK distribution to crypto workers through one SharedArrayBuffer (DESIGN.md §2, SPEC CK-1).
//
// Why shared memory rather than messages: Piscina parks idle workers in Atomics.wait, so a
// message on a side port would not be seen until some task wakes the worker, and a task would
// race its own key install. Here the main thread writes a DEK into a slot once per install and
// then bumps a version counter; a worker compares the counter with the version it last loaded
// at the start of every task and reloads when it is behind. The task message itself happens
// after the install in the main thread's program order, and a postMessage synchronizes the two
// threads, so every install made before `submit` is visible to the worker that runs the task.
// No DEK byte is ever part of a task message.
//
// Layout (all Int32 fields accessed with Atomics):
//   [0]  version   i32, bumped after every install or removal
//   [1]  capacity  i32, number of slots
//   [16 + 48·i] slot i: seq i32 (odd while the writer is inside), keyId u32, 8 pad, DEK 32 bytes
// Each slot is a seqlock: a reader copies the slot and retries when seq was odd or changed.

import { CryptoError } from '../errors.js';
import { checkKey, KEY_SIZE } from '../crypto/aead.js';
import type { KeyLookup, Keystore } from '../crypto/keystore.js';

const HEADER_BYTES = 16;
const SLOT_BYTES = 48;
const F_VERSION = 0;
const F_CAPACITY = 1;
/** Offsets inside a slot, in i32 units (seq, keyId) and bytes (DEK). */
const S_SEQ = 0;
const S_KEY_ID = 1;
const S_DEK_BYTE = 16;

export const DEFAULT_KEY_SLOTS = 64;
/** KeyTableReader.watch: the longest a removed DEK can outlive its removal if a wake-up is missed. */
const WATCH_BACKSTOP_MS = 1000;

function slotBase(i: number): number {
  return HEADER_BYTES + i * SLOT_BYTES;
}

/** Allocates an empty table with room for `capacity` DEKs. */
export function createKeyTableBuffer(capacity = DEFAULT_KEY_SLOTS): SharedArrayBuffer {
  if (!Number.isInteger(capacity) || capacity < 1 || capacity > 4096) {
    throw new RangeError(`key table capacity must be 1..4096, got ${capacity}`);
  }
  const sab = new SharedArrayBuffer(HEADER_BYTES + capacity * SLOT_BYTES);
  new Int32Array(sab)[F_CAPACITY] = capacity;
  return sab;
}

/** Main-thread side: the only writer. Keeps a private map so the inline path needs no SAB read. */
export class KeyTableWriter implements KeyLookup {
  readonly buffer: SharedArrayBuffer;
  private readonly i32: Int32Array;
  private readonly u8: Uint8Array;
  private readonly capacity: number;
  private readonly slotOf = new Map<number, number>();
  private readonly keys = new Map<number, Uint8Array>();
  private ids: readonly number[] = Object.freeze([]);

  /** @param onRemoved called with a DEK that leaves the table, before its bytes are wiped. */
  constructor(
    buffer: SharedArrayBuffer = createKeyTableBuffer(),
    private readonly onRemoved?: (dek: Uint8Array) => void,
  ) {
    this.buffer = buffer;
    this.i32 = new Int32Array(buffer);
    this.u8 = new Uint8Array(buffer);
    this.capacity = this.i32[F_CAPACITY]!;
  }

  /** The version a task must see; stamped into every task header. */
  get version(): number {
    return Atomics.load(this.i32, F_VERSION);
  }

  get(keyId: number): Uint8Array | undefined {
    return this.keys.get(keyId);
  }

  has(keyId: number): boolean {
    return this.keys.has(keyId);
  }

  loadedKeyIds(): readonly number[] {
    return this.ids;
  }

  /**
   * Publishes a DEK to every worker. Same id with the same bytes is a no-op; different bytes are
   * KEY_CONFLICT (CK-2: a loaded key is never overwritten).
   */
  install(keyId: number, dekIn: Uint8Array): void {
    if (!Number.isInteger(keyId) || keyId < 1 || keyId > 0xffffffff) {
      throw new CryptoError('RESERVED_KEY_ID', `key_id ${keyId} cannot be installed (must be a non-zero u32)`);
    }
    const dek = checkKey(dekIn);
    const existing = this.keys.get(keyId);
    if (existing !== undefined) {
      if (sameBytes(existing, dek)) return;
      throw new CryptoError('KEY_CONFLICT', `key_id ${keyId} is already installed in the pool with different key material`);
    }
    let slot = -1;
    const used = new Set(this.slotOf.values());
    for (let i = 0; i < this.capacity; i++) {
      if (!used.has(i)) {
        slot = i;
        break;
      }
    }
    if (slot < 0) throw new CryptoError('CRYPTO_BACKEND', `pool key table is full (${this.capacity} DEKs)`);
    const base = slotBase(slot);
    const seqIdx = base / 4 + S_SEQ;
    Atomics.add(this.i32, seqIdx, 1); // odd: readers retry
    Atomics.store(this.i32, base / 4 + S_KEY_ID, keyId | 0);
    this.u8.set(dek, base + S_DEK_BYTE);
    Atomics.add(this.i32, seqIdx, 1); // even: slot consistent
    Atomics.add(this.i32, F_VERSION, 1);
    Atomics.notify(this.i32, F_VERSION); // wakes watching readers (KeyTableReader.watch)
    this.slotOf.set(keyId, slot);
    this.keys.set(keyId, Uint8Array.from(dek));
    this.ids = Object.freeze([...this.keys.keys()].sort((a, b) => a - b));
  }

  /** Removes a DEK from every worker and wipes its slot; absent ids are ignored. */
  remove(keyId: number): boolean {
    const slot = this.slotOf.get(keyId);
    if (slot === undefined) return false;
    const base = slotBase(slot);
    const seqIdx = base / 4 + S_SEQ;
    Atomics.add(this.i32, seqIdx, 1);
    Atomics.store(this.i32, base / 4 + S_KEY_ID, 0);
    this.u8.fill(0, base + S_DEK_BYTE, base + S_DEK_BYTE + KEY_SIZE);
    Atomics.add(this.i32, seqIdx, 1);
    Atomics.add(this.i32, F_VERSION, 1);
    Atomics.notify(this.i32, F_VERSION); // wakes watching readers (KeyTableReader.watch)
    this.slotOf.delete(keyId);
    const dek = this.keys.get(keyId);
    if (dek !== undefined) {
      try {
        this.onRemoved?.(dek);
      } finally {
        dek.fill(0);
      }
    }
    this.keys.delete(keyId);
    this.ids = Object.freeze([...this.keys.keys()].sort((a, b) => a - b));
    return true;
  }

  /** Mirrors a keystore: installs its current DEKs now and follows every later set/delete. */
  follow(keystore: Keystore): () => void {
    for (const [id, dek] of keystore.snapshot()) this.install(id, dek);
    return keystore.onChange((change) => {
      if (change.kind === 'set') {
        const dek = keystore.get(change.keyId);
        if (dek !== undefined) this.install(change.keyId, dek);
      } else {
        this.remove(change.keyId);
      }
    });
  }

  /** Wipes every slot (pool shutdown). */
  clear(): void {
    for (const id of [...this.keys.keys()]) this.remove(id);
  }
}

/**
 * Worker side: a reader that reloads its private map when the shared version moved. Unchanged
 * DEKs keep their Uint8Array identity so backends that cache a cipher context per key object
 * create it once per key, not once per reload.
 */
export class KeyTableReader implements KeyLookup {
  private readonly i32: Int32Array;
  private readonly u8: Uint8Array;
  private readonly capacity: number;
  private loaded = -1;
  private keys = new Map<number, Uint8Array>();
  private ids: readonly number[] = [];

  /** @param onRemoved called with a DEK that left the table, before its bytes are wiped. */
  constructor(
    buffer: SharedArrayBuffer,
    private readonly onRemoved?: (dek: Uint8Array) => void,
  ) {
    this.i32 = new Int32Array(buffer);
    this.u8 = new Uint8Array(buffer);
    this.capacity = Atomics.load(this.i32, F_CAPACITY);
  }

  /** The version of the last reload. */
  get loadedVersion(): number {
    return this.loaded;
  }

  /**
   * Refreshes whenever the writer publishes, without waiting for a task (needs a running event
   * loop: the pool runs workers with async atomics). Returns a stop function.
   */
  watch(): () => void {
    let stopped = false;
    const loop = (): void => {
      if (stopped) return;
      this.refresh();
      const w = (Atomics as unknown as AtomicsWaitAsync).waitAsync(this.i32, F_VERSION, this.loaded);
      if (w.async) {
        void w.value.then(loop);
      } else queueMicrotask(loop);
    };
    loop();
    // Backstop: should a wake-up ever be missed, a removed DEK still goes within a second (a
    // refresh with nothing new is one atomic load). Unref'd: it never keeps a thread alive.
    const timer = setInterval(() => {
      if (!stopped) this.refresh();
    }, WATCH_BACKSTOP_MS);
    timer.unref();
    return () => {
      stopped = true;
      clearInterval(timer);
    };
  }

  /** Reloads when the writer published anything since the last call; returns the loaded version. */
  refresh(): number {
    const v = Atomics.load(this.i32, F_VERSION);
    if (v === this.loaded) return v;
    const next = new Map<number, Uint8Array>();
    const scratch = new Uint8Array(KEY_SIZE);
    for (let i = 0; i < this.capacity; i++) {
      const base = slotBase(i);
      const seqIdx = base / 4 + S_SEQ;
      for (;;) {
        const s1 = Atomics.load(this.i32, seqIdx);
        if ((s1 & 1) !== 0) continue; // writer inside: spin (it holds the slot for ~100 ns)
        const id = Atomics.load(this.i32, base / 4 + S_KEY_ID) >>> 0;
        scratch.set(this.u8.subarray(base + S_DEK_BYTE, base + S_DEK_BYTE + KEY_SIZE));
        if (Atomics.load(this.i32, seqIdx) !== s1) continue;
        if (id !== 0) {
          const prev = this.keys.get(id);
          next.set(id, prev !== undefined && sameBytes(prev, scratch) ? prev : Uint8Array.from(scratch));
        }
        break;
      }
    }
    scratch.fill(0);
    for (const [id, dek] of this.keys) {
      if (next.get(id) === dek) continue;
      this.onRemoved?.(dek);
      dek.fill(0);
    }
    this.keys = next;
    this.ids = [...next.keys()].sort((a, b) => a - b);
    this.loaded = v;
    return v;
  }

  get(keyId: number): Uint8Array | undefined {
    return this.keys.get(keyId);
  }

  loadedKeyIds(): readonly number[] {
    return this.ids;
  }
}

/** Atomics.waitAsync (ES2024; the project's lib setting predates it). */
interface AtomicsWaitAsync {
  waitAsync(a: Int32Array, index: number, value: number): { async: false; value: string } | { async: true; value: Promise<string> };
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i]! ^ b[i]!;
  return d === 0;
}

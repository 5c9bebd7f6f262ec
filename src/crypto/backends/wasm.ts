// `wasm` backend: constant-time AES-256-GCM in WebAssembly (AssemblyScript, SIMD; wasm/assembly).
//
// Bitsliced AES and table-free GHASH: no memory access and no branch depends on key or data,
// so the backend is safe where AES instructions are missing. One WASM call per batch: the
// host copies the packed input into linear memory once, the module runs every item, and the
// host copies the output out once. Key schedules are cached per key in linear memory.

import { readFile } from 'node:fs/promises';
import { CryptoError, type IntegrityError } from '../../errors.js';
import {
  type Aead,
  type BatchItem,
  checkKey,
  checkNonce,
  integrityError,
  D_AAD,
  D_AAD_LEN,
  D_DATA,
  D_DATA_LEN,
  D_NONCE,
  D_OUT,
  DESC_FIELDS,
  KEY_SIZE,
  NONCE_SIZE,
  type PackedBatch,
  TAG_SIZE,
} from '../aead.js';
import { type BatchMode, batchCause, checkItems, checkPacked, outputLength, packedArg } from '../batch.js';
import { byteLen, bytesArg } from '../bytes.js';

/** The part of the WebAssembly JS API used here (the project's `lib` setting does not declare it). */
interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}
interface WasmModule {
  readonly __brand?: 'WebAssembly.Module';
}
interface WasmApi {
  compile(bytes: Uint8Array): Promise<WasmModule>;
  instantiate(module: WasmModule, imports: object): Promise<{ exports: unknown }>;
}
const WebAssemblyApi = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

/** Exports of wasm/assembly/index.ts. Pointers and lengths are u32 addresses in linear memory. */
interface AesGcmExports {
  memory: WasmMemory;
  scratchEnd(): number;
  slotBytes(): number;
  expandKey(slot: number): void;
  sealBatch(slot: number, inBase: number, desc: number, count: number, outBase: number): void;
  openBatch(slot: number, inBase: number, desc: number, count: number, outBase: number, status: number): void;
  wipeScratch(): void;
}

/** Path of the module built by scripts/build-wasm.mjs (same depth from src/ and dist/). */
export const WASM_MODULE_URL = new URL('../../../wasm/build/aesgcm.wasm', import.meta.url);

/** Key schedules kept in linear memory at once; the least recently used one is evicted (and wiped). */
export const KEY_SLOTS = 16;

const PAGE = 65536;
const DESC_BYTES = DESC_FIELDS * 4;

const align = (n: number, a: number): number => Math.ceil(n / a) * a;

let compiled: Promise<WasmModule> | undefined;

function compileOnce(): Promise<WasmModule> {
  if (!compiled) {
    compiled = (async () => {
      let bytes: Buffer;
      try {
        bytes = await readFile(WASM_MODULE_URL);
      } catch (e) {
        throw new CryptoError(
          'BACKEND_UNAVAILABLE',
          `wasm backend not built: ${WASM_MODULE_URL.pathname} is missing (run npm run build:wasm)`,
          { cause: e },
        );
      }
      try {
        return await WebAssemblyApi.compile(bytes);
      } catch (e) {
        // e.g. a runtime without WebAssembly SIMD
        throw new CryptoError('BACKEND_UNAVAILABLE', `wasm backend cannot compile: ${(e as Error).message}`, { cause: e });
      }
    })();
    // A failed load is not cached: a later build can be picked up.
    compiled.catch(() => {
      compiled = undefined;
    });
  }
  return compiled;
}

/** The wasm Aead plus an explicit release of a key's schedule slot. */
export interface WasmAead extends Aead {
  /** Wipes every key slot holding this key's schedule now (rather than at LRU eviction). */
  disposeKey(key: Uint8Array): void;
  /** Key slots currently holding a schedule (diagnostics, tests of disposeKey). */
  readonly liveKeySlots: number;
}

/** Instantiates the module (compiled once per process) and returns a fresh backend instance. */
export async function createWasmAead(): Promise<WasmAead> {
  const module = await compileOnce();
  const instance = await WebAssemblyApi.instantiate(module, {});
  return new WasmAesGcm(instance.exports as unknown as AesGcmExports);
}

// ---- linear memory --------------------------------------------------------------------------

/** Layout above the module's scratch: KEY_SLOTS key slots, then one batch region that grows. */
class LinearMemory {
  readonly slotBase: number;
  readonly slotBytes: number;
  readonly batchBase: number;
  private u8: Uint8Array;

  constructor(private readonly memory: WasmMemory, scratchEnd: number, slotBytes: number) {
    this.slotBase = align(scratchEnd, 64);
    this.slotBytes = slotBytes;
    this.batchBase = align(this.slotBase + KEY_SLOTS * slotBytes, 64);
    this.u8 = new Uint8Array(memory.buffer);
    this.reserve(0);
  }

  /** The current byte view (growing memory detaches the previous buffer). */
  get bytes(): Uint8Array {
    if (this.u8.buffer !== this.memory.buffer) this.u8 = new Uint8Array(this.memory.buffer);
    return this.u8;
  }

  /** Makes `batchBytes` bytes available at batchBase. */
  reserve(batchBytes: number): void {
    const need = this.batchBase + batchBytes;
    if (need > 2 ** 32) throw new CryptoError('CRYPTO_BACKEND', `wasm batch of ${batchBytes} bytes exceeds 4 GiB of linear memory`);
    const have = this.memory.buffer.byteLength;
    if (need <= have) return;
    try {
      this.memory.grow(Math.ceil((need - have) / PAGE));
    } catch (e) {
      throw new CryptoError('CRYPTO_BACKEND', `wasm linear memory cannot grow to ${need} bytes`, { cause: e });
    }
  }

  /** Writes u32 values at a 4-aligned address. */
  setU32(addr: number, values: Uint32Array): void {
    new Uint32Array(this.memory.buffer, addr, values.length).set(values);
  }
}

// ---- key-schedule cache ---------------------------------------------------------------------

interface KeySlot {
  readonly index: number;
  readonly ptr: number;
  live: boolean;
  lastUse: number;
}

/**
 * Per-key schedules in linear memory. Lookup by array identity (WeakMap) first, always
 * confirmed by a byte compare against the raw key stored in the slot (the caller may have
 * rewritten the array); then a scan of the bounded slot set by content; then expansion into a
 * free or least recently used slot. An evicted slot is zeroed before reuse.
 */
class KeyCache {
  private readonly byArray = new WeakMap<Uint8Array, KeySlot>();
  private readonly slots: (KeySlot | undefined)[] = new Array(KEY_SLOTS).fill(undefined);
  private clock = 0;

  constructor(
    private readonly mem: LinearMemory,
    private readonly exports: AesGcmExports,
  ) {}

  /** Address of the expanded schedule for `key` (already size-checked). */
  slotFor(key: Uint8Array): number {
    const hit = this.byArray.get(key);
    if (hit?.live && this.matches(hit, key)) return this.touch(hit);
    for (const s of this.slots) {
      if (s && s !== hit && this.matches(s, key)) {
        this.byArray.set(key, s);
        return this.touch(s);
      }
    }
    return this.touch(this.install(key));
  }

  private touch(s: KeySlot): number {
    s.lastUse = ++this.clock;
    return s.ptr;
  }

  /** Constant-time compare of the key with the slot's stored copy (no early exit). */
  private matches(s: KeySlot, key: Uint8Array): boolean {
    const m = this.mem.bytes;
    let diff = 0;
    for (let i = 0; i < KEY_SIZE; i++) diff |= m[s.ptr + i]! ^ key[i]!;
    return diff === 0;
  }

  private install(key: Uint8Array): KeySlot {
    let index = this.slots.indexOf(undefined);
    if (index < 0) {
      index = 0;
      for (let i = 1; i < KEY_SLOTS; i++) if (this.slots[i]!.lastUse < this.slots[index]!.lastUse) index = i;
      this.evict(index);
    }
    const ptr = this.mem.slotBase + index * this.mem.slotBytes;
    this.mem.bytes.set(key, ptr);
    this.exports.expandKey(ptr);
    const slot: KeySlot = { index, ptr, live: true, lastUse: 0 };
    this.slots[index] = slot;
    this.byArray.set(key, slot);
    return slot;
  }

  /** Wipes every slot whose stored key equals `key` (key removal: issue 8 item 4). */
  dispose(key: Uint8Array): void {
    this.byArray.delete(key);
    for (let i = 0; i < KEY_SLOTS; i++) {
      const s = this.slots[i];
      if (s && this.matches(s, key)) this.evict(i);
    }
  }

  /** Number of slots holding a key schedule (tests). */
  get liveSlots(): number {
    return this.slots.filter((s) => s !== undefined).length;
  }

  private evict(index: number): void {
    const s = this.slots[index]!;
    s.live = false; // WeakMap entries pointing here are now stale
    this.mem.bytes.fill(0, s.ptr, s.ptr + this.mem.slotBytes);
    this.slots[index] = undefined;
  }
}

// ---- the backend ----------------------------------------------------------------------------

/** Where one batch sits in linear memory. */
interface BatchLayout {
  inBase: number;
  desc: number;
  outBase: number;
  status: number;
  end: number;
}

function layoutBatch(base: number, inLen: number, count: number, outLen: number): BatchLayout {
  const inBase = base;
  const desc = align(inBase + inLen, 16);
  const outBase = align(desc + count * DESC_BYTES, 16);
  const status = align(outBase + outLen, 16);
  return { inBase, desc, outBase, status, end: status + count };
}

class WasmAesGcm implements WasmAead {
  readonly name = 'wasm' as const;
  readonly hardwareAes = false;
  private readonly mem: LinearMemory;
  private readonly keys: KeyCache;

  constructor(private readonly x: AesGcmExports) {
    this.mem = new LinearMemory(x.memory, x.scratchEnd(), x.slotBytes());
    this.keys = new KeyCache(this.mem, x);
  }

  disposeKey(key: Uint8Array): void {
    this.keys.dispose(checkKey(key));
  }

  /** Key slots currently holding a schedule (tests of disposeKey). */
  get liveKeySlots(): number {
    return this.keys.liveSlots;
  }

  seal(keyIn: Uint8Array, nonceIn: Uint8Array, aadIn: Uint8Array, plaintextIn: Uint8Array): Uint8Array {
    const key = checkKey(keyIn);
    const nonce = checkNonce(nonceIn);
    return this.single('seal', key, nonce, bytesArg(aadIn, 'aad'), bytesArg(plaintextIn, 'plaintext'))!;
  }

  open(keyIn: Uint8Array, nonceIn: Uint8Array, aadIn: Uint8Array, sealedIn: Uint8Array): Uint8Array {
    const key = checkKey(keyIn);
    const nonce = checkNonce(nonceIn);
    const aad = bytesArg(aadIn, 'aad');
    const sealed = bytesArg(sealedIn, 'sealed');
    if (sealed.length < TAG_SIZE) {
      throw integrityError('sealed input shorter than the tag (wasm)', new Error(`wasm: ${sealed.length} bytes cannot hold a ${TAG_SIZE}-byte tag`));
    }
    const plain = this.single('open', key, nonce, aad, sealed);
    if (plain === null) throw integrityError('authentication failed (wasm)', new Error('wasm: GCM tag verification failed (status 0)'));
    return plain;
  }

  sealBatch(key: Uint8Array, items: BatchItem[]): Uint8Array[] {
    return this.runItems('seal', key, items).views;
  }

  openBatch(key: Uint8Array, items: BatchItem[]): (Uint8Array | IntegrityError)[] {
    const { views, status, desc } = this.runItems('open', key, items);
    const results: (Uint8Array | IntegrityError)[] = views;
    const described = { count: views.length, input: new Uint8Array(0), desc, output: new Uint8Array(0) };
    for (let i = 0; i < views.length; i++) {
      // Only an explicit 1 is success.
      if (status[i] !== 1) results[i] = integrityError(`batch item ${i} failed authentication (wasm)`, batchCause('wasm', described, i));
    }
    return results;
  }

  sealPacked(key: Uint8Array, batch: PackedBatch): void {
    this.runPacked('seal', checkKey(key), packedArg(batch), undefined);
  }

  openPacked(keyIn: Uint8Array, batchIn: PackedBatch, statusIn: Uint8Array): void {
    const key = checkKey(keyIn);
    const batch = packedArg(batchIn);
    const status = bytesArg(statusIn, 'status');
    if (status.length < batch.count) {
      throw new CryptoError('CRYPTO_BACKEND', `status buffer holds ${status.length} entries for ${batch.count} items`);
    }
    this.runPacked('open', key, batch, status);
  }

  // -- one item: written straight into linear memory, no packed intermediate; null = failed open

  private single(
    mode: BatchMode,
    key: Uint8Array,
    nonce: Uint8Array,
    aad: Uint8Array,
    data: Uint8Array,
  ): Uint8Array | null {
    const slot = this.keys.slotFor(key);
    const outLen = outputLength(mode, data.length);
    const inLen = NONCE_SIZE + aad.length + data.length;
    const L = layoutBatch(this.mem.batchBase, inLen, 1, outLen);
    this.mem.reserve(L.end - this.mem.batchBase);
    const m = this.mem.bytes;
    try {
      m.set(nonce, L.inBase);
      m.set(aad, L.inBase + NONCE_SIZE);
      m.set(data, L.inBase + NONCE_SIZE + aad.length);
      this.mem.setU32(L.desc, Uint32Array.of(0, NONCE_SIZE, aad.length, NONCE_SIZE + aad.length, data.length, 0));
      let ok = true;
      if (mode === 'seal') this.x.sealBatch(slot, L.inBase, L.desc, 1, L.outBase);
      else {
        this.x.openBatch(slot, L.inBase, L.desc, 1, L.outBase, L.status);
        ok = m[L.status] === 1;
      }
      // A failed open yields no bytes at all (the module zeroed them anyway).
      return ok ? m.slice(L.outBase, L.outBase + outLen) : null;
    } finally {
      // Whatever happened (a trap, a failed copy), no plaintext stays in linear memory.
      this.wipeAll(L);
    }
  }

  // -- BatchItem[]: packed directly into linear memory, one output buffer for all results

  private runItems(
    mode: BatchMode,
    keyIn: Uint8Array,
    itemsIn: BatchItem[],
  ): { views: Uint8Array[]; status: Uint8Array; desc: Uint32Array } {
    const key = checkKey(keyIn);
    const items = checkItems(itemsIn);
    const count = items.length;
    let inLen = 0;
    let outLen = 0;
    for (let i = 0; i < count; i++) {
      const it = items[i]!;
      inLen += NONCE_SIZE + byteLen(it.aad) + byteLen(it.data);
      outLen += outputLength(mode, byteLen(it.data));
    }
    const slot = this.keys.slotFor(key);
    const L = layoutBatch(this.mem.batchBase, inLen, count, outLen);
    this.mem.reserve(L.end - this.mem.batchBase);
    const m = this.mem.bytes;
    const desc = new Uint32Array(count * DESC_FIELDS);
    let off = 0;
    let out = 0;
    let output: Uint8Array;
    let status: Uint8Array;
    try {
    for (let i = 0, d = 0; i < count; i++, d += DESC_FIELDS) {
      const it = items[i]!;
      desc[d + D_NONCE] = off;
      m.set(it.nonce, L.inBase + off);
      off += NONCE_SIZE;
      desc[d + D_AAD] = off;
      desc[d + D_AAD_LEN] = byteLen(it.aad);
      m.set(it.aad, L.inBase + off);
      off += byteLen(it.aad);
      desc[d + D_DATA] = off;
      desc[d + D_DATA_LEN] = byteLen(it.data);
      m.set(it.data, L.inBase + off);
      off += byteLen(it.data);
      desc[d + D_OUT] = out;
      out += outputLength(mode, byteLen(it.data));
    }
    this.mem.setU32(L.desc, desc);
    this.call(mode, slot, L, count);
    output = m.slice(L.outBase, L.outBase + outLen);
    status = mode === 'open' ? m.slice(L.status, L.status + count) : new Uint8Array(0);
    } finally {
      this.wipeAll(L);
    }
    const views = new Array<Uint8Array>(count);
    for (let i = 0, d = 0; i < count; i++, d += DESC_FIELDS) {
      const start = desc[d + D_OUT]!;
      views[i] = output.subarray(start, start + outputLength(mode, desc[d + D_DATA_LEN]!));
    }
    return { views, status, desc };
  }

  // -- PackedBatch: the input is copied once, the span of item outputs is copied back once

  private runPacked(mode: BatchMode, key: Uint8Array, batch: PackedBatch, status: Uint8Array | undefined): void {
    checkPacked(batch, mode);
    const { count, input, desc, output } = batch;
    // The span of output actually written, and whether items tile it without gaps.
    let lo = output.length;
    let hi = 0;
    let sum = 0;
    for (let i = 0, d = 0; i < count; i++, d += DESC_FIELDS) {
      const len = outputLength(mode, desc[d + D_DATA_LEN]!);
      const start = desc[d + D_OUT]!;
      if (len === 0) continue;
      lo = Math.min(lo, start);
      hi = Math.max(hi, start + len);
      sum += len;
    }
    if (hi < lo) lo = hi = 0;
    const slot = this.keys.slotFor(key);
    const L = layoutBatch(this.mem.batchBase, input.length, count, hi - lo);
    this.mem.reserve(L.end - this.mem.batchBase);
    const m = this.mem.bytes;
    try {
    m.set(input, L.inBase);
    this.mem.setU32(L.desc, desc.subarray(0, count * DESC_FIELDS));
    // With gaps between item outputs, the span is copied back whole: seed it with the caller's
    // bytes so gaps keep them (rather than stale linear memory).
    if (sum !== hi - lo) m.set(output.subarray(lo, hi), L.outBase);
    // Output offsets in desc are relative to output[0] and only [lo, hi) is mapped, so the base
    // passed is outBase - lo. It may be negative: the module adds offsets in wrapping i32
    // arithmetic, so outBase - lo + offset is still the right address.
    this.call(mode, slot, { ...L, outBase: L.outBase - lo }, count);
    output.set(m.subarray(L.outBase, L.outBase + (hi - lo)), lo);
    if (status) status.set(m.subarray(L.status, L.status + count));
    } finally {
      this.wipeAll(L);
    }
  }

  private call(mode: BatchMode, slot: number, L: BatchLayout, count: number): void {
    if (mode === 'seal') this.x.sealBatch(slot, L.inBase, L.desc, count, L.outBase);
    else this.x.openBatch(slot, L.inBase, L.desc, count, L.outBase, L.status);
  }

  /**
   * Plaintext never stays in linear memory: the whole batch region (input, descriptors, output,
   * statuses) is zeroed after every call, in a finally, so a throw midway cannot skip it.
   */
  private wipeAll(L: BatchLayout): void {
    this.mem.bytes.fill(0, L.inBase, L.end);
  }
}

// The `native` AEAD backend: AES-256-GCM from the OpenSSL inside the node process, through the
// Rust Node-API module in native/ (one keyed OpenSSL context per DEK, one Node-API call per batch).
//
// The module is optional: without Rust it is not built, and createNativeAead() throws
// BACKEND_UNAVAILABLE with the reason scripts/build-native.mjs recorded.

import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { markAsUntransferable } from 'node:worker_threads';
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
  NONCE_SIZE,
  type PackedBatch,
  TAG_SIZE,
} from '../aead.js';
import { packedArg } from '../batch.js';
import { byteLen, bytesArg, changedError, itemArg, itemsArg, label, plainLen } from '../bytes.js';

/** Opaque handle to a native key context (a Node-API external). */
export interface NativeContext {
  readonly __nativeContext: unique symbol;
}

/** The functions native/src/exports.rs registers. */
export interface NativeBinding {
  hardwareAes(): boolean;
  /** True when the load-time self-test enabled the cheaper OpenSSL 3 parameter calls (else textbook EVP calls). */
  paramsCallsInUse(): boolean;
  /**
   * True when the load-time self-test enabled the direct path for new contexts: messages up to
   * 2 KiB run OpenSSL's GCM128 functions with its AES-NI primitives, skipping the EVP layer
   * (native/src/gcm.rs); longer ones, and every message where this is false, use EVP.
   */
  directCallsInUse(): boolean;
  createContext(key: Uint8Array): NativeContext;
  disposeContext(ctx: NativeContext): void;
  contextMatches(ctx: NativeContext, key: Uint8Array): boolean;
  /** → 0, or KEY_MISMATCH (nothing done). */
  seal(ctx: NativeContext, key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, plaintext: Uint8Array, out: Uint8Array): number;
  /** → 0 authentic, 1 authentication failed (out zeroed), or KEY_MISMATCH. */
  open(ctx: NativeContext, key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, sealed: Uint8Array, out: Uint8Array): number;
  /** Nonce/AAD offsets index `input`, data offsets index `data`, results go to `output`. → 0 or KEY_MISMATCH. */
  sealPacked(
    ctx: NativeContext,
    key: Uint8Array,
    input: Uint8Array,
    data: Uint8Array,
    desc: Uint32Array,
    count: number,
    output: Uint8Array,
  ): number;
  /** → number of items that failed authentication, or KEY_MISMATCH. */
  openPacked(
    ctx: NativeContext,
    key: Uint8Array,
    input: Uint8Array,
    desc: Uint32Array,
    count: number,
    output: Uint8Array,
    status: Uint8Array,
  ): number;
  /**
   * Reference loop: one reused keyed context, entirely native; returns elapsed ns.
   * mode 0 = seal, 1 = open; tagVia 0 = textbook EVP calls (EVP_*Init_ex(iv) + EVP_CIPHER_CTX_ctrl),
   * 1 = EVP_CIPHER_CTX_set/get_params for IV and tag (what this backend uses for EVP when paramsCallsInUse()),
   * 2 = the direct GCM128 calls (what it uses up to 2 KiB when directCallsInUse(); throws otherwise).
   */
  evpLoop(key: Uint8Array, size: number, aadLen: number, iterations: number, mode: number, tagVia: number): number;
  /**
   * An ArrayBuffer of exactly `size` bytes over a recycled native block that is already faulted
   * in (native/src/outbuf.rs), contents unspecified; undefined when `size` is outside the pooled
   * sizes or the pool is at its cap. The block returns to the native free list when V8 collects
   * the ArrayBuffer (node runs that finalizer from the event loop, not during a synchronous loop).
   */
  allocOutput(size: number, wipeOnReturn: boolean): ArrayBuffer | undefined;
  /** Process-wide byte counts of the output block pool (cap 64 MiB for both together). */
  outputPoolStats(): { cachedBytes: number; lentBytes: number };
  /** Which implementation runs messages, and why (fast path or EVP fallback). */
  implementationInfo(): NativeImplementation;
}

/** What native/src/selftest.rs decided at load. */
export interface NativeImplementation {
  /** True when short messages use the direct GCM128 fast path; false = every message on EVP. */
  fastPath: boolean;
  /** 'direct+evp' or 'evp'. */
  implementation: 'direct+evp' | 'evp';
  /** Why the fast path is off (empty when it is on). */
  reason: string;
  /** The OpenSSL version the module found in this process (OpenSSL_version). */
  openssl: string;
  /** OpenSSL versions the test suite has verified the fast path on. */
  verifiedOpenssl: string[];
}

/** Returned by context calls when the key bytes no longer match the context (key mutated in place). */
const KEY_MISMATCH = -1;
/** Contexts kept for keys that arrive in a different Uint8Array with equal bytes. */
const RECENT_CONTEXTS = 16;
/** Below this, a zero-filled allocation is as cheap as an unfilled one. */
const UNFILLED_ALLOC_MIN = 1024;
/**
 * From here batch outputs come from the native block pool (outbuf.rs; its smallest block).
 * Measured (256 B items, a turn of the event loop between batches): 68 KiB outputs 0.28 vs
 * 0.34 µs/item with JS allocation, 34 KiB ones fault only ≈5 pages per batch from the JS heap.
 */
const POOLED_OUT_MIN = 64 * 1024;

const NATIVE_DIR = fileURLToPath(new URL('../../../native/', import.meta.url));
const BINARY_PREFIX = `sealkv_native.${process.platform}-${process.arch}`;

let cached: NativeBinding | CryptoError | undefined;

function unavailable(reason: string, cause?: unknown): CryptoError {
  return new CryptoError('BACKEND_UNAVAILABLE', `native backend unavailable: ${reason}`, cause === undefined ? {} : { cause });
}

function findBinary(): string | undefined {
  if (!existsSync(NATIVE_DIR)) return undefined;
  const name = readdirSync(NATIVE_DIR).find((f) => f.startsWith(BINARY_PREFIX) && f.endsWith('.node'));
  return name === undefined ? undefined : join(NATIVE_DIR, name);
}

function load(): NativeBinding {
  const marker = join(NATIVE_DIR, 'UNAVAILABLE.txt');
  // A recorded build failure wins over a stale binary from an earlier build.
  if (existsSync(marker)) throw unavailable(readFileSync(marker, 'utf8').trim() || 'build failed');
  const file = findBinary();
  if (file === undefined) {
    throw unavailable(`no ${BINARY_PREFIX}*.node in ${NATIVE_DIR} (run npm run build:native)`);
  }
  let mod: Partial<NativeBinding>;
  try {
    mod = createRequire(import.meta.url)(file) as Partial<NativeBinding>;
  } catch (e) {
    throw unavailable(`cannot load ${file}: ${(e as Error).message}`, e);
  }
  const fns: (keyof NativeBinding)[] = ['hardwareAes', 'paramsCallsInUse', 'directCallsInUse', 'createContext', 'disposeContext', 'contextMatches', 'seal', 'open', 'sealPacked', 'openPacked', 'evpLoop', 'allocOutput', 'outputPoolStats', 'implementationInfo'];
  const missing = fns.filter((f) => typeof mod[f] !== 'function');
  if (missing.length > 0) throw unavailable(`${file} is stale (missing ${missing.join(', ')}); rebuild with npm run build:native`);
  return mod as NativeBinding;
}

/** The loaded module, or throws BACKEND_UNAVAILABLE with the reason (memoised either way). */
export function nativeBinding(): NativeBinding {
  if (cached === undefined) {
    try {
      cached = load();
    } catch (e) {
      cached = e instanceof CryptoError ? e : unavailable(String(e), e);
    }
  }
  if (cached instanceof CryptoError) throw cached;
  return cached;
}

/** Native errors carry a CryptoError code (exports.rs); anything else is a backend failure. */
function fromNative(e: unknown): Error {
  if (e instanceof CryptoError) return e;
  const code = (e as { code?: unknown } | null)?.code;
  const message = e instanceof Error ? e.message : String(e);
  if (code === 'BAD_KEY_SIZE' || code === 'BAD_NONCE_SIZE') return new CryptoError(code, message, { cause: e });
  return new CryptoError('CRYPTO_BACKEND', `native backend: ${message}`, { cause: e });
}

/**
 * One native context per DEK. Identity hits are confirmed in native code (each call passes the
 * key and the context compares it with its own copy), so no key copy is kept in JS memory.
 */
class ContextCache {
  readonly #b: NativeBinding;
  readonly #byKey = new WeakMap<Uint8Array, NativeContext>();
  /** Most recent first. Contexts dropped from here are freed by GC once no key maps to them. */
  readonly #recent: NativeContext[] = [];

  constructor(binding: NativeBinding) {
    this.#b = binding;
  }

  get(key: Uint8Array): NativeContext {
    return this.#byKey.get(key) ?? this.find(key);
  }

  /** Context for the key's current bytes: a recent one with equal bytes, or a new one. */
  find(key: Uint8Array): NativeContext {
    const recent = this.#recent;
    for (let i = 0; i < recent.length; i++) {
      const c = recent[i]!;
      if (this.#b.contextMatches(c, key)) {
        if (i > 0) {
          recent.splice(i, 1);
          recent.unshift(c);
        }
        this.#byKey.set(key, c);
        return c;
      }
    }
    const c = this.#b.createContext(key);
    recent.unshift(c);
    if (recent.length > RECENT_CONTEXTS) recent.pop();
    this.#byKey.set(key, c);
    return c;
  }

  /** Frees every cached context built from the key's bytes and wipes their key copies now. */
  dispose(key: Uint8Array): void {
    const recent = this.#recent;
    const own = this.#byKey.get(key);
    this.#byKey.delete(key);
    for (let i = recent.length - 1; i >= 0; i--) {
      const c = recent[i]!;
      if (c === own || this.#b.contextMatches(c, key)) {
        recent.splice(i, 1);
        this.#b.disposeContext(c);
      }
    }
    if (own !== undefined) this.#b.disposeContext(own);
  }
}

/**
 * A fresh output buffer that native code fills completely (so it need not be zeroed first).
 * It starts at byte 0 of its own ArrayBuffer: the batch result views are built on that.
 */
function allocOut(n: number): Uint8Array {
  if (n < UNFILLED_ALLOC_MIN) return new Uint8Array(n);
  // allocUnsafeSlow: own ArrayBuffer of exactly n bytes (never a shared pool slab), not zeroed.
  // Wrapped as a plain Uint8Array so callers get Uint8Array semantics (slice copies).
  return new Uint8Array(Buffer.allocUnsafeSlow(n).buffer, 0, n);
}

/**
 * A batch output that native code fills completely: large ones over a recycled native block
 * (a fresh JS allocation of that size is mmap'd by glibc and page-faults on every 4 KiB on
 * first touch), small ones as allocOut. Starts at byte 0 of its own ArrayBuffer.
 */
function allocBatchOut(b: NativeBinding, n: number, holdsPlaintext: boolean): Uint8Array {
  if (n < POOLED_OUT_MIN) return allocOut(n);
  // Blocks that held plaintext (openBatch) are wiped when they return to the free list.
  const ab = b.allocOutput(n, holdsPlaintext);
  if (ab === undefined) return allocOut(n);
  // Node runs the block's finalizer when the creating thread exits even if the memory had been
  // transferred to another thread, which would hand the block out twice: so it is never moved
  // (postMessage copies it instead).
  markAsUntransferable(ab);
  return new Uint8Array(ab, 0, n);
}

/**
 * Scratch for nonces, AAD and ciphertext (never plaintext): reused across batches, grown while
 * packing so sizing and packing are one pass.
 */
let scratchIn: Uint8Array = new Uint8Array(64 * 1024);
let scratchDesc = new Uint32Array(1024 * DESC_FIELDS);
let scratchStatus = new Uint8Array(1024);

/** `scratchIn` with room for `need` bytes, keeping its first `used` bytes. */
function growInput(used: number, need: number): Uint8Array {
  const grown = new Uint8Array(Math.max(need, scratchIn.length * 2));
  grown.set(scratchIn.subarray(0, used));
  scratchIn = grown;
  return grown;
}
function descScratch(items: number): Uint32Array {
  if (scratchDesc.length < items * DESC_FIELDS) scratchDesc = new Uint32Array(Math.max(items, 2 * (scratchDesc.length / DESC_FIELDS)) * DESC_FIELDS);
  return scratchDesc;
}
function statusScratch(items: number): Uint8Array {
  if (scratchStatus.length < items) scratchStatus = new Uint8Array(Math.max(items, scratchStatus.length * 2));
  return scratchStatus;
}

/** Copies a 12-byte nonce; unrolled, it is measured ≈3x cheaper than a TypedArray#set call. */
function copyNonce(dst: Uint8Array, at: number, n: Uint8Array): void {
  dst[at] = n[0]!;
  dst[at + 1] = n[1]!;
  dst[at + 2] = n[2]!;
  dst[at + 3] = n[3]!;
  dst[at + 4] = n[4]!;
  dst[at + 5] = n[5]!;
  dst[at + 6] = n[6]!;
  dst[at + 7] = n[7]!;
  dst[at + 8] = n[8]!;
  dst[at + 9] = n[9]!;
  dst[at + 10] = n[10]!;
  dst[at + 11] = n[11]!;
}

/** Byte copy of `n` bytes of short AAD (a loop beats a TypedArray#set call below ~32 bytes). */
function copySmall(dst: Uint8Array, at: number, src: Uint8Array, n: number): void {
  if (n > 32) {
    dst.set(src, at);
    return;
  }
  for (let i = 0; i < n; i++) dst[at + i] = src[i]!;
}

function checkCount(batch: PackedBatch): void {
  const { count } = batch;
  if (!Number.isInteger(count) || count < 0 || count > 0xffffffff) {
    throw new CryptoError('CRYPTO_BACKEND', `packed batch: invalid item count ${count}`);
  }
}

/** The native Aead plus an explicit context release (contexts are otherwise freed by GC). */
export interface NativeAead extends Aead {
  /** Frees the native contexts built for this key's bytes and wipes their key copies now. */
  disposeKey(key: Uint8Array): void;
  /** Whether the fast path is in use, or why every message runs on EVP. */
  readonly implementation: NativeImplementation;
}

/**
 * Fast checks for the common case (a private Uint8Array); anything else goes through the full
 * check, which throws BAD_INPUT_TYPE / BAD_NONCE_SIZE or returns a Uint8Array view. Error texts
 * are built only on failure: a template string per item costs more than the check itself.
 */
function nonceOf(n: Uint8Array, i: number): Uint8Array {
  // Lengths in the batch loops come from the intrinsic byteLength, never `.length` (an accessor
  // may lie after the check).
  return plainLen(n) === NONCE_SIZE ? n : checkNonce(n, 'nonce', i);
}

class NativeAeadImpl implements NativeAead {
  readonly name = 'native' as const;
  readonly hardwareAes: boolean;
  readonly implementation: NativeImplementation;
  readonly #b: NativeBinding;
  readonly #cache: ContextCache;

  constructor(binding: NativeBinding) {
    this.#b = binding;
    this.#cache = new ContextCache(binding);
    this.hardwareAes = binding.hardwareAes();
    this.implementation = Object.freeze(binding.implementationInfo());
  }

  disposeKey(key: Uint8Array): void {
    this.#cache.dispose(checkKey(key));
  }

  seal(keyIn: Uint8Array, nonceIn: Uint8Array, aadIn: Uint8Array, plaintextIn: Uint8Array): Uint8Array {
    const key = checkKey(keyIn);
    const nonce = checkNonce(nonceIn);
    const aad = bytesArg(aadIn, 'aad');
    const plaintext = bytesArg(plaintextIn, 'plaintext');
    let out: Uint8Array;
    try {
      out = allocOut(byteLen(plaintext) + TAG_SIZE);
      if (this.#b.seal(this.#cache.get(key), key, nonce, aad, plaintext, out) === KEY_MISMATCH) {
        this.#b.seal(this.#cache.find(key), key, nonce, aad, plaintext, out);
      }
    } catch (e) {
      throw fromNative(e);
    }
    return out;
  }

  open(keyIn: Uint8Array, nonceIn: Uint8Array, aadIn: Uint8Array, sealedIn: Uint8Array): Uint8Array {
    const key = checkKey(keyIn);
    const nonce = checkNonce(nonceIn);
    const aad = bytesArg(aadIn, 'aad');
    const sealed = bytesArg(sealedIn, 'sealed');
    const sealedLen = byteLen(sealed);
    if (sealedLen < TAG_SIZE) {
      throw integrityError('authentication failed (native): sealed data shorter than the tag', new Error(`native: ${sealedLen} bytes cannot hold a ${TAG_SIZE}-byte tag`));
    }
    let out: Uint8Array;
    let r: number;
    try {
      out = allocOut(sealedLen - TAG_SIZE);
      r = this.#b.open(this.#cache.get(key), key, nonce, aad, sealed, out);
      if (r === KEY_MISMATCH) r = this.#b.open(this.#cache.find(key), key, nonce, aad, sealed, out);
    } catch (e) {
      throw fromNative(e);
    }
    // Only an explicit 0 (authentic) is success; 1 and anything unexpected are failures.
    if (r !== 0) {
      out.fill(0);
      throw integrityError('authentication failed (native)', new Error(r === 1 ? 'OpenSSL rejected the GCM tag (native open status 1)' : `native open returned unexpected status ${r}`));
    }
    return out;
  }

  // At 256 B an item costs ≈120 ns in native code and ≈65 ns of JS around it, so the JS is kept
  // lean: one pass packs and sizes, each pass reads an item's properties once (fewer passes over
  // the items also means fewer cache misses), and the only per-item calls left are the
  // plaintext/ciphertext copy (TypedArray#set) and the result view.
  // Measured alternatives that lost: copying the data in native code (napi_get_element +
  // napi_get_typedarray_info ≈ 80 ns per item vs ≈ 21 ns for #set) and creating the result
  // views in native code (napi_create_typedarray ≈ 110 ns per item vs ≈ 14 ns for the constructor),
  // and reading and checking the items' fields in native code from the item array (≈ 215 ns per
  // item through napi_get_element/napi_get_property/napi_get_typedarray_info, bytes.ts).
  // Where the rest goes (perf, 1024 × 256 B seals): the native loop itself ≈ 92 ns per item (the
  // direct GCM128 loop alone ≈ 90), the plaintext copy to its slot ≈ 25, the result view ≈ 16, the
  // three `buffer` reads of the SharedArrayBuffer check (a C++ builtin) ≈ 30, the rest of the JS
  // checks, nonce/AAD copies and descriptors ≈ 50-70.

  sealBatch(keyIn: Uint8Array, itemsIn: BatchItem[]): Uint8Array[] {
    const key = checkKey(keyIn);
    const items = itemsArg<BatchItem>(itemsIn, 'batch items');
    const n = items.length;
    const desc = descScratch(n);
    // Pass 1 parks each checked plaintext in `results` (each field is read once, so a getter
    // cannot hand pass 2 something pass 1 did not check); pass 2 replaces it with the result view.
    const results = new Array<Uint8Array>(n);
    // Pass 1: nonces and AAD to scratch, descriptors, output size. Offsets stay below 2^32
    // (desc is a Uint32Array): a batch is far below 4 GiB, and native code re-checks every range.
    let meta = scratchIn;
    let m = 0;
    let o = 0;
    for (let i = 0, d = 0; i < n; i++, d += DESC_FIELDS) {
      const it = items[i]!;
      if (typeof it !== 'object' || it === null) itemArg(it, 'batch item', i);
      // Each field is copied right after its check, before the next property read: that read
      // may be a getter, which could detach a checked nonce (an element copy then reads zeros).
      const nonce = nonceOf(it.nonce, i);
      if (m + NONCE_SIZE > meta.length) meta = growInput(m, m + NONCE_SIZE);
      desc[d + D_NONCE] = m;
      copyNonce(meta, m, nonce);
      m += NONCE_SIZE;
      const aadIn = it.aad;
      let aadLen = plainLen(aadIn);
      const aad = aadLen >= 0 ? aadIn : bytesArg(aadIn, 'aad', i);
      if (aadLen < 0) aadLen = byteLen(aad);
      desc[d + D_AAD] = m;
      desc[d + D_AAD_LEN] = aadLen;
      if (aadLen > 0) {
        if (m + aadLen > meta.length) meta = growInput(m, m + aadLen);
        copySmall(meta, m, aad, aadLen);
        m += aadLen;
      }
      const dataIn = it.data;
      let len = plainLen(dataIn);
      const data = len >= 0 ? dataIn : bytesArg(dataIn, 'data', i);
      if (len < 0) len = byteLen(data);
      results[i] = data;
      desc[d + D_DATA] = o;
      desc[d + D_DATA_LEN] = len;
      desc[d + D_OUT] = o;
      o += len + TAG_SIZE;
    }
    // Pass 2: each plaintext straight to its output slot, sealed there in place (so no second
    // copy of it is left in a long-lived buffer), and the result view over that slot.
    let output: Uint8Array | undefined;
    try {
      output = allocBatchOut(this.#b, o, false);
      const ab = output.buffer;
      for (let i = 0, d = 0, at = 0; i < n; i++, d += DESC_FIELDS) {
        const data = results[i]!;
        // The length pass 1 sized the slot for: a later item's getter may have detached or
        // resized this buffer since (then the slots would no longer line up with desc).
        const len = desc[d + D_DATA_LEN]!;
        if (byteLen(data) !== len) throw changedError(label('data', i));
        if (len > 0) output.set(data, at);
        results[i] = new Uint8Array(ab, at, len + TAG_SIZE); // the constructor form is ≈2x cheaper than subarray()
        at += len + TAG_SIZE;
      }
      if (this.#b.sealPacked(this.#cache.get(key), key, meta, output, desc, n, output) === KEY_MISMATCH) {
        this.#b.sealPacked(this.#cache.find(key), key, meta, output, desc, n, output);
      }
    } catch (e) {
      output?.fill(0); // items not yet sealed still hold plaintext
      throw fromNative(e);
    }
    return results;
  }

  openBatch(keyIn: Uint8Array, itemsIn: BatchItem[]): (Uint8Array | IntegrityError)[] {
    const key = checkKey(keyIn);
    const items = itemsArg<BatchItem>(itemsIn, 'batch items');
    const n = items.length;
    const desc = descScratch(n);
    const status = statusScratch(n);
    // One pass: nonce, AAD and sealed data to scratch (public bytes only, so reusing it is safe),
    // descriptors and output size.
    let input = scratchIn;
    let m = 0;
    let o = 0;
    for (let i = 0, d = 0; i < n; i++, d += DESC_FIELDS) {
      const it = items[i]!;
      if (typeof it !== 'object' || it === null) itemArg(it, 'batch item', i);
      // Each field is copied right after its check, before the next (possibly getter) read.
      const nonce = nonceOf(it.nonce, i);
      if (m + NONCE_SIZE > input.length) input = growInput(m, m + NONCE_SIZE);
      desc[d + D_NONCE] = m;
      copyNonce(input, m, nonce);
      m += NONCE_SIZE;
      const aadIn = it.aad;
      let aadLen = plainLen(aadIn);
      const aad = aadLen >= 0 ? aadIn : bytesArg(aadIn, 'aad', i);
      if (aadLen < 0) aadLen = byteLen(aad);
      desc[d + D_AAD] = m;
      desc[d + D_AAD_LEN] = aadLen;
      if (aadLen > 0) {
        if (m + aadLen > input.length) input = growInput(m, m + aadLen);
        copySmall(input, m, aad, aadLen);
        m += aadLen;
      }
      const dataIn = it.data;
      let len = plainLen(dataIn);
      const data = len >= 0 ? dataIn : bytesArg(dataIn, 'data', i);
      if (len < 0) len = byteLen(data);
      if (m + len > input.length) input = growInput(m, m + len);
      desc[d + D_DATA] = m;
      desc[d + D_DATA_LEN] = len;
      if (len > 0) input.set(data, m);
      m += len;
      desc[d + D_OUT] = o;
      // Sealed data shorter than a tag gets an empty slot and fails (the rule of every backend).
      o += len > TAG_SIZE ? len - TAG_SIZE : 0;
    }
    // Every byte of the output is written (failed items zeroed, no gaps between slots), so a
    // recycled block shows nothing of an earlier batch.
    // A status byte the native call did not write must never read as success.
    status.fill(0, 0, n);
    let output: Uint8Array;
    try {
      output = allocBatchOut(this.#b, o, true);
      let r = this.#b.openPacked(this.#cache.get(key), key, input, desc, n, output, status);
      if (r === KEY_MISMATCH) r = this.#b.openPacked(this.#cache.find(key), key, input, desc, n, output, status);
      if (!Number.isInteger(r) || r < 0 || r > n) throw new CryptoError('CRYPTO_BACKEND', `native openPacked returned ${r}`);
    } catch (e) {
      throw fromNative(e);
    }
    const results = new Array<Uint8Array | IntegrityError>(n);
    const ab = output.buffer;
    for (let i = 0, d = 0; i < n; i++, d += DESC_FIELDS) {
      const len = desc[d + D_DATA_LEN]!;
      // Success only on the explicit per-item status 1 (issue 8 item 5: never on a count).
      results[i] =
        status[i] === 1
          ? new Uint8Array(ab, desc[d + D_OUT]!, len > TAG_SIZE ? len - TAG_SIZE : 0)
          : integrityError(
              `batch item ${i} failed authentication (native)`,
              new Error(len < TAG_SIZE ? `native: sealed item of ${len} bytes is shorter than the tag` : `OpenSSL rejected the GCM tag (native item status ${status[i]})`),
            );
    }
    return results;
  }

  sealPacked(keyIn: Uint8Array, batchIn: PackedBatch): void {
    const key = checkKey(keyIn);
    const batch = packedArg(batchIn);
    checkCount(batch);
    const { input, desc, count, output } = batch;
    try {
      if (this.#b.sealPacked(this.#cache.get(key), key, input, input, desc, count, output) === KEY_MISMATCH) {
        this.#b.sealPacked(this.#cache.find(key), key, input, input, desc, count, output);
      }
    } catch (e) {
      throw fromNative(e);
    }
  }

  openPacked(keyIn: Uint8Array, batchIn: PackedBatch, statusIn: Uint8Array): void {
    const key = checkKey(keyIn);
    const batch = packedArg(batchIn);
    const status = bytesArg(statusIn, 'status');
    checkCount(batch);
    const { input, desc, count, output } = batch;
    try {
      if (this.#b.openPacked(this.#cache.get(key), key, input, desc, count, output, status) === KEY_MISMATCH) {
        this.#b.openPacked(this.#cache.find(key), key, input, desc, count, output, status);
      }
    } catch (e) {
      throw fromNative(e);
    }
  }
}

/** Loads the native module and returns its Aead; throws BACKEND_UNAVAILABLE with the reason. */
export function createNativeAead(): NativeAead {
  return new NativeAeadImpl(nativeBinding());
}

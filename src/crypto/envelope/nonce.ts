// Deterministic envelope nonces (SPEC RE-4, KM-8, KM-9):
//
//   bytes 0–1  node_id16    u16 BE  (low 16 bits of FNV-1a-64 of the Raft id)
//   bytes 2–3  local_epoch  u16 BE  (pinned for the whole process load)
//   bytes 4–11 write_count  u64 BE  (pre-incremented: the first nonce carries 1)
//
// The counter lives in a SharedArrayBuffer so the main thread and every crypto worker draw from
// the very same counter (KM-9: two workers never own separate counters for the same purpose).
// No nonce bit is random.

import { CryptoError } from '../../errors.js';
import { bytesArg, smallBytes } from '../bytes.js';
import { type NoncePurpose, type PersistedEpoch, spendPersistedEpoch } from './epoch-token.js';
import { PROCESS_SCOPE_ACCESS, TEST_ONLY_ACCESS } from './nonce-internal.js';

export { mintPersistedEpoch, PersistedEpoch, type NoncePurpose } from './epoch-token.js';

export const NONCE_LENGTH = 12;

const FNV_OFFSET = 0xcbf29ce484222325n;
const FNV_PRIME = 0x100000001b3n;
const U64_MASK = (1n << 64n) - 1n;
export const WRITE_COUNT_MAX = U64_MASK;

/** FNV-1a-64 over the UTF-8 bytes of `s` (RE-4). */
export function fnv1a64(s: string): bigint {
  let h = FNV_OFFSET;
  for (const b of new TextEncoder().encode(s)) {
    h = ((h ^ BigInt(b)) * FNV_PRIME) & U64_MASK;
  }
  return h;
}

/** `full_node_id` of a Raft id (RE-4, u64 as bigint per C-2). */
export function fullNodeId(raftId: string): bigint {
  return fnv1a64(raftId);
}

/** `node_id16 = full_node_id & 0xFFFF` (RE-4). */
export function nodeId16Of(raftId: string): number {
  return Number(fnv1a64(raftId) & 0xffffn);
}

/**
 * Everything a worker needs to draw from the same counter: transfer it with postMessage
 * (a SharedArrayBuffer is shared, not copied).
 */
export interface NonceFactoryState {
  /** 16 bytes: [0..8) write_count (u64, host order), [8..12) latch (i32, 1 = exhausted). */
  readonly sab: SharedArrayBuffer;
  readonly nodeId16: number;
  readonly epoch: number;
}

export const NONCE_STATE_BYTES = 16;

/** Module-private: the constructor refuses every caller that does not hold it. */
const BUILD = Symbol('build');

/** Purposes that already have their factory in this process (KM-9: one counter per purpose). */
const realProcess = new Set<NoncePurpose>();
/** The set in force: the real process's, or a simulated process's (PROCESS_SCOPE_ACCESS). */
let purposesInUse = realProcess;

function checkU16(name: string, v: number): void {
  if (!Number.isInteger(v) || v < 0 || v > 0xffff) throw new RangeError(`${name} must be a u16, got ${v}`);
}

/**
 * The nonce factory of one purpose (KM-8, KM-9). Obtainable only from the PersistedEpoch token
 * that the fsynced local_epoch bump returns (fromPersistedEpoch), once per purpose per process;
 * crypto workers attach to that factory's shared counter (fromShared). No public call mints a
 * nonce without reserving its write_count.
 */
export class NonceFactory {
  readonly nodeId16: number;
  readonly epoch: number;
  private readonly sab: SharedArrayBuffer;
  private readonly counter: BigUint64Array;
  private readonly latch: Int32Array;
  /** The constant first 4 bytes, as one u32 (node_id16 ‖ epoch). */
  private readonly prefix: number;

  /** Private in effect: only this module holds BUILD. */
  constructor(build: typeof BUILD, nodeId16: number, epoch: number, shared: SharedArrayBuffer | undefined, seed: bigint) {
    if (build !== BUILD) {
      throw new CryptoError('NONCE_FACTORY_CONFLICT', 'NonceFactory is built only by NonceFactory.fromPersistedEpoch (KM-8)');
    }
    this.nodeId16 = nodeId16;
    this.epoch = epoch;
    checkU16('node_id16', nodeId16);
    checkU16('local_epoch', epoch);
    if (shared !== undefined) {
      this.sab = shared;
    } else {
      if (seed < 0n || seed > U64_MASK) throw new RangeError(`seed must be a u64, got ${seed}`);
      this.sab = new SharedArrayBuffer(NONCE_STATE_BYTES);
      new BigUint64Array(this.sab, 0, 1)[0] = seed;
    }
    this.counter = new BigUint64Array(this.sab, 0, 1);
    this.latch = new Int32Array(this.sab, 8, 1);
    this.prefix = ((nodeId16 << 16) | epoch) >>> 0;
  }

  /**
   * The factory of `token.purpose` for this process load, pinned to the persisted epoch (KM-8).
   * The token is single use, and a purpose gets one factory per process: a second call for the
   * same purpose throws NONCE_FACTORY_CONFLICT (two counters would issue the same nonces, KM-9).
   */
  static fromPersistedEpoch(token: PersistedEpoch): NonceFactory {
    const t = spendPersistedEpoch(token);
    if (purposesInUse.has(t.purpose)) {
      throw new CryptoError('NONCE_FACTORY_CONFLICT', `this process already has its ${t.purpose} nonce factory (KM-9: one counter per purpose)`);
    }
    const f = new NonceFactory(BUILD, t.nodeId16, t.localEpoch, undefined, 0n);
    purposesInUse.add(t.purpose);
    return f;
  }

  /**
   * Worker side: a factory over the counter of `state` (same counter, same latch), which only
   * a factory built from a persisted epoch hands out (shared()).
   */
  static fromShared(state: NonceFactoryState): NonceFactory {
    if (!(state.sab instanceof SharedArrayBuffer) || state.sab.byteLength < NONCE_STATE_BYTES) {
      throw new RangeError('nonce factory state needs a SharedArrayBuffer of at least 16 bytes');
    }
    return new NonceFactory(BUILD, state.nodeId16, state.epoch, state.sab, 0n);
  }

  /**
   * Tests only (needs TEST_ONLY_ACCESS, which the package does not export): any epoch, a seeded
   * counter (the write_count already issued), outside the one-per-purpose rule.
   */
  static [TEST_ONLY_ACCESS](nodeId16: number, epoch: number, seed = 0n): NonceFactory {
    return new NonceFactory(BUILD, nodeId16, epoch, undefined, seed);
  }

  /**
   * Simulator only (needs PROCESS_SCOPE_ACCESS): the one-per-purpose rule applies per simulated
   * process; `scope` is that process's set (null: the real process's again).
   */
  static [PROCESS_SCOPE_ACCESS](scope: Set<NoncePurpose> | null): void {
    purposesInUse = scope ?? realProcess;
  }

  /** Descriptor to transfer to workers; the SAB is shared, so both sides advance one counter. */
  shared(): NonceFactoryState {
    return { sab: this.sab, nodeId16: this.nodeId16, epoch: this.epoch };
  }

  /** The last write_count issued (0n before the first nonce). */
  get writeCount(): bigint {
    return Atomics.load(this.counter, 0);
  }

  get exhausted(): boolean {
    return Atomics.load(this.latch, 0) !== 0;
  }

  /**
   * Reserves `n` consecutive write_counts and returns the first. Throws WRITE_COUNT_EXHAUSTED
   * (and latches for good) when the range would pass 2^64−1.
   *
   * A compare-exchange loop rather than Atomics.add: with add, the caller that wraps the counter
   * sets the latch only after its add, so a concurrent caller could draw the wrapped value 1
   * before the latch is visible — a reused nonce. The CAS never lets the counter wrap.
   */
  reserve(n: number): bigint {
    if (!Number.isSafeInteger(n) || n < 1) throw new RangeError(`reserve count must be a positive integer, got ${n}`);
    const step = BigInt(n);
    for (;;) {
      if (Atomics.load(this.latch, 0) !== 0) throw this.exhaustedError();
      const cur = Atomics.load(this.counter, 0);
      if (cur > U64_MASK - step) {
        Atomics.store(this.latch, 0, 1);
        throw this.exhaustedError();
      }
      if (Atomics.compareExchange(this.counter, 0, cur, cur + step) === cur) return cur + 1n;
    }
  }

  /** The next 12-byte nonce in a fresh buffer. */
  next(): Uint8Array {
    // From a slab, so the cipher's input check stays cheap (bytes.ts smallBytes).
    const out = smallBytes(NONCE_LENGTH);
    this.writeNonce(this.reserve(1), out, 0);
    return out;
  }

  /** Writes the next nonce into `buf` at `off`; returns its write_count. */
  nextInto(buf: Uint8Array, off = 0): bigint {
    buf = bytesArg(buf, 'nonce buffer');
    if (off < 0 || off + NONCE_LENGTH > buf.length) throw new RangeError('nonce does not fit in the buffer');
    const wc = this.reserve(1);
    this.writeNonce(wc, buf, off);
    return wc;
  }

  /**
   * Reserves `n` nonces in one atomic step and writes them back to back (12 bytes each) into
   * `buf` from `off`; returns the first write_count. For batches formed before crossing a thread.
   */
  nextBatchInto(n: number, buf: Uint8Array, off = 0): bigint {
    buf = bytesArg(buf, 'nonce buffer');
    if (off < 0 || off + n * NONCE_LENGTH > buf.length) throw new RangeError('nonces do not fit in the buffer');
    const first = this.reserve(n);
    // The u64 write_count as two u32 halves, counted up with a carry: no BigInt per nonce.
    let hi = Number(first >> 32n);
    let lo = Number(first & 0xffffffffn);
    for (let i = 0, at = off; i < n; i++, at += NONCE_LENGTH) {
      writeU32(buf, at, this.prefix);
      writeU32(buf, at + 4, hi);
      writeU32(buf, at + 8, lo);
      if (++lo === 0x1_0000_0000) {
        lo = 0;
        hi++;
      }
    }
    return first;
  }

  private writeNonce(wc: bigint, buf: Uint8Array, off: number): void {
    writeU32(buf, off, this.prefix);
    // Split into two u32 halves: each is < 2^32, so Number() is exact.
    writeU32(buf, off + 4, Number(wc >> 32n));
    writeU32(buf, off + 8, Number(wc & 0xffffffffn));
  }

  private exhaustedError(): CryptoError {
    return new CryptoError(
      'WRITE_COUNT_EXHAUSTED',
      `nonce write_count exhausted for node_id16 0x${this.nodeId16.toString(16).padStart(4, '0')} epoch ${this.epoch}; restart required`,
    );
  }
}

function writeU32(buf: Uint8Array, off: number, v: number): void {
  buf[off] = v >>> 24;
  buf[off + 1] = (v >>> 16) & 0xff;
  buf[off + 2] = (v >>> 8) & 0xff;
  buf[off + 3] = v & 0xff;
}

/** Decodes a nonce into its three fields (tests, diagnostics). */
export function parseNonce(nonce: Uint8Array): { nodeId16: number; epoch: number; writeCount: bigint } {
  nonce = bytesArg(nonce, 'nonce');
  if (nonce.length !== NONCE_LENGTH) {
    throw new CryptoError('BAD_NONCE_SIZE', `nonce must be ${NONCE_LENGTH} bytes, got ${nonce.length}`);
  }
  const dv = new DataView(nonce.buffer, nonce.byteOffset, NONCE_LENGTH);
  return { nodeId16: dv.getUint16(0, false), epoch: dv.getUint16(2, false), writeCount: dv.getBigUint64(4, false) };
}

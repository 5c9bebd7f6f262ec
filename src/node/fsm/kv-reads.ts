// Read-side KV operations over a read view, served locally after ReadIndex (DESIGN.md §2).
//
// Expiry is checked against the read time `now` the caller passes (the leader's read time from
// the ReadIndex answer, issue 9 defect 7): it only hides keys, it never writes, so replica
// determinism rests on apply alone. Every record whose visibility is decided is first
// decoded by the codec, which authenticates sealed records (SE-8): decode, then look at the
// tombstone and expireAt. Decode failures propagate as typed errors (never nil, C-6).

import { decodeValueHeader } from '../../crypto/envelope/value-header.js';
import { isExpired } from './expiry.js';
import { globMatch } from './glob.js';
import type { KvReadView } from './kv-store.js';
import { cleartextValueCodec, type ValueCodec } from './value-codec.js';

export interface ScanOptions {
  /** Records examined per call (Redis's COUNT hint); ≥ 1. */
  count: number;
  /** MATCH glob over key bytes. */
  match?: Uint8Array;
  /** TYPE filter: every sealkv key is a `string`; any other type yields no keys. */
  type?: string;
}

export interface ScanResult {
  /** Continue after this key; null when the iteration is complete. */
  next: Uint8Array | null;
  keys: Uint8Array[];
}

interface Visible {
  value: Uint8Array;
  expireAt: bigint;
}

export class KvReader {
  constructor(private readonly codec: ValueCodec = cleartextValueCodec) {}

  private visible(key: Uint8Array, record: Uint8Array | undefined, now: bigint): Visible | null {
    if (record === undefined) return null;
    const d = this.codec.decodeFromStore(key, record); // authenticates first (SE-8)
    if (d.header.tombstone || isExpired(d.header.expireAt, now)) return null;
    return { value: d.value, expireAt: d.header.expireAt };
  }

  private lookup(view: KvReadView, key: Uint8Array, now: bigint): Visible | null {
    return this.visible(key, view.get(key), now);
  }

  /** GET: the value, or null when absent or expired. */
  get(view: KvReadView, key: Uint8Array, now: bigint): Uint8Array | null {
    return this.lookup(view, key, now)?.value ?? null;
  }

  /** MGET: one entry per key, null for missing ones. */
  mget(view: KvReadView, keys: readonly Uint8Array[], now: bigint): (Uint8Array | null)[] {
    return keys.map((k) => this.get(view, k, now));
  }

  /** EXISTS: how many of `keys` exist; a key named twice counts twice (as Redis). */
  exists(view: KvReadView, keys: readonly Uint8Array[], now: bigint): number {
    let n = 0;
    for (const k of keys) if (this.lookup(view, k, now) !== null) n++;
    return n;
  }

  /** PTTL: -2 missing, -1 no expiry, else ms left (≥ 0). */
  pttl(view: KvReadView, key: Uint8Array, now: bigint): bigint {
    const v = this.lookup(view, key, now);
    if (v === null) return -2n;
    if (v.expireAt === 0n) return -1n;
    return v.expireAt - now;
  }

  /** TTL: as PTTL in seconds, rounded to nearest like Redis ((ms + 500) / 1000). */
  ttl(view: KvReadView, key: Uint8Array, now: bigint): bigint {
    const ms = this.pttl(view, key, now);
    return ms < 0n ? ms : (ms + 500n) / 1000n;
  }

  /** STRLEN: 0 when missing. */
  strlen(view: KvReadView, key: Uint8Array, now: bigint): number {
    return this.lookup(view, key, now)?.value.length ?? 0;
  }

  /**
   * One SCAN step: examines up to `count` records after `after` in key order and returns the
   * visible ones that pass MATCH/TYPE. Keys present for the whole iteration are returned exactly
   * once (the cursor is the last examined key, and the order is total).
   */
  scan(view: KvReadView, after: Uint8Array | null, opts: ScanOptions, now: bigint): ScanResult {
    const keys: Uint8Array[] = [];
    const typeOk = opts.type === undefined || opts.type.toLowerCase() === 'string';
    let examined = 0;
    let last: Uint8Array | null = null;
    for (const e of view.range(after ?? undefined)) {
      // More records remain after a full budget: continue after the last examined one.
      if (examined >= opts.count) return { next: last, keys };
      examined++;
      last = e.key.slice(); // a view's key buffer may be reused by the next step
      // A key outside MATCH needs no visibility decision, so it is not decoded.
      if (!typeOk || (opts.match !== undefined && !globMatch(opts.match, e.key))) continue;
      if (this.visible(e.key, e.record, now) !== null) keys.push(last);
    }
    return { next: null, keys };
  }

  /** DBSIZE: visible keys; decodes (authenticates) every record, O(n). */
  dbsize(view: KvReadView, now: bigint): number {
    let n = 0;
    for (const e of view.range()) if (this.visible(e.key, e.record, now) !== null) n++;
    return n;
  }
}

/**
 * For the leader's sweeper: up to `maxKeys` keys whose header says expired at `now`, examining
 * at most `maxExamined` records after `after`. Reads headers only: the SweepExpired apply
 * authenticates and re-checks every key, so a wrong candidate costs nothing. Records whose
 * header does not decode are skipped (a read of them reports the error).
 */
export function collectExpiredKeys(
  view: KvReadView,
  now: bigint,
  after: Uint8Array | null,
  maxKeys: number,
  maxExamined: number,
): { keys: Uint8Array[]; next: Uint8Array | null } {
  const keys: Uint8Array[] = [];
  let examined = 0;
  let last: Uint8Array | null = null;
  for (const e of view.range(after ?? undefined)) {
    if (keys.length >= maxKeys || examined >= maxExamined) return { keys, next: last };
    examined++;
    last = e.key.slice();
    let expired = false;
    try {
      const h = decodeValueHeader(e.record);
      expired = h.tombstone || isExpired(h.expireAt, now);
    } catch {
      expired = false;
    }
    if (expired) keys.push(e.key.slice());
  }
  return { keys, next: null };
}

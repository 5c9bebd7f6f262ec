// Test-only peer-message fault layer (the fault harness of SPEC §17): drop, delay, duplicate,
// reorder and partition peer traffic, per peer and direction, changeable while the node runs.
//
// Off unless a test switches it on: `SEALKV_PEER_FAULTS` holds a JSON spec, or `@/path/to/file`
// naming a JSON file the node polls (every 100 ms) so a test changes or lifts the faults at run
// time by rewriting the file (on each change the node first writes what the faults did so far to
// `<file>.counters`, so the test can assert they really happened); in-process tests pass a `PeerFaultLayer` to `PeerTransport` and call
// `set()`. The variable is read once, at module load; unset, the transport holds `null` and every
// send pays one null check.
//
// Which traffic gets which fault, and why:
// - One-way messages (`send`, i.e. Raft messages) get every fault. Raft is built for a network
//   that loses, delays, duplicates and reorders its messages, so none of this may break safety.
// - Requests and replies (forwarded writes, snapshot chunks, peer queries) are only ever cut by a
//   partition (the request then times out, as over a dead link). They are never duplicated: a
//   duplicated forwarded-write request would be served — proposed — twice, and only the first
//   reply would reach the caller, so the fault layer would itself create a double write that no
//   real network can produce (TCP does not duplicate frames). They are not dropped by `drop`
//   either, for the same reason the transport's own contract does not lose them silently.
//
// Rules are tried in order; the first whose `peer` and `dir` match a frame decides its faults, so
// put specific peers before a `*` rule. Randomness comes from a seeded generator (`seed`), so a
// failing run can be replayed.

import { mulberry32 } from '../prng.js';
import { readFileSync, writeFileSync } from 'node:fs';
import { TransportError } from '../errors.js';

export type FaultDirection = 'out' | 'in' | 'both';

export interface PeerFaultRule {
  /** Peer id, or '*' (default) for every peer. */
  peer?: string;
  /** 'out' (default): frames this node sends to `peer`; 'in': frames it receives from `peer`. */
  dir?: FaultDirection;
  /**
   * Only messages whose numeric `type` field is listed (Raft: `MessageType`, e.g. [6, 8] = AppResp
   * and HeartbeatResp, to slow acknowledgements as AS-8 does). Such a rule never matches requests.
   */
  types?: number[];
  /** Probability (0..1) that a message is dropped. */
  drop?: number;
  /** Extra delay of every message, ms. */
  delayMs?: number;
  /** Plus a uniform random [0, jitterMs) ms per message (jitter reorders messages too). */
  jitterMs?: number;
  /** Probability that a message is delivered twice (the copy after `duplicateDelayMs`, default 5). */
  duplicate?: number;
  duplicateDelayMs?: number;
  /** Probability that a message is held back `reorderMs` (default 20) so later ones overtake it. */
  reorder?: number;
  reorderMs?: number;
  /** Cut everything in this direction: messages, requests and replies. */
  partition?: boolean;
}

export interface PeerFaultSpec {
  /** Seed of the fault generator (default 1). */
  seed?: number;
  rules?: PeerFaultRule[];
}

/** Counts of what the layer did (tests assert the faults really happened). */
export interface PeerFaultCounters {
  dropped: number;
  delayed: number;
  duplicated: number;
  reordered: number;
  partitioned: number;
}

const PROB_FIELDS = ['drop', 'duplicate', 'reorder'] as const;
const MS_FIELDS = ['delayMs', 'jitterMs', 'duplicateDelayMs', 'reorderMs'] as const;

const invalid = (message: string): TransportError => new TransportError('PEER_FAULT_SPEC_INVALID', message);

/** Validates a spec (from JSON or code); throws TransportError(PEER_FAULT_SPEC_INVALID) naming the bad field. */
export function parsePeerFaultSpec(input: unknown): PeerFaultSpec {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) throw invalid('peer fault spec: expected an object');
  const o = input as Record<string, unknown>;
  const seed = o.seed ?? 1;
  if (typeof seed !== 'number' || !Number.isInteger(seed)) throw invalid('peer fault spec: seed must be an integer');
  const rawRules = o.rules ?? [];
  if (!Array.isArray(rawRules)) throw invalid('peer fault spec: rules must be an array');
  const rules = rawRules.map((r, i): PeerFaultRule => {
    if (r === null || typeof r !== 'object' || Array.isArray(r)) throw invalid(`peer fault spec: rules[${i}] is not an object`);
    const rule = r as Record<string, unknown>;
    const known = new Set<string>(['peer', 'dir', 'partition', 'types', ...PROB_FIELDS, ...MS_FIELDS]);
    for (const k of Object.keys(rule)) if (!known.has(k)) throw invalid(`peer fault spec: rules[${i}].${k} is unknown`);
    if (rule.peer !== undefined && typeof rule.peer !== 'string') throw invalid(`peer fault spec: rules[${i}].peer must be a string`);
    if (rule.dir !== undefined && rule.dir !== 'out' && rule.dir !== 'in' && rule.dir !== 'both') {
      throw invalid(`peer fault spec: rules[${i}].dir must be out, in or both`);
    }
    if (rule.types !== undefined && (!Array.isArray(rule.types) || !rule.types.every((t) => Number.isInteger(t)))) {
      throw invalid(`peer fault spec: rules[${i}].types must be an array of integers`);
    }
    if (rule.partition !== undefined && typeof rule.partition !== 'boolean') throw invalid(`peer fault spec: rules[${i}].partition must be a boolean`);
    for (const k of PROB_FIELDS) {
      const v = rule[k];
      if (v !== undefined && (typeof v !== 'number' || !(v >= 0 && v <= 1))) throw invalid(`peer fault spec: rules[${i}].${k} must be in [0, 1]`);
    }
    for (const k of MS_FIELDS) {
      const v = rule[k];
      if (v !== undefined && (typeof v !== 'number' || !(v >= 0 && v <= 600_000))) throw invalid(`peer fault spec: rules[${i}].${k} must be 0..600000 ms`);
    }
    return { ...(rule as PeerFaultRule) };
  });
  return { seed, rules };
}

/** The numeric `type` of a message object (Raft messages have one), else -1 (matches no `types`). */
function messageType(msg: unknown): number {
  const t = typeof msg === 'object' && msg !== null ? (msg as { type?: unknown }).type : undefined;
  return typeof t === 'number' ? t : -1;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw invalid(`peer fault spec: not valid JSON (${(e as Error).message})`);
  }
}

const rng = mulberry32;

export class PeerFaultLayer {
  private rules: PeerFaultRule[] = [];
  private random: () => number = rng(1);
  readonly counters: PeerFaultCounters = { dropped: 0, delayed: 0, duplicated: 0, reordered: 0, partitioned: 0 };

  constructor(spec: PeerFaultSpec = {}) {
    this.set(spec);
  }

  /** Replaces the faults (takes effect for the next frame; messages already delayed still arrive). */
  set(spec: PeerFaultSpec): void {
    const s = parsePeerFaultSpec(spec);
    this.rules = s.rules ?? [];
    this.random = rng(s.seed ?? 1);
  }

  /** Lifts every fault. */
  clear(): void {
    this.rules = [];
  }

  get active(): boolean {
    return this.rules.length > 0;
  }

  /** `type` undefined = a request or reply (matched only by rules without `types`). */
  private rule(peer: string, dir: 'out' | 'in', type?: number): PeerFaultRule | undefined {
    for (const r of this.rules) {
      const d = r.dir ?? 'out';
      if ((r.peer ?? '*') !== '*' && r.peer !== peer) continue;
      if (d !== 'both' && d !== dir) continue;
      if (r.types !== undefined && (type === undefined || !r.types.includes(type))) continue;
      return r;
    }
    return undefined;
  }

  /** True when requests and replies between this node and `peer` in `dir` are cut. */
  blocks(peer: string, dir: 'out' | 'in'): boolean {
    const r = this.rule(peer, dir);
    if (r?.partition) {
      this.counters.partitioned++;
      return true;
    }
    return false;
  }

  /**
   * Passes one one-way message through the faults: `deliver` runs zero, one or two times, now or
   * later (timers are unref'd: a pending delayed message never keeps a process alive).
   */
  message(peer: string, dir: 'out' | 'in', deliver: () => void, msg?: unknown): void {
    const r = this.rule(peer, dir, messageType(msg));
    if (!r) {
      deliver();
      return;
    }
    if (r.partition) {
      this.counters.partitioned++;
      return;
    }
    if (r.drop && this.random() < r.drop) {
      this.counters.dropped++;
      return;
    }
    let delay = (r.delayMs ?? 0) + (r.jitterMs ? this.random() * r.jitterMs : 0);
    if (r.reorder && this.random() < r.reorder) {
      this.counters.reordered++;
      delay += r.reorderMs ?? 20;
    }
    const copies = r.duplicate && this.random() < r.duplicate ? 2 : 1;
    if (copies === 2) this.counters.duplicated++;
    if (delay > 0) this.counters.delayed++;
    for (let i = 0; i < copies; i++) {
      const ms = delay + (i === 1 ? (r.duplicateDelayMs ?? 5) : 0);
      if (ms <= 0) deliver();
      else setTimeout(deliver, ms).unref();
    }
  }
}

/**
 * Builds the layer from `SEALKV_PEER_FAULTS` (null when unset or empty). `@path`: the file is read
 * now and polled; a missing or empty file means no faults, a malformed one keeps the previous
 * faults and is reported on `onError` (a test that writes the file non-atomically may be seen
 * half-written; the next poll picks up the whole file).
 */
export function peerFaultLayerFromEnv(
  value: string | undefined,
  onError: (e: Error) => void = (e) => process.stderr.write(`SEALKV_PEER_FAULTS: ${e.message}\n`),
): PeerFaultLayer | null {
  const v = value?.trim() ?? '';
  if (v.length === 0) return null;
  if (!v.startsWith('@')) return new PeerFaultLayer(parsePeerFaultSpec(parseJson(v)));
  const path = v.slice(1);
  const layer = new PeerFaultLayer();
  // Polled by content, not by fs.watchFile: watchFile takes its first stat asynchronously and
  // misses a change made before it, which a test that starts a node and then edits the file hits.
  let last: string | null = null;
  const load = (): void => {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch {
      text = '';
    }
    if (text === last) return;
    // What the faults so far did, for the test that changes them (it cannot see into the node).
    if (last !== null) {
      try {
        writeFileSync(`${path}.counters`, JSON.stringify(layer.counters));
      } catch {
        // The directory may be gone at teardown; counters are a courtesy.
      }
    }
    last = text;
    if (text.trim().length === 0) {
      layer.clear();
      return;
    }
    try {
      layer.set(parsePeerFaultSpec(parseJson(text)));
    } catch (e) {
      onError(e as Error);
    }
  };
  load();
  const timer = setInterval(load, 100);
  timer.unref();
  pollers.push(timer);
  return layer;
}

const pollers: NodeJS.Timeout[] = [];

/** Stops polling fault files (tests that build layers from `@path`). */
export function stopPeerFaultWatchers(): void {
  for (const t of pollers.splice(0)) clearInterval(t);
}

let fromEnv: PeerFaultLayer | null | undefined;

/** The process-wide layer of `SEALKV_PEER_FAULTS`, built on first use (null when unset). */
export function envPeerFaultLayer(): PeerFaultLayer | null {
  if (fromEnv === undefined) fromEnv = peerFaultLayerFromEnv(process.env.SEALKV_PEER_FAULTS);
  return fromEnv;
}

// Workload driver: K concurrent RESP clients doing SET/GET/INCR on a small key set through the
// nodes, every call recorded in the lincheck HistoryRecorder, plus write-once keys whose
// acknowledged values must all survive whatever faults the test injects.
//
// Outcome rules (issue 4): a reply is `ok`; a refusal that certainly proposed nothing (`-TRYAGAIN`,
// or the proposer's pre-propose NOT_LEADER messages) is `fail`; everything else — a timeout, a lost
// connection, `-ERR TIMEOUT`, `-ERR UNAVAILABLE`, `-ERR UNKNOWN_OUTCOME` (in the log of a leader that
// stepped down, issue 9), any other error on a write — is indeterminate (`info`): when unsure, the
// op may or may not have taken effect.

import type { HistoryRecorder, OpCall, OpResult } from '../../lincheck/history.js';
import { RespClient, RespConnectionError, type RespReply, RespTimeoutError } from './resp-client.js';
import { sleep } from './wait.js';

export interface Endpoint {
  id: string;
  connect(): Promise<RespClient>;
}

export interface WorkloadOptions {
  recorder: HistoryRecorder;
  /** Current nodes to spread clients over (re-read before every op, so membership can change). */
  endpoints: () => Endpoint[];
  clients: number;
  /** Register keys shared by all clients. */
  keys: string[];
  /** Stop after this many ops in total (all clients)... */
  maxOps: number;
  /** ...or after this long, whichever comes first. */
  durationMs: number;
  /** Client-side deadline per call; the node's own request timeout should be shorter. */
  opTimeoutMs: number;
  /** Relative weights. `unique`: SET of a fresh write-once key (checked by lostUniqueWrites). */
  mix?: { read: number; write: number; incr: number; del: number; unique: number };
  /** Pause after an indeterminate outcome, so a client stuck on a dead node does not spin. */
  pauseAfterInfoMs?: number;
  seed?: number;
}

export interface WorkloadStats {
  invoked: number;
  ok: number;
  fail: number;
  info: number;
  /** ok count per call kind. */
  okByKind: Record<string, number>;
  /** Error replies and client-side failures, by their first two words. */
  errors: Record<string, number>;
  /** One full message per `errors` entry (the first seen). */
  errorSamples: Record<string, string>;
  /** Ops that got a reply per node id. */
  repliesByNode: Record<string, number>;
}

/** xorshift32: reproducible choices without Math.random (seed 0 becomes `zeroSeed`). */
export function xorshift32(seed: number, zeroSeed = 0x9e3779b9): () => number {
  let x = seed >>> 0 || zeroSeed;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 0x1_0000_0000;
  };
}

type Outcome = { kind: 'ok'; result: OpResult } | { kind: 'fail' } | { kind: 'info' };

/** Pre-propose refusals of the proposer (src/node/proposer.ts): nothing reached the log. */
const SURELY_NOT_PROPOSED = [
  /^ERR NOT_LEADER this node is not the leader$/,
  // A follower that knows no leader forwards nothing.
  /^ERR NOT_LEADER no leader known$/,
  /^ERR NOT_LEADER leadership changed before the proposal was appended/];

function classifyWriteError(message: string): Outcome {
  if (message.startsWith('TRYAGAIN')) return { kind: 'fail' };
  if (SURELY_NOT_PROPOSED.some((re) => re.test(message))) return { kind: 'fail' };
  return { kind: 'info' };
}

/** Maps a reply to the op's outcome. Exported for the harness self-test. */
export function classify(call: OpCall, reply: RespReply): Outcome {
  switch (call.kind) {
    case 'read':
      if (reply.type === 'bulk') return { kind: 'ok', result: { kind: 'read', value: reply.value } };
      return { kind: 'info' }; // a failed read constrains nothing
    case 'write':
      if (reply.type === 'simple' && reply.value === 'OK') return { kind: 'ok', result: { kind: 'write' } };
      if (reply.type === 'error') return classifyWriteError(reply.message);
      return { kind: 'info' };
    case 'incr':
      if (reply.type === 'int') return { kind: 'ok', result: { kind: 'incr', value: reply.value } };
      if (reply.type === 'error' && /^ERR value is not an integer/.test(reply.message)) {
        return { kind: 'ok', result: { kind: 'incr', error: true } };
      }
      if (reply.type === 'error') return classifyWriteError(reply.message);
      return { kind: 'info' };
    case 'delete':
      if (reply.type === 'int' && (reply.value === 0n || reply.value === 1n)) {
        return { kind: 'ok', result: { kind: 'delete', deleted: reply.value === 1n ? 1 : 0 } };
      }
      if (reply.type === 'error') return classifyWriteError(reply.message);
      return { kind: 'info' };
  }
}

function commandFor(key: string, call: OpCall): string[] {
  switch (call.kind) {
    case 'read':
      return ['GET', key];
    case 'write':
      return ['SET', key, call.value];
    case 'incr':
      return call.delta === 1n ? ['INCR', key] : ['INCRBY', key, call.delta.toString()];
    case 'delete':
      return ['DEL', key];
  }
}

export class Workload {
  readonly stats: WorkloadStats = { invoked: 0, ok: 0, fail: 0, info: 0, okByKind: {}, errors: {}, errorSamples: {}, repliesByNode: {} };
  /** Write-once keys whose SET was acknowledged, with their value. */
  readonly ackedUnique = new Map<string, string>();
  /** Write-once keys whose SET was indeterminate (may or may not exist). */
  readonly maybeUnique = new Map<string, string>();
  /** Resolves when every client has stopped. */
  readonly done: Promise<void>;
  private stopped = false;
  private issued = 0;
  private readonly deadline: number;

  constructor(private readonly o: WorkloadOptions) {
    this.deadline = performance.now() + o.durationMs;
    this.done = Promise.all(Array.from({ length: o.clients }, (_, i) => this.client(i))).then(() => undefined);
  }

  /** Asks every client to stop after its current op; resolves when they have. */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.done;
  }

  private noteError(what: string): void {
    const k = what.split(' ').slice(0, 2).join(' ');
    this.stats.errors[k] = (this.stats.errors[k] ?? 0) + 1;
    this.stats.errorSamples[k] ??= what;
  }

  private async client(index: number): Promise<void> {
    const o = this.o;
    const rand = xorshift32((o.seed ?? 1) * 7919 + index * 104729 + 1);
    const mix = o.mix ?? { read: 8, write: 6, incr: 4, del: 1, unique: 2 };
    const total = mix.read + mix.write + mix.incr + mix.del + mix.unique;
    let conn: RespClient | null = null;
    let connId = '';
    let generation = 0;
    let seq = 0;
    try {
      while (!this.stopped && this.issued < o.maxOps && performance.now() < this.deadline) {
        const eps = o.endpoints();
        if (eps.length === 0) {
          await sleep(50);
          continue;
        }
        const ep = eps[index % eps.length]!;
        if (conn === null || !conn.isOpen || connId !== ep.id) {
          conn?.close();
          conn = null;
          try {
            conn = await ep.connect();
            connId = ep.id;
          } catch {
            // Node down: nothing was sent, nothing to record.
            await sleep(100);
            continue;
          }
        }
        seq++;
        const r = rand() * total;
        let key: string;
        let call: OpCall;
        if (r < mix.read) {
          key = o.keys[Math.floor(rand() * o.keys.length)]!;
          call = { kind: 'read' };
        } else if (r < mix.read + mix.write) {
          key = o.keys[Math.floor(rand() * o.keys.length)]!;
          // Integers (so INCR works on them), distinct per write and far apart from INCR steps.
          call = { kind: 'write', value: String((index + 1) * 1_000_000_000 + seq * 1000) };
        } else if (r < mix.read + mix.write + mix.incr) {
          key = o.keys[Math.floor(rand() * o.keys.length)]!;
          call = { kind: 'incr', delta: 1n };
        } else if (r < mix.read + mix.write + mix.incr + mix.del) {
          key = o.keys[Math.floor(rand() * o.keys.length)]!;
          call = { kind: 'delete' };
        } else {
          key = `u:${index}:${seq}`;
          call = { kind: 'write', value: `v${index}-${seq}` };
        }
        this.issued++;
        this.stats.invoked++;
        const process = `c${index}.${generation}`;
        const id = o.recorder.invoke(process, key, call);
        let outcome: Outcome;
        try {
          const reply = await conn.call(commandFor(key, call), o.opTimeoutMs);
          this.stats.repliesByNode[connId] = (this.stats.repliesByNode[connId] ?? 0) + 1;
          if (reply.type === 'error') this.noteError(reply.message);
          outcome = classify(call, reply);
        } catch (e) {
          this.noteError(e instanceof RespTimeoutError ? 'client timeout' : e instanceof RespConnectionError ? 'connection lost' : String(e));
          outcome = { kind: 'info' };
        }
        const unique = key.startsWith('u:') && call.kind === 'write' ? call.value : null;
        if (outcome.kind === 'ok') {
          o.recorder.ok(id, outcome.result);
          this.stats.ok++;
          this.stats.okByKind[call.kind] = (this.stats.okByKind[call.kind] ?? 0) + 1;
          if (unique !== null) this.ackedUnique.set(key, unique);
        } else if (outcome.kind === 'fail') {
          o.recorder.fail(id);
          this.stats.fail++;
        } else {
          o.recorder.info(id);
          this.stats.info++;
          if (unique !== null) this.maybeUnique.set(key, unique);
          // A new logical process after an indeterminate op (it may still be in flight).
          generation++;
          await sleep(o.pauseAfterInfoMs ?? 200);
        }
      }
    } finally {
      conn?.close();
    }
  }
}

/**
 * Linearizable GETs of `keys` through `via`, recorded (process "final") so the checker sees the
 * end state; returns key → value. A read that fails throws: after the faults heal every node
 * must serve reads.
 */
export async function recordedReads(
  recorder: HistoryRecorder,
  via: RespClient,
  label: string,
  keys: readonly string[],
  timeoutMs = 5000,
): Promise<Map<string, string | null>> {
  const out = new Map<string, string | null>();
  for (const key of keys) {
    const id = recorder.invoke(`final-${label}`, key, { kind: 'read' });
    const reply = await via.call(['GET', key], timeoutMs);
    if (reply.type !== 'bulk') {
      recorder.info(id);
      throw new Error(`GET ${key} via ${label}: ${JSON.stringify(reply, (_k, v) => (typeof v === 'bigint' ? v.toString() : v))}`);
    }
    recorder.ok(id, { kind: 'read', value: reply.value });
    out.set(key, reply.value);
  }
  return out;
}

/** Write-once keys whose acknowledged value is missing or different, as "key: want X, got Y". */
export async function lostUniqueWrites(w: Workload, via: RespClient, timeoutMs = 5000): Promise<string[]> {
  const lost: string[] = [];
  const keys = [...w.ackedUnique.keys()];
  // Pipelined in chunks: thousands of keys, one round trip per chunk.
  for (let i = 0; i < keys.length; i += 200) {
    const chunk = keys.slice(i, i + 200);
    const replies = await Promise.all(chunk.map((k) => via.call(['GET', k], timeoutMs)));
    chunk.forEach((k, j) => {
      const r = replies[j]!;
      const want = w.ackedUnique.get(k)!;
      if (r.type !== 'bulk' || r.value !== want) lost.push(`${k}: want ${want}, got ${r.type === 'bulk' ? r.value : JSON.stringify(r)}`);
    });
  }
  return lost;
}

export interface ProbeResult {
  outcome: Outcome['kind'];
  /** The reply, or the client-side failure ("client timeout" / "connection lost: ..."). */
  reply: RespReply | string;
}

/**
 * One recorded call on a fresh connection to `port` (e.g. a probe into a partitioned node), with
 * the same outcome rules as the workload.
 */
export async function recordedCall(
  recorder: HistoryRecorder,
  process: string,
  port: number,
  key: string,
  call: OpCall,
  timeoutMs: number,
): Promise<ProbeResult> {
  let conn: RespClient;
  try {
    conn = await RespClient.connect(port, '127.0.0.1', 1000);
  } catch (e) {
    return { outcome: 'fail', reply: `not sent: ${(e as Error).message}` };
  }
  const id = recorder.invoke(process, key, call);
  try {
    const reply = await conn.call(commandFor(key, call), timeoutMs);
    const o = classify(call, reply);
    if (o.kind === 'ok') recorder.ok(id, o.result);
    else if (o.kind === 'fail') recorder.fail(id);
    else recorder.info(id);
    return { outcome: o.kind, reply };
  } catch (e) {
    recorder.info(id);
    return { outcome: 'info', reply: e instanceof RespTimeoutError ? 'client timeout' : `connection lost: ${(e as Error).message}` };
  } finally {
    conn.close();
  }
}

/** Compact text of a reply for assertion messages. */
export function showReply(r: RespReply | string): string {
  return typeof r === 'string' ? r : JSON.stringify(r, (_k, v) => (typeof v === 'bigint' ? v.toString() : v));
}

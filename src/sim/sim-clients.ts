// Simulated clients of the whole-node simulator (issue 14): each one a sequential process that
// sends SET / INCR / GET / DEL (and MULTI/INCR/GET/EXEC) to a random node through that node's RESP command handler (the
// in-process entry point the RESP server calls), recording every call for the linearizability
// checker. A call whose outcome is unknown (a crash, a timeout, UNKNOWN_OUTCOME) stays
// indeterminate and the client continues as a new process (a history's processes are sequential).

import type { HistoryRecorder, OpCall, OpResult } from '../lincheck/history.js';
import type { Reply } from '../server/resp-codec.js';
import type { ClientContext } from '../server/resp-server.js';
import { setCurrentProcess } from './sim-context.js';
import type { SimMachine } from './sim-machine.js';
import type { VirtualScheduler } from './virtual-scheduler.js';

/** Refusals that certainly left no trace in any log (SPEC C-6 / issue 9 defect 8): the call leaves the history. */
const NO_EFFECT = new Set(['NOT_LEADER', 'WRITER_NOT_REGISTERED', 'ENVELOPE_CUTOVER_IN_PROGRESS', 'LEADERSHIP_TRANSFER_IN_PROGRESS', 'CLOSED']);

export interface ClientCounters {
  invoked: number;
  ok: number;
  failed: number;
  indeterminate: number;
  okWrites: number;
  /** EXEC transactions whose GET did not see their own INCR (atomicity). */
  execMismatches: number;
}

export const KEYS = ['a', 'b', 'c'];
const CLIENT_TIMEOUT_MS = 2000;

export class SimClients {
  readonly counters: ClientCounters = { invoked: 0, ok: 0, failed: 0, indeterminate: 0, okWrites: 0, execMismatches: 0 };
  private running = true;
  private inFlight = 0;
  private seq = 0;

  constructor(
    private readonly sched: VirtualScheduler,
    private readonly machines: readonly SimMachine[],
    private readonly random: () => number,
    private readonly history: HistoryRecorder,
    private readonly trace: (line: string) => void,
  ) {}

  start(n: number): void {
    for (let c = 0; c < n; c++) this.loop(c, 0);
  }

  stop(): void {
    this.running = false;
  }

  busy(): number {
    return this.inFlight;
  }

  private loop(client: number, gen: number): void {
    if (!this.running) return;
    this.sched.setTimeout(() => {
      setCurrentProcess(null);
      void this.one(client, gen).then((g) => this.loop(client, g));
    }, 1 + Math.floor(this.random() * 20));
  }

  /**
   * MULTI, INCR key, GET key, EXEC on one connection. Resolves with the INCR's reply (an int, or
   * its "not an integer" error); the GET in the same transaction must read exactly that value.
   */
  private async exec(handler: Handler, ctx: ClientContext, key: string): Promise<Reply> {
    const b = (...a: string[]): Buffer[] => a.map((x) => Buffer.from(x));
    for (const cmd of [b('MULTI'), b('INCR', key), b('GET', key)]) {
      const r = await handler.execute(cmd, ctx);
      if (r.t === 'error') return r;
    }
    const r = await handler.execute(b('EXEC'), ctx);
    if (r.t !== 'array' || r.v === null || r.v.length !== 2) return r.t === 'error' ? r : { t: 'error', v: 'ERR EXEC aborted' };
    const [incr, get] = r.v as [Reply, Reply];
    if (incr.t === 'int') {
      const seen = get.t === 'bulk' && get.v !== null ? (typeof get.v === 'string' ? get.v : Buffer.from(get.v).toString('utf8')) : null;
      if (seen !== String(incr.v)) {
        this.counters.execMismatches++;
        this.trace(`EXEC MISMATCH ${key}: INCR ${String(incr.v)} then GET ${seen}`);
      }
    }
    return incr;
  }

  /** One call; resolves with the client's next process generation. */
  private async one(client: number, gen: number): Promise<number> {
    const m = this.machines[Math.floor(this.random() * this.machines.length)]!;
    if (m.state !== 'up' || m.handler === null) return gen;
    const key = KEYS[Math.floor(this.random() * KEYS.length)]!;
    const r = this.random();
    const process = `${client}.${gen}`;
    let call: OpCall;
    let args: string[];
    if (r < 0.35) {
      call = { kind: 'read' };
      args = ['GET', key];
    } else if (r < 0.6) {
      const value = String(1000 * ++this.seq + client);
      call = { kind: 'write', value };
      args = ['SET', key, value];
    } else if (r < 0.82) {
      call = { kind: 'incr', delta: 1n };
      args = ['INCR', key];
    } else if (r < 0.9) {
      // MULTI / INCR / GET / EXEC: one Raft entry; recorded as the INCR, the GET must see it.
      call = { kind: 'incr', delta: 1n };
      args = ['EXEC', 'INCR', key, 'GET', key];
    } else {
      call = { kind: 'delete' };
      args = ['DEL', key];
    }
    const ctx: ClientContext = { id: client, remoteAddress: `sim-client-${client}`, name: null, db: 0, closeAfterReply: false, protocol: 2 };
    const proc = m.proc;
    const id = this.history.invoke(process, key, call);
    this.counters.invoked++;
    this.inFlight++;
    let outcome: { reply: Reply } | { error: unknown } | 'timeout';
    let timer: ReturnType<VirtualScheduler['setTimeout']> | undefined;
    try {
      setCurrentProcess(proc);
      const handler = m.handler;
      const p = Promise.resolve(args[0] === 'EXEC' ? this.exec(handler, ctx, key) : handler.execute(args.map((a) => Buffer.from(a)), ctx)).then(
        (reply) => ({ reply }),
        (error: unknown) => ({ error }),
      );
      const t = new Promise<'timeout'>((res) => {
        timer = this.sched.setTimeout(() => res('timeout'), CLIENT_TIMEOUT_MS);
      });
      // A process that dies drops its connections: the client sees that at once.
      outcome = await Promise.race([p, t, proc.died.then(() => 'timeout' as const)]);
    } catch (error) {
      outcome = { error };
    } finally {
      this.sched.clearTimeout(timer);
      this.inFlight--;
    }
    // An answer from a process that died meanwhile never reached the client.
    if (!proc.alive) outcome = 'timeout';
    const result = outcome === 'timeout' || 'error' in outcome ? null : toResult(call, outcome.reply);
    if (result !== null) {
      this.history.ok(id, result);
      this.counters.ok++;
      if (call.kind !== 'read') this.counters.okWrites++;
      this.trace(`op ${process} ${args.join(' ')} -> ${resultJson(result)}`);
      return gen;
    }
    const code = outcome !== 'timeout' && 'error' in outcome ? errorCode(outcome.error) : outcome === 'timeout' ? 'TIMEOUT' : replyCode(outcome.reply);
    this.trace(`op ${process} ${args.join(' ')} -> ${code}`);
    if (call.kind === 'read' || NO_EFFECT.has(code)) {
      this.history.fail(id);
      this.counters.failed++;
      return gen;
    }
    this.history.info(id);
    this.counters.indeterminate++;
    return gen + 1;
  }
}

/** What SimClients needs of the RESP command handler. */
type Handler = NonNullable<SimMachine['handler']>;

/**
 * `JSON.stringify(result)` with bigints as strings, written out by hand (the trace line of every
 * successful call; a replacer function makes `JSON.stringify` several times slower). Same text.
 */
function resultJson(r: OpResult): string {
  switch (r.kind) {
    case 'read':
      return `{"kind":"read","value":${r.value === null ? 'null' : JSON.stringify(r.value)}}`;
    case 'write':
      return '{"kind":"write"}';
    case 'incr':
      return 'error' in r ? `{"kind":"incr","error":${r.error}}` : `{"kind":"incr","value":"${r.value}"}`;
    case 'delete':
      return `{"kind":"delete","deleted":${r.deleted}}`;
  }
}

function errorCode(e: unknown): string {
  const c = (e as { code?: unknown })?.code;
  return typeof c === 'string' ? c : 'ERROR';
}

function replyCode(r: Reply): string {
  if (r.t !== 'error') return 'UNEXPECTED_REPLY';
  const m = /^[A-Z]+ ([A-Z_]+)/.exec(r.v);
  return m?.[1] ?? r.v.split(' ')[0] ?? 'ERR';
}

/** The call's result from its reply; null when the reply is an error other than INCR's "not an integer". */
function toResult(call: OpCall, reply: Reply): OpResult | null {
  switch (call.kind) {
    case 'read':
      if (reply.t !== 'bulk') return null;
      return { kind: 'read', value: reply.v === null ? null : typeof reply.v === 'string' ? reply.v : Buffer.from(reply.v).toString('utf8') };
    case 'write':
      return reply.t === 'simple' && reply.v === 'OK' ? { kind: 'write' } : null;
    case 'incr':
      if (reply.t === 'int') return { kind: 'incr', value: BigInt(reply.v) };
      if (reply.t === 'error' && /not an integer/.test(reply.v)) return { kind: 'incr', error: true };
      return null;
    case 'delete':
      return reply.t === 'int' && (reply.v === 0 || reply.v === 1 || reply.v === 0n || reply.v === 1n) ? { kind: 'delete', deleted: Number(reply.v) as 0 | 1 } : null;
  }
}

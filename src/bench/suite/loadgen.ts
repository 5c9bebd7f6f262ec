// Open-loop RESP load generator. Requests are due at a fixed arrival rate (request i at
// i / rate seconds after the start) whatever the server does, and each latency is measured from
// that *scheduled* time to the reply. A closed-loop client waits for replies before sending more,
// so a server stall delays its next sends and the stall vanishes from its numbers (coordinated
// omission); here a stall — of the server or of this process — shows up in full.
//
// Requests are pipelined on N connections (round robin); RESP answers in order per connection,
// so each connection keeps a FIFO of the scheduled times it owes replies for. The run is bounded:
// sending stops at durationMs (or maxRequests), then replies are awaited for at most drainMs.

import { connect, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { type IntervalPoint, IntervalSeries, LatencyHistogram, type LatencySummary } from './histogram.js';
import { encodeCommand, ReplySplitter } from './resp.js';

/** A named window of the run, in ms since the start; requests scheduled inside it belong to it. */
export interface PhaseSpec {
  name: string;
  startMs: number;
  stopMs: number;
}

export interface OpenLoopOptions {
  host: string;
  port: number;
  connections: number;
  ratePerS: number;
  durationMs: number;
  /** How long to wait for outstanding replies once sending stops (default 2000). */
  drainMs?: number;
  /** Hard cap on requests (default: rate × duration). */
  maxRequests?: number;
  /** Width of one time-series interval (default 1000). */
  intervalMs?: number;
  /** Phases known in advance; more can be marked while running with OpenLoopRun.mark(). */
  phases?: PhaseSpec[];
  /** The i-th request (default: SET bench:<i mod keySpace> <valueBytes bytes>). */
  command?: (i: number) => Buffer;
  valueBytes?: number;
  keySpace?: number;
  connectTimeoutMs?: number;
  onProgress?: (p: OpenLoopProgress) => void;
  progressEveryMs?: number;
}

export interface OpenLoopProgress {
  elapsedMs: number;
  sent: number;
  completed: number;
  errorReplies: number;
  phase: string | null;
}

export interface PhaseResult {
  name: string;
  startMs: number;
  stopMs: number;
  /** Latency of the requests scheduled inside the phase. */
  latency: LatencySummary;
  /** Replies received inside the phase window, per second of the window. */
  throughputPerS: number;
  errorReplies: Record<string, number>;
  /** Longest time inside the window without any reply arriving (a write pause, e.g. a barrier). */
  longestReplyGapMs: number;
}

export interface OpenLoopResult {
  target: string;
  connections: number;
  ratePerS: number;
  durationMs: number;
  intervalMs: number;
  /** Requests due by the schedule (all of them are sent, late if this process stalls). */
  scheduled: number;
  completed: number;
  /** Requests without a reply when the run ended; they are in the histograms at their age then. */
  unanswered: number;
  /** Error replies counted by prefix, e.g. { TRYAGAIN: 12 }. */
  errorReplies: Record<string, number>;
  connectionErrors: string[];
  /** Replies per second over the sending window. */
  achievedPerS: number;
  /** Worst lateness of a send against its schedule (this process's own stalls). */
  maxSendLagMs: number;
  /** Longest time without any reply arriving while requests were due (a write pause). */
  longestReplyGapMs: number;
  latency: LatencySummary;
  phases: PhaseResult[];
  series: IntervalPoint[];
}

export class BenchConfigError extends Error {
  readonly code = 'BENCH_CONFIG';
}

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);

interface Conn {
  socket: Socket;
  splitter: ReplySplitter;
  /** Scheduled times (ms since start) of requests awaiting replies, FIFO from `head`. */
  queue: number[];
  head: number;
  alive: boolean;
}

interface PhaseAcc {
  spec: PhaseSpec;
  hist: LatencyHistogram;
  completed: number;
  errors: Record<string, number>;
  longestGapMs: number;
}

function validate(o: OpenLoopOptions): void {
  if (!LOOPBACK.has(o.host)) throw new BenchConfigError(`the load generator only targets loopback, not '${o.host}'`);
  if (!(Number.isInteger(o.connections) && o.connections >= 1)) throw new BenchConfigError('connections must be an integer ≥ 1');
  if (!(o.ratePerS > 0 && Number.isFinite(o.ratePerS))) throw new BenchConfigError('ratePerS must be > 0');
  if (!(o.durationMs > 0 && Number.isFinite(o.durationMs))) throw new BenchConfigError('durationMs must be > 0');
  for (const p of o.phases ?? []) {
    if (!(p.stopMs > p.startMs)) throw new BenchConfigError(`phase '${p.name}' must stop after it starts`);
  }
}

function defaultCommand(valueBytes: number, keySpace: number): (i: number) => Buffer {
  const value = Buffer.alloc(valueBytes, 0x78);
  return (i) => encodeCommand(['SET', `bench:${i % keySpace}`, value]);
}

async function openConnections(o: OpenLoopOptions): Promise<Conn[]> {
  const timeout = o.connectTimeoutMs ?? 5000;
  const one = (): Promise<Conn> =>
    new Promise((resolve, reject) => {
      const socket = connect({ host: o.host, port: o.port, noDelay: true });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new BenchConfigError(`connect to ${o.host}:${o.port} timed out after ${timeout} ms`));
      }, timeout);
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.removeAllListeners('error');
        resolve({ socket, splitter: new ReplySplitter(), queue: [], head: 0, alive: true });
      });
      socket.once('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
    });
  const conns: Conn[] = [];
  try {
    for (let i = 0; i < o.connections; i++) conns.push(await one());
  } catch (e) {
    for (const c of conns) c.socket.destroy();
    throw e;
  }
  return conns;
}

/**
 * A run in progress: mark() opens a phase now (closing the previous marked one); stop() stops
 * sending now (durationMs is then the upper bound), replies are still awaited for the drain
 * period; done resolves at the end.
 */
export interface OpenLoopRun {
  mark(name: string): void;
  stop(): void;
  elapsedMs(): number;
  done: Promise<OpenLoopResult>;
}

export async function startOpenLoop(o: OpenLoopOptions): Promise<OpenLoopRun> {
  validate(o);
  const conns = await openConnections(o);
  const intervalMs = o.intervalMs ?? 1000;
  const drainMs = o.drainMs ?? 2000;
  const perReqMs = 1000 / o.ratePerS;
  let maxRequests = Math.min(o.maxRequests ?? Number.POSITIVE_INFINITY, Math.ceil((o.durationMs * o.ratePerS) / 1000));
  // Where sending stops: durationMs, or earlier when stop() is called (a plan that ends itself).
  let stopAtMs = o.durationMs;
  let signalStopped: () => void = () => {};
  const stopped = new Promise<void>((r) => {
    signalStopped = r;
  });
  const command = o.command ?? defaultCommand(o.valueBytes ?? 256, o.keySpace ?? 10_000);

  const overall = new LatencyHistogram();
  const series = new IntervalSeries(intervalMs);
  const phases: PhaseAcc[] = (o.phases ?? []).map((spec) => ({ spec: { ...spec }, hist: new LatencyHistogram(), completed: 0, errors: {}, longestGapMs: 0 }));
  let marked: PhaseAcc | null = null;
  const errorReplies: Record<string, number> = {};
  const connectionErrors: string[] = [];
  let sent = 0;
  let completed = 0;
  let errorCount = 0;
  let maxSendLagMs = 0;
  let rr = 0;
  // Reply-gap tracking: the time of the previous reply (the run start before the first one).
  let lastReplyMs = 0;
  let longestGapMs = 0;
  /** Accounts the reply-less stretch [from, to] to the run and to the phases it overlaps. */
  const noteGap = (from: number, to: number): void => {
    longestGapMs = Math.max(longestGapMs, to - from);
    for (const p of phases) {
      const g = Math.min(to, p.spec.stopMs) - Math.max(from, p.spec.startMs);
      if (g > p.longestGapMs) p.longestGapMs = g;
    }
  };

  const t0 = performance.now();
  const now = (): number => performance.now() - t0;

  const onReply = (scheduledMs: number, doneMs: number, error: string | null): void => {
    const latencyUs = (doneMs - scheduledMs) * 1000;
    overall.record(latencyUs);
    series.record(scheduledMs, doneMs, latencyUs, error !== null);
    completed++;
    if (error !== null) {
      errorCount++;
      errorReplies[error] = (errorReplies[error] ?? 0) + 1;
    }
    for (const p of phases) {
      if (scheduledMs >= p.spec.startMs && scheduledMs < p.spec.stopMs) {
        p.hist.record(latencyUs);
        if (error !== null) p.errors[error] = (p.errors[error] ?? 0) + 1;
      }
      if (doneMs >= p.spec.startMs && doneMs < p.spec.stopMs) p.completed++;
    }
  };

  let finish: () => void = () => {};
  const finished = new Promise<void>((r) => {
    finish = r;
  });
  const outstanding = (): number => conns.reduce((a, c) => a + (c.queue.length - c.head), 0);
  const checkDone = (): void => {
    if (sent >= maxRequests && outstanding() === 0) finish();
  };

  for (const c of conns) {
    c.socket.on('data', (chunk: Buffer) => {
      const t = now();
      noteGap(lastReplyMs, t);
      lastReplyMs = t;
      let events: { error: string | null }[];
      try {
        events = c.splitter.feed(chunk);
      } catch (e) {
        connectionErrors.push(String(e));
        c.alive = false;
        c.socket.destroy();
        return;
      }
      for (const ev of events) {
        if (c.head >= c.queue.length) {
          connectionErrors.push('reply without a request');
          continue;
        }
        onReply(c.queue[c.head++]!, t, ev.error);
      }
      // Reclaim the consumed prefix now and then so the FIFO stays small on long runs.
      if (c.head > 4096 && c.head * 2 > c.queue.length) {
        c.queue.splice(0, c.head);
        c.head = 0;
      }
      checkDone();
    });
    c.socket.on('error', (e) => {
      connectionErrors.push(e.message);
    });
    c.socket.on('close', () => {
      c.alive = false;
      if (conns.every((x) => !x.alive)) finish();
    });
  }

  // The pacer: every tick sends all requests that are due by now, so a late tick catches up in a
  // burst and the lateness is part of those requests' latency.
  const sendDue = (): void => {
    const t = now();
    const due = Math.min(maxRequests, Math.floor(t / perReqMs) + 1);
    if (due <= sent) return;
    for (const c of conns) if (c.alive) c.socket.cork();
    while (sent < due) {
      const live = conns.filter((c) => c.alive);
      if (live.length === 0) break;
      const c = live[rr++ % live.length]!;
      const scheduledMs = sent * perReqMs;
      maxSendLagMs = Math.max(maxSendLagMs, t - scheduledMs);
      c.queue.push(scheduledMs);
      c.socket.write(command(sent));
      sent++;
    }
    for (const c of conns) if (c.alive) c.socket.uncork();
  };
  const pacer = setInterval(() => {
    sendDue();
    if (sent >= maxRequests || conns.every((c) => !c.alive)) {
      clearInterval(pacer);
      checkDone();
    }
  }, 1);

  const progress =
    o.onProgress &&
    setInterval(() => {
      o.onProgress?.({ elapsedMs: now(), sent, completed, errorReplies: errorCount, phase: marked?.spec.name ?? null });
    }, o.progressEveryMs ?? 1000);

  const done = (async (): Promise<OpenLoopResult> => {
    // Bounded: whatever happens, the run ends drainMs after the last request was due.
    const hardStop = new Promise<void>((r) => setTimeout(r, o.durationMs + drainMs).unref());
    const afterStop = stopped.then(() => new Promise<void>((r) => setTimeout(r, drainMs).unref()));
    await Promise.race([finished, hardStop, afterStop]);
    clearInterval(pacer);
    if (progress) clearInterval(progress);
    const endMs = now();
    // Unanswered requests enter the histograms at their age now: a lower bound, so the
    // percentiles never look better than the truth.
    let unanswered = 0;
    if (outstanding() > 0) noteGap(lastReplyMs, endMs);
    for (const c of conns) {
      for (let i = c.head; i < c.queue.length; i++) {
        const s = c.queue[i]!;
        const us = (endMs - s) * 1000;
        overall.record(us);
        for (const p of phases) if (s >= p.spec.startMs && s < p.spec.stopMs) p.hist.record(us);
        unanswered++;
      }
      c.socket.destroy();
    }
    // mark() assigns `marked` from outside this closure, which flow analysis cannot see.
    const last = marked as PhaseAcc | null;
    if (last) last.spec.stopMs = Math.min(last.spec.stopMs, stopAtMs);
    const sendWindowMs = Math.min(stopAtMs, (maxRequests * 1000) / o.ratePerS);
    return {
      target: `${o.host}:${o.port}`,
      connections: o.connections,
      ratePerS: o.ratePerS,
      durationMs: Math.round(stopAtMs),
      intervalMs,
      scheduled: sent,
      completed,
      unanswered,
      errorReplies,
      connectionErrors: connectionErrors.slice(0, 20),
      achievedPerS: Math.round((completed / (sendWindowMs / 1000)) * 10) / 10,
      maxSendLagMs: Math.round(maxSendLagMs * 10) / 10,
      longestReplyGapMs: Math.round(longestGapMs * 10) / 10,
      latency: overall.summary(),
      phases: phases.map((p) => {
        const stopMs = Math.min(p.spec.stopMs, endMs);
        const widthS = Math.max(0.001, (stopMs - p.spec.startMs) / 1000);
        return {
          name: p.spec.name,
          startMs: Math.round(p.spec.startMs),
          stopMs: Math.round(stopMs),
          latency: p.hist.summary(),
          throughputPerS: Math.round((p.completed / widthS) * 10) / 10,
          errorReplies: p.errors,
          longestReplyGapMs: Math.round(p.longestGapMs * 10) / 10,
        };
      }),
      series: series.points(Math.min(endMs, stopAtMs)),
    };
  })();

  return {
    elapsedMs: now,
    stop(): void {
      const t = now();
      if (t >= stopAtMs) return;
      stopAtMs = t;
      maxRequests = Math.min(maxRequests, sent);
      signalStopped();
      checkDone();
    },
    mark(name: string): void {
      const t = now();
      if (marked) marked.spec.stopMs = t;
      marked = { spec: { name, startMs: t, stopMs: Number.POSITIVE_INFINITY }, hist: new LatencyHistogram(), completed: 0, errors: {}, longestGapMs: 0 };
      phases.push(marked);
    },
    done,
  };
}

/** startOpenLoop() and wait for the end: for runs whose phases are all known in advance. */
export async function runOpenLoop(o: OpenLoopOptions): Promise<OpenLoopResult> {
  return (await startOpenLoop(o)).done;
}

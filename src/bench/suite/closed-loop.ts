// Closed-loop RESP load for saturation throughput: N clients, each on its own connection with
// exactly one SET in flight (send, wait for the reply, send the next), for a fixed time. This
// measures how many writes per second the cluster sustains at a given concurrency; its latencies
// are per request from send to reply (closed loop hides stalls — the open-loop generator in
// loadgen.ts is the one for latency under a fixed load).

import { connect, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { LatencyHistogram, type LatencySummary } from './histogram.js';
import { BenchConfigError } from './loadgen.js';
import { encodeCommand, ReplySplitter } from './resp.js';

export interface ClosedLoopOptions {
  host: string;
  port: number;
  clients: number;
  valueBytes: number;
  durationMs: number;
  keySpace?: number;
  connectTimeoutMs?: number;
}

export interface ClosedLoopResult {
  clients: number;
  valueBytes: number;
  durationMs: number;
  completed: number;
  errorReplies: Record<string, number>;
  opsPerS: number;
  latency: LatencySummary;
  connectionErrors: string[];
}

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);

export async function runClosedLoop(o: ClosedLoopOptions): Promise<ClosedLoopResult> {
  if (!LOOPBACK.has(o.host)) throw new BenchConfigError(`the load generator only targets loopback, not '${o.host}'`);
  if (!(Number.isInteger(o.clients) && o.clients >= 1)) throw new BenchConfigError('clients must be an integer ≥ 1');
  const value = Buffer.alloc(o.valueBytes, 0x79);
  const keySpace = o.keySpace ?? 10_000;
  const hist = new LatencyHistogram();
  const errors: Record<string, number> = {};
  const connectionErrors: string[] = [];
  let completed = 0;
  let seq = 0;
  let stopping = false;
  const sockets: Socket[] = [];
  const timeout = o.connectTimeoutMs ?? 5000;

  const client = (): Promise<void> =>
    new Promise((resolve) => {
      const socket = connect({ host: o.host, port: o.port, noDelay: true });
      sockets.push(socket);
      const splitter = new ReplySplitter();
      let sentAt = 0;
      const timer = setTimeout(() => {
        connectionErrors.push(`connect timed out after ${timeout} ms`);
        socket.destroy();
      }, timeout);
      const send = (): void => {
        if (stopping) {
          socket.end();
          return;
        }
        sentAt = performance.now();
        socket.write(encodeCommand(['SET', `bench:${seq++ % keySpace}`, value]));
      };
      socket.once('connect', () => {
        clearTimeout(timer);
        send();
      });
      socket.on('data', (chunk: Buffer) => {
        let events: { error: string | null }[];
        try {
          events = splitter.feed(chunk);
        } catch (e) {
          connectionErrors.push(String(e));
          socket.destroy();
          return;
        }
        for (const ev of events) {
          hist.record((performance.now() - sentAt) * 1000);
          completed++;
          if (ev.error !== null) errors[ev.error] = (errors[ev.error] ?? 0) + 1;
          send();
        }
      });
      socket.on('error', (e) => {
        if (connectionErrors.length < 20) connectionErrors.push(e.message);
      });
      socket.on('close', () => resolve());
    });

  const t0 = performance.now();
  const all = Promise.all(Array.from({ length: o.clients }, client));
  // Counted over the measuring window only: replies after the stop are not part of the rate.
  await new Promise((r) => setTimeout(r, o.durationMs));
  const windowMs = performance.now() - t0;
  const done = completed;
  stopping = true;
  // Bounded: whatever is still in flight gets 5 s, then the sockets are closed.
  await Promise.race([all, new Promise((r) => setTimeout(r, 5000).unref())]);
  for (const s of sockets) s.destroy();
  return {
    clients: o.clients,
    valueBytes: o.valueBytes,
    durationMs: Math.round(windowMs),
    completed: done,
    errorReplies: errors,
    opsPerS: Math.round((done / (windowMs / 1000)) * 10) / 10,
    latency: hist.summary(),
    connectionErrors,
  };
}

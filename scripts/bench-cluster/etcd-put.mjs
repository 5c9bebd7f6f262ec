#!/usr/bin/env node
// Closed-loop etcd v3 put load generator speaking etcd's own client protocol (gRPC over HTTP/2,
// `etcdserverpb.KV/Put`), modelled on etcd's `tools/benchmark put`: `--clients` workers share
// `--conns` HTTP/2 connections, each worker keeps exactly one Put in flight, `--total` puts overall,
// keys of `--key-size` bytes drawn from `--key-space-size` keys, random values of `--val-size` bytes.
//
// Why not the stock tools: Debian 12 ships etcd 3.4 without the `benchmark` binary; `etcdctl check
// perf` is rate-limited (150/1000/8000 puts/s), uses 1 KiB values, 256-byte keys and 50/200/500/1000
// clients, none adjustable; a loop of `etcdctl put` processes measures process start-up, not etcd.
// The default transport is the lean HTTP/2 framing of h2-unary.mjs (client CPU is shared with the
// servers on this 2-core machine); `--impl http2` uses node:http2 instead, as a cross-check. The run
// reports its own CPU, and the caller checks the revision moved by exactly the successful puts.
//
// Usage: node etcd-put.mjs --endpoint 127.0.0.1:2379 [--clients 64] [--conns 64] [--val-size 256]
//          [--key-size 8] [--key-space-size 1] [--total 100000] [--impl raw|http2]
// Prints progress on stderr and one JSON result line on stdout.

import { randomBytes } from 'node:crypto';
import { connect } from 'node:http2';
import { pathToFileURL } from 'node:url';
import { H2UnaryConnection } from './h2-unary.mjs';
import { latencySummary } from './stats.mjs';

/** Protobuf varint of a non-negative integer below 2^53 (lengths here are tiny). */
function varint(n) {
  const out = [];
  let v = n;
  while (v >= 0x80) {
    out.push((v % 0x80) | 0x80);
    v = Math.floor(v / 0x80);
  }
  out.push(v);
  return Buffer.from(out);
}

/** A gRPC length-prefixed message carrying PutRequest{key = 1, value = 2}. */
export function putRequestFrame(key, value) {
  const msg = Buffer.concat([Buffer.from([0x0a]), varint(key.length), key, Buffer.from([0x12]), varint(value.length), value]);
  const head = Buffer.alloc(5);
  head.writeUInt32BE(msg.length, 1); // byte 0 = 0: not compressed
  return Buffer.concat([head, msg]);
}

const HEADERS = {
  ':method': 'POST',
  ':path': '/etcdserverpb.KV/Put',
  'content-type': 'application/grpc',
  te: 'trailers',
};

/** One unary Put; resolves with null on gRPC status 0, else an error string. */
function putOnce(session, frame) {
  return new Promise((resolve) => {
    let grpcStatus;
    let grpcMessage = '';
    let httpStatus;
    let failure = null;
    const req = session.request(HEADERS);
    req.on('response', (h) => {
      httpStatus = h[':status'];
      // A "trailers-only" gRPC error puts the status in the response headers.
      if (h['grpc-status'] !== undefined) {
        grpcStatus = String(h['grpc-status']);
        grpcMessage = String(h['grpc-message'] ?? '');
      }
    });
    req.on('trailers', (t) => {
      grpcStatus = String(t['grpc-status']);
      grpcMessage = String(t['grpc-message'] ?? '');
    });
    req.on('data', () => {});
    req.on('error', (e) => {
      failure = `stream error: ${e.code ?? e.message}`;
    });
    req.on('close', () => {
      if (failure) resolve(failure);
      else if (httpStatus !== 200) resolve(`http status ${httpStatus}`);
      else if (grpcStatus !== '0') resolve(`grpc-status ${grpcStatus} ${decodeURIComponent(grpcMessage)}`);
      else resolve(null);
    });
    req.end(frame);
  });
}

/** A connection with `put(frame) → Promise<error string | null>` and `close()`. */
async function openConnection(endpoint, impl) {
  if (impl === 'http2') {
    const s = await new Promise((resolve, reject) => {
      const h = connect(`http://${endpoint}`);
      h.once('connect', () => resolve(h));
      h.once('error', reject);
    });
    s.on('error', () => {});
    return { put: (f) => putOnce(s, f), close: () => new Promise((r) => s.close(r)) };
  }
  const c = await H2UnaryConnection.open(endpoint, HEADERS[':path']);
  return {
    put: (f) => new Promise((resolve) => c.call(f, (err) => resolve(err))),
    close: async () => c.close(),
  };
}

/**
 * @param {{ endpoint: string, impl?: 'raw'|'http2', clients: number, conns: number, valSize: number, keySize: number, keySpaceSize: number, total: number, progress?: (done: number) => void }} o
 */
export async function runPutLoad(o) {
  const sessions = await Promise.all(Array.from({ length: o.conns }, () => openConnection(o.endpoint, o.impl)));
  const value = randomBytes(o.valSize);
  // With a key space of 1 (the etcd tool's default, and what redis-benchmark's fixed key amounts
  // to) one frame serves every request; otherwise frames are built per key on demand.
  const frames = new Map();
  const frameFor = (k) => {
    let f = frames.get(k);
    if (!f) {
      const key = Buffer.alloc(o.keySize);
      key.writeUIntBE(k % 2 ** 48, Math.max(0, o.keySize - 6), Math.min(6, o.keySize));
      f = putRequestFrame(key, value);
      if (frames.size < 100_000) frames.set(k, f);
    }
    return f;
  };
  const latMs = new Float64Array(o.total);
  let issued = 0;
  let done = 0;
  let ok = 0;
  const errors = new Map();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  let tick = setInterval(() => o.progress?.(done), 1000);
  async function worker(session) {
    while (issued < o.total) {
      issued++;
      const frame = frameFor(Math.floor(Math.random() * o.keySpaceSize));
      const s = performance.now();
      const err = await session.put(frame);
      const e = performance.now();
      if (err === null) {
        latMs[ok++] = e - s;
      } else {
        errors.set(err, (errors.get(err) ?? 0) + 1);
      }
      done++;
    }
  }
  await Promise.all(Array.from({ length: o.clients }, (_, i) => worker(sessions[i % o.conns])));
  const wallS = (performance.now() - t0) / 1000;
  clearInterval(tick);
  tick = null;
  const cpu = process.cpuUsage(cpu0);
  await Promise.all(sessions.map((s) => s.close()));
  return {
    tool: `scripts/bench-cluster/etcd-put.mjs (gRPC KV/Put, ${o.impl === 'http2' ? 'node:http2' : 'h2-unary.mjs framing'})`,
    params: { ...o, progress: undefined },
    ok,
    errors: Object.fromEntries(errors),
    errorCount: done - ok,
    wallS,
    putsPerS: ok / wallS,
    latencyMs: latencySummary(latMs.subarray(0, ok)),
    clientCpuS: (cpu.user + cpu.system) / 1e6,
  };
}

function parseArgs(argv) {
  const o = { endpoint: '127.0.0.1:2379', clients: 64, conns: 64, valSize: 256, keySize: 8, keySpaceSize: 1, total: 100_000, impl: 'raw' };
  const names = { endpoint: 'endpoint', clients: 'clients', conns: 'conns', 'val-size': 'valSize', 'key-size': 'keySize', 'key-space-size': 'keySpaceSize', total: 'total', impl: 'impl' };
  for (let i = 0; i < argv.length; i += 2) {
    const k = names[argv[i]?.replace(/^--/, '')];
    if (!k || argv[i + 1] === undefined) throw new Error(`bad argument ${argv[i]}`);
    o[k] = k === 'endpoint' || k === 'impl' ? argv[i + 1] : Number(argv[i + 1]);
    if (k !== 'endpoint' && k !== 'impl' && !(Number.isInteger(o[k]) && o[k] > 0)) throw new Error(`--${argv[i]} needs a positive integer`);
  }
  return o;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const o = parseArgs(process.argv.slice(2));
  const r = await runPutLoad({ ...o, progress: (d) => process.stderr.write(`etcd-put: ${d}/${o.total}\n`) });
  process.stdout.write(`${JSON.stringify(r)}\n`);
}

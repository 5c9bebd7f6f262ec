#!/usr/bin/env node
// The raft-envelope cutover's write pause (issue 11 closing figure, SPEC PF-4): a fresh 3-node
// cluster in Phase 1 (bootstrap + storage envelope), an open-loop SET load of about --rate writes/s
// spread over all nodes (followers forward), and `enable-raft-envelope` in the middle of it.
//
//   node scripts/bench-cluster/barrier-pause.mjs [--rate=2000] [--conns=24] [--warmup-ms=3000] [--after-ms=3000] [--runs=1] [--na=<node arg>]...
//
// Open loop: a 1 ms timer sends whatever the schedule says is due, whatever the replies; a refused
// write is not retried (each request is one sample). Reported from client timestamps:
// - pause: reply time of the first -TRYAGAIN to the reply time of the first accepted write that
//   was SENT after that first -TRYAGAIN reply arrived (such a write met the barrier up, so its
//   acceptance means the barrier was lifted; its own latency is included, an upper bound);
// - the -TRYAGAIN count, the window from the first to the last -TRYAGAIN reply, the longest gap
//   without any OK reply, the enable request's own latency, and the leader's own account of the
//   barrier (`barrier_ms` of the answer: drain, marker proposed→applied, install, total).

import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startSealkvCluster, stopSealkvCluster } from './sealkv.mjs';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const args = process.argv.slice(2);
const num = (flag, dflt) => {
  const a = args.find((x) => x.startsWith(`${flag}=`));
  const v = a === undefined ? dflt : Number(a.slice(flag.length + 1));
  if (!(Number.isInteger(v) && v > 0)) {
    console.error(`barrier-pause: ${flag} needs a positive integer`);
    process.exit(1);
  }
  return v;
};
const rate = num('--rate', 2000);
const conns = num('--conns', 24);
const warmupMs = num('--warmup-ms', 3000);
const afterMs = num('--after-ms', 3000);
const runs = num('--runs', 1);
const nodeArgs = args.filter((a) => a.startsWith('--na=')).map((a) => a.slice(5));
const log = (m) => console.log(m);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function post(n, path, body) {
  const r = await fetch(`http://${n.admin}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), signal: AbortSignal.timeout(60_000) });
  const text = await r.text();
  if (!r.ok) throw new Error(`POST ${path} on ${n.id}: HTTP ${r.status} ${text}`);
  return JSON.parse(text);
}

/** A pipelined RESP connection for SET only: every reply is one `+…` or `-…` line, in order. */
function connect(endpoint) {
  const [host, port] = endpoint.split(':');
  return new Promise((res, rej) => {
    const sock = net.connect(Number(port), host);
    sock.setNoDelay(true);
    const waiting = [];
    let buf = '';
    sock.on('data', (d) => {
      buf += d.toString('latin1');
      for (let i = buf.indexOf('\r\n'); i >= 0; i = buf.indexOf('\r\n')) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 2);
        waiting.shift()?.(line, performance.now());
      }
    });
    sock.once('connect', () =>
      res({
        set(key, value, onReply) {
          waiting.push(onReply);
          sock.write(`*3\r\n$3\r\nSET\r\n$${key.length}\r\n${key}\r\n$${value.length}\r\n${value}\r\n`);
        },
        close: () => sock.destroy(),
      }),
    );
    sock.once('error', rej);
  });
}

async function oneRun(run) {
  const dir = mkdtempSync(join(tmpdir(), 'sealkv-barrier-pause-'));
  const cl = await startSealkvCluster({ repo: REPO, dir, clusterId: `barrier-pause-${run}`, cpuProfDir: null, encryption: true, nodeArgs, log });
  try {
    const l = cl.leader;
    await post(l, '/v1/encryption/bootstrap', {});
    await post(l, '/v1/encryption/enable-storage-envelope', {});
    const clients = await Promise.all(Array.from({ length: conns }, (_, i) => connect(cl.nodes[i % 3].resp)));
    const value = 'v'.repeat(256);
    const samples = []; // { sent, replied, kind: 'ok'|'tryagain'|'error', msg }
    let seq = 0;
    const t0 = performance.now();
    let stopAt = Infinity;
    await new Promise((done) => {
      const tick = setInterval(() => {
        const now = performance.now();
        if (now >= stopAt) {
          clearInterval(tick);
          done();
          return;
        }
        const due = Math.floor(((now - t0) * rate) / 1000);
        while (seq < due) {
          const i = seq++;
          const s = { sent: performance.now(), replied: null, kind: null, msg: null };
          samples.push(s);
          clients[i % conns].set(`k${i % 10_000}`, value, (line, at) => {
            s.replied = at;
            s.kind = line === '+OK' ? 'ok' : line.startsWith('-TRYAGAIN') ? 'tryagain' : 'error';
            if (s.kind === 'error') s.msg = line;
          });
        }
      }, 1);
      (async () => {
        await sleep(warmupMs);
        const tEnable = performance.now();
        const r = await post(l, '/v1/encryption/enable-raft-envelope', {});
        const tAnswer = performance.now();
        samples.enable = { sent: tEnable, answered: tAnswer, index: r.applied_index, barrierMs: r.barrier_ms ?? null };
        stopAt = performance.now() + afterMs;
      })().catch((e) => {
        console.error(e);
        process.exit(1);
      });
    });
    await sleep(2000); // replies still in flight
    for (const c of clients) c.close();
    const { enable } = samples;
    const tryagain = samples.filter((s) => s.kind === 'tryagain');
    const errors = samples.filter((s) => s.kind === 'error');
    const ok = samples.filter((s) => s.kind === 'ok');
    const out = { run, rate, index: enable.index, enableMs: +(enable.answered - enable.sent).toFixed(1), serverBarrierMs: enable.barrierMs, sent: samples.length, ok: ok.length, tryagain: tryagain.length, errors: errors.length, unanswered: samples.filter((s) => s.kind === null).length };
    if (tryagain.length > 0) {
      const firstRefusedSent = Math.min(...tryagain.map((s) => s.sent));
      const firstRefusedReply = Math.min(...tryagain.map((s) => s.replied));
      const lastRefusedReply = Math.max(...tryagain.map((s) => s.replied));
      // A write sent after the client saw the first refusal met the barrier up; its acceptance
      // means the barrier was lifted (its own latency is included: an upper bound).
      const firstOkAfter = Math.min(...ok.filter((s) => s.sent >= firstRefusedReply).map((s) => s.replied));
      out.pauseMs = +(firstOkAfter - firstRefusedReply).toFixed(1);
      // The looser reading (first OK of a write sent after the first refused one was sent).
      out.pauseBySendMs = +(Math.min(...ok.filter((s) => s.sent >= firstRefusedSent).map((s) => s.replied)) - firstRefusedReply).toFixed(1);
      out.tryagainWindowMs = +(lastRefusedReply - firstRefusedReply).toFixed(1);
      out.firstTryagainAfterEnableSentMs = +(firstRefusedReply - enable.sent).toFixed(1);
    } else {
      out.pauseMs = 0;
    }
    // Longest stretch without any OK reply around the enable request.
    const okTimes = ok.map((s) => s.replied).filter((t) => t >= enable.sent - 500 && t <= enable.answered + 500).sort((a, b) => a - b);
    let gap = 0;
    for (let i = 1; i < okTimes.length; i++) gap = Math.max(gap, okTimes[i] - okTimes[i - 1]);
    out.longestOkGapMs = +gap.toFixed(1);
    const lat = ok.map((s) => s.replied - s.sent).sort((a, b) => a - b);
    out.okP50Ms = +(lat[Math.floor(lat.length * 0.5)] ?? 0).toFixed(1);
    out.okP99Ms = +(lat[Math.floor(lat.length * 0.99)] ?? 0).toFixed(1);
    if (errors.length > 0) out.firstError = errors[0].msg;
    return out;
  } finally {
    await stopSealkvCluster(cl);
    rmSync(dir, { recursive: true, force: true });
  }
}

for (let run = 1; run <= runs; run++) console.log(`barrier-pause ${JSON.stringify(await oneRun(run))}`);

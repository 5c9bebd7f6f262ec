// The open-loop generator against an in-test RESP stub: exact request counts at a fixed rate, error
// replies counted by prefix, and stalls (server's or the generator's own) measured from the
// scheduled send time. Latency assertions are lower bounds only: load on the machine can make
// latencies longer, never shorter, so they cannot flake.

import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BenchConfigError, runOpenLoop, startOpenLoop } from '../../src/bench/suite/loadgen.js';
import { type StubServer, startStubServer } from './stub-resp-server.js';

let stub: StubServer;
beforeEach(async () => {
  stub = await startStubServer();
});
afterEach(async () => {
  await stub.close();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('bench open-loop load generator', () => {
  it('sends exactly rate × duration requests over N connections and gets every reply', async () => {
    const r = await runOpenLoop({
      host: '127.0.0.1',
      port: stub.port,
      connections: 4,
      ratePerS: 500,
      durationMs: 1000,
      intervalMs: 100,
      phases: [
        { name: 'first', startMs: 0, stopMs: 500 },
        { name: 'second', startMs: 500, stopMs: 1000 },
      ],
    });
    expect(r.scheduled).toBe(500);
    expect(r.completed).toBe(500);
    expect(r.unanswered).toBe(0);
    expect(stub.received()).toBe(500);
    expect(r.latency.count).toBe(500);
    expect(r.errorReplies).toEqual({});
    // Per-phase histograms partition the requests by scheduled time (250 each at 500/s).
    expect(r.phases.map((p) => [p.name, p.latency.count])).toEqual([
      ['first', 250],
      ['second', 250],
    ]);
    // The time series accounts for every reply once.
    const replies = r.series.reduce((a, p) => a + (p.throughputPerS * r.intervalMs) / 1000, 0);
    expect(Math.round(replies)).toBe(500);
    expect(r.series.reduce((a, p) => a + p.latency.count, 0)).toBe(500);
  });

  it('counts error replies by prefix (-TRYAGAIN apart from -ERR)', async () => {
    const run = await startOpenLoop({ host: '127.0.0.1', port: stub.port, connections: 2, ratePerS: 400, durationMs: 900 });
    await sleep(200);
    stub.errorReply = 'TRYAGAIN ENVELOPE_CUTOVER_IN_PROGRESS barrier';
    await sleep(200);
    stub.errorReply = 'ERR something else';
    await sleep(150);
    stub.errorReply = null;
    const r = await run.done;
    const sent = stub.errorsSent();
    expect(sent.TRYAGAIN).toBeGreaterThan(0);
    expect(sent.ERR).toBeGreaterThan(0);
    expect(r.errorReplies).toEqual(sent);
    expect(r.completed).toBe(r.scheduled);
  });

  it('a server stall shows up as latency from the scheduled time, in the phase it happened', async () => {
    const run = await startOpenLoop({
      host: '127.0.0.1',
      port: stub.port,
      connections: 2,
      ratePerS: 400,
      durationMs: 1000,
      intervalMs: 100,
      phases: [
        { name: 'before', startMs: 0, stopMs: 300 },
        { name: 'stall', startMs: 300, stopMs: 600 },
      ],
    });
    await sleep(300 - run.elapsedMs());
    stub.stall();
    const stalledAt = run.elapsedMs();
    await sleep(300);
    stub.release();
    const stallMs = run.elapsedMs() - stalledAt;
    const r = await run.done;
    expect(r.completed).toBe(400);
    // The first request due after the stall began waited for (almost) all of it.
    expect(r.latency.maxUs).toBeGreaterThanOrEqual((stallMs - 5) * 1000);
    const stall = r.phases.find((p) => p.name === 'stall')!;
    const before = r.phases.find((p) => p.name === 'before')!;
    expect(stall.latency.maxUs).toBeGreaterThanOrEqual((stallMs - 5) * 1000);
    expect(before.latency.p50Us).toBeLessThan(stall.latency.p99Us);
    // The write pause: no reply arrived for the length of the stall, inside the stall phase.
    expect(r.longestReplyGapMs).toBeGreaterThanOrEqual(stallMs - 5);
    expect(stall.longestReplyGapMs).toBeGreaterThanOrEqual(Math.min(stallMs, 600 - stalledAt) - 5);
    // And in the time series at the interval the stalled requests were due.
    const worst = r.series.reduce((a, p) => (p.latency.maxUs > a.latency.maxUs ? p : a));
    expect(worst.tMs).toBeGreaterThanOrEqual(Math.floor(stalledAt / 100) * 100 - 100);
    expect(worst.tMs).toBeLessThanOrEqual(stalledAt + stallMs);
  });

  it('no coordinated omission: when the generator itself stalls, late sends count from their schedule', async () => {
    const run = await startOpenLoop({ host: '127.0.0.1', port: stub.port, connections: 2, ratePerS: 400, durationMs: 1000, intervalMs: 100 });
    await sleep(250 - run.elapsedMs());
    // Block this event loop: nothing is sent for 300 ms though 120 requests fall due.
    const spinFrom = performance.now();
    while (performance.now() - spinFrom < 300) {
      // busy wait on purpose
    }
    const r = await run.done;
    expect(r.completed).toBe(400);
    expect(r.maxSendLagMs).toBeGreaterThanOrEqual(290);
    expect(r.latency.maxUs).toBeGreaterThanOrEqual(290_000);
  });

  it('is bounded: a server that never answers ends the run after duration + drain, all unanswered', async () => {
    stub.mute();
    const t = performance.now();
    const r = await runOpenLoop({ host: '127.0.0.1', port: stub.port, connections: 2, ratePerS: 200, durationMs: 300, drainMs: 200 });
    expect(performance.now() - t).toBeLessThan(10_000);
    expect(r.scheduled).toBe(60);
    expect(r.completed).toBe(0);
    expect(r.unanswered).toBe(60);
    // A server that never answers is one long pause from the start.
    expect(r.longestReplyGapMs).toBeGreaterThanOrEqual(450);
    // Unanswered requests are in the histogram at their age when the run ended (a lower bound).
    expect(r.latency.count).toBe(60);
    expect(r.latency.maxUs).toBeGreaterThanOrEqual(200_000);
  });

  it('mark() opens phases while running; each ends where the next begins', async () => {
    const run = await startOpenLoop({ host: '127.0.0.1', port: stub.port, connections: 1, ratePerS: 300, durationMs: 600 });
    run.mark('a');
    await sleep(300);
    run.mark('b');
    const r = await run.done;
    expect(r.phases.map((p) => p.name)).toEqual(['a', 'b']);
    expect(r.phases[0]!.stopMs).toBe(r.phases[1]!.startMs);
    expect(r.phases[1]!.stopMs).toBeLessThanOrEqual(600);
    expect(r.phases[0]!.latency.count).toBeGreaterThan(0);
    expect(r.phases[1]!.latency.count).toBeGreaterThan(0);
  });

  it('stop() ends sending early: durationMs is then only the upper bound, every sent request is answered', async () => {
    const run = await startOpenLoop({ host: '127.0.0.1', port: stub.port, connections: 2, ratePerS: 200, durationMs: 60_000, intervalMs: 100 });
    run.mark('only');
    await sleep(400);
    run.stop();
    const r = await run.done;
    expect(r.durationMs).toBeLessThan(5000);
    expect(r.scheduled).toBeLessThan(1000);
    expect(r.completed).toBe(r.scheduled);
    expect(r.unanswered).toBe(0);
    expect(r.phases[0]!.stopMs).toBe(r.durationMs);
    expect(r.series.length).toBeLessThanOrEqual(Math.ceil(r.durationMs / 100) + 1);
  });

  it('refuses a non-loopback target and bad options', async () => {
    await expect(runOpenLoop({ host: '192.0.2.1', port: 6379, connections: 1, ratePerS: 10, durationMs: 100 })).rejects.toBeInstanceOf(BenchConfigError);
    await expect(runOpenLoop({ host: '127.0.0.1', port: stub.port, connections: 0, ratePerS: 10, durationMs: 100 })).rejects.toThrow(/connections/);
  });
});

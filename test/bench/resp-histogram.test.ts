import { describe, expect, it } from 'vitest';
import { IntervalSeries, LatencyHistogram } from '../../src/bench/suite/histogram.js';
import { encodeCommand, ReplySplitter } from '../../src/bench/suite/resp.js';

describe('bench ReplySplitter', () => {
  const stream = Buffer.from(
    [
      '+OK',
      '-TRYAGAIN ENVELOPE_CUTOVER_IN_PROGRESS wait',
      ':5',
      '$3\r\nabc',
      '$-1',
      '*2\r\n$1\r\na\r\n*1\r\n-ERR nested',
      '*0',
      '*-1',
      '$5\r\na\r\nbc',
      '-ERR plain',
    ].join('\r\n') + '\r\n',
  );
  const expected = ['-', 'TRYAGAIN', '-', '-', '-', '-', '-', '-', '-', 'ERR'];
  const names = (evs: { error: string | null }[]) => evs.map((e) => e.error ?? '-');

  it('splits whole replies and reports top-level error prefixes (nested errors are not replies)', () => {
    expect(names(new ReplySplitter().feed(stream))).toEqual(expected);
  });

  it('gives the same replies for every split point and byte-by-byte feeding', () => {
    for (let cut = 1; cut < stream.length; cut++) {
      const s = new ReplySplitter();
      expect(names([...s.feed(stream.subarray(0, cut)), ...s.feed(stream.subarray(cut))])).toEqual(expected);
    }
    const s = new ReplySplitter();
    const all: { error: string | null }[] = [];
    for (let i = 0; i < stream.length; i++) all.push(...s.feed(stream.subarray(i, i + 1)));
    expect(names(all)).toEqual(expected);
  });

  it('splits a stream of encoded commands (the stub server relies on it)', () => {
    const cmds = Buffer.concat([encodeCommand(['SET', 'k', Buffer.from('v\r\nv')]), encodeCommand(['GET', 'k'])]);
    expect(new ReplySplitter().feed(cmds)).toHaveLength(2);
  });

  it('rejects a byte that starts no RESP type', () => {
    expect(() => new ReplySplitter().feed(Buffer.from('?x\r\n'))).toThrow(/unexpected reply type/);
  });
});

describe('bench LatencyHistogram', () => {
  it('reports p50/p99/p99.9 within HDR precision (3 significant digits)', () => {
    const h = new LatencyHistogram();
    for (let us = 1; us <= 10_000; us++) h.record(us);
    const s = h.summary();
    expect(s.count).toBe(10_000);
    expect(Math.abs(s.p50Us - 5000)).toBeLessThanOrEqual(5);
    expect(Math.abs(s.p99Us - 9900)).toBeLessThanOrEqual(10);
    expect(Math.abs(s.p999Us - 9990)).toBeLessThanOrEqual(10);
    expect(Math.abs(s.maxUs - 10_000)).toBeLessThanOrEqual(10);
    expect(Math.abs(s.meanUs - 5000.5)).toBeLessThanOrEqual(5);
  });

  it('merges histograms and summarises an empty one as zeros', () => {
    const a = new LatencyHistogram();
    const b = new LatencyHistogram();
    expect(a.summary()).toEqual({ count: 0, meanUs: 0, p50Us: 0, p99Us: 0, p999Us: 0, maxUs: 0 });
    for (let i = 0; i < 99; i++) a.record(100);
    b.record(1_000_000);
    a.merge(b);
    expect(a.count).toBe(100);
    expect(a.summary().maxUs).toBeGreaterThanOrEqual(999_000);
    expect(a.summary().p50Us).toBeLessThanOrEqual(101);
  });

  it('records stalls beyond the nominal range instead of throwing', () => {
    const h = new LatencyHistogram();
    h.record(3_600_000_000); // one hour
    expect(h.summary().maxUs).toBeGreaterThanOrEqual(3_590_000_000);
    expect(() => h.record(Number.NaN)).toThrow(RangeError);
  });
});

describe('bench IntervalSeries', () => {
  it('files latency under the scheduled interval and throughput under the completion interval', () => {
    const s = new IntervalSeries(100);
    s.record(50, 250, 200_000, false); // due in interval 0, answered in interval 2
    s.record(120, 130, 10_000, true);
    const p = s.points(400);
    expect(p.map((x) => x.tMs)).toEqual([0, 100, 200, 300]);
    expect(p[0]!.latency.count).toBe(1);
    expect(p[0]!.latency.maxUs).toBeGreaterThanOrEqual(199_000);
    expect(p[0]!.throughputPerS).toBe(0);
    expect(p[1]!.throughputPerS).toBe(10);
    expect(p[1]!.errorsPerS).toBe(10);
    expect(p[2]!.throughputPerS).toBe(10);
    expect(p[3]!.latency.count).toBe(0);
  });
});

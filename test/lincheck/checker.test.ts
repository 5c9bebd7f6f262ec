// The linearizability checker: accepts linearizable histories, rejects known anomalies, handles
// indeterminate ops, agrees with a brute-force search, and scales to fault-test histories.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { bruteForceLinearizable } from './brute-force.js';
import { checkHistory } from './checker.js';
import { linearizableHistory, rng } from './gen.js';
import { HistoryRecorder, type HistoryOp, type OpCall, type OpResult, parseHistory, serializeHistory } from './history.js';

let nextId = 1;
function op(process: number, call: OpCall, result: OpResult | null, invoke: number, complete: number | null, key = 'k'): HistoryOp {
  return { id: nextId++, process, key, call, result, invoke, complete };
}
const W = (p: number, v: string, a: number, b: number | null, key?: string) =>
  op(p, { kind: 'write', value: v }, b === null ? null : { kind: 'write' }, a, b, key);
const R = (p: number, v: string | null, a: number, b: number, key?: string) =>
  op(p, { kind: 'read' }, { kind: 'read', value: v }, a, b, key);
const I = (p: number, delta: bigint, out: bigint | null, a: number, b: number | null) =>
  op(p, { kind: 'incr', delta }, out === null ? null : { kind: 'incr', value: out }, a, b);

describe('known histories', () => {
  it('accepts a sequential history and concurrent reads of either value', () => {
    expect(checkHistory([W(1, 'a', 0, 1), R(2, 'a', 2, 3), W(1, 'b', 4, 5), R(2, 'b', 6, 7)]).ok).toBe(true);
    // Read concurrent with a write may see the old or the new value.
    expect(checkHistory([W(1, 'a', 0, 1), W(1, 'b', 2, 10), R(2, 'a', 3, 4), R(3, 'b', 5, 6)]).ok).toBe(true);
    expect(checkHistory([R(1, null, 0, 1)]).ok).toBe(true);
    expect(checkHistory([]).ok).toBe(true);
  });

  it('rejects a stale read after an acknowledged write', () => {
    const h = [W(1, 'a', 0, 1), W(1, 'b', 2, 3), R(2, 'a', 4, 5)];
    const r = checkHistory(h);
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.key).toBe('k');
      expect(r.blockedBy.id).toBe(h[2]!.id);
      expect(r.state).toBe('b');
      expect(r.explanation).toMatch(/no linearization/);
    }
  });

  it('rejects a read of a value never written', () => {
    expect(checkHistory([W(1, 'a', 0, 1), R(2, 'zzz', 0, 5)]).ok).toBe(false);
    expect(checkHistory([R(2, 'a', 0, 1), W(1, 'a', 2, 3)]).ok).toBe(false); // read from the future
  });

  it('rejects two readers that see concurrent writes in different orders', () => {
    const h = [
      W(1, '1', 0, 100),
      W(2, '2', 0, 100),
      R(3, '1', 10, 20),
      R(3, '2', 30, 40),
      R(4, '2', 10, 20),
      R(4, '1', 30, 40),
    ];
    expect(checkHistory(h).ok).toBe(false);
    // Either reader alone is fine.
    expect(checkHistory(h.slice(0, 4)).ok).toBe(true);
    expect(checkHistory([...h.slice(0, 2), ...h.slice(4)]).ok).toBe(true);
  });

  it('rejects an incr whose result skips, or two incrs returning the same value', () => {
    expect(checkHistory([I(1, 1n, 1n, 0, 1), I(2, 1n, 3n, 2, 3)]).ok).toBe(false);
    expect(checkHistory([I(1, 1n, 1n, 0, 10), I(2, 1n, 1n, 0, 10)]).ok).toBe(false);
    expect(checkHistory([I(1, 1n, 1n, 0, 10), I(2, 1n, 2n, 0, 10), R(3, '2', 11, 12)]).ok).toBe(true);
    expect(checkHistory([I(1, 1n, 2n, 0, 10), I(2, 1n, 1n, 0, 10)]).ok).toBe(true);
  });

  it('checks DEL replies and INCR errors against the register', () => {
    const del = (p: number, d: 0 | 1, a: number, b: number) => op(p, { kind: 'delete' }, { kind: 'delete', deleted: d }, a, b);
    expect(checkHistory([W(1, 'a', 0, 1), del(1, 1, 2, 3), R(1, null, 4, 5)]).ok).toBe(true);
    expect(checkHistory([W(1, 'a', 0, 1), del(1, 0, 2, 3)]).ok).toBe(false);
    const incrErr = op(2, { kind: 'incr', delta: 1n }, { kind: 'incr', error: true }, 2, 3);
    expect(checkHistory([W(1, 'x', 0, 1), incrErr]).ok).toBe(true);
    expect(checkHistory([W(1, '5', 0, 1), { ...incrErr, id: nextId++ }]).ok).toBe(false);
  });

  it('checks keys independently and names the failing key', () => {
    const r = checkHistory([
      W(1, 'a', 0, 1, 'x'),
      R(2, 'a', 2, 3, 'x'),
      W(1, 'a', 0, 1, 'y'),
      W(1, 'b', 2, 3, 'y'),
      R(2, 'a', 4, 5, 'y'),
    ]);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.key).toBe('y');
    // The same values on different keys do not interfere.
    expect(checkHistory([W(1, 'a', 0, 1, 'x'), W(1, 'b', 2, 3, 'y'), R(2, 'a', 4, 5, 'x')]).ok).toBe(true);
  });
});

describe('indeterminate ops', () => {
  it('a timed-out write may have taken effect, or not', () => {
    expect(checkHistory([W(1, 'a', 0, 1), W(2, 'b', 2, null), R(3, 'b', 10, 11)]).ok).toBe(true);
    expect(checkHistory([W(1, 'a', 0, 1), W(2, 'b', 2, null), R(3, 'a', 10, 11)]).ok).toBe(true);
    // ... and may take effect late: long after the client gave up.
    expect(checkHistory([W(1, 'a', 0, 1), W(2, 'b', 2, null), R(3, 'a', 10, 11), R(3, 'b', 100, 101)]).ok).toBe(true);
  });

  it('but it takes effect at most once: its value cannot vanish and reappear', () => {
    const h = [W(1, 'a', 0, 1), W(2, 'b', 2, null), R(3, 'b', 10, 11), R(3, 'a', 20, 21), R(3, 'b', 30, 31)];
    expect(checkHistory(h).ok).toBe(false);
  });

  it('not before its invocation', () => {
    expect(checkHistory([W(1, 'a', 0, 1), R(3, 'b', 2, 3), W(2, 'b', 5, null)]).ok).toBe(false);
  });

  it('an indeterminate incr counts once or not at all', () => {
    expect(checkHistory([I(1, 1n, 1n, 0, 1), I(2, 1n, null, 2, null), I(1, 1n, 3n, 5, 6)]).ok).toBe(true);
    expect(checkHistory([I(1, 1n, 1n, 0, 1), I(2, 1n, null, 2, null), I(1, 1n, 2n, 5, 6)]).ok).toBe(true);
    expect(checkHistory([I(1, 1n, 1n, 0, 1), I(2, 1n, null, 2, null), I(1, 1n, 4n, 5, 6)]).ok).toBe(false);
  });

  it('indeterminate reads are ignored', () => {
    expect(checkHistory([W(1, 'a', 0, 1), op(2, { kind: 'read' }, null, 2, null)]).ok).toBe(true);
  });
});

describe('against a brute-force checker', () => {
  const tiny = (seed: number, corrupt: boolean, indeterminate: number) => {
    const h = linearizableHistory(seed, {
      processes: 3,
      opsPerProcess: 2,
      keys: ['k'],
      values: 3,
      indeterminate,
      kinds: ['read', 'write', 'incr', 'delete'],
    });
    if (corrupt) {
      const r = rng(seed ^ 0xabcdef);
      const victim = h[Math.floor(r() * h.length)]!;
      if (victim.result?.kind === 'read') victim.result = { kind: 'read', value: r() < 0.5 ? null : `v${Math.floor(r() * 3)}` };
      else if (victim.result?.kind === 'incr') victim.result = { kind: 'incr', value: BigInt(Math.floor(r() * 4)) };
      else if (victim.result?.kind === 'delete') victim.result = { kind: 'delete', deleted: r() < 0.5 ? 0 : 1 };
    }
    return h;
  };

  it('linearizable by construction: both accept', () => {
    fc.assert(
      fc.property(fc.integer(), fc.constantFrom(0, 0.3), (seed, ind) => {
        const h = tiny(seed, false, ind);
        expect(bruteForceLinearizable(h)).toBe(true);
        expect(checkHistory(h).ok).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it('random corruptions: both agree', () => {
    let rejected = 0;
    fc.assert(
      fc.property(fc.integer(), fc.constantFrom(0, 0.3), (seed, ind) => {
        const h = tiny(seed, true, ind);
        const expected = bruteForceLinearizable(h);
        if (!expected) rejected++;
        expect(checkHistory(h).ok).toBe(expected);
      }),
      { numRuns: 600 },
    );
    expect(rejected).toBeGreaterThan(20); // the corruptions do produce anomalies
  });

  it('fully random tiny histories: both agree', () => {
    const arbOp = fc.record({
      process: fc.nat(3),
      call: fc.oneof(
        fc.constant<OpCall>({ kind: 'read' }),
        fc.constantFrom<OpCall>({ kind: 'write', value: 'a' }, { kind: 'write', value: 'b' }),
        fc.constant<OpCall>({ kind: 'incr', delta: 1n }),
        fc.constant<OpCall>({ kind: 'delete' }),
      ),
      readValue: fc.constantFrom(null, 'a', 'b', '1', '2'),
      incrValue: fc.bigInt({ min: 0n, max: 3n }),
      deleted: fc.constantFrom<0 | 1>(0, 1),
      invoke: fc.nat(10),
      duration: fc.nat(10),
      unknown: fc.boolean(),
    });
    fc.assert(
      fc.property(fc.array(arbOp, { maxLength: 6 }), (raw) => {
        const h: HistoryOp[] = raw.map((o, i) => {
          const result: OpResult =
            o.call.kind === 'read'
              ? { kind: 'read', value: o.readValue }
              : o.call.kind === 'incr'
                ? { kind: 'incr', value: o.incrValue }
                : o.call.kind === 'delete'
                  ? { kind: 'delete', deleted: o.deleted }
                  : { kind: 'write' };
          const unknown = o.unknown && o.call.kind !== 'read';
          return {
            id: i + 1,
            process: o.process,
            key: 'k',
            call: o.call,
            result: unknown ? null : result,
            invoke: o.invoke,
            complete: unknown ? null : o.invoke + o.duration,
          };
        });
        expect(checkHistory(h).ok).toBe(bruteForceLinearizable(h));
      }),
      { numRuns: 1500 },
    );
  });
});

describe('scale', () => {
  it('a 2,000-op history on 10 keys with indeterminate ops checks (and a single stale read is caught)', () => {
    const keys = Array.from({ length: 10 }, (_, i) => `key${i}`);
    const h = linearizableHistory(42, { processes: 8, opsPerProcess: 250, keys, indeterminate: 0.02 });
    expect(h).toHaveLength(2000);
    expect(checkHistory(h, { maxSteps: 5_000_000 }).ok).toBe(true);
    // Make the last completed read of key0 stale by one write.
    const k0 = h.filter((o) => o.key === 'key0' && o.complete !== null).sort((a, b) => a.invoke - b.invoke);
    const lastWrite = k0.filter((o) => o.call.kind === 'write').at(-1)!;
    const read = k0.find((o) => o.call.kind === 'read' && o.invoke > lastWrite.complete! + 1)!;
    expect(read).toBeDefined();
    const stale = h.map((o) => (o.id === read.id ? { ...o, result: { kind: 'read' as const, value: 'never-written' } } : o));
    const r = checkHistory(stale, { maxSteps: 5_000_000 });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.key).toBe('key0');
  });

  it('a few thousand ops on one key', () => {
    const h = linearizableHistory(7, { processes: 5, opsPerProcess: 600, keys: ['hot'], indeterminate: 0.01, values: 20 });
    expect(checkHistory(h, { maxSteps: 20_000_000 }).ok).toBe(true);
  });
});

describe('HistoryRecorder', () => {
  it('records completed, failed and indeterminate calls', () => {
    let t = 0;
    const rec = new HistoryRecorder(() => t++);
    const a = rec.invoke('c1', 'k', { kind: 'write', value: 'x' });
    const b = rec.invoke('c2', 'k', { kind: 'read' });
    const c = rec.invoke('c3', 'k', { kind: 'incr', delta: 1n });
    const d = rec.invoke('c4', 'k', { kind: 'write', value: 'y' });
    rec.ok(a, { kind: 'write' });
    rec.ok(b, { kind: 'read', value: 'x' });
    rec.fail(c); // -TRYAGAIN: never happened
    rec.info(d); // timed out
    const h = rec.history();
    expect(h.map((o) => o.id)).toEqual([a, b, d]);
    expect(h.find((o) => o.id === d)!.complete).toBeNull();
    expect(h.find((o) => o.id === a)).toMatchObject({ invoke: 0, complete: 4 });
    expect(checkHistory(h).ok).toBe(true);
    expect(() => rec.ok(a, { kind: 'write' })).toThrow(/already completed/);
    expect(() => rec.ok(d, { kind: 'read', value: null })).toThrow(/result read for a write/);
  });

  it('histories survive JSON (bigints included)', () => {
    const h = linearizableHistory(3, { processes: 3, opsPerProcess: 20, keys: ['a', 'b'], indeterminate: 0.1 });
    expect(parseHistory(serializeHistory(h))).toEqual(h);
  });
});

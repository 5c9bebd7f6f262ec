// Building blocks: quorum math, the inflights window, progress state transitions, PRNG.
import { describe, expect, it } from 'vitest';
import { Inflights } from '../../src/raft/inflights.js';
import { Progress, ProgressState } from '../../src/raft/progress.js';
import { committedIndex, hasQuorum, voteResult } from '../../src/raft/quorum.js';
import { Prng } from '../../src/raft/sim/prng.js';

describe('quorum', () => {
  it('committed index is the largest index a majority has matched', () => {
    const m: Record<string, number> = { a: 5, b: 3, c: 9, d: 1, e: 7 };
    expect(committedIndex(['a', 'b', 'c', 'd', 'e'], (id) => m[id]!)).toBe(5);
    expect(committedIndex(['a', 'b', 'c'], (id) => m[id]!)).toBe(5);
    expect(committedIndex(['a', 'b', 'c', 'd'], (id) => m[id]!)).toBe(3);
    expect(committedIndex(['c'], (id) => m[id]!)).toBe(9);
  });

  it('vote results: won, lost, pending', () => {
    const v = (o: Record<string, boolean>) => new Map(Object.entries(o));
    expect(voteResult(['a', 'b', 'c'], v({ a: true, b: true }))).toBe('won');
    expect(voteResult(['a', 'b', 'c'], v({ a: true, b: false }))).toBe('pending');
    expect(voteResult(['a', 'b', 'c'], v({ a: true, b: false, c: false }))).toBe('lost');
    expect(voteResult(['a', 'b', 'c', 'd'], v({ a: true, b: true }))).toBe('pending');
    expect(hasQuorum(['a', 'b', 'c'], (id) => id !== 'c')).toBe(true);
    expect(hasQuorum(['a', 'b', 'c', 'd'], (id) => id === 'a' || id === 'b')).toBe(false);
  });
});

describe('inflights and progress', () => {
  it('bounds messages and bytes, frees acknowledged ones in order', () => {
    const f = new Inflights(3, 100);
    f.add(5, 10);
    f.add(8, 10);
    expect(f.full()).toBe(false);
    f.add(9, 90);
    expect(f.full()).toBe(true);
    f.freeLE(8);
    expect([f.count, f.bytes]).toEqual([1, 90]);
    f.freeFirstOne();
    expect([f.count, f.bytes]).toEqual([0, 0]);
    // Wraps around the ring.
    for (let i = 0; i < 10; i++) {
      f.add(20 + i, 1);
      f.freeLE(20 + i);
    }
    expect(f.count).toBe(0);
  });

  it('probe → replicate → snapshot → probe transitions', () => {
    const p = new Progress(11, false, 4, 0);
    expect(p.state).toBe(ProgressState.Probe);
    p.probeSent = true;
    expect(p.isPaused()).toBe(true);
    expect(p.maybeUpdate(10)).toBe(true);
    p.becomeReplicate();
    expect([p.match, p.next]).toEqual([10, 11]);
    p.optimisticUpdate(20);
    expect(p.next).toBe(21);
    // A stale rejection (at or below match) is ignored; a real one rewinds to match + 1.
    expect(p.maybeDecrTo(9, 0)).toBe(false);
    expect(p.maybeDecrTo(15, 12)).toBe(true);
    expect(p.next).toBe(11);
    p.becomeSnapshot(100);
    expect(p.isPaused()).toBe(true);
    p.becomeProbe();
    expect(p.next).toBe(101);
  });

  it('probe back-off uses the follower hint but never goes below match + 1', () => {
    const p = new Progress(51, false, 4, 0);
    p.match = 3;
    expect(p.maybeDecrTo(50, 20)).toBe(true);
    expect(p.next).toBe(21);
    expect(p.maybeDecrTo(50, 20)).toBe(false); // duplicate rejection of an older probe
    expect(p.maybeDecrTo(20, 0)).toBe(true);
    expect(p.next).toBe(4);
  });
});

describe('PRNG', () => {
  it('is deterministic per seed and roughly uniform', () => {
    const a = new Prng(7);
    const b = new Prng(7);
    const xs = Array.from({ length: 100 }, () => a.next());
    expect(Array.from({ length: 100 }, () => b.next())).toEqual(xs);
    expect(new Prng(8).next()).not.toBe(new Prng(7).next());
    const r = new Prng(1);
    const counts = [0, 0, 0, 0];
    for (let i = 0; i < 4000; i++) counts[r.int(4)]!++;
    for (const c of counts) expect(c).toBeGreaterThan(800);
  });
});

// Issue 14 item 1: the virtual scheduler the whole-node simulator gives the real node shell.
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { CrashPoints, crashPoint, setCrashPointHook } from '../../src/node/crash-points.js';
import { Proposer } from '../../src/node/proposer.js';
import { EVENTS_PER_ITERATION, runUntil } from '../../src/sim/drive.js';
import { VirtualScheduler } from '../../src/sim/virtual-scheduler.js';

describe('VirtualScheduler (issue 14)', () => {
  it('runs timers in time order, ties in scheduling order, deferrals before later timers', () => {
    const s = new VirtualScheduler({ epochMs: 1000 });
    const seen: string[] = [];
    s.setTimeout(() => seen.push('t10a'), 10);
    s.setTimeout(() => seen.push('t5'), 5);
    s.setTimeout(() => seen.push('t10b'), 10);
    s.defer(() => {
      seen.push('d0');
      s.defer(() => seen.push('d0-nested'));
    });
    while (s.runNext()) {}
    expect(seen).toEqual(['d0', 'd0-nested', 't5', 't10a', 't10b']);
    expect(s.monotonic()).toBe(10);
    expect(s.now()).toBe(1010);
  });

  it('intervals re-arm until cleared; cleared timeouts never run; time stops at the bound', () => {
    const s = new VirtualScheduler();
    let ticks = 0;
    const iv = s.setInterval(() => {
      if (++ticks === 3) s.clearInterval(iv);
    }, 7);
    const t = s.setTimeout(() => {
      throw new Error('cleared timer ran');
    }, 3);
    s.clearTimeout(t);
    while (s.runNext(100)) {}
    expect(ticks).toBe(3);
    expect(s.monotonic()).toBe(100);
    expect(s.nextAt()).toBeNull();
  });

  it('drives the real Proposer: its deadline sweep runs on virtual time (TIMEOUT without real waiting)', async () => {
    const s = new VirtualScheduler();
    const p = new Proposer<string>(
      { isLeader: () => true, term: () => 1, leader: () => 'a', transferInProgress: () => false, proposeEntries: () => undefined },
      30_000,
      s,
    );
    const r = p.propose(new Uint8Array([1, 2, 3]), { deadline: s.now() + 500 }).catch((e: { code?: string }) => e.code);
    await runUntil(s, 10_000, () => p.inFlight() === 0);
    expect(await r).toBe('TIMEOUT');
    // Failed by the sweep just after its deadline, not at the run's bound.
    expect(s.monotonic()).toBeGreaterThanOrEqual(500);
    expect(s.monotonic()).toBeLessThan(600);
    p.close();
  });

  it('a killed scope runs none of its pending timers, intervals or deferrals; other scopes go on', () => {
    const s = new VirtualScheduler();
    const a = s.scope();
    const b = s.scope();
    const seen: string[] = [];
    a.setTimeout(() => seen.push('a-timeout'), 5);
    a.setInterval(() => seen.push('a-interval'), 3);
    a.defer(() => seen.push('a-defer'));
    b.setTimeout(() => seen.push('b-timeout'), 5);
    a.kill();
    a.defer(() => seen.push('a-after-kill'));
    while (s.runNext(20)) {}
    expect(seen).toEqual(['b-timeout']);
    expect(a.killed).toBe(true);
  });

  it('deferrals (kept in their own queue) merge with timers exactly by (time, scheduling order)', () => {
    const s = new VirtualScheduler();
    const seen: string[] = [];
    s.setTimeout(() => {
      seen.push('A@5');
      // Queued at 5 after B was: B (an earlier sequence number at the same time) runs first.
      s.defer(() => {
        seen.push('dA@5');
        s.defer(() => seen.push('ddA@5'));
        s.setTimeout(() => seen.push('C@6'), 1);
      });
    }, 5);
    s.setTimeout(() => seen.push('B@5'), 5);
    s.defer(() => seen.push('d@0'));
    const p = s.scope();
    p.defer(() => seen.push('dead-defer'));
    p.kill();
    expect(s.pending()).toBe(4);
    while (s.runNext(100)) {}
    expect(seen).toEqual(['d@0', 'A@5', 'B@5', 'dA@5', 'ddA@5', 'C@6']);
    expect(s.pending()).toBe(0);
    expect(s.nextAt()).toBeNull();
    // Many at once (the queue grows while partly consumed): still in scheduling order.
    const order: number[] = [];
    for (let i = 0; i < 50; i++) s.defer(() => order.push(i));
    for (let i = 0; i < 30; i++) s.runNext();
    for (let i = 50; i < 300; i++) s.defer(() => order.push(i));
    while (s.runNext()) {}
    expect(order).toEqual(Array.from({ length: 300 }, (_, i) => i));
  });
});

describe('the event driver (issue 14)', () => {
  it('PF-5: every microtask an event started settles before the next event, and more events than one batch all run', async () => {
    const s = new VirtualScheduler();
    const seen: string[] = [];
    const deep = async (k: number): Promise<void> => {
      for (let i = 0; i < k; i++) await null;
    };
    for (let i = 0; i < 3; i++) {
      s.setTimeout(() => {
        seen.push(`event ${i}`);
        void deep(200).then(() => seen.push(`chain ${i}`));
      }, 1);
    }
    let ran = 0;
    for (let i = 0; i < 2 * EVENTS_PER_ITERATION + 5; i++) s.setTimeout(() => ran++, 2);
    expect(await runUntil(s, 10)).toBe(3 + 2 * EVENTS_PER_ITERATION + 5);
    expect(seen).toEqual(['event 0', 'chain 0', 'event 1', 'chain 1', 'event 2', 'chain 2']);
    expect(ran).toBe(2 * EVENTS_PER_ITERATION + 5);
  });

  it('PF-5: a rejection still unhandled after its event is reported before the next event runs (as between real turns)', () => {
    // In a child process (from dist/: `npm run build:ts` first): the test runner reports unhandled rejections itself.
    const script = `
      import { runUntil } from './dist/sim/drive.js';
      import { VirtualScheduler } from './dist/sim/virtual-scheduler.js';
      const s = new VirtualScheduler();
      const seen = [];
      process.on('unhandledRejection', (e) => seen.push('unhandled ' + e.message));
      process.on('rejectionHandled', () => seen.push('handled late'));
      let p;
      s.setTimeout(() => { p = Promise.reject(new Error('x')); }, 1);
      s.setTimeout(() => { seen.push('next event'); p.catch(() => undefined); }, 1);
      await runUntil(s, 10);
      await new Promise((r) => setImmediate(r));
      console.log(JSON.stringify(seen));`;
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { cwd: process.cwd(), encoding: 'utf8' });
    expect(JSON.parse(out)).toEqual(['unhandled x', 'next event', 'handled late']);
  });
});

describe('crash-point hook for the simulator (issue 14)', () => {
  it('sees every crash point reached and may throw to crash the simulated node there', () => {
    const seen: string[] = [];
    setCrashPointHook((name) => {
      seen.push(name);
      if (name === CrashPoints.AFTER_APPLY_COMMIT) throw new Error('simulated crash');
    });
    try {
      crashPoint(CrashPoints.AFTER_LOG_PERSIST);
      expect(() => crashPoint(CrashPoints.AFTER_APPLY_COMMIT)).toThrow('simulated crash');
    } finally {
      setCrashPointHook(null);
    }
    crashPoint(CrashPoints.AFTER_LOG_PERSIST);
    expect(seen).toEqual([CrashPoints.AFTER_LOG_PERSIST, CrashPoints.AFTER_APPLY_COMMIT]);
  });
});

// Random appends (with conflicting suffixes), hard states, compactions, snapshot installs,
// group-committed bursts, reopens and crashes that leave junk behind the last record, against an
// in-memory model of the log.
import { closeSync, openSync, writeSync } from 'node:fs';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { EntryType } from '../../../src/raft/types.js';
import { WalLogStorage, type WalOptions } from '../../../src/storage/wal/index.js';
import { tempDirs, text } from '../helpers.js';

const dirs = tempDirs();
afterEach(() => dirs.cleanup());

class Model {
  trunc = { index: 0, term: 0 };
  ents: { term: number; data: string }[] = []; // ents[k] is index trunc.index + 1 + k
  hs = { term: 0, vote: null as string | null, commit: 0 };
  snap = { index: 0, term: 0, voters: [] as string[] };
  get last(): number {
    return this.trunc.index + this.ents.length;
  }
  termOf(i: number): number {
    return i === this.trunc.index ? this.trunc.term : this.ents[i - this.trunc.index - 1].term;
  }
}

type Op =
  | { k: 'append'; at: number; n: number; bump: number; hs: boolean }
  | { k: 'burst'; n: number }
  | { k: 'compact'; at: number }
  | { k: 'install'; match: boolean; ahead: number; after: number }
  | { k: 'record'; at: number }
  | { k: 'hard'; term: number; vote: string | null }
  | { k: 'reopen' }
  | { k: 'crash'; junk: Uint8Array };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ k: fc.constant('append' as const), at: fc.double({ min: 0, max: 1, noNaN: true }), n: fc.integer({ min: 1, max: 6 }), bump: fc.integer({ min: 0, max: 2 }), hs: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('burst' as const), n: fc.integer({ min: 2, max: 6 }) }) },
  { weight: 3, arbitrary: fc.record({ k: fc.constant('compact' as const), at: fc.double({ min: 0, max: 1, noNaN: true }) }) },
  {
    weight: 1,
    arbitrary: fc.record({ k: fc.constant('install' as const), match: fc.boolean(), ahead: fc.integer({ min: 1, max: 20 }), after: fc.integer({ min: 0, max: 3 }) }),
  },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('record' as const), at: fc.double({ min: 0, max: 1, noNaN: true }) }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('hard' as const), term: fc.integer({ min: 0, max: 3 }), vote: fc.option(fc.constantFrom('n1', 'n2', 'ñ3'), { nil: null }) }) },
  { weight: 2, arbitrary: fc.constant({ k: 'reopen' as const }) },
  // A crash that left part of an unacknowledged write (arbitrary bytes) behind the last record.
  { weight: 1, arbitrary: fc.record({ k: fc.constant('crash' as const), junk: fc.uint8Array({ minLength: 1, maxLength: 80 }) }) },
);

let seq = 0;
// Summed over all runs: the property must actually exercise rollover and segment deletion.
const coverage = { rollovers: 0, segmentsDeleted: 0 };
function tally(w: WalLogStorage): void {
  const s = w.stats();
  coverage.rollovers += s.rollovers;
  coverage.segmentsDeleted += s.segmentsDeleted;
}
const enc = new TextEncoder();

async function check(w: WalLogStorage, m: Model): Promise<void> {
  expect([w.firstIndex(), w.lastIndex()]).toEqual([m.trunc.index + 1, m.last]);
  expect(w.hardState()).toEqual(m.hs);
  expect(w.snapshot().meta.index).toBe(m.snap.index);
  expect(w.snapshot().meta.conf.voters).toEqual(m.snap.voters);
  for (let i = m.trunc.index; i <= m.last; i++) expect(w.term(i)).toBe(m.termOf(i));
  const got = w.entries(m.trunc.index + 1, m.last + 1, Number.MAX_SAFE_INTEGER);
  expect(got.map((e) => [e.index, e.term, text(e.data)])).toEqual(m.ents.map((e, k) => [m.trunc.index + 1 + k, e.term, e.data]));
  // A byte-limited read returns a prefix of at least one entry.
  if (m.ents.length > 0) expect(w.entries(m.trunc.index + 1, m.last + 1, 30).length).toBeGreaterThanOrEqual(1);
}

function appendOp(m: Model, at: number, n: number, bump: number) {
  const first = m.trunc.index + 1 + Math.min(m.ents.length, Math.floor(at * (m.ents.length + 1)));
  const prevTerm = m.termOf(first - 1);
  const term = Math.max(prevTerm, m.hs.term) + bump;
  const entries = [];
  for (let k = 0; k < n; k++) {
    const data = `${first + k}:${term}:${seq++}`;
    entries.push({ index: first + k, term, type: EntryType.Normal, data: enc.encode(data) });
  }
  m.ents.length = first - m.trunc.index - 1;
  for (const e of entries) m.ents.push({ term: e.term, data: new TextDecoder().decode(e.data) });
  return entries;
}

describe('WAL property', () => {
  it('WAL-P1 random appends, truncations, compactions, snapshot installs and reopens match the model', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { minLength: 1, maxLength: 30 }), fc.constantFrom<WalOptions['preallocate']>('none', 'truncate'), fc.constantFrom<WalOptions['sync']>('odsync', 'fdatasync'), fc.constantFrom(300, 700, 2500), fc.constantFrom(1, 4, 64), async (ops, preallocate, sync, segmentBytes, cacheMaxEntries) => {
        const dir = dirs.make();
        const opts: WalOptions = { segmentBytes, cacheMaxEntries, preallocate, sync };
        let w = await WalLogStorage.open(dir, opts);
        const m = new Model();
        try {
          for (const op of ops) {
            switch (op.k) {
              case 'append': {
                const entries = appendOp(m, op.at, op.n, op.bump);
                if (op.hs) m.hs = { ...m.hs, term: Math.max(m.hs.term, entries[0].term), commit: m.trunc.index };
                await w.persist({ entries, hardState: op.hs ? { ...m.hs } : null });
                break;
              }
              case 'burst': {
                // Several persists in flight at once: they are written as one group, in order.
                const ps = [];
                for (let k = 0; k < op.n; k++) ps.push(w.persist({ entries: appendOp(m, 1, 1, 0) }));
                await Promise.all(ps);
                break;
              }
              case 'compact': {
                if (m.ents.length === 0) break;
                const to = m.trunc.index + 1 + Math.min(m.ents.length - 1, Math.floor(op.at * m.ents.length));
                const term = m.termOf(to);
                m.ents = m.ents.slice(to - m.trunc.index);
                m.trunc = { index: to, term };
                await w.compact(to);
                break;
              }
              case 'install': {
                const voters = [`v${seq++}`];
                let index: number;
                let term: number;
                if (op.match && m.ents.length > 0) {
                  index = m.trunc.index + 1 + (op.ahead % m.ents.length);
                  term = m.termOf(index);
                  m.ents = m.ents.slice(index - m.trunc.index);
                } else {
                  index = m.last + op.ahead;
                  term = Math.max(m.termOf(m.last), m.hs.term) + 1;
                  m.ents = [];
                }
                m.trunc = { index, term };
                m.snap = { index, term, voters };
                // A Ready may carry entries after the snapshot: they go into the same group.
                const entries = op.after > 0 && m.ents.length === 0 ? appendOp(m, 1, op.after, 0) : [];
                await w.persist({ snapshot: { index, term, conf: { voters, learners: [] } }, entries });
                break;
              }
              case 'record': {
                // A local snapshot point between the current one and the last index.
                const lo = Math.max(m.snap.index, m.trunc.index);
                const index = lo + Math.floor(op.at * (m.last - lo + 1));
                if (index > m.last) break;
                const voters = [`r${seq++}`];
                m.snap = { index, term: m.termOf(index), voters };
                await w.recordSnapshot({ index, term: m.snap.term, conf: { voters, learners: [] } });
                break;
              }
              case 'hard':
                m.hs = { term: Math.max(m.hs.term, op.term), vote: op.vote, commit: m.trunc.index };
                await w.persist({ hardState: { ...m.hs } });
                break;
              case 'reopen':
                tally(w);
                await w.close();
                w = await WalLogStorage.open(dir, opts);
                break;
              case 'crash': {
                tally(w);
                const { segment, offset } = w.position();
                await w.close();
                const fd = openSync(segment, 'r+');
                writeSync(fd, op.junk, 0, op.junk.length, offset);
                closeSync(fd);
                w = await WalLogStorage.open(dir, opts);
                break;
              }
            }
            await check(w, m);
          }
          tally(w);
          await w.close();
          w = await WalLogStorage.open(dir, opts);
          await check(w, m);
        } finally {
          await w.close();
        }
      }),
      { numRuns: 40 },
    );
    expect(coverage.rollovers).toBeGreaterThan(0);
    expect(coverage.segmentsDeleted).toBeGreaterThan(0);
  });
});

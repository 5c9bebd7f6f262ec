// Issue 12: MULTI/EXEC/DISCARD/WATCH/UNWATCH through the real RespHandler: Redis 7 semantics,
// one replicated entry per transaction, and WATCH decided in apply from replicated state.

import { describe, expect, it } from 'vitest';
import { encodeCommand } from '../../src/node/fsm/command-codec.js';
import { plain } from '../fsm/harness.js';
import { setup } from './tx-harness.js';

describe('MULTI / EXEC (issue 12 item 2)', () => {
  it('queued commands answer QUEUED; EXEC runs them as ONE entry and returns every reply in order', async () => {
    const { fake, conn } = setup();
    const a = conn();
    expect(plain(await a.run('MULTI'))).toBe('OK');
    expect(plain(await a.run('SET', 'k', '1'))).toBe('QUEUED');
    expect(plain(await a.run('INCR', 'k'))).toBe('QUEUED');
    expect(plain(await a.run('GET', 'k'))).toBe('QUEUED');
    expect(plain(await a.run('PING'))).toBe('QUEUED');
    expect(plain(await a.run('MGET', 'k', 'none'))).toBe('QUEUED');
    expect(fake.node.log).toHaveLength(0); // nothing proposed before EXEC
    expect(plain(await a.run('EXEC'))).toEqual(['OK', 2, '2', 'PONG', ['2', null]]);
    expect(fake.proposals).toHaveLength(1);
    expect(fake.proposals[0]!.op).toBe('exec');
  });

  it('a runtime error is that command only (Redis); syntax errors of a known command too', async () => {
    const { conn } = setup();
    const a = conn();
    await a.run('MULTI');
    await a.run('SET', 'k', 'text');
    await a.run('INCR', 'k');
    await a.run('SET', 'k2', 'v', 'BADOPT');
    await a.run('SET', 'k3', 'v');
    expect(plain(await a.run('EXEC'))).toEqual(['OK', { error: 'ERR value is not an integer or out of range' }, { error: 'ERR syntax error' }, 'OK']);
    expect(plain(await a.run('GET', 'k3'))).toBe('v');
  });

  it('an unknown command or a wrong arity while queueing makes EXEC answer EXECABORT, and nothing runs', async () => {
    const { fake, conn } = setup();
    const a = conn();
    await a.run('MULTI');
    await a.run('SET', 'k', 'v');
    expect(plain(await a.run('NOSUCH', 'x'))).toEqual({ error: "ERR unknown command 'NOSUCH', with args beginning with: 'x' " });
    expect(plain(await a.run('EXEC'))).toEqual({ error: 'EXECABORT Transaction discarded because of previous errors.' });
    expect(fake.node.log).toHaveLength(0);
    await a.run('MULTI');
    expect(plain(await a.run('GET'))).toEqual({ error: "ERR wrong number of arguments for 'get' command" });
    expect(plain(await a.run('EXEC'))).toEqual({ error: 'EXECABORT Transaction discarded because of previous errors.' });
    expect(plain(await a.run('GET', 'k'))).toBeNull();
  });

  it('EXEC/DISCARD without MULTI, nested MULTI, WATCH inside MULTI; DISCARD drops the queue', async () => {
    const { conn } = setup();
    const a = conn();
    expect(plain(await a.run('EXEC'))).toEqual({ error: 'ERR EXEC without MULTI' });
    expect(plain(await a.run('DISCARD'))).toEqual({ error: 'ERR DISCARD without MULTI' });
    await a.run('MULTI');
    expect(plain(await a.run('MULTI'))).toEqual({ error: 'ERR MULTI calls can not be nested' });
    expect(plain(await a.run('WATCH', 'k'))).toEqual({ error: 'ERR WATCH inside MULTI is not allowed' });
    await a.run('SET', 'k', 'v');
    expect(plain(await a.run('DISCARD'))).toBe('OK');
    expect(plain(await a.run('GET', 'k'))).toBeNull();
    expect(plain(await a.run('MULTI'))).toBe('OK');
    expect(plain(await a.run('EXEC'))).toEqual([]); // empty transaction
  });

  it('KEYS/SCAN/DBSIZE inside MULTI are refused per command (apply cannot walk the table)', async () => {
    const { conn } = setup();
    const a = conn();
    await a.run('MULTI');
    await a.run('KEYS', '*');
    await a.run('SET', 'k', 'v');
    expect(plain(await a.run('EXEC'))).toEqual([{ error: "ERR 'keys' inside MULTI is not supported by sealkv" }, 'OK']);
  });
});

describe('WATCH (issue 12 item 2): decided in apply from the per-key modification index', () => {
  it('a write by another client after WATCH makes EXEC nil; the transaction writes nothing', async () => {
    const { conn } = setup();
    const a = conn();
    const b = conn();
    await b.run('SET', 'k', '1');
    expect(plain(await a.run('WATCH', 'k'))).toBe('OK');
    expect(plain(await a.run('GET', 'k'))).toBe('1');
    await b.run('SET', 'k', '5');
    await a.run('MULTI');
    await a.run('SET', 'k', '2');
    await a.run('SET', 'other', 'x');
    expect(plain(await a.run('EXEC'))).toBeNull();
    expect(plain(await a.run('GET', 'k'))).toBe('5');
    expect(plain(await a.run('GET', 'other'))).toBeNull();
  });

  it('writing the same value counts as a modification (version, not content)', async () => {
    const { conn } = setup();
    const a = conn();
    const b = conn();
    await b.run('SET', 'k', 'same');
    await a.run('WATCH', 'k');
    await b.run('SET', 'k', 'same');
    await a.run('MULTI');
    await a.run('SET', 'k', 'mine');
    expect(plain(await a.run('EXEC'))).toBeNull();
  });

  it('a key absent at WATCH, created and deleted since, was modified', async () => {
    const { conn } = setup();
    const a = conn();
    const b = conn();
    await a.run('WATCH', 'k');
    await b.run('SET', 'k', 'x');
    await b.run('DEL', 'k');
    await a.run('MULTI');
    await a.run('SET', 'k', 'mine');
    expect(plain(await a.run('EXEC'))).toBeNull();
  });

  it('writes to other keys do not abort; UNWATCH, EXEC and DISCARD forget the watches', async () => {
    const { conn } = setup();
    const a = conn();
    const b = conn();
    await a.run('WATCH', 'k', 'k2');
    await b.run('SET', 'unrelated', '1');
    await a.run('MULTI');
    await a.run('SET', 'k', 'a');
    expect(plain(await a.run('EXEC'))).toEqual(['OK']);
    // EXEC forgot the watches: a later write does not abort the next transaction.
    await b.run('SET', 'k', 'b');
    await a.run('MULTI');
    await a.run('SET', 'k', 'c');
    expect(plain(await a.run('EXEC'))).toEqual(['OK']);
    await a.run('WATCH', 'k');
    await a.run('UNWATCH');
    await b.run('SET', 'k', 'd');
    await a.run('MULTI');
    await a.run('SET', 'k', 'e');
    expect(plain(await a.run('EXEC'))).toEqual(['OK']);
    await a.run('WATCH', 'k');
    await a.run('MULTI');
    await a.run('DISCARD');
    await b.run('SET', 'k', 'f');
    await a.run('MULTI');
    await a.run('SET', 'k', 'g');
    expect(plain(await a.run('EXEC'))).toEqual(['OK']);
  });

  it('the client’s own write of a watched key before MULTI aborts too (Redis)', async () => {
    const { conn } = setup();
    const a = conn();
    await a.run('WATCH', 'k');
    await a.run('SET', 'k', '1');
    await a.run('MULTI');
    await a.run('INCR', 'k');
    expect(plain(await a.run('EXEC'))).toBeNull();
  });

  it('a key that expires between WATCH and EXEC counts as modified (Redis ≥ 6.0.9); one already expired at WATCH does not', () => {
    // Decided with the entry's clocks only (watchNow from WATCH, now of the EXEC entry).
    const { fake } = setup();
    const n = fake.node;
    const T = 1_000_000n;
    const k = (s: string) => Buffer.from(s);
    const exec = (watchNow: bigint, now: bigint, key: string) =>
      n.applyPayload(
        encodeCommand({
          op: 'exec',
          now,
          watches: [{ key: k(key), index: n.index, watchNow }],
          commands: [{ op: 'set', now, key: k('x'), value: k('1'), condition: 'always', get: false, ttl: { mode: 'clear' } }],
        }),
      );
    n.applyPayload(encodeCommand({ op: 'set', now: T, key: k('soon'), value: k('v'), condition: 'always', get: false, ttl: { mode: 'at', expireAt: T + 100n } }));
    n.applyPayload(encodeCommand({ op: 'set', now: T, key: k('past'), value: k('v'), condition: 'always', get: false, ttl: { mode: 'at', expireAt: T + 1n } }));
    expect(exec(T + 50n, T + 60n, 'soon')).toEqual({ response: { t: 'array', v: [{ t: 'simple', v: 'OK' }] } }); // still live
    expect(exec(T + 50n, T + 200n, 'soon')).toEqual({ response: { t: 'array', v: null } }); // expired in between
    expect(exec(T + 50n, T + 200n, 'past')).toEqual({ response: { t: 'array', v: [{ t: 'simple', v: 'OK' }] } }); // expired before WATCH
  });

  it('the EXEC entry carries the watched keys with their WATCH index, and every replica decides alike', async () => {
    const { fake, conn } = setup();
    const a = conn();
    await fake.write(encodeCommand({ op: 'set', now: 1n, key: Buffer.from('k'), value: Buffer.from('v'), condition: 'always', get: false, ttl: { mode: 'clear' } }));
    await a.run('WATCH', 'k');
    await a.run('MULTI');
    await a.run('GET', 'k');
    await a.run('EXEC');
    const e = fake.proposals.at(-1)!;
    expect(e.op).toBe('exec');
    if (e.op !== 'exec') return;
    expect(e.watches.map((w) => [Buffer.from(w.key).toString(), w.index])).toEqual([['k', 1n]]);
    expect(e.commands.map((c) => c.op)).toEqual(['read']);
  });
});

// Redis semantics of every KV command, end to end through the command table, the codec, the
// state machine and the reads (issue 4 item 4).
import { describe, expect, it } from 'vitest';
import { Node, plain, T0 } from './harness.js';

function node(): Node {
  return new Node();
}
const run = (n: Node, ...a: string[]) => plain(n.run(...a));

describe('GET / SET', () => {
  it('SET then GET; GET of a missing key is nil', () => {
    const n = node();
    expect(run(n, 'SET', 'k', 'v')).toBe('OK');
    expect(run(n, 'GET', 'k')).toBe('v');
    expect(run(n, 'GET', 'nope')).toBeNull();
  });

  it('SET is binary safe', () => {
    const n = node();
    const v = new Uint8Array([0, 1, 2, 255, 13, 10]);
    n.run('SET', new Uint8Array([0, 255]), v);
    const r = n.run('GET', new Uint8Array([0, 255]));
    expect(r.t === 'bulk' && Buffer.from(r.v as Uint8Array).equals(Buffer.from(v))).toBe(true);
  });

  it('NX sets only when absent, XX only when present', () => {
    const n = node();
    expect(run(n, 'SET', 'k', 'a', 'XX')).toBeNull();
    expect(run(n, 'GET', 'k')).toBeNull();
    expect(run(n, 'SET', 'k', 'a', 'NX')).toBe('OK');
    expect(run(n, 'SET', 'k', 'b', 'NX')).toBeNull();
    expect(run(n, 'GET', 'k')).toBe('a');
    expect(run(n, 'SET', 'k', 'c', 'xx')).toBe('OK');
    expect(run(n, 'GET', 'k')).toBe('c');
  });

  it('NX with XX is a syntax error, and nothing is proposed', () => {
    const n = node();
    expect(run(n, 'SET', 'k', 'a', 'NX', 'XX')).toEqual({ error: 'ERR syntax error' });
    expect(n.classify('SET', 'k', 'a', 'XX', 'NX').kind).toBe('local');
    expect(n.log).toHaveLength(0);
  });

  it('GET option returns the old value (nil when absent) and still sets', () => {
    const n = node();
    expect(run(n, 'SET', 'k', 'a', 'GET')).toBeNull();
    expect(run(n, 'SET', 'k', 'b', 'GET')).toBe('a');
    expect(run(n, 'GET', 'k')).toBe('b');
  });

  it('GET combined with NX/XX returns the old value whether or not it sets', () => {
    const n = node();
    expect(run(n, 'SET', 'k', 'a', 'NX', 'GET')).toBeNull(); // set, old was nil
    expect(run(n, 'SET', 'k', 'b', 'NX', 'GET')).toBe('a'); // not set
    expect(run(n, 'GET', 'k')).toBe('a');
    expect(run(n, 'SET', 'x', 'b', 'XX', 'GET')).toBeNull(); // not set
    expect(run(n, 'EXISTS', 'x')).toBe(0);
    expect(run(n, 'SET', 'k', 'z', 'XX', 'GET')).toBe('a');
    expect(run(n, 'GET', 'k')).toBe('z');
  });

  it('EX / PX / EXAT / PXAT set an absolute expiry from the proposer clock', () => {
    const n = node();
    run(n, 'SET', 'a', 'v', 'EX', '10');
    run(n, 'SET', 'b', 'v', 'PX', '1500');
    run(n, 'SET', 'c', 'v', 'EXAT', String((T0 + 20_000n) / 1000n));
    run(n, 'SET', 'd', 'v', 'PXAT', String(T0 + 30_000n));
    expect(run(n, 'PTTL', 'a')).toBe(10_000);
    expect(run(n, 'PTTL', 'b')).toBe(1500);
    expect(run(n, 'TTL', 'c')).toBe(20);
    expect(run(n, 'PTTL', 'd')).toBe(30_000);
    const c = n.classify('SET', 'a', 'v', 'EX', '10');
    expect(c.kind === 'write' && c.command.op === 'set' && c.command.ttl).toEqual({ mode: 'at', expireAt: T0 + 10_000n, relative: true });
    // EX/PX are durations from `now` (the leader's stamp moves them, issue 9 defect 7); EXAT/PXAT are not.
    const at = n.classify('SET', 'a', 'v', 'PXAT', String(T0 + 30_000n));
    expect(at.kind === 'write' && at.command.op === 'set' && at.command.ttl).toEqual({ mode: 'at', expireAt: T0 + 30_000n, relative: false });
  });

  it('a key is visible until its expireAt and gone after it', () => {
    const n = node();
    run(n, 'SET', 'k', 'v', 'PX', '100');
    n.now = T0 + 100n;
    expect(run(n, 'GET', 'k')).toBe('v');
    expect(run(n, 'PTTL', 'k')).toBe(0);
    n.now = T0 + 101n;
    expect(run(n, 'GET', 'k')).toBeNull();
    expect(run(n, 'TTL', 'k')).toBe(-2);
    expect(run(n, 'EXISTS', 'k')).toBe(0);
  });

  it('SET with an EXAT in the past deletes the key and answers OK (or the old value with GET)', () => {
    const n = node();
    run(n, 'SET', 'k', 'old');
    expect(run(n, 'SET', 'k', 'new', 'PXAT', '5', 'GET')).toBe('old');
    expect(run(n, 'GET', 'k')).toBeNull();
    expect(n.kv.size).toBe(0);
    expect(run(n, 'SET', 'k', 'new', 'EXAT', '1')).toBe('OK');
    expect(run(n, 'GET', 'k')).toBeNull();
  });

  it('plain SET clears the TTL; KEEPTTL keeps it', () => {
    const n = node();
    run(n, 'SET', 'k', 'v', 'EX', '100');
    run(n, 'SET', 'k', 'v2', 'KEEPTTL');
    expect(run(n, 'TTL', 'k')).toBe(100);
    expect(run(n, 'GET', 'k')).toBe('v2');
    run(n, 'SET', 'k', 'v3');
    expect(run(n, 'TTL', 'k')).toBe(-1);
  });

  it('SET option errors use the Redis texts', () => {
    const n = node();
    expect(run(n, 'SET', 'k', 'v', 'EX', '0')).toEqual({ error: "ERR invalid expire time in 'set' command" });
    expect(run(n, 'SET', 'k', 'v', 'PX', '-5')).toEqual({ error: "ERR invalid expire time in 'set' command" });
    expect(run(n, 'SET', 'k', 'v', 'EX', '9223372036854775807')).toEqual({
      error: "ERR invalid expire time in 'set' command",
    });
    expect(run(n, 'SET', 'k', 'v', 'EX', 'abc')).toEqual({ error: 'ERR value is not an integer or out of range' });
    expect(run(n, 'SET', 'k', 'v', 'EX')).toEqual({ error: 'ERR syntax error' });
    expect(run(n, 'SET', 'k', 'v', 'EX', '1', 'PX', '1')).toEqual({ error: 'ERR syntax error' });
    expect(run(n, 'SET', 'k', 'v', 'KEEPTTL', 'EX', '1')).toEqual({ error: 'ERR syntax error' });
    expect(run(n, 'SET', 'k', 'v', 'EX', '1', 'KEEPTTL')).toEqual({ error: 'ERR syntax error' });
    expect(run(n, 'SET', 'k', 'v', 'BOGUS')).toEqual({ error: 'ERR syntax error' });
    expect(run(n, 'SET', 'k')).toEqual({ error: "ERR wrong number of arguments for 'set' command" });
    expect(n.log).toHaveLength(0);
  });
});

describe('SETNX / GETSET / MSET / MGET / DEL / EXISTS', () => {
  it('SETNX answers 1 then 0', () => {
    const n = node();
    expect(run(n, 'SETNX', 'k', 'a')).toBe(1);
    expect(run(n, 'SETNX', 'k', 'b')).toBe(0);
    expect(run(n, 'GET', 'k')).toBe('a');
  });

  it('SETNX on an expired key sets it', () => {
    const n = node();
    run(n, 'SET', 'k', 'a', 'PX', '10');
    n.now += 11n;
    expect(run(n, 'SETNX', 'k', 'b')).toBe(1);
    expect(run(n, 'GET', 'k')).toBe('b');
  });

  it('GETSET returns the old value and clears the TTL', () => {
    const n = node();
    expect(run(n, 'GETSET', 'k', 'a')).toBeNull();
    run(n, 'EXPIRE', 'k', '100');
    expect(run(n, 'GETSET', 'k', 'b')).toBe('a');
    expect(run(n, 'TTL', 'k')).toBe(-1);
  });

  it('MSET sets all pairs (last wins) and MGET returns nil for missing keys', () => {
    const n = node();
    expect(run(n, 'MSET', 'a', '1', 'b', '2', 'a', '3')).toBe('OK');
    expect(run(n, 'MGET', 'a', 'nope', 'b')).toEqual(['3', null, '2']);
    expect(run(n, 'MSET', 'a', '1', 'b')).toEqual({ error: "ERR wrong number of arguments for 'mset' command" });
  });

  it('MSET clears TTLs', () => {
    const n = node();
    run(n, 'SET', 'a', 'x', 'EX', '50');
    run(n, 'MSET', 'a', 'y');
    expect(run(n, 'TTL', 'a')).toBe(-1);
  });

  it('DEL counts keys that existed, once each', () => {
    const n = node();
    run(n, 'MSET', 'a', '1', 'b', '2');
    expect(run(n, 'DEL', 'a', 'b', 'c', 'a')).toBe(2);
    expect(run(n, 'EXISTS', 'a', 'b')).toBe(0);
    expect(n.kv.size).toBe(0);
  });

  it('DEL of an expired key answers 0 and removes the record', () => {
    const n = node();
    run(n, 'SET', 'a', '1', 'PX', '5');
    n.now += 6n;
    expect(n.kv.size).toBe(1);
    expect(run(n, 'DEL', 'a')).toBe(0);
    expect(n.kv.size).toBe(0);
  });

  it('EXISTS counts a key named twice twice', () => {
    const n = node();
    run(n, 'SET', 'a', '1');
    expect(run(n, 'EXISTS', 'a', 'a', 'b')).toBe(2);
  });
});

describe('INCR family', () => {
  it('INCR creates at 0, INCRBY/DECR/DECRBY add', () => {
    const n = node();
    expect(run(n, 'INCR', 'c')).toBe(1);
    expect(run(n, 'INCRBY', 'c', '10')).toBe(11);
    expect(run(n, 'DECR', 'c')).toBe(10);
    expect(run(n, 'DECRBY', 'c', '-5')).toBe(15);
    expect(run(n, 'DECRBY', 'c', '20')).toBe(-5);
    expect(run(n, 'GET', 'c')).toBe('-5');
  });

  it('INCR on a non-integer value is a business error that still advances (EH-5)', () => {
    const n = node();
    run(n, 'SET', 'k', 'abc');
    for (const v of ['abc', ' 1', '01', '+1', '-0', '1.5', '', '99999999999999999999']) {
      run(n, 'SET', 'k', v);
      const before = n.index;
      expect(run(n, 'INCR', 'k')).toEqual({ error: 'ERR value is not an integer or out of range' });
      expect(n.index).toBe(before + 1n);
      expect(run(n, 'GET', 'k')).toBe(v);
    }
  });

  it('INCRBY overflow is refused and leaves the value', () => {
    const n = node();
    run(n, 'SET', 'k', '9223372036854775806');
    expect(n.run('INCR', 'k')).toEqual({ t: 'int', v: 9223372036854775807n });
    expect(run(n, 'INCR', 'k')).toEqual({ error: 'ERR increment or decrement would overflow' });
    expect(run(n, 'GET', 'k')).toBe('9223372036854775807');
    run(n, 'SET', 'm', '-9223372036854775808');
    expect(run(n, 'DECR', 'm')).toEqual({ error: 'ERR increment or decrement would overflow' });
    expect(run(n, 'DECRBY', 'm', '-9223372036854775808')).toEqual({ error: 'ERR decrement would overflow' });
  });

  it('INCR results are exact 64-bit integers (bigint)', () => {
    const n = node();
    run(n, 'SET', 'k', '9007199254740993');
    const r = n.run('INCR', 'k');
    expect(r).toEqual({ t: 'int', v: 9007199254740994n });
  });

  it('INCRBY with a bad delta is rejected before proposing', () => {
    const n = node();
    expect(run(n, 'INCRBY', 'k', 'x')).toEqual({ error: 'ERR value is not an integer or out of range' });
    expect(run(n, 'INCRBY', 'k', '9223372036854775808')).toEqual({
      error: 'ERR value is not an integer or out of range',
    });
    expect(n.log).toHaveLength(0);
  });

  it('INCR keeps the TTL', () => {
    const n = node();
    run(n, 'SET', 'k', '1', 'EX', '100');
    run(n, 'INCR', 'k');
    expect(run(n, 'TTL', 'k')).toBe(100);
  });
});

describe('APPEND / STRLEN', () => {
  it('APPEND creates the key and returns the new length; STRLEN agrees', () => {
    const n = node();
    expect(run(n, 'APPEND', 'k', 'Hello')).toBe(5);
    expect(run(n, 'APPEND', 'k', ' World')).toBe(11);
    expect(run(n, 'GET', 'k')).toBe('Hello World');
    expect(run(n, 'STRLEN', 'k')).toBe(11);
    expect(run(n, 'STRLEN', 'nope')).toBe(0);
  });

  it('APPEND keeps the TTL', () => {
    const n = node();
    run(n, 'SET', 'k', 'a', 'EX', '30');
    run(n, 'APPEND', 'k', 'b');
    expect(run(n, 'TTL', 'k')).toBe(30);
  });
});

describe('EXPIRE / PEXPIRE / TTL / PTTL / PERSIST', () => {
  it('TTL is -2 for a missing key and -1 for a key without expiry', () => {
    const n = node();
    expect(run(n, 'TTL', 'k')).toBe(-2);
    expect(run(n, 'PTTL', 'k')).toBe(-2);
    run(n, 'SET', 'k', 'v');
    expect(run(n, 'TTL', 'k')).toBe(-1);
    expect(run(n, 'PTTL', 'k')).toBe(-1);
  });

  it('EXPIRE sets a TTL (1), on a missing key answers 0', () => {
    const n = node();
    expect(run(n, 'EXPIRE', 'k', '10')).toBe(0);
    run(n, 'SET', 'k', 'v');
    expect(run(n, 'EXPIRE', 'k', '10')).toBe(1);
    expect(run(n, 'TTL', 'k')).toBe(10);
    expect(run(n, 'PEXPIRE', 'k', '2500')).toBe(1);
    expect(run(n, 'PTTL', 'k')).toBe(2500);
    expect(run(n, 'TTL', 'k')).toBe(3); // rounded to nearest, as Redis
    n.now += 1001n;
    expect(run(n, 'TTL', 'k')).toBe(1);
  });

  it('EXPIRE with a past or negative time deletes the key and answers 1', () => {
    const n = node();
    run(n, 'SET', 'k', 'v');
    expect(run(n, 'EXPIRE', 'k', '-1')).toBe(1);
    expect(run(n, 'GET', 'k')).toBeNull();
    expect(n.kv.size).toBe(0);
    run(n, 'SET', 'k', 'v');
    expect(run(n, 'PEXPIRE', 'k', '0')).toBe(1);
    expect(run(n, 'EXISTS', 'k')).toBe(0);
    run(n, 'SET', 'k', 'v');
    expect(run(n, 'EXPIREAT', 'k', '100')).toBe(1);
    expect(run(n, 'EXISTS', 'k')).toBe(0);
  });

  it('EXPIRE argument errors', () => {
    const n = node();
    expect(run(n, 'EXPIRE', 'k', 'x')).toEqual({ error: 'ERR value is not an integer or out of range' });
    expect(run(n, 'EXPIRE', 'k', '9223372036854775807')).toEqual({
      error: "ERR invalid expire time in 'expire' command",
    });
    expect(run(n, 'PEXPIRE', 'k', '9223372036854775807')).toEqual({
      error: "ERR invalid expire time in 'pexpire' command",
    });
    expect(run(n, 'EXPIRE', 'k')).toEqual({ error: "ERR wrong number of arguments for 'expire' command" });
  });

  it('PERSIST removes a TTL (1) and answers 0 without one or without the key', () => {
    const n = node();
    expect(run(n, 'PERSIST', 'k')).toBe(0);
    run(n, 'SET', 'k', 'v');
    expect(run(n, 'PERSIST', 'k')).toBe(0);
    run(n, 'EXPIRE', 'k', '10');
    expect(run(n, 'PERSIST', 'k')).toBe(1);
    expect(run(n, 'TTL', 'k')).toBe(-1);
    n.now += 1_000_000n;
    expect(run(n, 'GET', 'k')).toBe('v');
  });

  it('EXPIRE on an expired key answers 0', () => {
    const n = node();
    run(n, 'SET', 'k', 'v', 'PX', '1');
    n.now += 2n;
    expect(run(n, 'EXPIRE', 'k', '100')).toBe(0);
    expect(run(n, 'GET', 'k')).toBeNull();
  });
});

describe('SCAN / DBSIZE', () => {
  function fill(n: Node, count: number): Set<string> {
    const keys = new Set<string>();
    for (let i = 0; i < count; i++) {
      const k = `key:${(i * 7919) % 1000}:${i}`;
      keys.add(k);
      n.run('SET', k, String(i));
    }
    return keys;
  }

  function scanAll(n: Node, ...opts: string[]): string[] {
    const seen: string[] = [];
    let cursor = '0';
    let calls = 0;
    do {
      const r = plain(n.run('SCAN', cursor, ...opts)) as [string, string[]];
      cursor = r[0];
      seen.push(...r[1]);
      calls++;
      expect(calls).toBeLessThan(10_000);
    } while (cursor !== '0');
    return seen;
  }

  it('a full iteration returns every key exactly once, for several COUNTs', () => {
    const n = node();
    const keys = fill(n, 257);
    for (const count of ['1', '3', '10', '256', '1000']) {
      const seen = scanAll(n, 'COUNT', count);
      expect(seen).toHaveLength(keys.size);
      expect(new Set(seen)).toEqual(keys);
    }
  });

  it('cursors are decimal numerals (clients parse them as integers)', () => {
    const n = node();
    fill(n, 20);
    const r = plain(n.run('SCAN', '0', 'COUNT', '5')) as [string, string[]];
    expect(r[0]).toMatch(/^[1-9][0-9]*$/);
    expect(r[1]).toHaveLength(5);
  });

  it('keys added or removed during the iteration do not disturb the others', () => {
    const n = node();
    const keys = fill(n, 60);
    const seen: string[] = [];
    let cursor = '0';
    let step = 0;
    do {
      const r = plain(n.run('SCAN', cursor, 'COUNT', '7')) as [string, string[]];
      cursor = r[0];
      seen.push(...r[1]);
      n.run('SET', `zz-new-${step}`, 'x'); // sorted after "key:*"
      n.run('DEL', `aa-never-${step}`);
      step++;
    } while (cursor !== '0');
    for (const k of keys) expect(seen.filter((s) => s === k)).toHaveLength(1);
  });

  it('MATCH filters with Redis globs; TYPE string keeps all, other types none', () => {
    const n = node();
    n.run('MSET', 'user:1', 'a', 'user:2', 'b', 'user:10', 'c', 'order:1', 'd', 'u[x]', 'e');
    expect(scanAll(n, 'MATCH', 'user:?').sort()).toEqual(['user:1', 'user:2']);
    expect(scanAll(n, 'MATCH', 'user:*').sort()).toEqual(['user:1', 'user:10', 'user:2']);
    expect(scanAll(n, 'MATCH', '*:1*').sort()).toEqual(['order:1', 'user:1', 'user:10']);
    expect(scanAll(n, 'MATCH', '[ou]*1').sort()).toEqual(['order:1', 'user:1']);
    expect(scanAll(n, 'MATCH', '[^o]ser:[1-1]').sort()).toEqual(['user:1']);
    expect(scanAll(n, 'MATCH', 'u\\[x\\]')).toEqual(['u[x]']);
    expect(scanAll(n, 'TYPE', 'string')).toHaveLength(5);
    expect(scanAll(n, 'TYPE', 'list')).toHaveLength(0);
  });

  it('SCAN skips expired keys; DBSIZE counts visible keys', () => {
    const n = node();
    n.run('MSET', 'a', '1', 'b', '2', 'c', '3');
    n.run('PEXPIRE', 'b', '10');
    expect(run(n, 'DBSIZE')).toBe(3);
    n.now += 11n;
    expect(scanAll(n).sort()).toEqual(['a', 'c']);
    expect(run(n, 'DBSIZE')).toBe(2);
  });

  it('SCAN argument errors', () => {
    const n = node();
    expect(run(n, 'SCAN', 'abc')).toEqual({ error: 'ERR invalid cursor' });
    expect(run(n, 'SCAN', '0', 'COUNT', '0')).toEqual({ error: 'ERR syntax error' });
    expect(run(n, 'SCAN', '0', 'COUNT', 'x')).toEqual({ error: 'ERR value is not an integer or out of range' });
    expect(run(n, 'SCAN', '0', 'MATCH')).toEqual({ error: 'ERR syntax error' });
    expect(run(n, 'SCAN', '0', 'FOO', 'bar')).toEqual({ error: 'ERR syntax error' });
    expect(run(n, 'SCAN')).toEqual({ error: "ERR wrong number of arguments for 'scan' command" });
  });
});

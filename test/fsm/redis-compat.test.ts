// Issue 12 item 3: KEYS, TYPE, RENAME, UNLINK, GETDEL, GETEX, SET … KEEPTTL, EXPIREAT/PEXPIREAT
// end to end (command table → codec → state machine → reads), the codec of the new entries
// (RENAME, GETDEL, GETEX, EXEC, READ), and the per-key modification index every write records.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeCommand, encodeCommand, type KvCommand, OP_EXEC, OP_SET } from '../../src/node/fsm/command-codec.js';
import { Node, plain, T0 } from './harness.js';

const run = (n: Node, ...a: string[]) => plain(n.run(...a));
const b = (s: string) => Buffer.from(s, 'latin1');

describe('KEYS / TYPE', () => {
  it('KEYS uses the SCAN MATCH glob rules and skips expired keys', () => {
    const n = new Node();
    for (const k of ['user:1', 'user:2', 'user:10', 'admin', 'u*x']) run(n, 'SET', k, 'v');
    run(n, 'SET', 'user:gone', 'v', 'PX', '10');
    n.now = T0 + 100n;
    expect((run(n, 'KEYS', 'user:*') as string[]).sort()).toEqual(['user:1', 'user:10', 'user:2']);
    expect(run(n, 'KEYS', 'user:?')).toEqual(['user:1', 'user:2']);
    expect(run(n, 'KEYS', 'u\\*x')).toEqual(['u*x']);
    expect((run(n, 'KEYS', '*') as string[]).length).toBe(5);
    expect(run(n, 'KEYS', 'nomatch*')).toEqual([]);
    expect(run(n, 'KEYS')).toEqual({ error: "ERR wrong number of arguments for 'keys' command" });
  });

  it('TYPE is string or none', () => {
    const n = new Node();
    run(n, 'SET', 'k', 'v');
    expect(run(n, 'TYPE', 'k')).toBe('string');
    expect(run(n, 'TYPE', 'nope')).toBe('none');
  });
});

describe('RENAME / UNLINK / GETDEL', () => {
  it('RENAME moves the value with its TTL, overwrites the target, errors on a missing source', () => {
    const n = new Node();
    run(n, 'SET', 'a', '1', 'PX', '5000');
    run(n, 'SET', 'b', 'old');
    expect(run(n, 'RENAME', 'a', 'b')).toBe('OK');
    expect(run(n, 'GET', 'a')).toBeNull();
    expect(run(n, 'GET', 'b')).toBe('1');
    expect(run(n, 'PTTL', 'b')).toBe(5000);
    expect(run(n, 'RENAME', 'a', 'c')).toEqual({ error: 'ERR no such key' });
    expect(run(n, 'RENAME', 'b', 'b')).toBe('OK');
    expect(run(n, 'GET', 'b')).toBe('1');
  });

  it('UNLINK deletes like DEL and counts existing keys', () => {
    const n = new Node();
    run(n, 'MSET', 'a', '1', 'b', '2');
    expect(run(n, 'UNLINK', 'a', 'b', 'c')).toBe(2);
    expect(run(n, 'EXISTS', 'a', 'b')).toBe(0);
  });

  it('GETDEL returns the value and deletes; nil when missing', () => {
    const n = new Node();
    run(n, 'SET', 'k', 'v');
    expect(run(n, 'GETDEL', 'k')).toBe('v');
    expect(run(n, 'GETDEL', 'k')).toBeNull();
    expect(run(n, 'EXISTS', 'k')).toBe(0);
  });
});

describe('GETEX / SET KEEPTTL / EXPIREAT / PEXPIREAT', () => {
  it('GETEX without options reads; EX/PX/EXAT/PXAT set, PERSIST clears; a past time deletes', () => {
    const n = new Node();
    run(n, 'SET', 'k', 'v');
    expect(run(n, 'GETEX', 'k')).toBe('v');
    expect(run(n, 'TTL', 'k')).toBe(-1);
    expect(run(n, 'GETEX', 'k', 'EX', '100')).toBe('v');
    expect(run(n, 'TTL', 'k')).toBe(100);
    expect(run(n, 'GETEX', 'k', 'PX', '500')).toBe('v');
    expect(run(n, 'PTTL', 'k')).toBe(500);
    expect(run(n, 'GETEX', 'k', 'PXAT', String(T0 + 700n))).toBe('v');
    expect(run(n, 'PTTL', 'k')).toBe(700);
    expect(run(n, 'GETEX', 'k', 'EXAT', String(T0 / 1000n + 9n))).toBe('v');
    expect(run(n, 'TTL', 'k')).toBe(9);
    expect(run(n, 'GETEX', 'k', 'PERSIST')).toBe('v');
    expect(run(n, 'TTL', 'k')).toBe(-1);
    expect(run(n, 'GETEX', 'k', 'PXAT', String(T0 - 1n))).toBe('v');
    expect(run(n, 'EXISTS', 'k')).toBe(0);
    expect(run(n, 'GETEX', 'missing', 'EX', '5')).toBeNull();
  });

  it('GETEX option errors use Redis texts', () => {
    const n = new Node();
    expect(run(n, 'GETEX', 'k', 'EX', '0')).toEqual({ error: "ERR invalid expire time in 'getex' command" });
    expect(run(n, 'GETEX', 'k', 'EX', 'x')).toEqual({ error: 'ERR value is not an integer or out of range' });
    expect(run(n, 'GETEX', 'k', 'EX', '5', 'PERSIST')).toEqual({ error: 'ERR syntax error' });
    expect(run(n, 'GETEX', 'k', 'BOGUS')).toEqual({ error: 'ERR syntax error' });
    expect(run(n, 'GETEX', 'k', 'EX')).toEqual({ error: 'ERR syntax error' });
  });

  it('SET … KEEPTTL keeps the TTL; EXPIREAT/PEXPIREAT set absolute times, a past one deletes', () => {
    const n = new Node();
    run(n, 'SET', 'k', 'a', 'PX', '1000');
    expect(run(n, 'SET', 'k', 'b', 'KEEPTTL')).toBe('OK');
    expect(run(n, 'PTTL', 'k')).toBe(1000);
    expect(run(n, 'SET', 'k', 'c')).toBe('OK');
    expect(run(n, 'PTTL', 'k')).toBe(-1);
    expect(run(n, 'EXPIREAT', 'k', String(T0 / 1000n + 50n))).toBe(1);
    expect(run(n, 'TTL', 'k')).toBe(50);
    expect(run(n, 'PEXPIREAT', 'k', String(T0 + 20n))).toBe(1);
    expect(run(n, 'PTTL', 'k')).toBe(20);
    expect(run(n, 'PEXPIREAT', 'k', String(T0 - 5n))).toBe(1);
    expect(run(n, 'EXISTS', 'k')).toBe(0);
    expect(run(n, 'EXPIREAT', 'nope', '1')).toBe(0);
  });
});

describe('modification index (WATCH)', () => {
  it('every write records its entry index for each key it touches, deletes and renames included', () => {
    const n = new Node();
    const mod = (k: string) => {
      const v = n.mods.get(b(k));
      return v === undefined ? undefined : Buffer.from(v).readBigUInt64BE();
    };
    run(n, 'SET', 'a', '1'); // index 1
    run(n, 'MSET', 'b', '1', 'c', '1'); // index 2
    run(n, 'DEL', 'c'); // index 3
    run(n, 'RENAME', 'a', 'd'); // index 4
    run(n, 'GET', 'b'); // a read: not an entry
    expect([mod('a'), mod('b'), mod('c'), mod('d'), mod('zz')]).toEqual([4n, 2n, 3n, 4n, undefined]);
    run(n, 'SET', 'b', '2', 'NX'); // index 5, not set: nothing written
    expect(mod('b')).toBe(2n);
  });
});

describe('codec of the issue 12 entries', () => {
  const bytes = fc.uint8Array({ minLength: 1, maxLength: 12 });
  const u64 = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n });
  const positive = fc.bigInt({ min: 1n, max: (1n << 64n) - 1n });
  const arbTx: fc.Arbitrary<KvCommand> = fc.oneof(
    fc.record({ op: fc.constant('rename' as const), now: u64, key: bytes, newKey: bytes }),
    fc.record({ op: fc.constant('getdel' as const), now: u64, key: bytes }),
    fc.record({
      op: fc.constant('getex' as const),
      now: u64,
      key: bytes,
      ttl: fc.oneof(fc.constant({ mode: 'keep' as const }), fc.constant({ mode: 'persist' as const }), fc.record({ mode: fc.constant('at' as const), expireAt: positive })),
    }),
    fc.record({ op: fc.constant('read' as const), now: u64, read: fc.constantFrom('get' as const, 'strlen' as const, 'ttl' as const, 'pttl' as const, 'type' as const), keys: fc.tuple(bytes).map((k) => [...k]) }),
    fc.record({ op: fc.constant('read' as const), now: u64, read: fc.constantFrom('mget' as const, 'exists' as const), keys: fc.array(bytes, { minLength: 1, maxLength: 4 }) }),
  );

  it('round-trips RENAME, GETDEL, GETEX, READ, and EXEC with one `now` for all its commands', () => {
    fc.assert(
      fc.property(arbTx, (cmd) => {
        expect(decodeCommand(encodeCommand(cmd))).toEqual(cmd);
      }),
    );
    fc.assert(
      fc.property(
        u64,
        fc.array(fc.record({ key: bytes, index: u64, watchNow: u64 }), { maxLength: 3 }),
        fc.array(arbTx, { maxLength: 4 }),
        (now, watches, commands) => {
          const exec = { op: 'exec' as const, now, watches, commands: commands as Exclude<KvCommand, { op: 'exec' }>[] };
          const d = decodeCommand(encodeCommand(exec));
          expect(d).toEqual({ ...exec, commands: commands.map((c) => ({ ...c, now })) });
        },
      ),
    );
  });

  it('the decoder gives every queued command the entry’s `now`, whatever its own field says', () => {
    const exec = encodeCommand({ op: 'exec', now: 5n, watches: [], commands: [{ op: 'getdel', now: 5n, key: b('k') }] });
    // Re-stamp only the outer `now` (bytes 1..8), as a leader stamping at admission would.
    const restamped = new Uint8Array(exec);
    new DataView(restamped.buffer).setBigUint64(1, 99n, false);
    const d = decodeCommand(restamped);
    expect(d.op === 'exec' && d.commands[0]!.now).toBe(99n);
  });

  it('EXEC inside EXEC and a READ with the wrong key count are COMMAND_MALFORMED', () => {
    const inner = encodeCommand({ op: 'exec', now: 1n, watches: [], commands: [] });
    const nested = new Uint8Array([OP_EXEC, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, inner.length, ...inner]);
    expect(() => decodeCommand(nested)).toThrow(expect.objectContaining({ code: 'COMMAND_MALFORMED', reason: 'BAD_COMBINATION' }));
    const twoKeyGet = encodeCommand({ op: 'read', now: 1n, read: 'mget', keys: [b('a'), b('b')] });
    twoKeyGet[9] = 0; // mget → get with two keys
    expect(() => decodeCommand(twoKeyGet)).toThrow(expect.objectContaining({ code: 'COMMAND_MALFORMED', reason: 'BAD_COMBINATION' }));
    expect(OP_SET).toBe(0x10);
  });

  it('an EXEC carrying an unknown sub-opcode HALTs the entry (fail closed, like a top-level one)', () => {
    const n = new Node();
    const sub = new Uint8Array([0x1e, 0, 0, 0, 0, 0, 0, 0, 1]);
    const payload = new Uint8Array([OP_EXEC, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, sub.length, ...sub]);
    const r = n.applyPayload(payload);
    expect('halt' in r && r.halt.code).toBe('ENTRY_MALFORMED');
  });
});

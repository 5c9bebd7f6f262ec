// KV command codec: round trips, big-endian layout (C-1), FW-1 opcode range, typed decode errors.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  commandTime,
  decodeCommand,
  encodeCommand,
  hasRelativeTtl,
  type KvCommand,
  relativeTtlOf,
  stampCommand,
} from '../../src/node/fsm/command-codec.js';
import { SealkvError } from '../../src/errors.js';

const u64 = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n });
const i64 = fc.bigInt({ min: -(1n << 63n), max: (1n << 63n) - 1n });
const bytes = fc.uint8Array({ maxLength: 24 });
const positive = fc.bigInt({ min: 1n, max: (1n << 64n) - 1n });

const arbCommand: fc.Arbitrary<KvCommand> = fc.oneof(
  fc.record({
    op: fc.constant('set' as const),
    now: u64,
    key: bytes,
    value: bytes,
    condition: fc.constantFrom('always' as const, 'nx' as const, 'xx' as const),
    get: fc.boolean(),
    ttl: fc.oneof(
      fc.constant({ mode: 'clear' as const }),
      fc.constant({ mode: 'keep' as const }),
      fc.record({ mode: fc.constant('at' as const), expireAt: positive }),
    ),
  }),
  fc.record({ op: fc.constantFrom('setnx' as const, 'getset' as const, 'append' as const), now: u64, key: bytes, value: bytes }),
  fc.record({ op: fc.constantFrom('del' as const, 'sweepExpired' as const), now: u64, keys: fc.array(bytes, { maxLength: 5 }) }),
  fc.record({ op: fc.constant('mset' as const), now: u64, pairs: fc.array(fc.record({ key: bytes, value: bytes }), { maxLength: 5 }) }),
  fc.record({ op: fc.constant('incrby' as const), now: u64, key: bytes, delta: i64 }),
  fc.record({ op: fc.constant('expire' as const), now: u64, key: bytes, expireAt: fc.option(positive, { nil: null }) }),
);

describe('command codec', () => {
  it('round-trips every command', () => {
    fc.assert(
      fc.property(arbCommand, (cmd) => {
        expect(decodeCommand(encodeCommand(cmd))).toEqual(cmd);
      }),
    );
  });

  it('FW-1: no encoded command starts with a byte in 0x03..0x07', () => {
    fc.assert(
      fc.property(arbCommand, (cmd) => {
        const first = encodeCommand(cmd)[0]!;
        expect(first < 0x03 || first > 0x07).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });

  it('C-1: integers are big-endian (known vector)', () => {
    const p = encodeCommand({ op: 'incrby', now: 0x0102030405060708n, key: new Uint8Array([0x6b]), delta: -2n });
    expect(Buffer.from(p).toString('hex')).toBe(['15', '0102030405060708', 'fffffffffffffffe', '00000001', '6b'].join(''));
    const s = encodeCommand({
      op: 'set',
      now: 1n,
      key: new Uint8Array([0x6b]),
      value: new Uint8Array([0x76]),
      condition: 'nx',
      get: false,
      ttl: { mode: 'at', expireAt: 1700000000000n },
    });
    // opcode, now, flags (NX|EXPIRE_AT), expireAt = 00 00 01 8B CF E5 68 00 (SE-4's example value)
    expect(Buffer.from(s).toString('hex')).toBe(
      ['10', '0000000000000001', '11', '0000018bcfe56800', '00000001', '6b', '00000001', '76'].join(''),
    );
  });

  it('arbitrary and mutated bytes never yield an untyped error', () => {
    const check = (b: Uint8Array) => {
      try {
        decodeCommand(b);
      } catch (e) {
        expect(e).toBeInstanceOf(SealkvError);
        expect((e as SealkvError).code).toBe('COMMAND_MALFORMED');
      }
    };
    fc.assert(fc.property(fc.uint8Array({ maxLength: 64 }), check), { numRuns: 2000 });
    fc.assert(
      fc.property(arbCommand, fc.nat(), fc.nat(255), (cmd, at, v) => {
        const p = encodeCommand(cmd);
        const m = p.slice();
        m[at % m.length] = v;
        check(m);
        check(p.subarray(0, at % p.length)); // every truncation
        check(Buffer.concat([p, new Uint8Array([0])])); // trailing byte
      }),
      { numRuns: 1000 },
    );
  });

  it('malformed payloads name the reason', () => {
    const reason = (b: Uint8Array) => {
      try {
        decodeCommand(b);
        return 'decoded';
      } catch (e) {
        return (e as SealkvError).reason;
      }
    };
    const ok = encodeCommand({ op: 'append', now: 5n, key: new Uint8Array([1]), value: new Uint8Array([2]) });
    expect(reason(ok)).toBe('decoded');
    expect(reason(Buffer.concat([ok, new Uint8Array([0])]))).toBe('TRAILING');
    expect(reason(ok.subarray(0, ok.length - 1))).toBe('TRUNCATED');
    expect(reason(new Uint8Array([0x99, 0, 0, 0, 0, 0, 0, 0, 0]))).toBe('UNKNOWN_OPCODE');
    expect(reason(new Uint8Array([]))).toBe('TRUNCATED');
    // SET with reserved flag bits; SET with NX and XX.
    const set = encodeCommand({
      op: 'set',
      now: 0n,
      key: new Uint8Array(),
      value: new Uint8Array(),
      condition: 'always',
      get: false,
      ttl: { mode: 'clear' },
    });
    const reserved = set.slice();
    reserved[9] = 0x80;
    expect(reason(reserved)).toBe('RESERVED_FLAGS');
    const both = set.slice();
    both[9] = 0x03;
    expect(reason(both)).toBe('BAD_COMBINATION');
  });

  it('a huge item count is refused before allocating', () => {
    const p = new Uint8Array(13);
    p[0] = 0x13; // DEL
    p.set([0xff, 0xff, 0xff, 0xff], 9);
    expect(() => decodeCommand(p)).toThrow(/count/);
  });

  it('decoded keys never alias the payload; values are views the state machine copies into its record (EH-7)', () => {
    const p = encodeCommand({ op: 'setnx', now: 1n, key: new Uint8Array([1, 2]), value: new Uint8Array([3]) });
    const c = decodeCommand(p) as Extract<KvCommand, { op: 'setnx' }>;
    // Issue 13: a value is read once, into the new record, within the apply call; a copy here
    // would be a second copy of every written value. Keys outlive the call (buffered writes).
    expect(c.value.buffer).toBe(p.buffer);
    p.fill(0);
    expect([...c.key]).toEqual([1, 2]);
  });
});

describe('issue 9 defect 7: admission stamping (stampCommand)', () => {
  const key = new Uint8Array([1, 2]);
  const value = new Uint8Array([3]);
  const stamped = (cmd: KvCommand, now: bigint): KvCommand => {
    const p = encodeCommand(cmd);
    stampCommand(p, now, hasRelativeTtl(cmd));
    return decodeCommand(p);
  };

  it('sets now to the leader time and moves a relative expiry (EX/PX, EXPIRE) with it', () => {
    // Received by a node whose clock is 2 minutes slow: EX 60 must still mean 60 s of the leader's clock.
    const set: KvCommand = { op: 'set', now: 1000n, key, value, condition: 'always', get: false, ttl: { mode: 'at', expireAt: 61_000n, relative: true } };
    expect(stamped(set, 121_000n)).toMatchObject({ now: 121_000n, ttl: { mode: 'at', expireAt: 181_000n } });
    const exp: KvCommand = { op: 'expire', now: 200_000n, key, expireAt: 260_000n, relative: true };
    expect(stamped(exp, 80_000n)).toMatchObject({ now: 80_000n, expireAt: 140_000n });
  });

  it('keeps an absolute expiry (EXAT/PXAT/EXPIREAT), PERSIST and KEEPTTL; stamps every opcode', () => {
    const set: KvCommand = { op: 'set', now: 1000n, key, value, condition: 'nx', get: true, ttl: { mode: 'at', expireAt: 61_000n, relative: false } };
    expect(stamped(set, 5000n)).toMatchObject({ now: 5000n, condition: 'nx', get: true, ttl: { mode: 'at', expireAt: 61_000n } });
    expect(stamped({ op: 'expire', now: 1n, key, expireAt: null, relative: true }, 9n)).toMatchObject({ now: 9n, expireAt: null });
    expect(stamped({ op: 'set', now: 1n, key, value, condition: 'always', get: false, ttl: { mode: 'keep' } }, 9n)).toMatchObject({
      now: 9n,
      ttl: { mode: 'keep' },
    });
    for (const cmd of [
      { op: 'del', now: 1n, keys: [key] },
      { op: 'mset', now: 1n, pairs: [{ key, value }] },
      { op: 'incrby', now: 1n, key, delta: -3n },
      { op: 'append', now: 1n, key, value },
      { op: 'setnx', now: 1n, key, value },
      { op: 'getset', now: 1n, key, value },
      { op: 'sweepExpired', now: 1n, keys: [key] },
    ] as KvCommand[]) {
      expect(stamped(cmd, 77n)).toEqual({ ...cmd, now: 77n });
    }
  });

  it('clamps a moved expiry to a valid one and leaves non-KV payloads alone', () => {
    const exp: KvCommand = { op: 'expire', now: 10_000n, key, expireAt: 5000n, relative: true }; // EXPIRE k -5
    expect(stamped(exp, 1000n)).toMatchObject({ now: 1000n, expireAt: 1n });
    const other = new Uint8Array([0x03, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    stampCommand(other, 5n, true);
    expect([...other]).toEqual([0x03, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(commandTime(other)).toBeNull();
    expect(commandTime(encodeCommand({ op: 'del', now: 42n, keys: [key] }))).toBe(42n);
  });

  it('GETEX EX and the relative commands inside EXEC are moved; EXPIREAT inside the same EXEC is not (merge of issues 9 and 12)', () => {
    const getex: KvCommand = { op: 'getex', now: 1000n, key, ttl: { mode: 'at', expireAt: 61_000n, relative: true } };
    const p = encodeCommand(getex);
    stampCommand(p, relativeTtlOf(getex) === true ? 121_000n : 0n, relativeTtlOf(getex));
    expect(decodeCommand(p)).toMatchObject({ now: 121_000n, ttl: { mode: 'at', expireAt: 181_000n } });

    const exec: KvCommand = {
      op: 'exec',
      now: 1000n,
      watches: [],
      commands: [
        { op: 'set', now: 1000n, key, value, condition: 'always', get: false, ttl: { mode: 'at', expireAt: 61_000n, relative: true } },
        { op: 'expire', now: 1000n, key, expireAt: 500_000n, relative: false }, // EXPIREAT
        { op: 'expire', now: 1000n, key, expireAt: 11_000n, relative: true }, // EXPIRE k 10
      ],
    };
    const rel = relativeTtlOf(exec);
    expect(rel).toEqual([true, false, true]);
    const e = encodeCommand(exec);
    stampCommand(e, 121_000n, rel);
    const d = decodeCommand(e);
    expect(d).toMatchObject({ op: 'exec', now: 121_000n });
    const cmds = (d as Extract<KvCommand, { op: 'exec' }>).commands;
    expect(cmds[0]).toMatchObject({ ttl: { mode: 'at', expireAt: 181_000n } });
    expect(cmds[1]).toMatchObject({ expireAt: 500_000n });
    expect(cmds[2]).toMatchObject({ expireAt: 131_000n });
    // An EXEC without relative expiries only gets its `now`.
    const plain: KvCommand = { op: 'exec', now: 5n, watches: [], commands: [{ op: 'del', now: 5n, keys: [key] }] };
    expect(relativeTtlOf(plain)).toBe(false);
  });
});

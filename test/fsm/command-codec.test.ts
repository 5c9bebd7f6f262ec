// KV command codec: round trips, big-endian layout (C-1), FW-1 opcode range, typed decode errors.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeCommand, encodeCommand, type KvCommand } from '../../src/node/fsm/command-codec.js';
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

  it('decoded keys and values never alias the payload (EH-7)', () => {
    const p = encodeCommand({ op: 'setnx', now: 1n, key: new Uint8Array([1, 2]), value: new Uint8Array([3]) });
    const c = decodeCommand(p) as Extract<KvCommand, { op: 'setnx' }>;
    p.fill(0);
    expect([...c.key]).toEqual([1, 2]);
    expect([...c.value]).toEqual([3]);
  });
});

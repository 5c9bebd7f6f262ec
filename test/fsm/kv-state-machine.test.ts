// The state machine's seams: FW-1 dispatch, PE-7/EH-5 halt vs business error, SE-4/SE-5/SE-6
// storage dispatch, the sealing hook, the replicated expiry sweep, and determinism.
import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import {
  decodeValueHeader,
  encodeValueHeader,
  STATE_ENCRYPTED,
  VALUE_HEADER_SIZE,
} from '../../src/crypto/envelope/value-header.js';
import { encodeCommand, type KvCommand } from '../../src/node/fsm/command-codec.js';
import type { ApplyResult, EncryptionHandler } from '../../src/node/fsm/fsm-types.js';
import { collectExpiredKeys, KvReader } from '../../src/node/fsm/kv-reads.js';
import { KvStateMachine } from '../../src/node/fsm/kv-state-machine.js';
import { MemoryKv } from '../../src/node/fsm/memory-kv.js';
import { cleartextValueCodec, joinRecord, type ValueCodec, type ValueHeader } from '../../src/node/fsm/value-codec.js';
import { CryptoError, EnvelopeError, type HaltError, IntegrityError } from '../../src/errors.js';
import { Node, plain, T0 } from './harness.js';

const b = (s: string) => Buffer.from(s, 'latin1');

function halt(r: ApplyResult): HaltError {
  if (!('halt' in r)) throw new Error(`expected a halt, got ${JSON.stringify(r)}`);
  return r.halt;
}

describe('FW-1: dispatch on payload[0]', () => {
  it('0x06 and 0x07 HALT with ENCRYPTION_APPLY / RESERVED_OPCODE, even with a handler', () => {
    const handler: EncryptionHandler = { apply: vi.fn(() => ({ response: { t: 'simple', v: 'OK' } as const })) };
    for (const fsm of [new KvStateMachine(), new KvStateMachine({ encryption: handler })]) {
      for (const op of [0x06, 0x07]) {
        const kv = new MemoryKv();
        const h = halt(fsm.apply(new Uint8Array([op, 0x01]), 9n, { kv }));
        expect(h.code).toBe('ENCRYPTION_APPLY');
        expect(h.reason).toBe('RESERVED_OPCODE');
        expect(h.index).toBe(9n);
        expect(kv.size).toBe(0);
      }
    }
    expect(handler.apply).not.toHaveBeenCalled();
  });

  it('0x03..0x05 without a handler HALT with KEK_NOT_CONFIGURED', () => {
    const fsm = new KvStateMachine();
    for (const op of [0x03, 0x04, 0x05]) {
      const h = halt(fsm.apply(new Uint8Array([op, 0x01, 0, 0]), 3n, { kv: new MemoryKv() }));
      expect(h.code).toBe('ENCRYPTION_APPLY');
      expect(h.reason).toBe('KEK_NOT_CONFIGURED');
    }
  });

  it('0x03..0x05 go to the handler with the payload and the index (FW-6)', () => {
    const seen: [number, bigint][] = [];
    const handler: EncryptionHandler = {
      apply: (p, i) => {
        seen.push([p[0]!, i]);
        return { response: { t: 'simple', v: 'OK' } };
      },
    };
    const fsm = new KvStateMachine({ encryption: handler });
    for (const op of [0x03, 0x04, 0x05]) expect(fsm.apply(new Uint8Array([op, 1]), 42n, { kv: new MemoryKv() })).toHaveProperty('response');
    expect(seen).toEqual([
      [3, 42n],
      [4, 42n],
      [5, 42n],
    ]);
  });

  it('an unknown KV opcode HALTs (ENTRY_MALFORMED, UNKNOWN_OPCODE); other malformed commands are business errors', () => {
    const fsm = new KvStateMachine();
    const kv = new MemoryKv();
    const h = halt(fsm.apply(new Uint8Array([0x42, 0, 0, 0, 0, 0, 0, 0, 0]), 5n, { kv }));
    expect(h.code).toBe('ENTRY_MALFORMED');
    expect(h.reason).toBe('UNKNOWN_OPCODE');
    const good = encodeCommand({ op: 'append', now: T0, key: b('k'), value: b('v') });
    const r = fsm.apply(Buffer.concat([good, new Uint8Array([0])]), 6n, { kv });
    expect(r).toEqual({ response: { t: 'error', v: expect.stringMatching(/^ERR COMMAND_MALFORMED .*trailing/) } });
    expect(kv.size).toBe(0);
  });

  it('an empty payload is a business error (the engine never passes one, PE-2)', () => {
    const r = new KvStateMachine().apply(new Uint8Array(), 1n, { kv: new MemoryKv() });
    expect(r).toHaveProperty('response.t', 'error');
  });
});

describe('SE-4 / SE-5 / SE-6 on the storage path', () => {
  function withRecord(flags: number, body: Uint8Array, expireAt = 0n): Node {
    const n = new Node();
    const rec = new Uint8Array(VALUE_HEADER_SIZE + body.length);
    rec[0] = flags;
    new DataView(rec.buffer).setBigUint64(1, expireAt, false);
    rec.set(body, VALUE_HEADER_SIZE);
    n.kv.put(b('k'), rec);
    return n;
  }

  it('header bytes 0x08, 0x04, 0x06 are rejected with ENCRYPTED_VALUE_RESERVED_STATE on read', () => {
    for (const flags of [0x08, 0x04, 0x06, 0x80]) {
      const n = withRecord(flags, b('v'));
      expect(plain(n.run('GET', 'k'))).toEqual({ error: expect.stringMatching(/^ERR ENCRYPTED_VALUE_RESERVED_STATE /) });
      expect(plain(n.run('SCAN', '0'))).toEqual({ error: expect.stringMatching(/ENCRYPTED_VALUE_RESERVED_STATE/) });
      expect(() => cleartextValueCodec.decodeFromStore(b('k'), n.kv.get(b('k'))!)).toThrow(EnvelopeError);
    }
  });

  it('header byte 0x02 decodes as live and encrypted, 0x00 as live cleartext', () => {
    const rec = (f: number) => new Uint8Array([f, 0, 0, 0, 0, 0, 0, 0, 0]);
    expect(decodeValueHeader(rec(0x02))).toEqual({ tombstone: false, state: STATE_ENCRYPTED, expireAt: 0n });
    expect(decodeValueHeader(rec(0x00))).toEqual({ tombstone: false, state: 0, expireAt: 0n });
  });

  it('a record with a reserved state HALTs an apply that needs it, with that code as reason', () => {
    const n = withRecord(0x04, b('1'));
    const h = halt(n.applyPayload(encodeCommand({ op: 'incrby', now: T0, key: b('k'), delta: 1n })));
    expect(h.code).toBe('ENCRYPTION_APPLY');
    expect(h.reason).toBe('ENCRYPTED_VALUE_RESERVED_STATE');
  });

  it('SE-5: a 41-byte cleartext value starting with 0x01 reads back unchanged', () => {
    const n = new Node();
    const v = new Uint8Array(41).map((_, i) => (i === 0 ? 0x01 : i));
    n.run('SET', 'k', v);
    const r = n.run('GET', 'k');
    expect(r.t === 'bulk' && [...(r.v as Uint8Array)]).toEqual([...v]);
    expect(n.kv.get(b('k'))![0]).toBe(0x00); // stored as state 0b00
  });

  it('an encrypted record with no cipher wired is a NO_CIPHER read error, never its bytes or nil', () => {
    const n = withRecord(0x02, new Uint8Array(40).fill(0xab));
    for (const cmd of [['GET', 'k'], ['MGET', 'k'], ['EXISTS', 'k'], ['TTL', 'k'], ['STRLEN', 'k'], ['SCAN', '0'], ['DBSIZE']]) {
      expect(plain(n.run(...cmd)), cmd[0]).toEqual({ error: expect.stringMatching(/^ERR NO_CIPHER /) });
    }
    expect(() => cleartextValueCodec.decodeFromStore(b('k'), n.kv.get(b('k'))!)).toThrow(CryptoError);
  });

  it('an apply that must read an encrypted record without a cipher HALTs with reason NO_CIPHER, writing nothing', () => {
    const n = withRecord(0x02, new Uint8Array(40).fill(0xab));
    const before = n.kv.dump();
    for (const cmd of [
      { op: 'append', now: T0, key: b('k'), value: b('x') },
      { op: 'incrby', now: T0, key: b('k'), delta: 1n },
      { op: 'expire', now: T0, key: b('k'), expireAt: T0 + 5n },
      { op: 'del', now: T0, keys: [b('k')] },
      { op: 'mset', now: T0, pairs: [{ key: b('other'), value: b('x') }] },
    ] satisfies KvCommand[]) {
      const r = n.applyPayload(encodeCommand(cmd));
      if (cmd.op === 'mset') {
        expect(r).toHaveProperty('response'); // MSET does not read the old record
        continue;
      }
      const h = halt(r);
      expect(h.code).toBe('ENCRYPTION_APPLY');
      expect(h.reason).toBe('NO_CIPHER');
      expect(h.cause).toBeInstanceOf(CryptoError);
      expect(n.kv.dump()).toEqual(before);
    }
  });

  it('a plain SET overwrites an unreadable record without decrypting it', () => {
    const n = withRecord(0x02, new Uint8Array(40));
    expect(plain(n.run('SET', 'k', 'fresh'))).toBe('OK');
    expect(plain(n.run('GET', 'k'))).toBe('fresh');
  });
});

/** A toy sealing codec (XOR, state 0b01) to exercise the hook; not cryptography. */
class XorCodec implements ValueCodec {
  seals = 0;
  failOn: string | null = null;
  encodeForStore(
    key: Uint8Array,
    header: { tombstone: boolean; expireAt: bigint },
    value: Uint8Array,
  ): { header: ValueHeader; body: Uint8Array } {
    if (this.failOn !== null && Buffer.from(key).toString('latin1') === this.failOn) {
      throw new CryptoError('WRITE_COUNT_EXHAUSTED', 'nonce counter exhausted');
    }
    this.seals++;
    return { header: { ...header, state: STATE_ENCRYPTED }, body: value.map((x) => x ^ 0x5a) };
  }
  decodeFromStore(_key: Uint8Array, record: Uint8Array) {
    const header = decodeValueHeader(record);
    const body = record.subarray(VALUE_HEADER_SIZE);
    if (header.state !== STATE_ENCRYPTED) return { header, value: body.slice() };
    if (body.length > 0 && body[0] === 0xff) {
      throw new EnvelopeError('ENCRYPTED_READ_INTEGRITY', 'value failed authentication', { cause: new IntegrityError() });
    }
    return { header, value: body.map((x) => x ^ 0x5a) };
  }
}

describe('the ValueCodec hook', () => {
  it('writes go through encodeForStore; EXPIRE re-encodes with the new header (SE-6)', () => {
    const codec = new XorCodec();
    const n = new Node({ codec });
    n.run('SET', 'k', 'secret');
    expect(n.kv.get(b('k'))![0]).toBe(0x02);
    expect(Buffer.from(n.kv.get(b('k'))!.subarray(VALUE_HEADER_SIZE)).includes(b('secret'))).toBe(false);
    expect(plain(n.run('GET', 'k'))).toBe('secret');
    const seals = codec.seals;
    n.run('EXPIRE', 'k', '100');
    expect(codec.seals).toBe(seals + 1);
    expect(decodeValueHeader(n.kv.get(b('k'))!).expireAt).toBe(T0 + 100_000n);
    expect(plain(n.run('GET', 'k'))).toBe('secret');
  });

  it('a read integrity failure is an error reply carrying the code (SE-8), and HALTs an apply needing it', () => {
    const codec = new XorCodec();
    const n = new Node({ codec });
    n.kv.put(b('k'), joinRecord({ tombstone: false, state: STATE_ENCRYPTED, expireAt: 0n }, new Uint8Array([0xff, 1])));
    expect(plain(n.run('GET', 'k'))).toEqual({ error: expect.stringMatching(/^ERR ENCRYPTED_READ_INTEGRITY /) });
    const h = halt(n.applyPayload(encodeCommand({ op: 'append', now: T0, key: b('k'), value: b('x') })));
    expect(h.reason).toBe('ENCRYPTED_READ_INTEGRITY');
  });

  it('visibility is decided only after decoding: an expired record that fails to authenticate is an error, not nil', () => {
    const codec = new XorCodec();
    const n = new Node({ codec });
    n.kv.put(b('k'), joinRecord({ tombstone: true, state: STATE_ENCRYPTED, expireAt: 1n }, new Uint8Array([0xff])));
    expect(plain(n.run('GET', 'k'))).toEqual({ error: expect.stringMatching(/ENCRYPTED_READ_INTEGRITY/) });
    expect(plain(n.run('EXISTS', 'k'))).toEqual({ error: expect.stringMatching(/ENCRYPTED_READ_INTEGRITY/) });
  });

  it('a sealing failure HALTs with the codec error as reason and leaves none of the command applied', () => {
    const codec = new XorCodec();
    const n = new Node({ codec });
    codec.failOn = 'b';
    const h = halt(
      n.applyPayload(
        encodeCommand({
          op: 'mset',
          now: T0,
          pairs: [
            { key: b('a'), value: b('1') },
            { key: b('b'), value: b('2') },
          ],
        }),
      ),
    );
    expect(h.code).toBe('ENCRYPTION_APPLY');
    expect(h.reason).toBe('WRITE_COUNT_EXHAUSTED');
    expect(h.index).toBe(1n);
    expect(n.kv.size).toBe(0);
  });
});

describe('replicated expiry sweep', () => {
  it('collectExpiredKeys picks candidates; SweepExpired deletes those still expired at its now', () => {
    const n = new Node();
    n.run('SET', 'a', '1', 'PX', '10');
    n.run('SET', 'b', '2', 'PX', '10');
    n.run('SET', 'c', '3');
    n.run('SET', 'd', '4', 'PX', '1000');
    n.now += 20n;
    const { keys, next } = collectExpiredKeys(n.kv, n.now, null, 10, 100);
    expect(keys.map((k) => Buffer.from(k).toString())).toEqual(['a', 'b']);
    expect(next).toBeNull();
    // Between collection and apply, b is rewritten: the sweep must not delete it.
    n.run('SET', 'b', 'new');
    const r = n.applyPayload(encodeCommand({ op: 'sweepExpired', now: n.now, keys }));
    expect(r).toEqual({ response: { t: 'int', v: 1n } });
    expect(n.kv.dump().map((e) => Buffer.from(e.key).toString())).toEqual(['b', 'c', 'd']);
  });

  it('collectExpiredKeys respects maxKeys and maxExamined and resumes from its cursor', () => {
    const n = new Node();
    for (let i = 0; i < 10; i++) n.run('SET', `k${i}`, 'v', 'PX', '1');
    n.now += 5n;
    const first = collectExpiredKeys(n.kv, n.now, null, 3, 100);
    expect(first.keys).toHaveLength(3);
    const second = collectExpiredKeys(n.kv, n.now, first.next, 100, 4);
    expect(second.keys).toHaveLength(4);
    const third = collectExpiredKeys(n.kv, n.now, second.next, 100, 100);
    expect(third.keys).toHaveLength(3);
    expect(third.next).toBeNull();
  });
});

describe('determinism', () => {
  const keys = ['a', 'b', 'c', 'n'];
  const arbArgs = fc.oneof(
    fc.tuple(fc.constantFrom('SET', 'SETNX', 'GETSET', 'APPEND'), fc.constantFrom(...keys), fc.constantFrom('1', 'x', '42')),
    fc.tuple(fc.constant('SET'), fc.constantFrom(...keys), fc.constant('v'), fc.constantFrom('PX', 'EX'), fc.constantFrom('1', '5', '50')),
    fc.tuple(fc.constant('SET'), fc.constantFrom(...keys), fc.constant('v'), fc.constantFrom('NX', 'XX', 'KEEPTTL', 'GET')),
    fc.tuple(fc.constantFrom('INCR', 'DECR', 'PERSIST', 'DEL'), fc.constantFrom(...keys)),
    fc.tuple(fc.constantFrom('INCRBY', 'PEXPIRE', 'EXPIRE'), fc.constantFrom(...keys), fc.constantFrom('-3', '0', '7', '40')),
    fc.tuple(fc.constant('MSET'), fc.constantFrom(...keys), fc.constant('1'), fc.constantFrom(...keys), fc.constant('2')),
  );

  it('two replicas applying the same payloads hold byte-identical tables, whatever their local clocks', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(arbArgs, fc.nat(30)), { minLength: 1, maxLength: 60 }), (steps) => {
        // The proposer builds payloads; both replicas apply them.
        const proposer = new Node();
        const payloads: Uint8Array[] = [];
        for (const [args, dt] of steps) {
          proposer.now += BigInt(dt);
          const c = proposer.classify(...args);
          if (c.kind === 'write') {
            const p = encodeCommand(c.command);
            payloads.push(p);
            proposer.applyPayload(p);
          }
        }
        // Replicas whose wall clocks disagree wildly: apply must not look at them.
        const spy = vi.spyOn(Date, 'now');
        const r1 = new KvStateMachine();
        const r2 = new KvStateMachine();
        const kv1 = new MemoryKv();
        const kv2 = new MemoryKv();
        const out1: unknown[] = [];
        const out2: unknown[] = [];
        payloads.forEach((p, i) => {
          spy.mockReturnValue(0);
          out1.push(r1.apply(p, BigInt(i + 1), { kv: kv1 }));
          spy.mockReturnValue(9e15);
          out2.push(r2.apply(p, BigInt(i + 1), { kv: kv2 }));
        });
        spy.mockRestore();
        expect(out2).toEqual(out1);
        expect(kv2.dump()).toEqual(kv1.dump());
        expect(kv1.dump()).toEqual(proposer.kv.dump());
      }),
      { numRuns: 200 },
    );
  });

  it('the reader decides expiry with its own clock only', () => {
    const kv = new MemoryKv();
    new KvStateMachine().apply(
      encodeCommand({ op: 'set', now: T0, key: b('k'), value: b('v'), condition: 'always', get: false, ttl: { mode: 'at', expireAt: T0 + 10n } }),
      1n,
      { kv },
    );
    const reader = new KvReader();
    expect(reader.get(kv, b('k'), T0 + 10n)).not.toBeNull();
    expect(reader.get(kv, b('k'), T0 + 11n)).toBeNull();
    expect(kv.size).toBe(1); // reads never delete
  });

  it('SE-4: the example expireAt encodes big-endian', () => {
    expect(Buffer.from(encodeValueHeader({ tombstone: false, state: 0, expireAt: 1700000000000n })).toString('hex')).toBe(
      '000000018bcfe56800',
    );
  });
});

describe('EH-7: values decoded as views of the payload are copied into the stored record', () => {
  it('SET, SETNX, GETSET, MSET and APPEND store records that survive the payload being overwritten', () => {
    const fsm = new KvStateMachine();
    const kv = new MemoryKv();
    const mods = new MemoryKv();
    const b = (s: string) => Buffer.from(s, 'latin1');
    const cmds: KvCommand[] = [
      { op: 'set', now: T0, key: b('a'), value: b('value-a'), condition: 'always', get: false, ttl: { mode: 'clear' } },
      { op: 'setnx', now: T0, key: b('b'), value: b('value-b') },
      { op: 'getset', now: T0, key: b('c'), value: b('value-c') },
      { op: 'mset', now: T0, pairs: [{ key: b('d'), value: b('value-d') }] },
      { op: 'append', now: T0, key: b('e'), value: b('value-e') },
    ];
    let index = 0n;
    for (const c of cmds) {
      const payload = encodeCommand(c);
      const r = fsm.apply(payload, ++index, { kv, kvmod: mods });
      expect('halt' in r).toBe(false);
      payload.fill(0x58); // the entry's bytes change after the apply call: nothing stored may change
    }
    const reader = new KvReader();
    for (const k of ['a', 'b', 'c', 'd', 'e']) expect(Buffer.from(reader.get(kv, b(k), T0) ?? []).toString('latin1')).toBe(`value-${k}`);
  });
});

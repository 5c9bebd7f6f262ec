// FW-1..FW-5 encryption entry codecs: known vectors, bounded decoding, typed errors, round-trips.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { KV_OPCODES } from '../../src/node/fsm/command-codec.js';
import { KeyError, type SealkvError } from '../../src/errors.js';
import {
  type BootstrapEntry,
  decodeBootstrap,
  decodeEncryptionEntry,
  decodeRegisterWriter,
  decodeRotation,
  type EncryptionEntry,
  encodeBootstrap,
  encodeEncryptionEntry,
  encodeRegisterWriter,
  encodeRotation,
  isEncryptionOpcode,
  MAX_BATCH_ROWS,
  type RotationEntry,
} from '../../src/keys/encryption-entries.js';
import { codeOfSync } from './helpers.js';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const unhex = (s: string) => new Uint8Array(Buffer.from(s.replace(/\s+/g, ''), 'hex'));

describe('FW-3 register-writer', () => {
  it('FW-3: (dek_id 5, full_node_id 0xAABB, epoch 3) encodes to 03 01 00000005 000000000000AABB 0003 and decodes back', () => {
    const bytes = encodeRegisterWriter({ dekId: 5, fullNodeId: 0xaabbn, localEpoch: 3 });
    expect(hex(bytes)).toBe('0301' + '00000005' + '000000000000aabb' + '0003');
    expect(decodeRegisterWriter(bytes)).toEqual({ kind: 'register-writer', registration: { dekId: 5, fullNodeId: 0xaabbn, localEpoch: 3 } });
  });

  it('FW-2: a registration with one trailing byte is FSM_WIRE_MALFORMED; a short one too; version 2 is FSM_WIRE_VERSION', () => {
    const bytes = encodeRegisterWriter({ dekId: 5, fullNodeId: 0xaabbn, localEpoch: 3 });
    expect(codeOfSync(() => decodeEncryptionEntry(new Uint8Array([...bytes, 0])))).toBe('FSM_WIRE_MALFORMED');
    expect(codeOfSync(() => decodeEncryptionEntry(bytes.subarray(0, 15)))).toBe('FSM_WIRE_MALFORMED');
    expect(codeOfSync(() => decodeEncryptionEntry(bytes.subarray(0, 1)))).toBe('FSM_WIRE_MALFORMED');
    const v2 = new Uint8Array(bytes);
    v2[1] = 2;
    expect(codeOfSync(() => decodeEncryptionEntry(v2))).toBe('FSM_WIRE_VERSION');
  });

  it('C-1: full_node_id above 2^53 and u32/u16 maxima encode big-endian and round-trip', () => {
    const reg = { dekId: 0xffffffff, fullNodeId: 0xffffffffffffffffn, localEpoch: 0xffff };
    expect(hex(encodeRegisterWriter(reg))).toBe('0301' + 'ff'.repeat(14));
    expect(decodeRegisterWriter(encodeRegisterWriter(reg)).registration).toEqual(reg);
  });
});

describe('FW-4 bootstrap', () => {
  const wrapped = (f: number) => new Uint8Array(60).fill(f);
  const entry: Omit<BootstrapEntry, 'kind'> = {
    storageDekId: 0x01020304,
    storageWrapped: wrapped(1),
    raftDekId: 0x0a0b0c0d,
    raftWrapped: wrapped(2),
    batch: [
      { dekId: 0x01020304, fullNodeId: 0x1122334455667788n, localEpoch: 1 },
      { dekId: 0x0a0b0c0d, fullNodeId: 0x1122334455667788n, localEpoch: 1 },
    ],
  };

  it('FW-4: layout [04][01][sid][len][w][rid][len][w][count][rows] and round-trip', () => {
    const b = encodeBootstrap(entry);
    expect(b.length).toBe(2 + 8 + 60 + 8 + 60 + 4 + 28);
    expect(hex(b.subarray(0, 10))).toBe('0401' + '01020304' + '0000003c');
    expect(hex(b.subarray(70, 78))).toBe('0a0b0c0d' + '0000003c');
    expect(hex(b.subarray(138, 142))).toBe('00000002');
    expect(decodeBootstrap(b)).toEqual({ kind: 'bootstrap', ...entry });
  });

  it('FW-4: count = 0xFFFFFFFF is FSM_WIRE_MALFORMED without a large allocation; so is len = 0xFFFFFFFF', () => {
    const b = encodeBootstrap({ ...entry, batch: [] });
    const count = new Uint8Array(b);
    count.set([0xff, 0xff, 0xff, 0xff], b.length - 4);
    expect(codeOfSync(() => decodeBootstrap(count))).toBe('FSM_WIRE_MALFORMED');
    const len = new Uint8Array(b);
    len.set([0xff, 0xff, 0xff, 0xff], 6);
    expect(codeOfSync(() => decodeBootstrap(len))).toBe('FSM_WIRE_MALFORMED');
    const len2 = new Uint8Array(b);
    len2.set([0xff, 0xff, 0xff, 0xff], 74);
    expect(codeOfSync(() => decodeBootstrap(len2))).toBe('FSM_WIRE_MALFORMED');
  });

  it('FW-4: count above 1 << 14, count × 14 not equal to the bytes remaining, and trailing bytes are FSM_WIRE_MALFORMED', () => {
    const b = encodeBootstrap(entry);
    const over = new Uint8Array(b);
    new DataView(over.buffer).setUint32(138, MAX_BATCH_ROWS + 1);
    expect(codeOfSync(() => decodeBootstrap(over))).toBe('FSM_WIRE_MALFORMED');
    expect(codeOfSync(() => decodeBootstrap(new Uint8Array([...b, 0])))).toBe('FSM_WIRE_MALFORMED');
    expect(codeOfSync(() => decodeBootstrap(b.subarray(0, b.length - 1)))).toBe('FSM_WIRE_MALFORMED');
  });
});

describe('FW-5 rotation family', () => {
  const rot: Omit<RotationEntry, 'kind'> = { subTag: 0x01, dekId: 9, purpose: 'raft', wrapped: new Uint8Array(60).fill(5), proposer: { dekId: 9, fullNodeId: 77n, localEpoch: 2 } };

  it('FW-5: layout [05][01][sub][dek][purpose][wlen][w][prop dek][prop full][prop epoch] and round-trip for each sub-tag', () => {
    const b = encodeRotation(rot);
    expect(hex(b.subarray(0, 12))).toBe('0501' + '01' + '00000009' + '02' + '0000003c');
    expect(hex(b.subarray(72))).toBe('00000009' + '000000000000004d' + '0002');
    expect(decodeRotation(b)).toEqual({ kind: 'rotation', ...rot });
    for (const subTag of [0x04, 0x05] as const) {
      const c = { ...rot, subTag, wrapped: new Uint8Array(0), purpose: subTag === 0x04 ? ('storage' as const) : ('raft' as const) };
      expect(decodeRotation(encodeRotation(c))).toEqual({ kind: 'rotation', ...c });
    }
  });

  it('FW-5: sub-tag 0x02 HALTs at decode with FSM_WIRE_SUBTAG (also 0x03, 0x00, 0x06, 0xff)', () => {
    for (const t of [0x02, 0x03, 0x00, 0x06, 0xff]) {
      const b = encodeRotation(rot);
      b[2] = t;
      expect([t, codeOfSync(() => decodeEncryptionEntry(b))]).toEqual([t, 'FSM_WIRE_SUBTAG']);
    }
  });

  it('FW-5: purpose other than 1 or 2 is FSM_WIRE_MALFORMED; wrapped_len past the end is FSM_WIRE_MALFORMED', () => {
    for (const p of [0, 3, 0xff]) {
      const b = encodeRotation(rot);
      b[7] = p;
      expect(codeOfSync(() => decodeRotation(b))).toBe('FSM_WIRE_MALFORMED');
    }
    const b = encodeRotation(rot);
    new DataView(b.buffer).setUint32(8, 0xffffffff);
    expect(codeOfSync(() => decodeRotation(b))).toBe('FSM_WIRE_MALFORMED');
  });
});

describe('FW-1 dispatch', () => {
  it('FW-1: 0x06 and 0x07 are RESERVED_OPCODE; the range 0x03..0x07 is the encryption handler’s', () => {
    expect(codeOfSync(() => decodeEncryptionEntry(new Uint8Array([0x06, 0x01])))).toBe('RESERVED_OPCODE');
    expect(codeOfSync(() => decodeEncryptionEntry(new Uint8Array([0x07])))).toBe('RESERVED_OPCODE');
    expect(codeOfSync(() => decodeEncryptionEntry(new Uint8Array([])))).toBe('FSM_WIRE_MALFORMED');
    expect([0x02, 0x03, 0x07, 0x08].map(isEncryptionOpcode)).toEqual([false, true, true, false]);
  });

  it('FW-1: no KV codec opcode is in 0x03..0x07 (the property over every command is in test/fsm/command-codec.test.ts)', () => {
    expect(KV_OPCODES.filter(isEncryptionOpcode)).toEqual([]);
  });
});

// ---- properties ----

const u32 = fc.integer({ min: 0, max: 0xffffffff });
const reg = fc.record({ dekId: u32, fullNodeId: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), localEpoch: fc.integer({ min: 0, max: 0xffff }) });
const blob = fc.uint8Array({ maxLength: 80 });
const anyEntry: fc.Arbitrary<EncryptionEntry> = fc.oneof(
  reg.map((registration): EncryptionEntry => ({ kind: 'register-writer', registration })),
  fc.record({ storageDekId: u32, storageWrapped: blob, raftDekId: u32, raftWrapped: blob, batch: fc.array(reg, { maxLength: 8 }) }).map((e): EncryptionEntry => ({ kind: 'bootstrap', ...e })),
  fc
    .record({ subTag: fc.constantFrom(0x01 as const, 0x04 as const, 0x05 as const), dekId: u32, purpose: fc.constantFrom('storage' as const, 'raft' as const), wrapped: blob, proposer: reg })
    .map((e): EncryptionEntry => ({ kind: 'rotation', ...e })),
);

describe('FW-2..FW-5 (property)', () => {
  it('FW-3/FW-4/FW-5: every entry round-trips', () => {
    fc.assert(
      fc.property(anyEntry, (e) => {
        expect(decodeEncryptionEntry(encodeEncryptionEntry(e))).toEqual(e);
      }),
      { numRuns: 500 },
    );
  });

  it('FW-2: every truncation and every extension by one byte is FSM_WIRE_MALFORMED', () => {
    fc.assert(
      fc.property(anyEntry, fc.nat(), fc.integer({ min: 0, max: 255 }), (e, at, extra) => {
        const b = encodeEncryptionEntry(e);
        const cut = 1 + (at % (b.length - 1));
        expect(codeOfSync(() => decodeEncryptionEntry(b.subarray(0, cut)))).toBe('FSM_WIRE_MALFORMED');
        expect(codeOfSync(() => decodeEncryptionEntry(new Uint8Array([...b, extra])))).toBe('FSM_WIRE_MALFORMED');
      }),
      { numRuns: 300 },
    );
  });

  it('FW-2: arbitrary bytes after an encryption opcode decode or fail with a typed KeyError, never anything else', () => {
    fc.assert(
      fc.property(fc.integer({ min: 3, max: 7 }), fc.uint8Array({ maxLength: 200 }), (op, rest) => {
        try {
          decodeEncryptionEntry(new Uint8Array([op, ...rest]));
        } catch (e) {
          expect(e).toBeInstanceOf(KeyError);
          expect((e as SealkvError).code).toMatch(/^(FSM_WIRE_(MALFORMED|VERSION|SUBTAG)|RESERVED_OPCODE)$/);
        }
      }),
      { numRuns: 1000 },
    );
  });

  it('C-1: register-writer bytes equal a hand-written big-endian vector', () => {
    expect(hex(encodeRegisterWriter({ dekId: 0x01020304, fullNodeId: 0x0506070809101112n, localEpoch: 0x1314 }))).toBe(hex(unhex('0301 01020304 0506070809101112 1314')));
  });
});

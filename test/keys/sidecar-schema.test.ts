// KM-5 sidecar schema, KM-6 validation, C-2 lossless u64 fields, KM-11 applied index.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createKdfParams } from '../../src/keys/kek-kdf.js';
import {
  advanceAppliedIndex,
  emptySidecar,
  parseSidecar,
  type Sidecar,
  type SidecarKey,
  serializeSidecar,
  U64_MAX,
  validateSidecar,
} from '../../src/keys/sidecar-schema.js';
import { CREATED, codeOfSync, seqRandom } from './helpers.js';

const W80 = Buffer.from(new Uint8Array(60).fill(7)).toString('base64'); // 80 base64 chars

function example(): Record<string, unknown> {
  return {
    version: 1,
    raft_applied_index: '1207',
    storage_envelope_active: true,
    storage_envelope_cutover_index: '1180',
    raft_envelope_cutover_index: '1207',
    active: { storage: 2882400001, raft: 19088743 },
    keys: {
      '19088743': { purpose: 'raft', wrapped: W80, created: CREATED, local_epoch: 4 },
      '2882400001': { purpose: 'storage', wrapped: W80, created: CREATED, local_epoch: 4 },
    },
  };
}

/** Applies `edit` to a fresh copy of the example and returns the parse error code. */
function codeAfter(edit: (d: Record<string, unknown> & { keys: Record<string, Record<string, unknown>>; active: Record<string, unknown> }) => void): string {
  const d = example() as Parameters<typeof edit>[0];
  edit(d);
  return codeOfSync(() => parseSidecar(JSON.stringify(d)));
}

describe('KM-5 sidecar file format', () => {
  it('KM-5: writing and reading the example round-trips every field exactly', () => {
    const s = parseSidecar(JSON.stringify(example()));
    expect(s.raftAppliedIndex).toBe(1207n);
    expect(s.active).toEqual({ storage: 2882400001, raft: 19088743 });
    expect(s.keys.get(2882400001)?.purpose).toBe('storage');
    expect(s.keys.get(19088743)?.localEpoch).toBe(4);
    const text = serializeSidecar(s);
    expect(JSON.parse(text)).toEqual(example());
    expect(serializeSidecar(parseSidecar(text))).toBe(text);
  });

  it('C-2: raft_applied_index = "18446744073709551615" round-trips exactly; the JSON number 9007199254740993 is SIDECAR_MALFORMED', () => {
    const d = example();
    d.raft_applied_index = '18446744073709551615';
    d.storage_envelope_cutover_index = '9007199254740993';
    const s = parseSidecar(JSON.stringify(d));
    expect(s.raftAppliedIndex).toBe(U64_MAX);
    expect(s.storageEnvelopeCutoverIndex).toBe(9007199254740993n);
    expect(JSON.parse(serializeSidecar(s)).raft_applied_index).toBe('18446744073709551615');
    const text = JSON.stringify(example()).replace('"raft_applied_index":"1207"', '"raft_applied_index":9007199254740993');
    expect(codeOfSync(() => parseSidecar(text))).toBe('SIDECAR_MALFORMED');
  });

  it('C-2: a u64 with a sign, leading zeros, spaces, exponent or above 2^64-1 is SIDECAR_MALFORMED', () => {
    for (const v of ['-1', '+1', '01', ' 1', '1e3', '18446744073709551616', '', '0x10', '1.0']) {
      expect(codeAfter((d) => (d.raft_applied_index = v))).toBe('SIDECAR_MALFORMED');
    }
    expect(codeAfter((d) => (d.raft_applied_index = '0'))).toBe('no error');
  });

  it('KM-5: kek_kdf round-trips; the empty sidecar has no keys', () => {
    const kdf = createKdfParams({}, seqRandom(3));
    const s = emptySidecar(kdf);
    const back = parseSidecar(serializeSidecar(s));
    expect(back.kekKdf?.iterations).toBe(3);
    expect(Buffer.from(back.kekKdf!.salt).equals(Buffer.from(kdf.salt))).toBe(true);
    expect(back.keys.size).toBe(0);
  });
});

describe('KM-6 sidecar validation', () => {
  it('KM-6: version 2 → SIDECAR_VERSION; a missing version → SIDECAR_VERSION, checked before any other member', () => {
    expect(codeAfter((d) => (d.version = 2))).toBe('SIDECAR_VERSION');
    expect(codeAfter((d) => delete d.version)).toBe('SIDECAR_VERSION');
    // Even with other members broken, the version is reported first.
    expect(codeAfter((d) => {
      d.version = 2;
      d.keys = [] as never;
    })).toBe('SIDECAR_VERSION');
    expect(codeAfter((d) => (d.version = '1'))).toBe('SIDECAR_VERSION');
  });

  it('KM-6: active.storage = 7 with keys["7"].purpose = "raft" is SIDECAR_ACTIVE_PURPOSE_MISMATCH', () => {
    expect(codeAfter((d) => {
      d.keys['7'] = { purpose: 'raft', wrapped: W80, created: CREATED, local_epoch: 0 };
      d.active.storage = 7;
    })).toBe('SIDECAR_ACTIVE_PURPOSE_MISMATCH');
  });

  it('KM-6: a non-zero active id without a key is SIDECAR_ACTIVE_KEY_MISSING', () => {
    expect(codeAfter((d) => (d.active.raft = 5))).toBe('SIDECAR_ACTIVE_KEY_MISSING');
  });

  it('KM-6: key names that are not canonical decimal u32 are SIDECAR_KEY_ID_FORMAT; "0" is SIDECAR_RESERVED_KEY_ID', () => {
    for (const name of ['007', 'abc', '4294967296', '-1', '1.5', ' 1', '']) {
      expect(codeAfter((d) => (d.keys[name] = { purpose: 'raft', wrapped: W80, created: CREATED, local_epoch: 0 }))).toBe('SIDECAR_KEY_ID_FORMAT');
    }
    expect(codeAfter((d) => (d.keys['0'] = { purpose: 'raft', wrapped: W80, created: CREATED, local_epoch: 0 }))).toBe('SIDECAR_RESERVED_KEY_ID');
    expect(codeAfter((d) => (d.keys['4294967295'] = { purpose: 'raft', wrapped: W80, created: CREATED, local_epoch: 0 }))).toBe('no error');
  });

  it('KM-6: an unknown purpose is SIDECAR_PURPOSE', () => {
    expect(codeAfter((d) => (d.keys['19088743']!.purpose = 'backup'))).toBe('SIDECAR_PURPOSE');
    expect(codeAfter((d) => (d.keys['19088743']!.purpose = 'Raft'))).toBe('SIDECAR_PURPOSE');
  });

  it('KM-6: truncated or edited files, unknown/missing members and wrong types are SIDECAR_MALFORMED', () => {
    const text = JSON.stringify(example());
    for (let cut = 1; cut < text.length; cut += 13) expect(codeOfSync(() => parseSidecar(text.slice(0, cut)))).not.toBe('no error');
    expect(codeOfSync(() => parseSidecar(text.slice(0, -1)))).toBe('SIDECAR_MALFORMED');
    expect(codeOfSync(() => parseSidecar(''))).toBe('SIDECAR_MALFORMED');
    expect(codeOfSync(() => parseSidecar('[]'))).toBe('SIDECAR_MALFORMED');
    expect(codeOfSync(() => parseSidecar('null'))).toBe('SIDECAR_MALFORMED');
    const cases: ((d: Parameters<Parameters<typeof codeAfter>[0]>[0]) => void)[] = [
      (d) => (d.extra = 1),
      (d) => delete d.raft_envelope_cutover_index,
      (d) => (d.storage_envelope_active = 'true'),
      (d) => (d.active = { storage: 2882400001 }),
      (d) => (d.active.raft = -1),
      (d) => (d.active.raft = 1.5),
      (d) => (d.active.raft = 2 ** 32),
      (d) => (d.keys['19088743']!.local_epoch = 65536),
      (d) => (d.keys['19088743']!.local_epoch = '4'),
      (d) => (d.keys['19088743']!.wrapped = ''),
      (d) => (d.keys['19088743']!.wrapped = 'not*base64'),
      (d) => (d.keys['19088743']!.created = 'yesterday'),
      (d) => (d.keys['19088743']!.created = '2025-03-01T10:00:00+01:00'),
      (d) => (d.keys['19088743']!.extra = true),
      (d) => delete d.keys['19088743']!.purpose,
      (d) => (d.keys = [] as never),
      (d) => (d.kek_kdf = { algorithm: 'argon2id', version: 19, salt: 'AAAAAAAAAAAAAAAAAAAAAA==', iterations: 1, memory_kib: 65536, parallelism: 4 }),
      (d) => (d.kek_kdf = { algorithm: 'argon2i', version: 19, salt: 'AAAAAAAAAAAAAAAAAAAAAA==', iterations: 3, memory_kib: 65536, parallelism: 4 }),
      (d) => (d.kek_kdf = { algorithm: 'argon2id', version: 19, salt: 'AAAA', iterations: 3, memory_kib: 65536, parallelism: 4 }),
      (d) => (d.kek_kdf = { algorithm: 'argon2id', version: 19, salt: 'AAAAAAAAAAAAAAAAAAAAAA==', iterations: 3, memory_kib: 19455, parallelism: 4 }),
      (d) => (d.kek_kdf = { algorithm: 'argon2id', version: 19, salt: 'AAAAAAAAAAAAAAAAAAAAAA==', iterations: 3, memory_kib: 65536, parallelism: 0 }),
    ];
    for (const [i, edit] of cases.entries()) expect([i, codeAfter(edit)]).toEqual([i, 'SIDECAR_MALFORMED']);
  });

  it('KM-6: validation also runs on write — an invalid in-memory sidecar is not serialised', () => {
    const base = emptySidecar();
    const key: SidecarKey = { purpose: 'raft', wrapped: new Uint8Array(60), created: CREATED, localEpoch: 0 };
    expect(codeOfSync(() => serializeSidecar({ ...base, active: { storage: 0, raft: 9 } }))).toBe('SIDECAR_ACTIVE_KEY_MISSING');
    expect(codeOfSync(() => serializeSidecar({ ...base, keys: new Map([[0, key]]) }))).toBe('SIDECAR_RESERVED_KEY_ID');
    expect(codeOfSync(() => serializeSidecar({ ...base, keys: new Map([[9, { ...key, localEpoch: 70000 }]]) }))).toBe('SIDECAR_MALFORMED');
    expect(codeOfSync(() => serializeSidecar({ ...base, raftAppliedIndex: -1n }))).toBe('SIDECAR_MALFORMED');
    expect(codeOfSync(() => serializeSidecar({ ...base, keys: new Map([[9, { ...key, wrapped: new Uint8Array(0) }]]) }))).toBe('SIDECAR_MALFORMED');
    expect(codeOfSync(() => validateSidecar({ ...base, version: 2 as 1 }))).toBe('SIDECAR_VERSION');
  });
});

describe('KM-11 raft_applied_index', () => {
  it('KM-11: applying at index 0 after index 50 leaves "50"; a lower index is ignored; a higher one advances', () => {
    const s50 = advanceAppliedIndex(emptySidecar(), 50n);
    expect(s50.raftAppliedIndex).toBe(50n);
    expect(advanceAppliedIndex(s50, 0n).raftAppliedIndex).toBe(50n);
    expect(advanceAppliedIndex(s50, 49n).raftAppliedIndex).toBe(50n);
    expect(advanceAppliedIndex(s50, 51n).raftAppliedIndex).toBe(51n);
    expect(JSON.parse(serializeSidecar(advanceAppliedIndex(s50, 0n))).raft_applied_index).toBe('50');
  });
});

describe('KM-5/C-2 (property) sidecars round-trip losslessly', () => {
  const u64 = fc.bigInt({ min: 0n, max: U64_MAX });
  const key = fc.record({
    purpose: fc.constantFrom('storage' as const, 'raft' as const),
    wrapped: fc.uint8Array({ minLength: 1, maxLength: 80 }),
    created: fc.date({ min: new Date('2000-01-01'), max: new Date('2100-01-01'), noInvalidDate: true }).map((d) => d.toISOString()),
    localEpoch: fc.integer({ min: 0, max: 0xffff }),
  });
  const sidecar = fc
    .tuple(u64, fc.boolean(), u64, u64, fc.array(fc.tuple(fc.integer({ min: 1, max: 0xffffffff }), key), { maxLength: 6 }))
    .map(([a, active, sc, rc, ks]): Sidecar => {
      const keys = new Map(ks);
      const pick = (p: 'storage' | 'raft'): number => [...keys].find(([, k]) => k.purpose === p)?.[0] ?? 0;
      return { ...emptySidecar(), raftAppliedIndex: a, storageEnvelopeActive: active, storageEnvelopeCutoverIndex: sc, raftEnvelopeCutoverIndex: rc, keys, active: { storage: pick('storage'), raft: pick('raft') } };
    });

  it('C-2/KM-5: serialise → parse is the identity (bigints included)', () => {
    fc.assert(
      fc.property(sidecar, (s) => {
        const back = parseSidecar(serializeSidecar(s));
        expect(back.raftAppliedIndex).toBe(s.raftAppliedIndex);
        expect(back.storageEnvelopeCutoverIndex).toBe(s.storageEnvelopeCutoverIndex);
        expect(back.raftEnvelopeCutoverIndex).toBe(s.raftEnvelopeCutoverIndex);
        expect(back.active).toEqual(s.active);
        expect(back.keys.size).toBe(s.keys.size);
        for (const [id, k] of s.keys) {
          const b = back.keys.get(id)!;
          expect([b.purpose, b.created, b.localEpoch]).toEqual([k.purpose, k.created, k.localEpoch]);
          expect(Buffer.from(b.wrapped).equals(Buffer.from(k.wrapped))).toBe(true);
        }
      }),
      { numRuns: 200 },
    );
  });

  it('KM-6 (property): any truncation of a valid file is refused with a typed sidecar code, never accepted', () => {
    fc.assert(
      fc.property(sidecar, fc.nat(), (s, at) => {
        const text = serializeSidecar(s).trimEnd();
        const cut = at % text.length;
        expect(codeOfSync(() => parseSidecar(text.slice(0, cut)))).toMatch(/^SIDECAR_/);
      }),
      { numRuns: 200 },
    );
  });
});

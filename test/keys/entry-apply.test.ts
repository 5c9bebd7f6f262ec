// Apply decisions of the encryption entries as effect values: FW-1..FW-7, RO-4, RO-5, RT-1,
// WI-2..WI-4, WR-3, WR-4, KM-4, KM-11. No I/O: the tests inspect the returned effects.
import { describe, expect, it } from 'vitest';
import { HaltError } from '../../src/errors.js';
import {
  encodeBootstrap,
  encodeRegisterWriter,
  encodeRotation,
} from '../../src/keys/encryption-entries.js';
import { decideEncryptionEntry, type EncryptionEffect, type EntryApplyContext, type EntryDecision, unwrapEffectKeys } from '../../src/keys/entry-apply.js';
import { lowNodeId16 } from '../../src/keys/node-identity.js';
import type { Registration, RegistryRow, RegistryView, RegistryWrite } from '../../src/keys/registry-rules.js';
import { emptySidecar, type Purpose, type Sidecar, serializeSidecar } from '../../src/keys/sidecar-schema.js';
import { bytes32, testKek } from './helpers.js';

const kek = testKek();
const NOW = '2026-12-03T08:00:00.000Z';
const LEADER = 0x1111222233334444n;
const FOLLOWER = 0x5555666677778888n;
const S = 1001; // storage DEK
const R = 2002; // raft DEK

/** An in-memory registry that applies effects, to check "the registry equals that of a node applying in order". */
class Registry implements RegistryView {
  readonly rows = new Map<string, RegistryRow>();
  get(dekId: number, nodeId16: number) {
    return this.rows.get(`${dekId}:${nodeId16}`);
  }
  apply(ws: readonly RegistryWrite[]) {
    for (const w of ws) this.rows.set(`${w.dekId}:${w.nodeId16}`, w.row);
  }
  snapshot() {
    return JSON.stringify([...this.rows].sort(), (_, v) => (typeof v === 'bigint' ? v.toString() : v));
  }
}

function ctx(over: Partial<EntryApplyContext> = {}): EntryApplyContext {
  return { index: 10n, sidecar: undefined, registry: new Registry(), pinned: { storage: 3, raft: 3 }, kekConfigured: true, now: NOW, ...over };
}

function effectOf(d: EntryDecision): EncryptionEffect {
  if ('halt' in d) throw new Error(`unexpected halt ${d.halt.reason}: ${d.halt.message}`);
  return d.effect;
}

function haltOf(d: EntryDecision): HaltError {
  if (!('halt' in d)) throw new Error(`expected a halt, got ${d.effect.outcome}`);
  expect(d.halt).toBeInstanceOf(HaltError);
  expect(d.halt.code).toBe('ENCRYPTION_APPLY');
  return d.halt;
}

const wrappedS = kek.wrapSync(bytes32(0x51));
const wrappedR = kek.wrapSync(bytes32(0x52));

function bootstrapPayload(over: Partial<Parameters<typeof encodeBootstrap>[0]> = {}) {
  return encodeBootstrap({
    storageDekId: S,
    storageWrapped: wrappedS,
    raftDekId: R,
    raftWrapped: wrappedR,
    batch: [
      { dekId: S, fullNodeId: LEADER, localEpoch: 0 },
      { dekId: R, fullNodeId: LEADER, localEpoch: 0 },
      { dekId: S, fullNodeId: FOLLOWER, localEpoch: 0 },
      { dekId: R, fullNodeId: FOLLOWER, localEpoch: 0 },
    ],
    ...over,
  });
}

function rotation(subTag: 1 | 4 | 5, dekId: number, purpose: Purpose, wrapped: Uint8Array = new Uint8Array(0), proposer?: Registration) {
  return encodeRotation({ subTag, dekId, purpose, wrapped, proposer: proposer ?? { dekId, fullNodeId: LEADER, localEpoch: 3 } });
}

/** Applies a decision's effect to (sidecar, registry) like the pipeline would; returns the next sidecar. */
function commit(d: EntryDecision, sidecar: Sidecar | undefined, reg: Registry): Sidecar | undefined {
  const e = effectOf(d);
  reg.apply(e.registryWrites);
  return e.sidecar ?? sidecar;
}

function bootstrapped(index = 10n): { sidecar: Sidecar; reg: Registry } {
  const reg = new Registry();
  const sidecar = commit(decideEncryptionEntry(bootstrapPayload(), ctx({ index, registry: reg })), undefined, reg)!;
  return { sidecar, reg };
}

describe('FW-4 / RO-4 bootstrap apply', () => {
  it('FW-6/RO-4: applying a bootstrap at index 42 sets both active ids, both keys at local_epoch 0, and raft_applied_index "42"', () => {
    const reg = new Registry();
    const e = effectOf(decideEncryptionEntry(bootstrapPayload(), ctx({ index: 42n, registry: reg })));
    expect(e.outcome).toBe('applied');
    expect(JSON.parse(serializeSidecar(e.sidecar!)).raft_applied_index).toBe('42');
    expect(e.sidecar!.active).toEqual({ storage: S, raft: R });
    expect([...e.sidecar!.keys.values()].map((k) => [k.purpose, k.localEpoch, k.created])).toEqual([
      ['storage', 0, NOW],
      ['raft', 0, NOW],
    ]);
    expect(e.installKeys.map((k) => [k.keyId, k.purpose])).toEqual([
      [S, 'storage'],
      [R, 'raft'],
    ]);
    expect(e.registryWrites).toHaveLength(4);
    expect(e.installer).toBeNull();
  });

  it('KM-4: a bootstrap with storage_dek_id == raft_dek_id HALTs with DUPLICATE_DEK_ID; key_id 0 with RESERVED_KEY_ID', () => {
    expect(haltOf(decideEncryptionEntry(bootstrapPayload({ raftDekId: S, batch: [] }), ctx())).reason).toBe('DUPLICATE_DEK_ID');
    expect(haltOf(decideEncryptionEntry(bootstrapPayload({ storageDekId: 0, batch: [] }), ctx())).reason).toBe('RESERVED_KEY_ID');
  });

  it('WR-4: a bootstrap whose batch names a third DEK id HALTs with FOREIGN_BATCH_DEK and returns no effect at all', () => {
    const d = decideEncryptionEntry(bootstrapPayload({ batch: [{ dekId: 3003, fullNodeId: LEADER, localEpoch: 0 }] }), ctx());
    const h = haltOf(d);
    expect(h.reason).toBe('FOREIGN_BATCH_DEK');
    expect(h.index).toBe(10n);
    expect('effect' in d).toBe(false);
  });

  it('RO-4: a second, different bootstrap on a bootstrapped node HALTs with ENCRYPTION_ALREADY_BOOTSTRAPPED', () => {
    const { sidecar, reg } = bootstrapped();
    const d = decideEncryptionEntry(bootstrapPayload({ storageDekId: 7, raftDekId: 8, batch: [] }), ctx({ index: 11n, sidecar, registry: reg }));
    expect(haltOf(d).reason).toBe('ENCRYPTION_ALREADY_BOOTSTRAPPED');
  });

  it('RO-4/FW-7: a replay behind the sidecar writes no sidecar (epochs stay bumped), re-installs the keys, and its rows are no-ops', () => {
    const { sidecar, reg } = bootstrapped(10n);
    // The next start bumped the epochs to 1; then the bootstrap entry is replayed.
    const keys = new Map(sidecar.keys);
    for (const [id, k] of keys) keys.set(id, { ...k, localEpoch: 1 });
    const bumped: Sidecar = { ...sidecar, keys };
    const before = reg.snapshot();
    const e = effectOf(decideEncryptionEntry(bootstrapPayload(), ctx({ index: 10n, sidecar: bumped, registry: reg })));
    expect(e.outcome).toBe('replayed');
    expect(e.sidecar).toBeNull();
    expect(e.installKeys).toHaveLength(2);
    expect(e.registryWrites).toEqual([]);
    expect(reg.snapshot()).toBe(before);
  });

  it('RO-4: a node without a KEK HALTs with KEK_NOT_CONFIGURED', () => {
    expect(haltOf(decideEncryptionEntry(bootstrapPayload(), ctx({ kekConfigured: false }))).reason).toBe('KEK_NOT_CONFIGURED');
  });
});

describe('FW-3 / WR-3 registration apply', () => {
  it('WR-3: a registration inserts, never writes the sidecar, and rollback / collision HALT with their reasons', () => {
    const reg = new Registry();
    const r1 = effectOf(decideEncryptionEntry(encodeRegisterWriter({ dekId: S, fullNodeId: LEADER, localEpoch: 4 }), ctx({ registry: reg })));
    expect(r1.sidecar).toBeNull();
    reg.apply(r1.registryWrites);
    expect(haltOf(decideEncryptionEntry(encodeRegisterWriter({ dekId: S, fullNodeId: LEADER, localEpoch: 3 }), ctx({ registry: reg }))).reason).toBe('LOCAL_EPOCH_ROLLBACK');
    const collider = (LEADER & ~0xffffn) ^ (1n << 40n) | (LEADER & 0xffffn);
    expect(lowNodeId16(collider)).toBe(lowNodeId16(LEADER));
    expect(haltOf(decideEncryptionEntry(encodeRegisterWriter({ dekId: S, fullNodeId: collider, localEpoch: 9 }), ctx({ registry: reg }))).reason).toBe('NODE_ID_COLLISION');
    // A replay (crash before the applied index committed) does not HALT.
    expect(effectOf(decideEncryptionEntry(encodeRegisterWriter({ dekId: S, fullNodeId: LEADER, localEpoch: 4 }), ctx({ registry: reg }))).registryWrites).toEqual([]);
  });

  it('FW-7: registrations apply normally even behind the sidecar, and need no KEK', () => {
    const { sidecar } = bootstrapped(100n);
    const e = effectOf(decideEncryptionEntry(encodeRegisterWriter({ dekId: S, fullNodeId: 42n, localEpoch: 1 }), ctx({ index: 50n, sidecar, kekConfigured: false })));
    expect(e.outcome).toBe('applied');
    expect(e.registryWrites).toHaveLength(1);
  });

  it('FW-2: a registration entry with one trailing byte HALTs with FSM_WIRE_MALFORMED', () => {
    const b = encodeRegisterWriter({ dekId: S, fullNodeId: LEADER, localEpoch: 4 });
    expect(haltOf(decideEncryptionEntry(new Uint8Array([...b, 0]), ctx())).reason).toBe('FSM_WIRE_MALFORMED');
  });

  it('FW-1: a payload starting with 0x06 HALTs with RESERVED_OPCODE; FW-5 sub-tag 0x02 with FSM_WIRE_SUBTAG', () => {
    expect(haltOf(decideEncryptionEntry(new Uint8Array([0x06, 0x01, 0, 0]), ctx())).reason).toBe('RESERVED_OPCODE');
    const b = rotation(1, 9, 'raft', wrappedR);
    b[2] = 0x02;
    expect(haltOf(decideEncryptionEntry(b, ctx())).reason).toBe('FSM_WIRE_SUBTAG');
  });

  it('WR-2: a registry read error HALTs with that code as reason', () => {
    const broken: RegistryView = {
      get: () => {
        throw new HaltError('STORAGE_IO', 'lmdb read failed');
      },
    };
    expect(haltOf(decideEncryptionEntry(encodeRegisterWriter({ dekId: S, fullNodeId: LEADER, localEpoch: 4 }), ctx({ registry: broken }))).reason).toBe('STORAGE_IO');
  });
});

describe('RO-5 enable-storage-envelope apply', () => {
  it('RO-5: apply at K sets the flag and cutover K in one sidecar write after the proposer row; a duplicate at K+5 is consumed and K stays', () => {
    const { sidecar, reg } = bootstrapped(10n);
    const K = 20n;
    const fresh = effectOf(decideEncryptionEntry(rotation(4, S, 'storage'), ctx({ index: K, sidecar, registry: reg })));
    expect(fresh.outcome).toBe('applied');
    expect(fresh.registryWrites.map((w) => [w.dekId, w.row.lastSeenLocalEpoch])).toEqual([[S, 3]]);
    expect(fresh.sidecar).toMatchObject({ storageEnvelopeActive: true, storageEnvelopeCutoverIndex: K, raftAppliedIndex: K });
    expect(fresh.storageCutoverIndex).toBe(K);
    const s2 = commit(decideEncryptionEntry(rotation(4, S, 'storage'), ctx({ index: K, sidecar, registry: reg })), sidecar, reg)!;
    const dup = effectOf(decideEncryptionEntry(rotation(4, S, 'storage'), ctx({ index: K + 5n, sidecar: s2, registry: reg })));
    expect(dup.outcome).toBe('consumed');
    expect(dup.sidecar).toMatchObject({ storageEnvelopeCutoverIndex: K, raftAppliedIndex: K + 5n });
    expect(dup.registryWrites).toEqual([]);
  });

  it('RO-5: a stale dek_id is consumed (only the applied index moves); no row is written', () => {
    const { sidecar, reg } = bootstrapped(10n);
    const e = effectOf(decideEncryptionEntry(rotation(4, 999, 'storage'), ctx({ index: 12n, sidecar, registry: reg })));
    expect(e.outcome).toBe('consumed');
    expect(e.sidecar).toMatchObject({ storageEnvelopeActive: false, raftAppliedIndex: 12n });
    expect(e.registryWrites).toEqual([]);
  });

  it('RO-5: malformed shapes HALT with INVALID_PAYLOAD (purpose 2, wrapped bytes present, proposer dek_id differs)', () => {
    const { sidecar } = bootstrapped(10n);
    const c = ctx({ index: 12n, sidecar });
    expect(haltOf(decideEncryptionEntry(rotation(4, S, 'raft'), c)).reason).toBe('INVALID_PAYLOAD');
    expect(haltOf(decideEncryptionEntry(rotation(4, S, 'storage', new Uint8Array(1)), c)).reason).toBe('INVALID_PAYLOAD');
    expect(haltOf(decideEncryptionEntry(rotation(4, S, 'storage', undefined, { dekId: R, fullNodeId: LEADER, localEpoch: 3 }), c)).reason).toBe('INVALID_PAYLOAD');
  });

  it('FW-7/WI-7: a replay of the fresh cutover (crash after the rows, before the applied index) re-applies its row idempotently and writes no sidecar', () => {
    const { sidecar, reg } = bootstrapped(10n);
    const s2 = commit(decideEncryptionEntry(rotation(4, S, 'storage'), ctx({ index: 20n, sidecar, registry: reg })), sidecar, reg)!;
    const replay = effectOf(decideEncryptionEntry(rotation(4, S, 'storage'), ctx({ index: 20n, sidecar: s2, registry: reg })));
    expect(replay.outcome).toBe('replayed');
    expect(replay.sidecar).toBeNull();
    expect(replay.registryWrites).toEqual([]); // case 3: already there
  });

  it('WI-7: a crash between the registration commit and the sidecar write re-enters the fresh branch, the row replay is a no-op, and the cutover is set', () => {
    const { sidecar, reg } = bootstrapped(10n);
    reg.apply(effectOf(decideEncryptionEntry(rotation(4, S, 'storage'), ctx({ index: 20n, sidecar, registry: reg }))).registryWrites);
    // The sidecar write never happened: the replay sees the old sidecar (at 10).
    const again = effectOf(decideEncryptionEntry(rotation(4, S, 'storage'), ctx({ index: 20n, sidecar, registry: reg })));
    expect(again.outcome).toBe('applied');
    expect(again.registryWrites).toEqual([]);
    expect(again.sidecar).toMatchObject({ storageEnvelopeActive: true, storageEnvelopeCutoverIndex: 20n });
  });
});

describe('WI-2 / WI-3 enable-raft-envelope (marker) apply — one test per branch', () => {
  it('WI-2 step 1: index zero HALTs with APPLY_INDEX_ZERO before anything else', () => {
    const { sidecar } = bootstrapped(10n);
    expect(haltOf(decideEncryptionEntry(rotation(5, R, 'raft'), ctx({ index: 0n, sidecar }))).reason).toBe('APPLY_INDEX_ZERO');
  });

  it('WI-2 step 2: each invalid shape HALTs with INVALID_PAYLOAD', () => {
    const { sidecar } = bootstrapped(10n);
    const c = ctx({ index: 30n, sidecar });
    expect(haltOf(decideEncryptionEntry(rotation(5, R, 'storage'), c)).reason).toBe('INVALID_PAYLOAD');
    expect(haltOf(decideEncryptionEntry(rotation(5, R, 'raft', new Uint8Array(60)), c)).reason).toBe('INVALID_PAYLOAD');
    expect(haltOf(decideEncryptionEntry(rotation(5, R, 'raft', undefined, { dekId: S, fullNodeId: LEADER, localEpoch: 3 }), c)).reason).toBe('INVALID_PAYLOAD');
  });

  it('WI-2 fresh: registers the proposer, sets the cutover to raftIdx in one sidecar write, and calls the installer with (raftIdx, active.raft)', () => {
    const { sidecar, reg } = bootstrapped(10n);
    const e = effectOf(decideEncryptionEntry(rotation(5, R, 'raft'), ctx({ index: 30n, sidecar, registry: reg })));
    expect(e.outcome).toBe('applied');
    expect(e.registryWrites.map((w) => w.dekId)).toEqual([R]);
    expect(e.sidecar).toMatchObject({ raftEnvelopeCutoverIndex: 30n, raftAppliedIndex: 30n });
    expect(e.installer).toEqual({ cutoverIndex: 30n, activeRaftDekId: R, branch: 'fresh cutover' });
  });

  it('WI-2 stale: dek_id != active.raft with no cutover is consumed and the installer is NOT called', () => {
    const { sidecar, reg } = bootstrapped(10n);
    const e = effectOf(decideEncryptionEntry(rotation(5, 4040, 'raft'), ctx({ index: 30n, sidecar, registry: reg })));
    expect(e.outcome).toBe('consumed');
    expect(e.installer).toBeNull();
    expect(e.sidecar).toMatchObject({ raftEnvelopeCutoverIndex: 0n, raftAppliedIndex: 30n });
  });

  it('WI-3: cutover at 500 with DEK A; raft rotation to B at 600; a second marker with A at 700 calls the installer once with (500, B) and the cutover stays 500', () => {
    const { sidecar: s0, reg } = bootstrapped(10n);
    const A = R;
    const B = 3003;
    let s = commit(decideEncryptionEntry(rotation(5, A, 'raft'), ctx({ index: 500n, sidecar: s0, registry: reg })), s0, reg)!;
    const rot = effectOf(decideEncryptionEntry(rotation(1, B, 'raft', kek.wrapSync(bytes32(0x77))), ctx({ index: 600n, sidecar: s, registry: reg })));
    expect(rot.installer).toEqual({ cutoverIndex: 500n, activeRaftDekId: B, branch: 'raft rotation' });
    s = commit({ effect: rot }, s, reg)!;
    const again = effectOf(decideEncryptionEntry(rotation(5, A, 'raft'), ctx({ index: 700n, sidecar: s, registry: reg })));
    expect(again.installer).toEqual({ cutoverIndex: 500n, activeRaftDekId: B, branch: 'already-active replay' });
    expect(again.sidecar).toMatchObject({ raftEnvelopeCutoverIndex: 500n, raftAppliedIndex: 700n });
    expect(again.registryWrites).toEqual([]);
  });
});

describe('RT-1 rotate-dek apply', () => {
  it('RT-1/WR-6: only the active slot of the purpose changes; keys[new].local_epoch = max(existing, pinned); old keys stay; the proposer row is written', () => {
    const { sidecar, reg } = bootstrapped(10n);
    const NEWS = 4004;
    const e = effectOf(decideEncryptionEntry(rotation(1, NEWS, 'storage', kek.wrapSync(bytes32(0x99))), ctx({ index: 40n, sidecar, registry: reg, pinned: { storage: 6, raft: 2 } })));
    expect(e.outcome).toBe('applied');
    expect(e.sidecar!.active).toEqual({ storage: NEWS, raft: R });
    expect(e.sidecar!.keys.get(NEWS)).toMatchObject({ purpose: 'storage', localEpoch: 6, created: NOW });
    expect([...e.sidecar!.keys.keys()].sort()).toEqual([S, R, NEWS].sort());
    expect(e.installKeys.map((k) => k.keyId)).toEqual([NEWS]);
    expect(e.registryWrites.map((w) => [w.dekId, w.row.fullNodeId])).toEqual([[NEWS, LEADER]]);
    expect(e.installer).toBeNull(); // storage purpose: no installer
  });

  it('RT-1: bad shapes HALT (empty wrapped → INVALID_PAYLOAD, proposer id differs → INVALID_PAYLOAD, id 0 → RESERVED_KEY_ID); no KEK → KEK_NOT_CONFIGURED', () => {
    const { sidecar } = bootstrapped(10n);
    const c = ctx({ index: 40n, sidecar });
    expect(haltOf(decideEncryptionEntry(rotation(1, 4004, 'storage'), c)).reason).toBe('INVALID_PAYLOAD');
    expect(haltOf(decideEncryptionEntry(rotation(1, 4004, 'storage', wrappedS, { dekId: 1, fullNodeId: LEADER, localEpoch: 1 }), c)).reason).toBe('INVALID_PAYLOAD');
    expect(haltOf(decideEncryptionEntry(rotation(1, 0, 'storage', wrappedS), c)).reason).toBe('RESERVED_KEY_ID');
    expect(haltOf(decideEncryptionEntry(rotation(1, 4004, 'storage', wrappedS), { ...c, kekConfigured: false })).reason).toBe('KEK_NOT_CONFIGURED');
  });

  it('RT-1: a rotation to an id the sidecar holds with other bytes HALTs with KEY_CONFLICT', () => {
    const { sidecar } = bootstrapped(10n);
    expect(haltOf(decideEncryptionEntry(rotation(1, S, 'storage', kek.wrapSync(bytes32(1))), ctx({ index: 40n, sidecar }))).reason).toBe('KEY_CONFLICT');
  });
});

describe('FW-7 replays behind the sidecar never rewind it', () => {
  it('FW-7: sidecar at 900 with raft DEK B (rotated at 850); replaying the marker at 500 and a raft rotation to A at 600 leaves the sidecar unchanged, every installer call is (500, B), and the registry equals in-order application', () => {
    const A = 5005;
    const B = 6006;
    const wrappedA = kek.wrapSync(bytes32(0xa));
    const wrappedB = kek.wrapSync(bytes32(0xb));
    const entries: [bigint, Uint8Array][] = [
      [500n, rotation(5, R, 'raft')],
      [600n, rotation(1, A, 'raft', wrappedA)],
      [850n, rotation(1, B, 'raft', wrappedB)],
    ];
    // Node X applies everything in order from the bootstrap.
    const x = bootstrapped(10n);
    let sx: Sidecar = x.sidecar;
    for (const [i, p] of entries) sx = commit(decideEncryptionEntry(p, ctx({ index: i, sidecar: sx, registry: x.reg })), sx, x.reg)!;
    sx = { ...sx, raftAppliedIndex: 900n };
    expect(sx.active.raft).toBe(B);
    // Node Y has X's sidecar at 900 (e.g. after resync) but its registry is at the bootstrap: it replays 500 and 600.
    const y = bootstrapped(10n);
    const frozen = serializeSidecar(sx);
    const calls: unknown[] = [];
    for (const [i, p] of entries.slice(0, 2)) {
      const e = effectOf(decideEncryptionEntry(p, ctx({ index: i, sidecar: sx, registry: y.reg })));
      expect(e.outcome).toBe('replayed');
      expect(e.sidecar).toBeNull();
      if (e.installer) calls.push(e.installer);
      y.reg.apply(e.registryWrites);
    }
    expect(serializeSidecar(sx)).toBe(frozen);
    expect(sx.active.raft).toBe(B);
    expect(calls).toEqual([
      { cutoverIndex: 500n, activeRaftDekId: B, branch: 'already-active replay' },
      { cutoverIndex: 500n, activeRaftDekId: B, branch: 'raft rotation' },
    ]);
    // Y then applies 850 as a replay too; its registry equals X's.
    y.reg.apply(effectOf(decideEncryptionEntry(entries[2]![1], ctx({ index: 850n, sidecar: sx, registry: y.reg }))).registryWrites);
    expect(y.reg.snapshot()).toBe(x.reg.snapshot());
  });

  it('FW-7: a malformed entry still HALTs on replay, and a replayed bootstrap never HALTs with ENCRYPTION_ALREADY_BOOTSTRAPPED', () => {
    const { sidecar, reg } = bootstrapped(10n);
    expect(haltOf(decideEncryptionEntry(rotation(4, S, 'raft'), ctx({ index: 5n, sidecar, registry: reg }))).reason).toBe('INVALID_PAYLOAD');
    expect(effectOf(decideEncryptionEntry(bootstrapPayload(), ctx({ index: 10n, sidecar, registry: reg }))).outcome).toBe('replayed');
  });
});

describe('Effect execution helpers', () => {
  it('RO-4: unwrapEffectKeys returns the DEKs, or a KEK_UNWRAP_FAILED halt (no bytes) when one does not unwrap', () => {
    const e = effectOf(decideEncryptionEntry(bootstrapPayload(), ctx({ index: 42n })));
    const ok = unwrapEffectKeys(e, (w, what) => kek.unwrapSync(w, what), 42n);
    expect('deks' in ok && Buffer.from(ok.deks.get(S)!).equals(Buffer.from(bytes32(0x51)))).toBe(true);
    const other = testKek(0x01);
    const bad = unwrapEffectKeys(e, (w, what) => other.unwrapSync(w, what), 42n);
    expect('halt' in bad && [bad.halt.code, bad.halt.reason, bad.halt.index]).toEqual(['ENCRYPTION_APPLY', 'KEK_UNWRAP_FAILED', 42n]);
  });

  it('C-3: a decision never mutates the sidecar it was given', () => {
    const { sidecar, reg } = bootstrapped(10n);
    const before = serializeSidecar(sidecar);
    decideEncryptionEntry(rotation(1, 4004, 'storage', wrappedS), ctx({ index: 40n, sidecar, registry: reg }));
    decideEncryptionEntry(rotation(4, S, 'storage'), ctx({ index: 41n, sidecar, registry: reg }));
    decideEncryptionEntry(rotation(5, R, 'raft'), ctx({ index: 42n, sidecar, registry: reg }));
    expect(serializeSidecar(sidecar)).toBe(before);
    expect(emptySidecar().keys.size).toBe(0);
  });
});

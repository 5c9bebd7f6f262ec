// WR-3 apply cases and leader pre-check, WR-5 start registration, WR-7 add-member pre-step,
// WR-10 collision and rollback guards, WR-11 peer check — pure functions over a registry view.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fullNodeId } from '../../src/crypto/envelope/nonce.js';
import { StorageError } from '../../src/storage/errors.js';
import { lowNodeId16 } from '../../src/keys/node-identity.js';
import {
  addMemberPreStep,
  applyRegistrations,
  checkLocalEpochRollback,
  checkMembershipCollisions,
  checkPeerRegistryAnswers,
  decideRegistration,
  findNodeIdCollisions,
  isRegistered,
  peerCheckQuorum,
  precheckRegistration,
  type Registration,
  type RegistryRow,
  type RegistryView,
  startRegistration,
} from '../../src/keys/registry-rules.js';
import { codeOfSync } from './helpers.js';

const F = 0xaabbccdd0000f00dn;
const G = 0x1122334400000f00dn & 0xffffffffffffffffn; // different full id …
const G_SAME_LOW = (G & ~0xffffn) | (F & 0xffffn); // … with F's node_id16

class MapView implements RegistryView {
  readonly rows = new Map<string, RegistryRow>();
  get(dekId: number, nodeId16: number): RegistryRow | undefined {
    return this.rows.get(`${dekId}:${nodeId16}`);
  }
  put(dekId: number, full: bigint, first: number, last: number): this {
    this.rows.set(`${dekId}:${lowNodeId16(full)}`, { fullNodeId: full, firstSeenLocalEpoch: first, lastSeenLocalEpoch: last });
    return this;
  }
}

const start = { fullNodeId: F, firstSeenLocalEpoch: 2, lastSeenLocalEpoch: 4 };

describe('WR-3 apply cases', () => {
  it('WR-3: from {F, first 2, last 4}: (F,5) bumps to last 5; (F,4) is a no-op; (F,3) LOCAL_EPOCH_ROLLBACK; (G,9) same node_id16 NODE_ID_COLLISION', () => {
    const bump = decideRegistration(start, { dekId: 7, fullNodeId: F, localEpoch: 5 });
    expect(bump).toEqual({ kind: 'bump', write: { dekId: 7, nodeId16: 0xf00d, row: { fullNodeId: F, firstSeenLocalEpoch: 2, lastSeenLocalEpoch: 5 } } });
    expect(decideRegistration(start, { dekId: 7, fullNodeId: F, localEpoch: 4 })).toEqual({ kind: 'replay' });
    expect(decideRegistration(start, { dekId: 7, fullNodeId: F, localEpoch: 3 }).kind).toBe('rollback');
    expect(decideRegistration(start, { dekId: 7, fullNodeId: G_SAME_LOW, localEpoch: 9 }).kind).toBe('collision');
    const view = new MapView().put(7, F, 2, 4);
    const code = (r: Registration) => {
      const out = applyRegistrations(view, [r]);
      return out.ok ? 'ok' : out.error.code;
    };
    expect(code({ dekId: 7, fullNodeId: F, localEpoch: 3 })).toBe('LOCAL_EPOCH_ROLLBACK');
    expect(code({ dekId: 7, fullNodeId: G_SAME_LOW, localEpoch: 9 })).toBe('NODE_ID_COLLISION');
  });

  it('WR-3 case 1: no row inserts {full, first = e, last = e}', () => {
    expect(decideRegistration(undefined, { dekId: 1, fullNodeId: F, localEpoch: 3 })).toEqual({
      kind: 'insert',
      write: { dekId: 1, nodeId16: 0xf00d, row: { fullNodeId: F, firstSeenLocalEpoch: 3, lastSeenLocalEpoch: 3 } },
    });
  });

  it('WR-3: a batch applies in order with read-your-writes and is all-or-nothing', () => {
    const view = new MapView();
    const ok = applyRegistrations(view, [
      { dekId: 1, fullNodeId: F, localEpoch: 1 },
      { dekId: 1, fullNodeId: F, localEpoch: 1 }, // duplicate row: replay, no second write
      { dekId: 1, fullNodeId: F, localEpoch: 2 }, // bump over the batch's own insert
      { dekId: 2, fullNodeId: F, localEpoch: 0 },
    ]);
    expect(ok.ok && ok.writes.map((w) => [w.dekId, w.row.firstSeenLocalEpoch, w.row.lastSeenLocalEpoch])).toEqual([
      [1, 1, 1],
      [1, 1, 2],
      [2, 0, 0],
    ]);
    const bad = applyRegistrations(view, [
      { dekId: 1, fullNodeId: F, localEpoch: 1 },
      { dekId: 1, fullNodeId: G_SAME_LOW, localEpoch: 1 },
    ]);
    expect(bad).toMatchObject({ ok: false, error: { code: 'NODE_ID_COLLISION' } });
    expect('writes' in bad).toBe(false);
  });

  it('WR-2: a malformed registry row is an error, never "missing"', () => {
    const view: RegistryView = {
      get: () => {
        throw new StorageError('REGISTRY_VALUE_MALFORMED', 'value of 11 bytes');
      },
    };
    expect(() => applyRegistrations(view, [{ dekId: 1, fullNodeId: F, localEpoch: 1 }])).toThrow(StorageError);
  });

  it('WR-3 (property): a row never loses its first epoch, last never decreases, and only the owner changes it', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ full: fc.constantFrom(F, G_SAME_LOW), e: fc.integer({ min: 0, max: 0xffff }) }), { maxLength: 30 }),
        (regs) => {
          let row: RegistryRow | undefined;
          for (const r of regs) {
            const d = decideRegistration(row, { dekId: 1, fullNodeId: r.full, localEpoch: r.e });
            if (d.kind === 'insert' || d.kind === 'bump') {
              if (row !== undefined) {
                expect(d.write.row.firstSeenLocalEpoch).toBe(row.firstSeenLocalEpoch);
                expect(d.write.row.lastSeenLocalEpoch).toBeGreaterThan(row.lastSeenLocalEpoch);
                expect(d.write.row.fullNodeId).toBe(row.fullNodeId);
              }
              row = d.write.row;
            }
          }
        },
      ),
    );
  });
});

describe('WR-3 leader pre-check', () => {
  it('WR-3: (F,3) against {F,2,4} is REJECTED with LOCAL_EPOCH_ROLLBACK; (G,9) with NODE_ID_COLLISION; (F,4) answers success without proposing', () => {
    const view = new MapView().put(7, F, 2, 4);
    expect(codeOfSync(() => precheckRegistration(view, [], { dekId: 7, fullNodeId: F, localEpoch: 3 }))).toBe('LOCAL_EPOCH_ROLLBACK');
    expect(codeOfSync(() => precheckRegistration(view, [], { dekId: 7, fullNodeId: G_SAME_LOW, localEpoch: 9 }))).toBe('NODE_ID_COLLISION');
    expect(precheckRegistration(view, [], { dekId: 7, fullNodeId: F, localEpoch: 4 })).toBe('already-registered');
    expect(precheckRegistration(view, [], { dekId: 7, fullNodeId: F, localEpoch: 5 })).toBe('propose');
  });

  it('WR-3: the pre-check also counts registrations admitted but not yet applied', () => {
    const view = new MapView();
    const pending: Registration[] = [{ dekId: 7, fullNodeId: F, localEpoch: 6 }];
    expect(precheckRegistration(view, pending, { dekId: 7, fullNodeId: F, localEpoch: 6 })).toBe('already-registered');
    expect(codeOfSync(() => precheckRegistration(view, pending, { dekId: 7, fullNodeId: F, localEpoch: 5 }))).toBe('LOCAL_EPOCH_ROLLBACK');
    expect(codeOfSync(() => precheckRegistration(view, pending, { dekId: 7, fullNodeId: G_SAME_LOW, localEpoch: 1 }))).toBe('NODE_ID_COLLISION');
    // Pending rows of other DEKs or node ids do not matter.
    expect(precheckRegistration(view, pending, { dekId: 8, fullNodeId: F, localEpoch: 1 })).toBe('propose');
  });

  it('OP-2: an epoch of 65536 is LOCAL_EPOCH_OUT_OF_RANGE before anything else; zero ids are refused', () => {
    const view = new MapView();
    expect(codeOfSync(() => precheckRegistration(view, [], { dekId: 7, fullNodeId: F, localEpoch: 65536 }))).toBe('LOCAL_EPOCH_OUT_OF_RANGE');
    expect(codeOfSync(() => precheckRegistration(view, [], { dekId: 7, fullNodeId: F, localEpoch: -1 }))).toBe('LOCAL_EPOCH_OUT_OF_RANGE');
    expect(codeOfSync(() => precheckRegistration(view, [], { dekId: 0, fullNodeId: F, localEpoch: 1 }))).toBe('RESERVED_KEY_ID');
    expect(codeOfSync(() => precheckRegistration(view, [], { dekId: 7, fullNodeId: 0n, localEpoch: 1 }))).toBe('NODE_ID_INVALID');
  });
});

describe('WR-7 membership pre-step and WR-10 collisions', () => {
  const n1 = fullNodeId('node-1');
  const n3808 = fullNodeId('node-3808');

  it('WR-7: node-1 (node_id16 0x79c3) and node-3808 (FNV-1a-64 0x3d7d39905abb79c3) collide: adding node-3808 is NODE_ID_COLLISION', () => {
    expect(lowNodeId16(n1)).toBe(0x79c3);
    expect(n3808).toBe(0x3d7d39905abb79c3n);
    const view = new MapView().put(11, n1, 1, 3);
    expect(codeOfSync(() => addMemberPreStep(view, 11, n3808))).toBe('NODE_ID_COLLISION');
  });

  it('WR-7: no active DEK skips; same full_node_id skips (idempotent retry); no row registers at epoch 0', () => {
    const view = new MapView().put(11, n1, 1, 3);
    expect(addMemberPreStep(view, 0, n3808)).toEqual({ kind: 'skip' });
    expect(addMemberPreStep(view, 11, n1)).toEqual({ kind: 'skip' });
    const n2 = fullNodeId('node-2');
    expect(addMemberPreStep(view, 11, n2)).toEqual({ kind: 'register', registration: { dekId: 11, fullNodeId: n2, localEpoch: 0 } });
  });

  it('WR-10: two distinct full_node_ids sharing node_id16 refuse start with NODE_ID_COLLISION naming both; duplicates of one node do not', () => {
    const members = [
      { raftId: 'node-1', fullNodeId: n1 },
      { raftId: 'node-2', fullNodeId: fullNodeId('node-2') },
      { raftId: 'node-3808', fullNodeId: n3808 },
    ];
    expect(() => checkMembershipCollisions(true, members)).toThrow(/'node-1' and 'node-3808' share node_id16 0x79c3/);
    expect(codeOfSync(() => checkMembershipCollisions(true, members))).toBe('NODE_ID_COLLISION');
    expect(codeOfSync(() => checkMembershipCollisions(false, members))).toBe('no error');
    expect(codeOfSync(() => checkMembershipCollisions(true, [members[0]!, members[0]!]))).toBe('no error');
    expect(findNodeIdCollisions([n1, n1, fullNodeId('node-2')])).toEqual([]);
    expect(findNodeIdCollisions([n1, n3808])).toEqual([{ nodeId16: 0x79c3, fullNodeIds: [n1, n3808] }]);
  });
});

describe('WR-10 rollback guard and WR-11 peer check', () => {
  const guard = { encryptionOn: true, activeStorageDekId: 5, storageEnvelopeActive: true, fullNodeId: F };

  it('WR-10: a sidecar restored so that the bumped epoch equals last_seen_local_epoch is refused with LOCAL_EPOCH_ROLLBACK', () => {
    const view = new MapView().put(5, F, 1, 7);
    expect(codeOfSync(() => checkLocalEpochRollback(view, { ...guard, pinnedStorageEpoch: 7 }))).toBe('LOCAL_EPOCH_ROLLBACK');
    expect(codeOfSync(() => checkLocalEpochRollback(view, { ...guard, pinnedStorageEpoch: 6 }))).toBe('LOCAL_EPOCH_ROLLBACK');
    expect(codeOfSync(() => checkLocalEpochRollback(view, { ...guard, pinnedStorageEpoch: 8 }))).toBe('no error');
  });

  it('WR-10: a missing or foreign row refuses only once the storage envelope is active; skipped when off or not bootstrapped', () => {
    const empty = new MapView();
    const foreign = new MapView().put(5, G_SAME_LOW, 1, 1);
    expect(codeOfSync(() => checkLocalEpochRollback(empty, { ...guard, pinnedStorageEpoch: 1 }))).toBe('LOCAL_EPOCH_ROLLBACK');
    expect(codeOfSync(() => checkLocalEpochRollback(foreign, { ...guard, pinnedStorageEpoch: 9 }))).toBe('LOCAL_EPOCH_ROLLBACK');
    expect(codeOfSync(() => checkLocalEpochRollback(empty, { ...guard, storageEnvelopeActive: false, pinnedStorageEpoch: 1 }))).toBe('no error');
    expect(codeOfSync(() => checkLocalEpochRollback(empty, { ...guard, encryptionOn: false, pinnedStorageEpoch: 1 }))).toBe('no error');
    expect(codeOfSync(() => checkLocalEpochRollback(empty, { ...guard, activeStorageDekId: 0, pinnedStorageEpoch: 1 }))).toBe('no error');
  });

  it('WR-10: a registry read error is reported as STORAGE_IO, not as LOCAL_EPOCH_ROLLBACK', () => {
    const broken: RegistryView = {
      get: () => {
        throw new StorageError('STORAGE_IO', 'lmdb read failed');
      },
    };
    expect(codeOfSync(() => checkLocalEpochRollback(broken, { ...guard, pinnedStorageEpoch: 3 }))).toBe('STORAGE_IO');
  });

  it('WR-11: a peer holding this node at an epoch ≥ the pinned one refuses with LOCAL_EPOCH_ROLLBACK; lower epochs and other nodes pass', () => {
    const pinned = new Map([
      [5, 4],
      [6, 4],
    ]);
    const row = (full: bigint, last: number): RegistryRow => ({ fullNodeId: full, firstSeenLocalEpoch: 1, lastSeenLocalEpoch: last });
    expect(codeOfSync(() => checkPeerRegistryAnswers([{ peer: 'n2', rows: [{ dekId: 5, row: row(F, 3) }] }], F, pinned))).toBe('no error');
    expect(codeOfSync(() => checkPeerRegistryAnswers([{ peer: 'n2', rows: [{ dekId: 6, row: row(F, 4) }] }], F, pinned))).toBe('LOCAL_EPOCH_ROLLBACK');
    expect(codeOfSync(() => checkPeerRegistryAnswers([{ peer: 'n2', rows: [{ dekId: 5, row: row(G_SAME_LOW, 9) }] }], F, pinned))).toBe('no error');
    expect(codeOfSync(() => checkPeerRegistryAnswers([{ peer: 'n3', rows: [{ dekId: 99, row: row(F, 9) }] }], F, pinned))).toBe('no error');
  });

  it('WR-11: the peer check waits for a majority of the voters, itself included', () => {
    expect(peerCheckQuorum(['n1', 'n2', 'n3'], 'n1', [])).toBe(false);
    expect(peerCheckQuorum(['n1', 'n2', 'n3'], 'n1', ['n3'])).toBe(true);
    expect(peerCheckQuorum(['n1', 'n2', 'n3', 'n4'], 'n1', ['n2'])).toBe(false);
    expect(peerCheckQuorum(['n1', 'n2', 'n3', 'n4'], 'n1', ['n2', 'n4', 'learner'])).toBe(true);
    expect(peerCheckQuorum(['n1'], 'n1', [])).toBe(true);
  });
});

describe('WR-5 start-time registration and WR-1 registered', () => {
  it('WR-5: last == pinned → registered; last < pinned or a missing row → register', () => {
    const row = { fullNodeId: F, firstSeenLocalEpoch: 1, lastSeenLocalEpoch: 4 };
    expect(startRegistration(row, F, 4)).toBe('registered');
    expect(startRegistration(row, F, 5)).toBe('register');
    expect(startRegistration(undefined, F, 5)).toBe('register');
    expect(isRegistered(row, F, 4)).toBe(true);
    expect(isRegistered(row, F, 5)).toBe(false);
    expect(isRegistered(row, G_SAME_LOW, 4)).toBe(false);
    expect(isRegistered(undefined, F, 0)).toBe(false);
  });
});

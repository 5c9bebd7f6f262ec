// Issue 11 item 7 (SPEC SH-5, SH-6 as changed by the issue, KM-7, KM-8, WR-1, OP-4 row 11): a
// received snapshot's encryption state against the node's sidecar, and the sidecar rebuilt from it.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Keystore } from '../../src/crypto/keystore.js';
import { createSnapshotHooks, snapshotGuardInputs } from '../../src/encryption/snapshot-install.js';
import { EncryptionStateCell } from '../../src/encryption/state-cell.js';
import { HaltError } from '../../src/errors.js';
import { deriveNodeIdentity } from '../../src/keys/node-identity.js';
import type { Sidecar } from '../../src/keys/sidecar-schema.js';
import { SidecarStore } from '../../src/keys/sidecar-store.js';
import { planSnapshotInstall, rebuildSidecarFromSnapshot, snapshotStateOf } from '../../src/keys/snapshot-sidecar.js';
import { checkCutoverDivergence } from '../../src/keys/startup-guards.js';
import type { NodeStartView } from '../../src/node/encryption-port.js';
import { encodeRegistryValue } from '../../src/storage/registry-store.js';
import type { SnapshotHeader } from '../../src/storage/snapshot-header.js';
import { bootstrappedSidecar, codeOf, codeOfSync, testKek, tmp } from './helpers.js';

const kek = testKek();
const me = deriveNodeIdentity('n4');
const NOW = '2026-12-03T08:00:00.000Z';

/** The leader's sidecar at the snapshot: bootstrapped at 3, storage cutover at 6, sidecar index 6. */
function leaderSidecar(raftCutover = 0n): Sidecar {
  return { ...bootstrappedSidecar(kek, { index: 6n, epoch: 9 }), storageEnvelopeActive: true, storageEnvelopeCutoverIndex: 6n, raftEnvelopeCutoverIndex: raftCutover };
}

function header(s: Sidecar | undefined, over: Partial<SnapshotHeader> = {}): SnapshotHeader {
  return {
    formatVersion: 2,
    raftEnvelopeCutoverIndex: s?.raftEnvelopeCutoverIndex ?? 0n,
    sidecarAppliedIndex: s?.raftAppliedIndex ?? 0n,
    lastIndex: 40n,
    lastTerm: 2n,
    conf: { voters: ['n1', 'n2', 'n3', 'n4'], learners: [] },
    encryption: snapshotStateOf(s),
    ...over,
  };
}

function haltCode(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (e instanceof HaltError) return e.code;
    throw e;
  }
  return 'no error';
}

describe('SH-5 / SH-6 at install (issue 11 item 7)', () => {
  it('SH-6: a sidecar at least as far as the snapshot keeps its sidecar; a missing or lagging one is rebuilt when the snapshot carries the state', () => {
    const l = leaderSidecar();
    expect(planSnapshotInstall(l, header(l)).kind).toBe('keep');
    expect(planSnapshotInstall({ ...l, raftAppliedIndex: 9n }, header(l)).kind).toBe('keep');
    expect(planSnapshotInstall(undefined, header(l))).toEqual({ kind: 'rebuild', state: snapshotStateOf(l) });
    expect(planSnapshotInstall({ ...l, raftAppliedIndex: 3n }, header(l)).kind).toBe('rebuild');
    // Not bootstrapped at the snapshot: nothing to rebuild, nothing refused.
    expect(planSnapshotInstall(undefined, header(undefined)).kind).toBe('keep');
  });

  it('SH-6: a lagging sidecar and a v1 snapshot (no encryption state) HALTs with SIDECAR_BEHIND_RAFT_LOG', () => {
    const l = leaderSidecar();
    const v1 = header(l);
    delete v1.encryption;
    expect(haltCode(() => planSnapshotInstall(undefined, v1))).toBe('SIDECAR_BEHIND_RAFT_LOG');
    expect(planSnapshotInstall(l, v1).kind).toBe('keep');
  });

  it('SH-5: a header cutover that differs from the sidecar non-zero cutover HALTs with ENVELOPE_CUTOVER_DIVERGENCE; 0 in the header, or a lagging sidecar at 0, is accepted', () => {
    const snap = leaderSidecar(200n);
    // Up to date, sidecar cutover 100 vs snapshot 200.
    expect(haltCode(() => planSnapshotInstall({ ...leaderSidecar(100n), raftAppliedIndex: 300n }, header(snap)))).toBe('ENVELOPE_CUTOVER_DIVERGENCE');
    // Lagging but with its own different non-zero cutover: still divergence (two histories).
    expect(haltCode(() => planSnapshotInstall({ ...leaderSidecar(100n), raftAppliedIndex: 3n }, header(snap)))).toBe('ENVELOPE_CUTOVER_DIVERGENCE');
    // Up to date and at 0 while the snapshot says 200: divergence.
    expect(haltCode(() => planSnapshotInstall({ ...leaderSidecar(0n), raftAppliedIndex: 300n }, header(snap)))).toBe('ENVELOPE_CUTOVER_DIVERGENCE');
    // Lagging at 0: the snapshot brings the cutover (rebuild).
    expect(planSnapshotInstall({ ...leaderSidecar(0n), raftAppliedIndex: 3n }, header(snap)).kind).toBe('rebuild');
    // Header cutover 0 is accepted whatever the sidecar says.
    expect(planSnapshotInstall({ ...leaderSidecar(100n), raftAppliedIndex: 300n }, header(leaderSidecar(0n))).kind).toBe('keep');
    expect(planSnapshotInstall({ ...leaderSidecar(200n), raftAppliedIndex: 300n }, header(snap)).kind).toBe('keep');
  });
});

describe('the sidecar rebuilt from a snapshot (issue 11 item 7, KM-8, WR-1)', () => {
  const base = { header: header(leaderSidecar()), kek, pinned: { storage: 0, raft: 0 }, now: NOW };

  it('issue 11 item 7: keys, active ids, flags and cutovers come from the snapshot; raft_applied_index = sidecar_applied_index; local_epoch never comes from the leader', () => {
    const l = leaderSidecar(25n);
    const h = header(l);
    const s = rebuildSidecarFromSnapshot({ ...base, header: h, local: undefined, state: h.encryption!, registryEpoch: () => undefined });
    expect(s.raftAppliedIndex).toBe(6n);
    expect(s.active).toEqual(l.active);
    expect([s.storageEnvelopeActive, s.storageEnvelopeCutoverIndex, s.raftEnvelopeCutoverIndex]).toEqual([true, 6n, 25n]);
    expect([...s.keys.keys()].sort()).toEqual([...l.keys.keys()].sort());
    for (const [id, k] of s.keys) {
      expect(Buffer.from(k.wrapped).equals(Buffer.from(l.keys.get(id)!.wrapped))).toBe(true);
      expect(k.localEpoch).toBe(0); // not the leader's 9: a fresh node at pinned epoch 0, no registry row
    }
  });

  it('WR-1/KM-8: local_epoch is the max of the local value, the pinned epoch and the snapshot registry epoch + 1 of this node id (never lowered)', () => {
    const l = leaderSidecar();
    const h = header(l);
    const st = l.active.storage;
    const rf = l.active.raft;
    const local: Sidecar = { ...bootstrappedSidecar(kek, { index: 2n, epoch: 5 }), keys: new Map([[st, { ...l.keys.get(st)!, localEpoch: 5 }]]), active: { storage: st, raft: 0 } };
    const s = rebuildSidecarFromSnapshot({
      ...base,
      header: h,
      local,
      state: h.encryption!,
      pinned: { storage: 5, raft: 2 },
      registryEpoch: (id) => (id === st ? 3 : id === rf ? 7 : undefined),
    });
    expect(s.keys.get(st)!.localEpoch).toBe(5); // local 5 > registry 3+1 > pinned 5? max = 5
    expect(s.keys.get(rf)!.localEpoch).toBe(8); // registry 7 + 1 > pinned 2
    // A fresh node registered at epoch 0 by WR-7 records 1: its next start (bump to 2) never reuses 0.
    const fresh = rebuildSidecarFromSnapshot({ ...base, header: h, local: undefined, state: h.encryption!, registryEpoch: () => 0 });
    for (const k of fresh.keys.values()) expect(k.localEpoch).toBe(1);
  });

  it('issue 11 item 7: createSnapshotHooks rebuilds a missing sidecar (KM-7 write, keystore, state cell) and a wrong KEK refuses with KEK_MISMATCH writing nothing', async () => {
    const l = leaderSidecar();
    const h = header(l);
    const rows = new Map<number, Uint8Array>([[l.active.storage, encodeRegistryValue({ fullNodeId: me.fullNodeId, firstSeenLocalEpoch: 0, lastSeenLocalEpoch: 0 })]]);
    const row = (d: number, n: number): Uint8Array | undefined => (n === me.nodeId16 ? rows.get(d) : undefined);

    const dir = tmp();
    const store = new SidecarStore(join(dir, 'keys.json'));
    const wrong = { kek: testKek(0x17), sidecar: store, state: new EncryptionStateCell(undefined), keystore: new Keystore(), identity: me, pinned: { storage: 0, raft: 0 } };
    const bad = createSnapshotHooks(wrong);
    bad.check(h);
    expect(await codeOf(() => bad.staged(h, row))).toBe('KEK_MISMATCH');
    expect(await store.read()).toBeUndefined();
    expect(wrong.state.sidecar()).toBeUndefined();
    expect(wrong.keystore.has(l.active.storage)).toBe(false);

    const ok = { ...wrong, kek, state: new EncryptionStateCell(undefined), keystore: new Keystore() };
    const hooks = createSnapshotHooks(ok);
    hooks.check(h);
    await hooks.staged(h, row);
    const written = await store.read();
    expect(written?.raftAppliedIndex).toBe(6n);
    expect(written?.storageEnvelopeActive).toBe(true);
    expect(written?.keys.get(l.active.storage)?.localEpoch).toBe(1);
    expect(written?.keys.get(l.active.raft)?.localEpoch).toBe(0);
    expect(ok.state.sidecar()).toEqual(written);
    expect(ok.keystore.has(l.active.storage) && ok.keystore.has(l.active.raft)).toBe(true);
    // SH-1: the copies now describe the rebuilt state; a second delivery of the snapshot keeps it.
    expect(hooks.copies().sidecarAppliedIndex).toBe(6n);
    hooks.check(h);
    await hooks.staged(h, row);
  });
});

describe('OP-4 row 11 from the recorded snapshot point (SH-1, SH-5)', () => {
  const view = (rec: NodeStartView['snapshotRecord']): NodeStartView => ({ snapshotRecord: rec }) as NodeStartView;

  it('SH-5: the recorded cutover and sidecar_applied_index reach the group B guards; sidecar 100 with snapshot 200 refuses, snapshot 0 is accepted', () => {
    const g = snapshotGuardInputs(view({ index: 50n, raftCutoverIndex: 200n, sidecarAppliedIndex: 30n }));
    expect(g.snapshotSidecarIndex).toBe(30n);
    expect(codeOfSync(() => checkCutoverDivergence(100n, g.snapshot))).toBe('ENVELOPE_CUTOVER_DIVERGENCE');
    expect(codeOfSync(() => checkCutoverDivergence(100n, snapshotGuardInputs(view({ index: 50n, raftCutoverIndex: 0n, sidecarAppliedIndex: 30n })).snapshot))).toBe('no error');
    expect(snapshotGuardInputs(view(undefined))).toEqual({ snapshotSidecarIndex: 0n, snapshot: undefined });
  });

  it('SH-5: no recorded cutover with a non-zero sidecar refuses, except the founding point at index 1 (nothing applied before it)', () => {
    expect(codeOfSync(() => checkCutoverDivergence(100n, snapshotGuardInputs(view({ index: 50n, raftCutoverIndex: null, sidecarAppliedIndex: 0n })).snapshot))).toBe(
      'ENVELOPE_CUTOVER_DIVERGENCE',
    );
    expect(codeOfSync(() => checkCutoverDivergence(100n, snapshotGuardInputs(view({ index: 1n, raftCutoverIndex: null, sidecarAppliedIndex: 0n })).snapshot))).toBe('no error');
  });
});

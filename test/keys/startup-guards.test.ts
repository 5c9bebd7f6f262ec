// OP-4 group B (KM-14 step 8): KM-12 sidecar lag, WR-10 collision and rollback, WR-11 peer check,
// SH-5 divergence, RO-11 wrap availability — in order, each a StartupRefusedError with its code.
import { describe, expect, it } from 'vitest';
import { fullNodeId } from '../../src/crypto/envelope/nonce.js';
import { CryptoError, StartupRefusedError } from '../../src/errors.js';
import { planEpochBump } from '../../src/keys/epochs.js';
import { deriveNodeIdentity } from '../../src/keys/node-identity.js';
import type { PeerRegistryAnswer, RegistryRow, RegistryView } from '../../src/keys/registry-rules.js';
import type { Sidecar } from '../../src/keys/sidecar-schema.js';
import {
  checkCutoverDivergence,
  checkRaftWrapAvailable,
  checkSidecarNotBehind,
  type GroupBInput,
  type LogEntryView,
  type LogView,
  runGroupBGuards,
  type SidecarLagInput,
} from '../../src/keys/startup-guards.js';
import { StorageError } from '../../src/storage/errors.js';
import { bootstrappedSidecar, codeOf, codeOfSync, testKek } from './helpers.js';

/** A log of normal entries whose data is the FSM payload, "wrapped" by prefixing 0xEE above the cutover. */
function log(entries: [number, number][], first = 1): LogView {
  const list: LogEntryView[] = entries.map(([i, op]) => ({ index: BigInt(i), kind: 'normal', data: new Uint8Array([op, 1]) }));
  return {
    firstIndex: () => BigInt(first),
    entries: (lo, hi) => list.filter((e) => e.index > lo && e.index <= hi),
  };
}

function lag(over: Partial<SidecarLagInput>): SidecarLagInput {
  return {
    sidecarIndex: 10n,
    appliedIndex: 20n,
    snapshotIndex: 0n,
    snapshotSidecarIndex: 0n,
    raftCutoverIndex: 0n,
    log: log([]),
    payloadOf: (e, wrapped) => {
      if (!wrapped) return e.data;
      if (e.data[0] !== 0xee) throw new Error('does not authenticate');
      return e.data.subarray(1);
    },
    ...over,
  };
}

describe('KM-12 the sidecar must not lag the Raft log', () => {
  it('KM-12: sidecar at 10, applied 20, a rotation at 15 → SIDECAR_BEHIND_RAFT_LOG', () => {
    expect(codeOfSync(() => checkSidecarNotBehind(lag({ log: log([[11, 0x10], [15, 0x05], [20, 0x10]]) })))).toBe('SIDECAR_BEHIND_RAFT_LOG');
  });

  it('KM-12: only registrations (and KV commands, empty and conf-change entries) between 11 and 20 → start', () => {
    const l = log([[11, 0x03], [12, 0x10], [20, 0x03]]);
    const withConf: LogView = {
      firstIndex: () => 1n,
      entries: (lo, hi) => [...l.entries(lo, hi), { index: 13n, kind: 'conf-change', data: new Uint8Array([0x05]) }, { index: 14n, kind: 'normal', data: new Uint8Array(0) }],
    };
    expect(checkSidecarNotBehind(lag({ log: withConf }))).toBeNull();
  });

  it('KM-12: cutover at 12 and a wrapped raft rotation at 18 → refuse (the scanner unwrapped it); an entry that does not unwrap → refuse with the cause', () => {
    const wrapped: LogView = {
      firstIndex: () => 1n,
      entries: () => [{ index: 18n, kind: 'normal', data: new Uint8Array([0xee, 0x05, 1]) }],
    };
    expect(codeOfSync(() => checkSidecarNotBehind(lag({ raftCutoverIndex: 12n, log: wrapped })))).toBe('SIDECAR_BEHIND_RAFT_LOG');
    const garbage: LogView = { firstIndex: () => 1n, entries: () => [{ index: 18n, kind: 'normal', data: new Uint8Array([0x10, 1]) }] };
    try {
      checkSidecarNotBehind(lag({ raftCutoverIndex: 12n, log: garbage }));
      expect.unreachable();
    } catch (e) {
      expect((e as StartupRefusedError).code).toBe('SIDECAR_BEHIND_RAFT_LOG');
      expect((e as Error).cause).toBeInstanceOf(Error);
    }
  });

  it('KM-12: a cipher backend that fails while scanning (not an entry that fails to authenticate) refuses the start with its own CRYPTO_BACKEND, not advice to resync the sidecar', () => {
    const one: LogView = { firstIndex: () => 1n, entries: () => [{ index: 18n, kind: 'normal', data: new Uint8Array([0xee, 0x10, 1]) }] };
    const backendDown = (): Uint8Array => {
      throw new CryptoError('CRYPTO_BACKEND', 'OpenSSL context failure');
    };
    expect(codeOfSync(() => checkSidecarNotBehind(lag({ raftCutoverIndex: 12n, log: one, payloadOf: backendDown })))).toBe('CRYPTO_BACKEND');
  });

  it('KM-12: sidecar at 25 with a snapshot whose sidecar_applied_index is 30 → refuse; sidecar at 21, applied 20 → start with the warning', () => {
    expect(codeOfSync(() => checkSidecarNotBehind(lag({ sidecarIndex: 25n, appliedIndex: 40n, snapshotIndex: 35n, snapshotSidecarIndex: 30n })))).toBe('SIDECAR_BEHIND_RAFT_LOG');
    expect(checkSidecarNotBehind(lag({ sidecarIndex: 21n, appliedIndex: 20n }))).toMatch(/sidecar ahead of the Raft log/);
  });

  it('KM-12: part of the range compacted away → LOG_COMPACTED_PAST_SIDECAR; a log read error → STORAGE_IO', () => {
    expect(codeOfSync(() => checkSidecarNotBehind(lag({ log: log([[15, 0x10]], 15) })))).toBe('LOG_COMPACTED_PAST_SIDECAR');
    // The range starts above the snapshot: entries after max(R, S) are what must be present.
    expect(checkSidecarNotBehind(lag({ snapshotIndex: 14n, log: log([[15, 0x10]], 15) }))).toBeNull();
    const broken: LogView = {
      firstIndex: () => 1n,
      entries: () => {
        throw new StorageError('STORAGE_IO', 'read failed');
      },
    };
    expect(codeOfSync(() => checkSidecarNotBehind(lag({ log: broken })))).toBe('STORAGE_IO');
  });
});

describe('SH-5 and RO-11', () => {
  it('SH-5: sidecar cutover 100 with snapshot cutover 200 refuses with ENVELOPE_CUTOVER_DIVERGENCE; snapshot cutover 0 is accepted; no recorded cutover with a non-zero sidecar refuses', () => {
    expect(codeOfSync(() => checkCutoverDivergence(100n, { recordedCutover: 200n }))).toBe('ENVELOPE_CUTOVER_DIVERGENCE');
    expect(codeOfSync(() => checkCutoverDivergence(100n, { recordedCutover: 0n }))).toBe('no error');
    expect(codeOfSync(() => checkCutoverDivergence(100n, { recordedCutover: 100n }))).toBe('no error');
    expect(codeOfSync(() => checkCutoverDivergence(100n, { recordedCutover: null }))).toBe('ENVELOPE_CUTOVER_DIVERGENCE');
    expect(codeOfSync(() => checkCutoverDivergence(0n, { recordedCutover: null }))).toBe('no error');
    expect(codeOfSync(() => checkCutoverDivergence(100n, undefined))).toBe('no error');
  });

  it('RO-11: a non-zero raft cutover with active.raft 0, or a raft DEK that is not loaded, refuses with RAFT_WRAP_UNAVAILABLE', () => {
    const s = { ...bootstrappedSidecar(testKek()), raftEnvelopeCutoverIndex: 100n };
    expect(codeOfSync(() => checkRaftWrapAvailable(s, () => false))).toBe('RAFT_WRAP_UNAVAILABLE');
    expect(codeOfSync(() => checkRaftWrapAvailable({ ...s, active: { storage: s.active.storage, raft: 0 } }, () => true))).toBe('RAFT_WRAP_UNAVAILABLE');
    expect(codeOfSync(() => checkRaftWrapAvailable(s, () => true))).toBe('no error');
    expect(codeOfSync(() => checkRaftWrapAvailable({ ...s, raftEnvelopeCutoverIndex: 0n }, () => false))).toBe('no error');
  });
});

describe('OP-4 group B in order (table-driven)', () => {
  const me = deriveNodeIdentity('node-1');
  const kek = testKek();
  const active: Sidecar = { ...bootstrappedSidecar(kek, { epoch: 5, index: 20n }), storageEnvelopeActive: true, storageEnvelopeCutoverIndex: 15n };
  const pinned = planEpochBump(active, me.nodeId16).pinned; // epochs 6
  const myRow = (last: number): RegistryRow => ({ fullNodeId: me.fullNodeId, firstSeenLocalEpoch: 1, lastSeenLocalEpoch: last });
  const view = (row?: RegistryRow): RegistryView => ({ get: (d, n) => (d === active.active.storage && n === me.nodeId16 ? row : undefined) });

  function input(over: Partial<GroupBInput> = {}): GroupBInput {
    return {
      encryption: true,
      identity: me,
      sidecar: active,
      pinned,
      lag: lag({ sidecarIndex: 20n, appliedIndex: 20n }),
      registry: view(myRow(5)),
      members: [
        { raftId: 'node-1', fullNodeId: me.fullNodeId },
        { raftId: 'node-2', fullNodeId: fullNodeId('node-2') },
      ],
      queryPeers: async () => [],
      snapshot: undefined,
      isKeyLoaded: () => true,
      ...over,
    };
  }

  const TABLE: [string, Partial<GroupBInput>, string][] = [
    ['8 KM-12: sidecar behind a rotation', { lag: lag({ sidecarIndex: 10n, appliedIndex: 20n, log: log([[15, 0x05]]) }) }, 'SIDECAR_BEHIND_RAFT_LOG'],
    ['8 KM-12: range compacted', { lag: lag({ sidecarIndex: 10n, appliedIndex: 20n, log: log([], 18) }) }, 'LOG_COMPACTED_PAST_SIDECAR'],
    ['9 WR-10: node_id16 collision in the membership', { members: [{ raftId: 'node-1', fullNodeId: me.fullNodeId }, { raftId: 'node-3808', fullNodeId: fullNodeId('node-3808') }] }, 'NODE_ID_COLLISION'],
    ['10 WR-10: restored sidecar (pinned epoch equals last_seen)', { registry: view(myRow(6)) }, 'LOCAL_EPOCH_ROLLBACK'],
    ['10 WR-10: registry read error is STORAGE_IO', { registry: { get: () => { throw new StorageError('STORAGE_IO', 'read failed'); } } }, 'STORAGE_IO'],
    ['10 WR-11: a peer has this node at the pinned epoch', { queryPeers: async (): Promise<PeerRegistryAnswer[]> => [{ peer: 'node-2', rows: [{ dekId: active.active.storage, row: myRow(6) }] }] }, 'LOCAL_EPOCH_ROLLBACK'],
    ['11 SH-5: snapshot cutover differs', { sidecar: { ...active, raftEnvelopeCutoverIndex: 100n }, snapshot: { recordedCutover: 200n } }, 'ENVELOPE_CUTOVER_DIVERGENCE'],
    ['12 RO-11: raft DEK not loaded', { sidecar: { ...active, raftEnvelopeCutoverIndex: 100n }, isKeyLoaded: () => false }, 'RAFT_WRAP_UNAVAILABLE'],
  ];

  for (const [name, over, code] of TABLE) {
    it(`OP-4 ${code}: row ${name}`, async () => {
      const err = await runGroupBGuards(input(over)).then(
        () => null,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(StartupRefusedError);
      expect((err as StartupRefusedError).code).toBe(code);
      expect((err as Error).message).not.toContain('\n');
    });
  }

  it('OP-4: the first failing row is reported (a collision and a rollback together → NODE_ID_COLLISION)', async () => {
    expect(await codeOf(() => runGroupBGuards(input({ registry: view(myRow(6)), members: [{ raftId: 'node-1', fullNodeId: me.fullNodeId }, { raftId: 'node-3808', fullNodeId: fullNodeId('node-3808') }] })))).toBe('NODE_ID_COLLISION');
  });

  it('WR-11: the peers are asked for every active DEK only when an envelope is active; a clean start passes and returns the KM-12 warning', async () => {
    const asked: number[][] = [];
    const w = await runGroupBGuards(input({ lag: lag({ sidecarIndex: 21n, appliedIndex: 20n }), queryPeers: async (d) => {
      asked.push([...d]);
      return [];
    } }));
    expect(asked).toEqual([[active.active.storage, active.active.raft]]);
    expect(w.join()).toMatch(/sidecar ahead/);
    asked.length = 0;
    const before = { ...active, storageEnvelopeActive: false, storageEnvelopeCutoverIndex: 0n };
    await runGroupBGuards(input({ sidecar: before, registry: view(undefined), queryPeers: async (d) => {
      asked.push([...d]);
      return [];
    } }));
    expect(asked).toEqual([]);
  });

  it('OP-4: with encryption off the group B guards do nothing', async () => {
    expect(await runGroupBGuards(input({ encryption: false, registry: view(myRow(60)) }))).toEqual([]);
  });
});

// KM-13 resync-sidecar planning (leader report and local replay), the OP-2 sidecar state report,
// and OP-3 `kek-params --install`.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CryptoError } from '../../src/errors.js';
import { encodeBootstrap, encodeRegisterWriter, encodeRotation } from '../../src/keys/encryption-entries.js';
import { installKdfParams, kdfParamsJson, parseKdfParamsJson } from '../../src/keys/kdf-install.js';
import { createKdfParams } from '../../src/keys/kek-kdf.js';
import { deriveNodeIdentity } from '../../src/keys/node-identity.js';
import type { RegistryRow, RegistryView } from '../../src/keys/registry-rules.js';
import { resyncByLocalReplay, resyncFromReport } from '../../src/keys/resync.js';
import { type Sidecar, serializeSidecar } from '../../src/keys/sidecar-schema.js';
import { buildSidecarReport, parseSidecarReport } from '../../src/keys/sidecar-report.js';
import { SidecarStore } from '../../src/keys/sidecar-store.js';
import { checkSidecarNotBehind, type LogEntryView, type LogView } from '../../src/keys/startup-guards.js';
import { bootstrappedSidecar, bytes32, codeOf, codeOfSync, seqRandom, testKek, tmp } from './helpers.js';

const kek = testKek();
const me = deriveNodeIdentity('n1');
const NOW = '2026-12-03T08:00:00.000Z';

function registry(rows: [number, number][]): RegistryView {
  const m = new Map<number, RegistryRow>(rows.map(([d, last]) => [d, { fullNodeId: me.fullNodeId, firstSeenLocalEpoch: 0, lastSeenLocalEpoch: last }]));
  return { get: (d, n) => (n === me.nodeId16 ? m.get(d) : undefined) };
}

function withEpochs(s: Sidecar, epoch: number): Sidecar {
  const keys = new Map(s.keys);
  for (const [id, k] of keys) keys.set(id, { ...k, localEpoch: epoch });
  return { ...s, keys };
}

describe('OP-2 sidecar state report', () => {
  it('OP-2: the report carries keys without local_epoch, u64 as decimal strings, and writer_registry_for_caller only when asked; it parses back', () => {
    const s = { ...bootstrappedSidecar(kek, { index: 1207n }), storageEnvelopeActive: true, storageEnvelopeCutoverIndex: 1180n, raftEnvelopeCutoverIndex: 18446744073709551615n };
    const plain = buildSidecarReport(s, 1302n);
    expect(plain.writer_registry_for_caller).toBeUndefined();
    expect(plain.latest_applied_index).toBe('1302');
    expect(plain.raft_envelope_cutover_index).toBe('18446744073709551615');
    expect(JSON.stringify(plain)).not.toContain('local_epoch');
    const doc = JSON.parse(JSON.stringify(buildSidecarReport(s, 1302n, new Map([[s.active.raft, 4]]))));
    const r = parseSidecarReport(doc);
    expect(r.latestAppliedIndex).toBe(1302n);
    expect(r.raftEnvelopeCutoverIndex).toBe(18446744073709551615n);
    expect(r.writerRegistryForCaller?.get(s.active.raft)).toBe(4);
    expect(Buffer.from(r.keys.get(s.active.storage)!.wrapped).equals(Buffer.from(s.keys.get(s.active.storage)!.wrapped))).toBe(true);
  });

  it('OP-2/C-2: a malformed report is INVALID_ARGUMENT; an epoch of 65536 is LOCAL_EPOCH_OUT_OF_RANGE', () => {
    const good = () => JSON.parse(JSON.stringify(buildSidecarReport(bootstrappedSidecar(kek), 5n, new Map([[19088743, 1]]))));
    const edits: ((d: Record<string, unknown>) => void)[] = [
      (d) => (d.latest_applied_index = 5),
      (d) => (d.latest_applied_index = '05'),
      (d) => (d.extra = true),
      (d) => ((d.keys as Record<string, unknown>)['0'] = { purpose: 'raft', wrapped: 'AAAA', created: NOW }),
      (d) => ((d.keys as Record<string, Record<string, unknown>>)['19088743']!.purpose = 'other'),
      (d) => (d.active = { storage: -1, raft: 0 }),
    ];
    for (const e of edits) {
      const d = good();
      e(d);
      expect(codeOfSync(() => parseSidecarReport(d))).toBe('INVALID_ARGUMENT');
    }
    const d = good();
    (d.writer_registry_for_caller as Record<string, number>)['19088743'] = 65536;
    expect(codeOfSync(() => parseSidecarReport(d))).toBe('LOCAL_EPOCH_OUT_OF_RANGE');
  });
});

describe('KM-13 resync from the leader report', () => {
  const leader = { ...bootstrappedSidecar(kek, { index: 500n }), storageEnvelopeActive: true, storageEnvelopeCutoverIndex: 300n };
  const kdf = createKdfParams({}, seqRandom(4));

  it('KM-13: after a resync from the leader report every local_epoch is greater than both the previous local value and the registry value; kek_kdf is kept', () => {
    const local: Sidecar = { ...withEpochs(bootstrappedSidecar(kek, { index: 100n }), 9), kekKdf: kdf };
    const report = parseSidecarReport(JSON.parse(JSON.stringify(buildSidecarReport(leader, 600n, new Map([[leader.active.storage, 12], [leader.active.raft, 3]])))));
    const next = resyncFromReport({ local, appliedIndex: 550n, kek, registry: registry([]), fullNodeId: me.fullNodeId, nodeId16: me.nodeId16, now: NOW }, report);
    expect(next.keys.get(leader.active.storage)!.localEpoch).toBe(13); // max(9, 12) + 1
    expect(next.keys.get(leader.active.raft)!.localEpoch).toBe(10); // max(9, 3) + 1
    expect(next.raftAppliedIndex).toBe(600n);
    expect(next.storageEnvelopeCutoverIndex).toBe(300n);
    expect(next.storageEnvelopeActive).toBe(true);
    expect(next.kekKdf).toBe(kdf);
    serializeSidecar(next); // valid
  });

  it('KM-13: a report below the local applied index is stale (INVALID_ARGUMENT); a DEK that does not unwrap is KEK_MISMATCH; nothing is returned', () => {
    const report = parseSidecarReport(JSON.parse(JSON.stringify(buildSidecarReport(leader, 600n))));
    const base = { local: undefined, kek, registry: registry([]), fullNodeId: me.fullNodeId, nodeId16: me.nodeId16, now: NOW };
    expect(codeOfSync(() => resyncFromReport({ ...base, appliedIndex: 601n }, report))).toBe('INVALID_ARGUMENT');
    expect(codeOfSync(() => resyncFromReport({ ...base, appliedIndex: 10n, kek: testKek(0x01) }, report))).toBe('KEK_MISMATCH');
    expect(resyncFromReport({ ...base, appliedIndex: 600n }, report).keys.get(leader.active.raft)!.localEpoch).toBe(1);
  });
});

describe('KM-13 resync by local replay', () => {
  const S = 1001;
  const R = 2002;
  const S2 = 3003;
  const R2 = 4004;
  const wrapped = (f: number) => kek.wrapSync(bytes32(f));
  const wS = wrapped(1);
  const wR = wrapped(2);
  const wS2 = wrapped(3);
  const wR2 = wrapped(4);
  const prop = (dekId: number, e: number) => ({ dekId, fullNodeId: me.fullNodeId, localEpoch: e });
  // Entries as FSM payloads; above the raft cutover they are "wrapped" with a 0xEE prefix.
  const payloads: [number, Uint8Array][] = [
    [5, encodeBootstrap({ storageDekId: S, storageWrapped: wS, raftDekId: R, raftWrapped: wR, batch: [prop(S, 0), prop(R, 0)] })],
    [8, encodeRotation({ subTag: 4, dekId: S, purpose: 'storage', wrapped: new Uint8Array(0), proposer: prop(S, 1) })],
    [12, encodeRegisterWriter(prop(S, 1))],
    [15, encodeRotation({ subTag: 1, dekId: S2, purpose: 'storage', wrapped: wS2, proposer: prop(S2, 2) })],
    [18, new Uint8Array([0x10, 1, 2, 3])],
    [20, encodeRotation({ subTag: 5, dekId: R, purpose: 'raft', wrapped: new Uint8Array(0), proposer: prop(R, 2) })],
    [22, new Uint8Array([0xee, ...encodeRotation({ subTag: 1, dekId: R2, purpose: 'raft', wrapped: wR2, proposer: prop(R2, 2) })])],
  ];
  const entries: LogEntryView[] = payloads.map(([i, data]) => ({ index: BigInt(i), kind: 'normal', data }));
  const logFrom = (first: number): LogView => ({ firstIndex: () => BigInt(first), entries: (lo, hi) => entries.filter((e) => e.index > lo && e.index <= hi && e.index >= BigInt(first)) });
  const payloadOf = (e: LogEntryView, isWrapped: boolean): Uint8Array => {
    if (!isWrapped) return e.data;
    if (e.data[0] !== 0xee) throw new Error('does not authenticate');
    return e.data.subarray(1);
  };

  /** The sidecar a node had after applying entries up to 8, with bumped epochs. */
  function lostRotation(): Sidecar {
    const keys = new Map([
      [S, { purpose: 'storage' as const, wrapped: wS, created: NOW, localEpoch: 3 }],
      [R, { purpose: 'raft' as const, wrapped: wR, created: NOW, localEpoch: 3 }],
    ]);
    return { version: 1, raftAppliedIndex: 8n, storageEnvelopeActive: true, storageEnvelopeCutoverIndex: 8n, raftEnvelopeCutoverIndex: 0n, active: { storage: S, raft: R }, keys };
  }

  function input(over: Partial<Parameters<typeof resyncByLocalReplay>[0]> = {}): Parameters<typeof resyncByLocalReplay>[0] {
    return {
      local: lostRotation(),
      appliedIndex: 22n,
      kek,
      registry: registry([[S, 1], [S2, 2], [R, 2], [R2, 2]]),
      fullNodeId: me.fullNodeId,
      nodeId16: me.nodeId16,
      now: NOW,
      snapshotIndex: 0n,
      snapshotSidecarIndex: 0n,
      log: logFrom(1),
      payloadOf,
      ...over,
    };
  }

  it('KM-13: a sidecar that lost a rotation (and the raft cutover, and a wrapped raft rotation) is repaired by local replay; KM-12 then passes', () => {
    const before = input();
    expect(codeOfSync(() => checkSidecarNotBehind({ sidecarIndex: 8n, appliedIndex: 22n, snapshotIndex: 0n, snapshotSidecarIndex: 0n, raftCutoverIndex: 0n, log: logFrom(1), payloadOf }))).toBe('SIDECAR_BEHIND_RAFT_LOG');
    const next = resyncByLocalReplay(before);
    expect(next.active).toEqual({ storage: S2, raft: R2 });
    expect(next.raftEnvelopeCutoverIndex).toBe(20n);
    expect(next.storageEnvelopeCutoverIndex).toBe(8n);
    expect(next.raftAppliedIndex).toBe(22n);
    expect(next.keys.get(S)!.localEpoch).toBe(3); // max(local 3, registry 1)
    expect(next.keys.get(S2)!.localEpoch).toBe(2); // new key: max(0, registry 2)
    expect([...next.keys.keys()].sort((a, b) => a - b)).toEqual([S, R, S2, R2]);
    expect(checkSidecarNotBehind({ sidecarIndex: next.raftAppliedIndex, appliedIndex: 22n, snapshotIndex: 0n, snapshotSidecarIndex: 0n, raftCutoverIndex: next.raftEnvelopeCutoverIndex, log: logFrom(1), payloadOf })).toBeNull();
    // The local sidecar object is untouched.
    expect(before.local!.active.storage).toBe(S);
  });

  it('KM-13: a cipher backend that fails during the local replay surfaces as its own CRYPTO_BACKEND, not as a sidecar that cannot be replayed', () => {
    const backendDown = (e: LogEntryView, isWrapped: boolean): Uint8Array => {
      if (isWrapped) throw new CryptoError('CRYPTO_BACKEND', 'OpenSSL context failure');
      return e.data;
    };
    expect(codeOfSync(() => resyncByLocalReplay(input({ payloadOf: backendDown })))).toBe('CRYPTO_BACKEND');
  });

  it('KM-13: a node without a sidecar rebuilds it from the bootstrap on', () => {
    const next = resyncByLocalReplay(input({ local: undefined }));
    expect(next.active).toEqual({ storage: S2, raft: R2 });
  });

  it('KM-13: local replay is impossible when R < L (SIDECAR_BEHIND_RAFT_LOG) or the range is compacted (LOG_COMPACTED_PAST_SIDECAR), with a leader-source hint', () => {
    expect(() => resyncByLocalReplay(input({ snapshotSidecarIndex: 15n, snapshotIndex: 16n }))).toThrow(/--leader-report/);
    expect(codeOfSync(() => resyncByLocalReplay(input({ snapshotSidecarIndex: 15n, snapshotIndex: 16n })))).toBe('SIDECAR_BEHIND_RAFT_LOG');
    expect(codeOfSync(() => resyncByLocalReplay(input({ log: logFrom(12) })))).toBe('LOG_COMPACTED_PAST_SIDECAR');
    expect(codeOfSync(() => resyncByLocalReplay(input({ kek: testKek(0x09) })))).toBe('KEK_MISMATCH');
  });
});

describe('OP-3 kek-params --install', () => {
  it('OP-3/KM-5: creates a sidecar with no keys, installs into one without kek_kdf, keeps an identical one, refuses a different one with KEK_MISMATCH', async () => {
    const d = tmp();
    const store = new SidecarStore(join(d, 'keys.json'));
    const a = createKdfParams({}, seqRandom(1));
    const b = createKdfParams({}, seqRandom(2));
    expect(await installKdfParams(store, a)).toBe('created');
    expect((await store.read())!.keys.size).toBe(0);
    expect(await installKdfParams(store, parseKdfParamsJson(JSON.parse(JSON.stringify(kdfParamsJson(a)))))).toBe('unchanged');
    expect(await codeOf(() => installKdfParams(store, b))).toBe('KEK_MISMATCH');
    const other = new SidecarStore(join(d, 'other.json'));
    await other.write(bootstrappedSidecar(kek));
    expect(await installKdfParams(other, b)).toBe('installed');
    expect((await other.read())!.keys.size).toBe(2);
    expect(codeOfSync(() => parseKdfParamsJson({ ...kdfParamsJson(a), iterations: 1 }))).toBe('SIDECAR_MALFORMED');
  });
});

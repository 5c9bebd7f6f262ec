// WR-10 with AS-16: a node killed after its sidecar write of a storage rotation and before the
// applied index passes that entry restarts with the new DEK active and no registry row for it yet.
// That missing row is expected only when the rotation that made the DEK active lies above the
// durable applied index (it will be replayed); everywhere else the missing-row refusal stands.
import { describe, expect, it } from 'vitest';
import { decodeProposal, encodeProposal } from '../../src/crypto/envelope/proposal.js';
import { encodeRegisterWriter, encodeRotation, type RotationSubTag, SUBTAG_ENABLE_STORAGE_ENVELOPE, SUBTAG_ROTATE_DEK } from '../../src/keys/encryption-entries.js';
import { checkLocalEpochRollback } from '../../src/keys/registry-rules.js';
import type { Sidecar } from '../../src/keys/sidecar-schema.js';
import { activeStorageRotationAboveApplied, type LogEntryView, type SidecarLagInput } from '../../src/keys/startup-guards.js';
import { bootstrappedSidecar, codeOfSync, testKek } from './helpers.js';

const F = 0xaabbccdd0000f00dn;
const NEW = 777;
const empty = { get: () => undefined };

function lag(E: bigint, entries: Map<bigint, Uint8Array>, throwing = false): SidecarLagInput {
  return {
    sidecarIndex: 0n,
    appliedIndex: E,
    snapshotIndex: 0n,
    snapshotSidecarIndex: 0n,
    raftCutoverIndex: 0n,
    log: {
      firstIndex: () => 1n,
      *entries(lo, hi) {
        if (throwing) throw new Error('read error');
        for (let i = lo + 1n; i <= hi; i++) yield { index: i, kind: 'normal', data: entries.get(i) ?? new Uint8Array(0) } as LogEntryView;
      },
    },
    payloadOf: (e) => decodeProposal(e.data).payload,
  };
}

const rotation = (dekId: number, subTag: RotationSubTag = SUBTAG_ROTATE_DEK): Uint8Array =>
  encodeProposal(1n, encodeRotation({ subTag, dekId, purpose: 'storage', wrapped: subTag === SUBTAG_ROTATE_DEK ? testKek().wrapSync(new Uint8Array(32).fill(3)) : new Uint8Array(0), proposer: { dekId, fullNodeId: F, localEpoch: 1 } }));

function sidecarAt(R: bigint): Sidecar {
  const s = bootstrappedSidecar(testKek(), { storage: NEW, index: R });
  return { ...s, storageEnvelopeActive: true };
}

describe('WR-10 missing row above the applied index (AS-16)', () => {
  it('WR-10, AS-16: the rotation that made the active storage DEK active lies in (E, R] → the missing row is expected', () => {
    const log = new Map([[21n, rotation(NEW)]]);
    expect(activeStorageRotationAboveApplied(sidecarAt(21n), lag(20n, log))).toBe(true);
    const flag = { encryptionOn: true, activeStorageDekId: NEW, storageEnvelopeActive: true, fullNodeId: F, pinnedStorageEpoch: 1, activeStorageAboveApplied: true };
    expect(codeOfSync(() => checkLocalEpochRollback(empty, flag))).toBe('no error');
    // A row that exists is still compared (a rollback is a rollback).
    const row = { get: () => ({ fullNodeId: F, firstSeenLocalEpoch: 1, lastSeenLocalEpoch: 5 }) };
    expect(codeOfSync(() => checkLocalEpochRollback(row, flag))).toBe('LOCAL_EPOCH_ROLLBACK');
  });

  it('WR-10: everywhere else the missing-row refusal stands (R = E, another DEK, a cutover or registration entry, an unreadable log)', () => {
    expect(activeStorageRotationAboveApplied(sidecarAt(20n), lag(20n, new Map([[20n, rotation(NEW)]])))).toBe(false);
    expect(activeStorageRotationAboveApplied(sidecarAt(21n), lag(20n, new Map([[21n, rotation(NEW + 1)]])))).toBe(false);
    expect(activeStorageRotationAboveApplied(sidecarAt(21n), lag(20n, new Map([[21n, rotation(NEW, SUBTAG_ENABLE_STORAGE_ENVELOPE)]])))).toBe(false);
    expect(activeStorageRotationAboveApplied(sidecarAt(21n), lag(20n, new Map([[21n, encodeProposal(1n, encodeRegisterWriter({ dekId: NEW, fullNodeId: F, localEpoch: 1 }))]])))).toBe(false);
    expect(activeStorageRotationAboveApplied(sidecarAt(21n), lag(20n, new Map([[21n, rotation(NEW)]]), true))).toBe(false);
    const flag = { encryptionOn: true, activeStorageDekId: NEW, storageEnvelopeActive: true, fullNodeId: F, pinnedStorageEpoch: 1, activeStorageAboveApplied: false };
    expect(codeOfSync(() => checkLocalEpochRollback(empty, flag))).toBe('LOCAL_EPOCH_ROLLBACK');
  });
});

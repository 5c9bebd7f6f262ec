// RO-2 capability report, RO-3/WR-4 writer collection for the bootstrap batch, OP-2 epoch range checks.
import { describe, expect, it } from 'vitest';
import { decodeBootstrap, encodeBootstrap } from '../../src/keys/encryption-entries.js';
import { bootstrapBatch, buildCapabilityReport, writersFromCapability, writersFromRequest } from '../../src/keys/writer-batch.js';
import { codeOfSync } from './helpers.js';

const report = (full: string, epoch: number, capable = true) => ({ encryption_capable: capable, build: 'sealkv 0.1.0', sidecar_present: true, full_node_id: full, local_epoch: epoch });

describe('RO-2 capability report', () => {
  it('RO-2: a node without --encryption or a KEK reports encryption_capable false, full_node_id "0", local_epoch 0', () => {
    expect(buildCapabilityReport({ capable: false, build: 'b', sidecarPresent: false, fullNodeId: 123n, pinnedStorageEpoch: 7 })).toEqual({
      encryption_capable: false,
      build: 'b',
      sidecar_present: false,
      full_node_id: '0',
      local_epoch: 0,
    });
    expect(buildCapabilityReport({ capable: true, build: 'b', sidecarPresent: true, fullNodeId: 16615728193742600643n, pinnedStorageEpoch: 4 })).toMatchObject({
      full_node_id: '16615728193742600643',
      local_epoch: 4,
    });
  });
});

describe('WR-4 / RO-3 bootstrap writers', () => {
  it('WR-4: one row per member per DEK, deduplicated by full_node_id, and the rows fit the 0x04 entry', () => {
    const writers = writersFromCapability([
      { member: 'n1', report: report('10', 0) },
      { member: 'n2', report: report('20', 3) },
      { member: 'n2-again', report: report('20', 3) },
    ]);
    expect(writers).toEqual([
      { fullNodeId: 10n, localEpoch: 0 },
      { fullNodeId: 20n, localEpoch: 3 },
    ]);
    const batch = bootstrapBatch(writers, 5, 6);
    expect(batch).toEqual([
      { dekId: 5, fullNodeId: 10n, localEpoch: 0 },
      { dekId: 6, fullNodeId: 10n, localEpoch: 0 },
      { dekId: 5, fullNodeId: 20n, localEpoch: 3 },
      { dekId: 6, fullNodeId: 20n, localEpoch: 3 },
    ]);
    const w = new Uint8Array(60);
    expect(decodeBootstrap(encodeBootstrap({ storageDekId: 5, storageWrapped: w, raftDekId: 6, raftWrapped: w, batch })).batch).toEqual(batch);
  });

  it('RO-3: an unreachable or not-capable member rejects the request with CAPABILITY_CHECK_FAILED naming every offender', () => {
    const run = () =>
      writersFromCapability([
        { member: 'n1', report: report('10', 0) },
        { member: 'n2', error: 'timeout' },
        { member: 'learner-1', report: report('0', 0, false) },
      ]);
    expect(codeOfSync(run)).toBe('CAPABILITY_CHECK_FAILED');
    expect(run).toThrow(/n2 \(unreachable: timeout\).*learner-1 \(not encryption-capable\)/);
  });

  it('OP-2: a peer whose capability reply carries local_epoch 65536 fails with LOCAL_EPOCH_OUT_OF_RANGE before anything is proposed', () => {
    expect(codeOfSync(() => writersFromCapability([{ member: 'n3', report: report('30', 65536) }]))).toBe('LOCAL_EPOCH_OUT_OF_RANGE');
    expect(codeOfSync(() => writersFromCapability([{ member: 'n3', report: { ...report('30', 1), full_node_id: 30 } }]))).toBe('INVALID_ARGUMENT');
  });

  it('OP-2/WR-4: an explicit writers list checks non-zero full_node_id and epochs ≤ 0xFFFF', () => {
    expect(writersFromRequest([{ full_node_id: '18446744073709551615', local_epoch: 65535 }])).toEqual([{ fullNodeId: 18446744073709551615n, localEpoch: 65535 }]);
    expect(codeOfSync(() => writersFromRequest([{ full_node_id: '0', local_epoch: 1 }]))).toBe('INVALID_ARGUMENT');
    expect(codeOfSync(() => writersFromRequest([{ full_node_id: '18446744073709551616', local_epoch: 1 }]))).toBe('INVALID_ARGUMENT');
    expect(codeOfSync(() => writersFromRequest([{ full_node_id: '7', local_epoch: 65536 }]))).toBe('LOCAL_EPOCH_OUT_OF_RANGE');
    expect(codeOfSync(() => writersFromRequest([{ full_node_id: '7', local_epoch: 1.5 }]))).toBe('LOCAL_EPOCH_OUT_OF_RANGE');
  });
});

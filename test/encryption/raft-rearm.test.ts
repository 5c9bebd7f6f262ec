// RO-11 (KM-14 step 9): the encryption runtime re-arms wrap-on-propose and the cutover cell from
// the sidecar before the run loop applies anything. Each case loads fresh modules: a process
// gets one nonce factory per purpose (KM-9), and every runtime builds both.
import { afterEach, describe, expect, it, vi } from 'vitest';

type Runtime = Awaited<ReturnType<typeof import('../../src/encryption/runtime.js')['createEncryptionRuntime']>>;
let runtimes: Runtime[] = [];
afterEach(async () => {
  for (const r of runtimes) await r.close();
  runtimes = [];
});

async function armedProposer(cutover: bigint) {
  vi.resetModules();
  const { createEncryptionRuntime } = await import('../../src/encryption/runtime.js');
  const { mintPersistedEpoch } = await import('../../src/crypto/envelope/nonce.js');
  const { emptySidecar } = await import('../../src/keys/sidecar-schema.js');
  const { deriveNodeIdentity } = await import('../../src/keys/node-identity.js');
  const { generateDek } = await import('../../src/keys/dek-wrap.js');
  const { Proposer } = await import('../../src/node/proposer.js');
  const { CutoverCell } = await import('../../src/node/cutover-cell.js');
  const { unwrapRaft } = await import('../../src/crypto/envelope/raft.js');
  const { decodeProposal } = await import('../../src/crypto/envelope/proposal.js');
  const { loadAead } = await import('../../src/crypto/index.js');
  const identity = deriveNodeIdentity('n1');
  const raftDek = generateDek();
  const sidecar = { ...emptySidecar(), active: { storage: 11, raft: 12 }, raftEnvelopeCutoverIndex: cutover, raftAppliedIndex: cutover };
  const pin = (purpose: 'storage' | 'raft', keyId: number) => ({ purpose, nodeId16: identity.nodeId16, localEpoch: 3, keyId });
  const runtime = await createEncryptionRuntime({
    cipher: 'js',
    cryptoWorkers: 0,
    sidecar: { write: async () => undefined } as never,
    preflight: {
      identity,
      encryption: true,
      kek: null,
      sidecar,
      deks: new Map([
        [11, generateDek()],
        [12, raftDek.slice()],
      ]),
      pinned: { storage: pin('storage', 11), raft: pin('raft', 12) },
      tokens: {
        storage: mintPersistedEpoch({ purpose: 'storage', nodeId16: identity.nodeId16, localEpoch: 3 }),
        raft: mintPersistedEpoch({ purpose: 'raft', nodeId16: identity.nodeId16, localEpoch: 3 }),
      },
      warnings: [],
    },
  });
  runtimes.push(runtime);
  const appended: Uint8Array[] = [];
  const proposer = new Proposer<string>({
    isLeader: () => true,
    term: () => 1,
    leader: () => 'n1',
    transferInProgress: () => false,
    proposeEntries: (d) => appended.push(...d),
  });
  const cell = new CutoverCell();
  let unwrapper = false;
  runtime.armRaft!({
    setWrap: (w) => proposer.setWrap(w),
    setCutover: (i) => cell.set(i),
    setUnwrapper: (u) => {
      unwrapper = u !== null;
    },
    registryRow: () => ({ fullNodeId: identity.fullNodeId, lastSeenLocalEpoch: 3 }),
  });
  void proposer.propose(new TextEncoder().encode('SET k v')).catch(() => undefined);
  for (let i = 0; i < 200 && appended.length === 0; i++) await new Promise((r) => setTimeout(r, 5));
  proposer.close();
  const payload = decodeProposal(appended[0]!).payload;
  const aead = await loadAead('js');
  return { payload, cell, unwrapper, open: () => unwrapRaft(aead, runtime.keystore, payload) };
}

describe('RO-11 start-up re-arm', () => {
  it('RO-11: with sidecar cutover 100 the first proposal (before any barrier) is a raft envelope under active.raft, and the cell holds 100', async () => {
    const r = await armedProposer(100n);
    expect(r.payload[0]).toBe(0x01);
    expect([...r.payload.subarray(2, 6)]).toEqual([0, 0, 0, 12]);
    expect(new TextDecoder().decode(r.open())).toBe('SET k v');
    expect(r.cell.cutover()).toBe(100n);
    expect(r.unwrapper).toBe(true); // EH-2: the engine has the cipher whenever encryption is on
  });

  it('RO-11: with cutover 0 proposals stay cleartext and the cell keeps its inert value', async () => {
    const r = await armedProposer(0n);
    expect(new TextDecoder().decode(r.payload)).toBe('SET k v');
    expect(r.cell.gated(1n << 62n)).toBe(false);
    expect(r.unwrapper).toBe(true);
  });
});

// The enable-raft-envelope handler (RO-6 preconditions in order, RO-13 kill switch) over a fake
// node: which refusals come before any side effect, and what the barrier receives.
import { describe, expect, it } from 'vitest';
import { type AdminNodePort, EncryptionAdmin } from '../../src/encryption/admin-flows.js';
import { EncryptionStateCell } from '../../src/encryption/state-cell.js';
import { decodeRotation } from '../../src/keys/encryption-entries.js';
import { Kek } from '../../src/keys/kek-provider.js';
import { emptySidecar, type Sidecar } from '../../src/keys/sidecar-schema.js';

function setup(opts: { sidecar?: Sidecar; gate?: 'open' | 'closed'; peerDown?: boolean; kek?: boolean } = {}) {
  const calls: string[] = [];
  const node: AdminNodePort = {
    selfId: 'n1',
    isLeader: () => true,
    leader: () => 'n1',
    memberIds: () => ['n1', 'n2'],
    confirmLeadership: async () => {
      calls.push('confirm');
    },
    proposeAdmin: async () => {
      calls.push('proposeAdmin');
      return 1n;
    },
    requestPeer: async (to) => {
      calls.push(`fan-out ${to}`);
      if (opts.peerDown) throw new Error('unreachable');
      return { encryption_capable: true, full_node_id: '2', build: 'x', sidecar_present: true };
    },
    appliedIndex: () => 10n,
    fanOutTimeoutMs: 200,
  };
  const state = new EncryptionStateCell(opts.sidecar ?? emptySidecar());
  const markers: Uint8Array[] = [];
  const admin = new EncryptionAdmin(node, {
    kek: opts.kek === false ? null : Kek.fromBytes('env', new Uint8Array(32).fill(3)),
    state,
    fullNodeId: 77n,
    pinned: { storage: 4, raft: 5 },
    build: 'test',
    raftGate: opts.gate ?? 'open',
    raftCutover: {
      run: async (marker) => {
        markers.push(marker);
        calls.push('barrier');
        state.publish({ ...state.sidecar()!, raftEnvelopeCutoverIndex: 42n });
        return 42n;
      },
    },
  });
  return { admin, calls, markers };
}

const boot = (over: Partial<Sidecar> = {}): Sidecar => ({ ...emptySidecar(), active: { storage: 11, raft: 12 }, ...over });
const deadline = () => Date.now() + 5000;

describe('enable-raft-envelope (RO-6)', () => {
  it('RO-6: without --encryption → 409 ENCRYPTION_MUTATORS_DISABLED; not bootstrapped → 409 ENCRYPTION_NOT_BOOTSTRAPPED; nothing proposed', async () => {
    const a = setup({ kek: false, sidecar: boot() });
    await expect(a.admin.enableRaftEnvelope(deadline())).rejects.toMatchObject({ code: 'ENCRYPTION_MUTATORS_DISABLED', status: 409 });
    const b = setup();
    await expect(b.admin.enableRaftEnvelope(deadline())).rejects.toMatchObject({ code: 'ENCRYPTION_NOT_BOOTSTRAPPED', status: 409 });
    expect(b.markers).toEqual([]);
    expect(b.calls).toEqual(['confirm']);
  });

  it('RO-6 step 4/RO-13: an already-active cutover answers was_already_active with its index, no fan-out, even with the switch closed', async () => {
    const h = setup({ sidecar: boot({ raftEnvelopeCutoverIndex: 30n }), gate: 'closed' });
    await expect(h.admin.enableRaftEnvelope(deadline())).resolves.toMatchObject({ applied_index: '30', was_already_active: true });
    expect(h.calls).toEqual(['confirm']);
  });

  it('RO-13: with the kill switch closed a fresh cutover is 409 RAFT_ENVELOPE_GATED before the fan-out', async () => {
    const h = setup({ sidecar: boot(), gate: 'closed' });
    await expect(h.admin.enableRaftEnvelope(deadline())).rejects.toMatchObject({ code: 'RAFT_ENVELOPE_GATED', status: 409 });
    expect(h.calls).toEqual(['confirm']);
  });

  it('RO-6/RO-3: an unreachable member → 409 CAPABILITY_CHECK_FAILED, the barrier never runs', async () => {
    const h = setup({ sidecar: boot(), peerDown: true });
    await expect(h.admin.enableRaftEnvelope(deadline())).rejects.toMatchObject({ code: 'CAPABILITY_CHECK_FAILED' });
    expect(h.markers).toEqual([]);
  });

  it('RO-7 step 3: the barrier gets the marker 0x05/0x05, purpose raft, active.raft, empty wrapped, proposer {active.raft, this node, pinned raft epoch}', async () => {
    const h = setup({ sidecar: boot() });
    await expect(h.admin.enableRaftEnvelope(deadline())).resolves.toMatchObject({ applied_index: '42', was_already_active: false });
    expect(h.calls).toEqual(['confirm', 'fan-out n2', 'barrier']);
    const e = decodeRotation(h.markers[0]!);
    expect(e).toMatchObject({ subTag: 0x05, dekId: 12, purpose: 'raft', proposer: { dekId: 12, fullNodeId: 77n, localEpoch: 5 } });
    expect((e as { wrapped: Uint8Array }).wrapped.length).toBe(0);
  });

  it('RO-6: waiting for the admin mutex is bounded by the request deadline', async () => {
    const h = setup({ sidecar: boot() });
    let release!: () => void;
    const held = new Promise<void>((r) => {
      release = r;
    });
    // Hold the mutex with a long-running operation (a barrier that does not finish yet).
    (h.admin as unknown as { deps: { raftCutover: { run: () => Promise<bigint> } } }).deps.raftCutover.run = async () => {
      await held;
      return 42n;
    };
    const first = h.admin.enableRaftEnvelope(Date.now() + 60_000);
    await new Promise((r) => setTimeout(r, 20));
    await expect(h.admin.enableRaftEnvelope(Date.now() + 100)).rejects.toMatchObject({ code: 'TIMEOUT' });
    release();
    await first.catch(() => undefined);
  });
});

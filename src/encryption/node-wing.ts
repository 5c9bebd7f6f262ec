// The encryption wing around a started node (issue 14: one composition for the CLI and the
// whole-node simulator): the writer registrars of both purposes (WR-5/WR-6, WR-8), the
// raft-envelope barrier as the proposer's gate (RO-7), and the encryption admin flows with the
// capability answer its fan-out asks for.

import type { RandomSource } from '../keys/dek-wrap.js';
import type { PreflightResult } from '../keys/startup.js';
import type { ClusterNode } from '../node/cluster-node.js';
import type { NodeConfig } from '../node/config.js';
import { realScheduler, type Scheduler } from '../node/scheduler.js';
import { type AdminNodePort, CAPABILITY_REQUEST, EncryptionAdmin } from './admin-flows.js';
import { CutoverBarrier } from './cutover-barrier.js';
import { WriterRegistrar } from './registrar.js';
import type { EncryptionRuntime } from './runtime.js';

export interface WingOptions {
  node: ClusterNode;
  cfg: NodeConfig;
  runtime: EncryptionRuntime;
  preflight: PreflightResult;
  build: string;
  raftGate?: 'open' | 'closed';
  /** A registration that has not committed yet (retried). */
  warn(msg: string, err?: unknown): void;
  sched?: Scheduler;
  /** DEKs and key ids (default the CSPRNG). */
  random?: RandomSource;
  /** Test-only hooks of the §17 harness (AS-9, AS-10). */
  afterMarkerQueued?: () => void;
  beforeMarker?: (deadline: number) => Promise<void>;
}

export interface NodeWing {
  admin: EncryptionAdmin;
  barrier: CutoverBarrier;
}

/** The node as the encryption admin handlers see it. */
export function encryptionAdminPort(node: ClusterNode, cfg: NodeConfig): AdminNodePort {
  return {
    selfId: cfg.id,
    isLeader: () => node.raft.isLeader(),
    leader: () => node.raft.leader,
    memberIds: () => node.members().map((m) => m.id),
    confirmLeadership: async (deadline) => {
      await node.linearizableRead(deadline);
    },
    proposeAdmin: (payload, deadline) => node.proposeAdmin(payload, deadline),
    requestPeer: (to, payload, timeoutMs) => node.transport.request(to, payload, timeoutMs),
    appliedIndex: () => node.store.appliedIndex(),
    fanOutTimeoutMs: cfg.tickMs * cfg.electionTicks,
  };
}

export function wireEncryptionWing(o: WingOptions): NodeWing {
  const { node, runtime: rt, preflight: enc } = o;
  const sched = o.sched ?? realScheduler;
  // WR-5 (process start) and WR-6 (after a rotation): register as a writer for the active DEK of
  // a purpose when needed; this node's client writes wait for it. The raft purpose's registration
  // (WR-8) starts once the raft cutover is active.
  const startRegistrar = (purpose: 'storage' | 'raft'): void => {
    const registrar = new WriterRegistrar(
      {
        registryRow: (d, n) => node.registryRow(d, n),
        submitAdmin: (payload, deadline) => node.submitAdmin(payload, deadline),
        gateWrites: (p) => node.gateWrites(p),
        log: o.warn,
      },
      rt.state,
      enc.identity.fullNodeId,
      enc.pinned[purpose].localEpoch,
      purpose,
      sched,
    );
    rt.state.subscribe(() => registrar.ensure());
    registrar.ensure();
  };
  startRegistrar('storage');
  startRegistrar('raft');
  // Issue 11: the raft-envelope barrier (RO-7) is the proposer's gate.
  const barrier = new CutoverBarrier(
    {
      drained: () => node.proposer.drained(),
      isLeader: () => node.raft.isLeader(),
      leader: () => node.raft.leader,
      proposeMarker: async (payload, deadline) => {
        const proposed = node.proposer.proposeMarker(payload, { deadline });
        // The marker is queued synchronously; the flush (and any message carrying it) comes later.
        o.afterMarkerQueued?.();
        return (await proposed).commitIndex;
      },
      waitApplied: (index, deadline) => node.waitApplied(index, deadline),
      raftCutover: () => rt.state.sidecar()?.raftEnvelopeCutoverIndex ?? 0n,
      converge: (cutover) => rt.installRaftWrap(cutover, rt.state.sidecar()?.active.raft ?? 0),
      ...(o.beforeMarker ? { beforeMarker: o.beforeMarker } : {}),
    },
    sched,
  );
  node.proposer.setGate(barrier);
  const admin = new EncryptionAdmin(encryptionAdminPort(node, o.cfg), {
    kek: enc.kek,
    state: rt.state,
    fullNodeId: enc.identity.fullNodeId,
    pinned: { storage: enc.pinned.storage.localEpoch, raft: enc.pinned.raft.localEpoch },
    build: o.build,
    raftCutover: barrier,
    raftGate: o.raftGate ?? 'open',
    sched,
    ...(o.random ? { random: o.random } : {}),
  });
  node.registerPeerRequest(CAPABILITY_REQUEST, () => admin.capability());
  return { admin, barrier };
}

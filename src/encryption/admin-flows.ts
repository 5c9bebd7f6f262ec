// The leader-side encryption admin handlers (SPEC OP-2, RO-3, RO-4, RO-5, RT-1): capability,
// bootstrap, enable-storage-envelope and rotate-dek. Every mutator runs alone (one async mutex),
// confirms leadership with a read-index round, checks its preconditions on the published state
// (so a refused request proposes nothing), and only then proposes through `proposeAdmin`.

import { AdminError, KeyError, ProposalError } from '../errors.js';
import { cryptoRandom, generateBootstrapKeyIds, generateDek, generateKeyId, type RandomSource } from '../keys/dek-wrap.js';
import {
  encodeBootstrap,
  encodeRotation,
  SUBTAG_ENABLE_RAFT_ENVELOPE,
  SUBTAG_ENABLE_STORAGE_ENVELOPE,
  SUBTAG_ROTATE_DEK,
} from '../keys/encryption-entries.js';
import type { Kek } from '../keys/kek-provider.js';
import type { Registration } from '../keys/registry-rules.js';
import { buildSidecarReport } from '../keys/sidecar-report.js';
import type { Purpose } from '../keys/sidecar-schema.js';
import { buildCapabilityReport, type CapabilityReport, type MemberVerdict, writersFromCapability, writersFromRequest } from '../keys/writer-batch.js';
import type { EncryptionStateCell } from './state-cell.js';
import type { BarrierTimings } from './cutover-barrier.js';
import { realScheduler, type Scheduler } from '../node/scheduler.js';

/** The peer request type of the capability fan-out (RO-3). */
export const CAPABILITY_REQUEST = 'enc-cap';

/** What the flows need of the node. */
export interface AdminNodePort {
  readonly selfId: string;
  isLeader(): boolean;
  leader(): string | null;
  /** Every voter and learner, this node included. */
  memberIds(): string[];
  /** A read-index round: resolves only while this node is still the leader of a quorum. */
  confirmLeadership(deadline: number): Promise<void>;
  /** Proposes an admin entry and resolves with its index once applied here. */
  proposeAdmin(payload: Uint8Array, deadline: number): Promise<bigint>;
  requestPeer(to: string, payload: unknown, timeoutMs: number): Promise<unknown>;
  appliedIndex(): bigint;
  /** The fan-out's overall timeout (the election timeout). */
  fanOutTimeoutMs: number;
}

/**
 * The raft-envelope kill switch (RO-13): a build-time constant, open now that the engine unwrap,
 * wrap-on-propose, the barrier, the installer and the start-up re-arm all exist in this build.
 */
export const RAFT_ENVELOPE_KILL_SWITCH: 'open' | 'closed' = 'open';
// A node may close it further at start: `--raft-envelope-gate closed` (src/cli/config.ts).

/** The barrier run of RO-7 (src/encryption/cutover-barrier.ts); resolves with the marker's index. */
export interface RaftCutoverRunner {
  run(marker: Uint8Array, deadline: number): Promise<bigint>;
  /** Step durations (ms) of the last run that lifted its barrier (CutoverBarrier.lastTimings). */
  readonly lastTimings?: BarrierTimings | null;
}

export interface AdminFlowsDeps {
  /** The barrier of this node; absent (or the switch closed) → RAFT_ENVELOPE_GATED (RO-13). */
  readonly raftCutover?: RaftCutoverRunner;
  /** Overrides RAFT_ENVELOPE_KILL_SWITCH (tests). */
  readonly raftGate?: 'open' | 'closed';
  readonly kek: Kek | null;
  readonly state: EncryptionStateCell;
  readonly fullNodeId: bigint;
  readonly pinned: Readonly<Record<Purpose, number>>;
  readonly build: string;
  /** Timers and clock of deadlines (default the real ones; the whole-node simulator's virtual one). */
  readonly sched?: Scheduler;
  /** Where DEKs and key ids come from (default the CSPRNG; the whole-node simulator passes a seeded one). */
  readonly random?: RandomSource;
}

export interface CapabilityVerdict {
  full_node_id: string;
  encryption_capable: boolean;
  build: string;
  sidecar_present: boolean;
}

export class EncryptionAdmin {
  private mutex: Promise<void> = Promise.resolve();

  constructor(
    private readonly node: AdminNodePort,
    private readonly deps: AdminFlowsDeps,
  ) {}

  capability(): CapabilityReport {
    return buildCapabilityReport({
      capable: this.deps.kek !== null,
      build: this.deps.build,
      sidecarPresent: this.deps.state.sidecar() !== undefined,
      fullNodeId: this.deps.fullNodeId,
      pinnedStorageEpoch: this.deps.pinned.storage,
    });
  }

  /** OP-2 `GET /v1/encryption/sidecar`; 404 before the first sidecar write. */
  sidecarReport(): Record<string, unknown> {
    const s = this.deps.state.sidecar();
    if (s === undefined) throw new AdminError(404, 'SIDECAR_ABSENT', 'this node has no sidecar yet (not bootstrapped)');
    return buildSidecarReport(s, this.node.appliedIndex());
  }

  status(): Record<string, unknown> {
    const s = this.deps.state.sidecar();
    const created = (id: number): string | null => (id === 0 ? null : (s?.keys.get(id)?.created ?? null));
    return {
      encryption: this.deps.kek !== null,
      active: {
        storage: { key_id: s?.active.storage ?? 0, created: created(s?.active.storage ?? 0) },
        raft: { key_id: s?.active.raft ?? 0, created: created(s?.active.raft ?? 0) },
      },
      storage_envelope_active: s?.storageEnvelopeActive ?? false,
      storage_envelope_cutover_index: String(s?.storageEnvelopeCutoverIndex ?? 0n),
      raft_envelope_cutover_index: String(s?.raftEnvelopeCutoverIndex ?? 0n),
      sidecar_applied_index: String(s?.raftAppliedIndex ?? 0n),
      pinned_epochs: { storage: this.deps.pinned.storage, raft: this.deps.pinned.raft },
    };
  }

  /** RO-4 (+WR-4): generate, wrap and commit both DEKs with the writer batch. */
  bootstrap(writers: readonly { full_node_id: unknown; local_epoch: unknown }[] | undefined, deadline: number): Promise<Record<string, unknown>> {
    return this.exclusive(async () => {
      const kek = this.requireKek();
      await this.requireLeader(deadline);
      const s = this.deps.state.sidecar();
      if (s !== undefined && (s.active.storage !== 0 || s.active.raft !== 0)) {
        throw new AdminError(409, 'ENCRYPTION_ALREADY_BOOTSTRAPPED', `already bootstrapped (storage key_id ${s.active.storage}, raft key_id ${s.active.raft})`);
      }
      const list = writers === undefined ? writersFromCapability(await this.fanOut()) : writersFromRequest(writers);
      const random = this.deps.random ?? cryptoRandom;
      const ids = generateBootstrapKeyIds(new Set(s?.keys.keys() ?? []), random);
      const storageDek = generateDek(random);
      const raftDek = generateDek(random);
      let storageWrapped: Uint8Array;
      let raftWrapped: Uint8Array;
      try {
        storageWrapped = kek.wrapSync(storageDek);
        raftWrapped = kek.wrapSync(raftDek);
      } finally {
        storageDek.fill(0);
        raftDek.fill(0);
      }
      const batch: Registration[] = [];
      for (const w of list) {
        batch.push({ dekId: ids.storage, fullNodeId: w.fullNodeId, localEpoch: w.localEpoch });
        batch.push({ dekId: ids.raft, fullNodeId: w.fullNodeId, localEpoch: w.localEpoch });
      }
      const payload = encodeBootstrap({ storageDekId: ids.storage, storageWrapped, raftDekId: ids.raft, raftWrapped, batch });
      const index = await this.node.proposeAdmin(payload, deadline);
      return { applied_index: index.toString(), storage_dek_id: ids.storage, raft_dek_id: ids.raft };
    }, deadline);
  }

  /** RO-5: the Phase 1 switch. */
  enableStorageEnvelope(deadline: number): Promise<Record<string, unknown>> {
    return this.exclusive(async () => {
      this.requireKek();
      await this.requireLeader(deadline);
      const s = this.requireBootstrapped();
      if (s.storageEnvelopeActive) return this.alreadyActive(s.storageEnvelopeCutoverIndex, s.raftAppliedIndex);
      const verdicts = await this.fanOut();
      const summary = capabilitySummary(verdicts);
      this.requireAllCapable(verdicts);
      const dekId = s.active.storage;
      const payload = encodeRotation({
        subTag: SUBTAG_ENABLE_STORAGE_ENVELOPE,
        dekId,
        purpose: 'storage',
        wrapped: new Uint8Array(0),
        proposer: { dekId, fullNodeId: this.deps.fullNodeId, localEpoch: this.deps.pinned.storage },
      });
      const index = await this.node.proposeAdmin(payload, deadline);
      const after = this.deps.state.sidecar();
      if (after?.storageEnvelopeActive !== true) throw new AdminError(409, 'CUTOVER_DEK_ID_STALE', `storage DEK ${dekId} was rotated before the switch applied`);
      if (after.storageEnvelopeCutoverIndex !== index) {
        return { ...this.alreadyActive(after.storageEnvelopeCutoverIndex, after.raftAppliedIndex), capability_summary: summary };
      }
      return { applied_index: index.toString(), was_already_active: false, cutover_index_unknown: false, capability_summary: summary };
    }, deadline);
  }

  // ---------------------------------------------------------------- issue 11: raft envelope

  /** RO-6 (preconditions in order) then the RO-7 barrier; RO-9 failures come from the barrier. */
  enableRaftEnvelope(deadline: number): Promise<Record<string, unknown>> {
    return this.exclusive(async () => {
      this.requireKek(); // 1
      await this.requireLeader(deadline); // 2
      const s = this.deps.state.sidecar();
      if (s === undefined || s.active.raft === 0) throw new AdminError(409, 'ENCRYPTION_NOT_BOOTSTRAPPED', 'run `sealkv admin encryption bootstrap` first'); // 3
      // 4: an idempotent retry is answered even with the switch closed, with no fan-out.
      if (s.raftEnvelopeCutoverIndex !== 0n) {
        return { applied_index: s.raftEnvelopeCutoverIndex.toString(), was_already_active: true, cutover_index_unknown: false, capability_summary: [] };
      }
      const runner = this.deps.raftCutover;
      if ((this.deps.raftGate ?? RAFT_ENVELOPE_KILL_SWITCH) !== 'open' || runner === undefined) {
        throw new AdminError(409, 'RAFT_ENVELOPE_GATED', 'the raft envelope is gated off in this build'); // 5
      }
      const verdicts = await this.fanOut(); // 6
      const summary = capabilitySummary(verdicts);
      this.requireAllCapable(verdicts);
      const dekId = s.active.raft;
      const marker = encodeRotation({
        subTag: SUBTAG_ENABLE_RAFT_ENVELOPE,
        dekId,
        purpose: 'raft',
        wrapped: new Uint8Array(0),
        proposer: { dekId, fullNodeId: this.deps.fullNodeId, localEpoch: this.deps.pinned.raft },
      });
      const index = await runner.run(marker, deadline); // 7
      const after = this.deps.state.sidecar();
      const cutover = after?.raftEnvelopeCutoverIndex ?? 0n;
      if (cutover !== 0n && cutover !== index) {
        // A concurrent marker (another leader's) won: the cutover is that one.
        return { applied_index: cutover.toString(), was_already_active: true, cutover_index_unknown: false, capability_summary: summary };
      }
      // PF-4: where this cutover's write pause went (drain, marker proposed→applied here, install).
      const timings = runner.lastTimings;
      return { applied_index: index.toString(), was_already_active: false, cutover_index_unknown: false, capability_summary: summary, ...(timings ? { barrier_ms: timings } : {}) };
    }, deadline);
  }

  /**
   * RO-3: an unreachable member fails the poll (CAPABILITY_CHECK_FAILED); a member that answers
   * "not capable" refuses the switch (PEER_NOT_ENCRYPTION_CAPABLE). No partial success.
   */
  private requireAllCapable(verdicts: readonly MemberVerdict[]): void {
    const unreachable = verdicts.filter((v) => 'error' in v);
    if (unreachable.length > 0) throw new AdminError(409, 'CAPABILITY_CHECK_FAILED', `capability check failed: ${unreachable.map(describe).join(', ')}`);
    const notCapable = verdicts.filter((v) => 'report' in v && (v.report as { encryption_capable?: unknown } | null)?.encryption_capable !== true);
    if (notCapable.length > 0) throw new AdminError(409, 'PEER_NOT_ENCRYPTION_CAPABLE', `not encryption-capable: ${notCapable.map(describe).join(', ')}`);
  }

  // ---------------------------------------------------------------- end issue 11 block

  /** RT-1: a new DEK for `purpose`; old DEKs stay for decryption. */
  rotateDek(purpose: unknown, deadline: number): Promise<Record<string, unknown>> {
    return this.exclusive(async () => {
      if (purpose !== 'storage' && purpose !== 'raft') throw new AdminError(400, 'INVALID_ARGUMENT', "'purpose' must be 'storage' or 'raft'");
      const kek = this.requireKek();
      await this.requireLeader(deadline);
      const s = this.requireBootstrapped();
      if (!s.storageEnvelopeActive) throw new AdminError(409, 'STORAGE_ENVELOPE_INACTIVE', 'enable the storage envelope before rotating its DEK');
      const { payload, keyId } = this.rotationPayload(kek, purpose);
      const index = await this.node.proposeAdmin(payload, deadline);
      return { applied_index: index.toString(), key_id: keyId, purpose };
    }, deadline);
  }

  /**
   * A rotate-dek entry for `purpose` (a fresh DEK, KEK-wrapped, this node as the proposer row).
   * rotateDek proposes it; the AS-10 test hook (cli/main.ts, SEALKV_TEST_ROTATE_BEFORE_MARKER)
   * commits one between the barrier's drain and the marker.
   */
  rotationPayload(kek: Kek, purpose: Purpose): { payload: Uint8Array; keyId: number } {
    const s = this.requireBootstrapped();
    const random = this.deps.random ?? cryptoRandom;
    const keyId = generateKeyId(new Set(s.keys.keys()), random);
    const dek = generateDek(random);
    let wrapped: Uint8Array;
    try {
      wrapped = kek.wrapSync(dek);
    } finally {
      dek.fill(0);
    }
    const payload = encodeRotation({
      subTag: SUBTAG_ROTATE_DEK,
      dekId: keyId,
      purpose,
      wrapped,
      proposer: { dekId: keyId, fullNodeId: this.deps.fullNodeId, localEpoch: this.deps.pinned[purpose] },
    });
    return { payload, keyId };
  }

  private alreadyActive(cutover: bigint, sidecarApplied: bigint): Record<string, unknown> {
    if (cutover === 0n) return { applied_index: sidecarApplied.toString(), was_already_active: true, cutover_index_unknown: true, capability_summary: [] };
    return { applied_index: cutover.toString(), was_already_active: true, cutover_index_unknown: false, capability_summary: [] };
  }

  private requireKek(): Kek {
    if (this.deps.kek === null) throw new AdminError(409, 'ENCRYPTION_MUTATORS_DISABLED', 'this node runs without --encryption');
    return this.deps.kek;
  }

  private requireBootstrapped() {
    const s = this.deps.state.sidecar();
    if (s === undefined || s.active.storage === 0) throw new AdminError(409, 'ENCRYPTION_NOT_BOOTSTRAPPED', 'run `sealkv admin encryption bootstrap` first');
    return s;
  }

  private async requireLeader(deadline: number): Promise<void> {
    if (!this.node.isLeader()) throw new ProposalError('NOT_LEADER', 'encryption mutators run on the leader', { leader: this.node.leader() });
    await this.node.confirmLeadership(deadline);
  }

  /** RO-3: a fresh poll of every member (this node included), concurrently, one overall timeout. */
  private async fanOut(): Promise<MemberVerdict[]> {
    const timeout = this.node.fanOutTimeoutMs;
    return Promise.all(
      this.node.memberIds().map(async (member): Promise<MemberVerdict> => {
        if (member === this.node.selfId) return { member, report: this.capability() };
        try {
          return { member, report: await this.node.requestPeer(member, { t: CAPABILITY_REQUEST }, timeout) };
        } catch (e) {
          return { member, error: (e as Error).message };
        }
      }),
    );
  }

  private exclusive<T>(fn: () => Promise<T>, deadline?: number): Promise<T> {
    const prev = this.mutex;
    // RO-6: waiting for the mutex is bounded by the request's deadline (when given); the next
    // holder still waits for the previous one, so a timed-out waiter never breaks exclusivity.
    const run = (deadline === undefined ? prev : waitUntil(this.deps.sched ?? realScheduler, prev, deadline)).then(fn);
    this.mutex = Promise.allSettled([prev, run]).then(() => undefined);
    return run.catch((e: unknown) => {
      // Writer-batch checks throw KeyErrors: request errors with their OP-2 statuses.
      if (e instanceof KeyError) throw new AdminError(e.code === 'LOCAL_EPOCH_OUT_OF_RANGE' || e.code === 'INVALID_ARGUMENT' ? 400 : 409, e.code, e.message);
      throw e;
    });
  }
}

function waitUntil(sched: Scheduler, p: Promise<void>, deadline: number): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const t = sched.setTimeout(() => reject(new ProposalError('TIMEOUT', 'another encryption admin operation is still running')), Math.max(0, deadline - sched.now()));
    void p.then(() => {
      sched.clearTimeout(t);
      resolve();
    });
  });
}

function describe(v: MemberVerdict): string {
  return 'error' in v ? `${v.member} (unreachable: ${v.error})` : `${v.member} (not encryption-capable)`;
}

function capabilitySummary(verdicts: readonly MemberVerdict[]): CapabilityVerdict[] {
  return verdicts.map((v) => {
    const r = ('report' in v ? v.report : null) as Partial<CapabilityReport> | null;
    return {
      full_node_id: typeof r?.full_node_id === 'string' ? r.full_node_id : '0',
      encryption_capable: r?.encryption_capable === true,
      build: typeof r?.build === 'string' ? r.build : '',
      sidecar_present: r?.sidecar_present === true,
    };
  });
}

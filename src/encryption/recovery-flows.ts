// Leader-side handlers of `POST /v1/encryption/register-writer` (WR-3, OP-2) and
// `POST /v1/encryption/resync-sidecar` (KM-13, OP-2). Both are mutating endpoints in OP-2's sense:
// they need `--encryption` with a loaded KEK, and run only on a leader confirmed by a read-index
// round. register-writer runs the WR-3 leader pre-check against the applied rows plus the
// registrations this handler admitted and has not seen applied yet, and only then proposes one
// `0x03` entry through `proposeAdmin` with the request's deadline.

import { AdminError, KeyError, ProposalError } from '../errors.js';
import { encodeRegisterWriter } from '../keys/encryption-entries.js';
import type { Kek } from '../keys/kek-provider.js';
import { lowNodeId16 } from '../keys/node-identity.js';
import { precheckRegistration, type Registration, type RegistryRow } from '../keys/registry-rules.js';
import { buildSidecarReport } from '../keys/sidecar-report.js';
import type { EncryptionStateCell } from './state-cell.js';

export interface RecoveryNodePort {
  isLeader(): boolean;
  leader(): string | null;
  confirmLeadership(deadline: number): Promise<void>;
  proposeAdmin(payload: Uint8Array, deadline: number): Promise<bigint>;
  appliedIndex(): bigint;
  registryRow(dekId: number, nodeId16: number): RegistryRow | undefined;
}

const U64 = /^(0|[1-9][0-9]{0,19})$/;

function u64Member(v: unknown, name: string): bigint {
  if (typeof v !== 'string' || !U64.test(v) || BigInt(v) > 0xffffffffffffffffn) throw new AdminError(400, 'INVALID_ARGUMENT', `'${name}' must be a u64 decimal string`);
  return BigInt(v);
}

export class RecoveryFlows {
  /** Registrations admitted by this handler whose entries have not applied yet (admission order). */
  private readonly pending: Registration[] = [];

  constructor(
    private readonly node: RecoveryNodePort,
    private readonly kek: Kek | null,
    private readonly state: EncryptionStateCell,
  ) {}

  /** OP-2 register-writer: `{ dek_id, full_node_id, local_epoch }` → `{ applied_index, proposed }`. */
  async registerWriter(body: { dek_id?: unknown; full_node_id?: unknown; local_epoch?: unknown }, deadline: number): Promise<{ applied_index: string; proposed: boolean }> {
    this.requireKek();
    const { dek_id: dekId, local_epoch: epoch } = body;
    if (typeof dekId !== 'number' || !Number.isInteger(dekId) || dekId <= 0 || dekId > 0xffffffff) {
      throw new AdminError(400, 'INVALID_ARGUMENT', "'dek_id' must be a non-zero u32 number");
    }
    const fullNodeId = u64Member(body.full_node_id, 'full_node_id');
    if (fullNodeId === 0n) throw new AdminError(400, 'INVALID_ARGUMENT', "'full_node_id' must be non-zero");
    if (typeof epoch !== 'number') throw new AdminError(400, 'INVALID_ARGUMENT', "'local_epoch' must be a number");
    const reg: Registration = { dekId, fullNodeId, localEpoch: epoch };
    await this.requireLeader(deadline);
    let verdict: ReturnType<typeof precheckRegistration>;
    try {
      verdict = precheckRegistration({ get: (d, n) => this.node.registryRow(d, n) }, this.pending, reg);
    } catch (e) {
      if (e instanceof KeyError) {
        const status = e.code === 'LOCAL_EPOCH_OUT_OF_RANGE' || e.code === 'RESERVED_KEY_ID' || e.code === 'NODE_ID_INVALID' ? 400 : 409;
        throw new AdminError(status, status === 400 && e.code !== 'LOCAL_EPOCH_OUT_OF_RANGE' ? 'INVALID_ARGUMENT' : e.code, e.message);
      }
      throw e;
    }
    if (verdict === 'already-registered') return { applied_index: this.node.appliedIndex().toString(), proposed: false };
    this.pending.push(reg);
    try {
      const index = await this.node.proposeAdmin(encodeRegisterWriter(reg), deadline);
      return { applied_index: index.toString(), proposed: true };
    } finally {
      this.pending.splice(this.pending.indexOf(reg), 1);
    }
  }

  /**
   * OP-2 resync-sidecar: `{ full_node_id }` → this leader's sidecar state report with
   * `writer_registry_for_caller` = that node's last_seen_local_epoch per DEK (KM-13).
   */
  async resyncReport(body: { full_node_id?: unknown }, deadline: number): Promise<Record<string, unknown>> {
    this.requireKek();
    const fullNodeId = u64Member(body.full_node_id, 'full_node_id');
    if (fullNodeId === 0n) throw new AdminError(400, 'INVALID_ARGUMENT', "'full_node_id' must be non-zero");
    await this.requireLeader(deadline);
    const s = this.state.sidecar();
    if (s === undefined) throw new AdminError(409, 'ENCRYPTION_NOT_BOOTSTRAPPED', 'the leader has no sidecar yet (not bootstrapped)');
    const mine = new Map<number, number>();
    const nodeId16 = lowNodeId16(fullNodeId);
    for (const id of s.keys.keys()) {
      const row = this.node.registryRow(id, nodeId16);
      if (row !== undefined && row.fullNodeId === fullNodeId) mine.set(id, row.lastSeenLocalEpoch);
    }
    return buildSidecarReport(s, this.node.appliedIndex(), mine);
  }

  private requireKek(): void {
    if (this.kek === null) throw new AdminError(409, 'ENCRYPTION_MUTATORS_DISABLED', 'this node runs without --encryption');
  }

  private async requireLeader(deadline: number): Promise<void> {
    if (!this.node.isLeader()) throw new ProposalError('NOT_LEADER', 'encryption mutators run on the leader', { leader: this.node.leader() });
    await this.node.confirmLeadership(deadline);
  }
}

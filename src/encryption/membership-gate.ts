// The leader's encryption gate on membership changes (WR-7, RO-14), run on the admin path before
// `POST /v1/members` proposes a conf change (add a voter or learner, or promote a learner):
//
// 1. node_id16 collision with a current member (two distinct full_node_ids sharing the low 16
//    bits, WR-10's rule applied before the change instead of at the next start) → 409
//    NODE_ID_COLLISION;
// 2. once the storage envelope or the raft cutover is active, the candidate's fresh capability
//    report must say `encryption_capable: true` (RO-14) → 409 PEER_NOT_ENCRYPTION_CAPABLE, or
//    409 CAPABILITY_CHECK_FAILED when it does not answer;
// 3. for the active storage DEK (and the active raft DEK once the raft cutover is active) the
//    WR-7 pre-step: a row of another node with the same node_id16 → 409 NODE_ID_COLLISION; no
//    row → propose `register-writer(dek, full_node_id, 0)` through `proposeAdmin` and wait until
//    it has applied (failure → 409 PEER_NOT_ENCRYPTION_REGISTERED).
// Every refusal happens before the conf change is proposed, so none is written.

import { AdminError, KeyError } from '../errors.js';
import { encodeRegisterWriter } from '../keys/encryption-entries.js';
import { deriveNodeIdentity } from '../keys/node-identity.js';
import { addMemberPreStep, findNodeIdCollisions, type RegistryRow } from '../keys/registry-rules.js';
import { CAPABILITY_REQUEST } from './admin-flows.js';
import type { EncryptionStateCell } from './state-cell.js';

export interface MembershipGatePort {
  /** Every voter and learner, this node included. */
  memberIds(): string[];
  registryRow(dekId: number, nodeId16: number): RegistryRow | undefined;
  proposeAdmin(payload: Uint8Array, deadline: number): Promise<bigint>;
  /** A peer request to a candidate that may not be a member yet (its address is given). */
  requestCandidate(id: string, address: string | undefined, payload: unknown, timeoutMs: number): Promise<unknown>;
  /** The capability poll's timeout (the election timeout). */
  readonly fanOutTimeoutMs: number;
}

export class MembershipGate {
  constructor(
    private readonly port: MembershipGatePort,
    private readonly state: EncryptionStateCell,
    /** This node runs with --encryption and a KEK. */
    private readonly encryptionOn: boolean,
  ) {}

  /** Before adding `id` (at `address`) as a voter or learner, or promoting it (`address` unknown → the address book's). */
  async beforeChange(id: string, address: string | undefined, deadline: number): Promise<void> {
    if (!this.encryptionOn) return;
    const candidate = deriveNodeIdentity(id).fullNodeId;
    const others = this.port.memberIds().filter((m) => m !== id);
    for (const c of findNodeIdCollisions([candidate, ...others.map((m) => deriveNodeIdentity(m).fullNodeId)])) {
      if (c.fullNodeIds.includes(candidate)) {
        const other = others.find((m) => c.fullNodeIds.includes(deriveNodeIdentity(m).fullNodeId));
        throw new AdminError(409, 'NODE_ID_COLLISION', `'${id}' shares node_id16 0x${c.nodeId16.toString(16).padStart(4, '0')} with member '${other ?? '?'}'`);
      }
    }
    const s = this.state.sidecar();
    if (s === undefined || s.active.storage === 0) return;
    const raftCutover = s.raftEnvelopeCutoverIndex !== 0n;
    if (s.storageEnvelopeActive || raftCutover) await this.requireCapable(id, address);
    const deks = raftCutover && s.active.raft !== 0 ? [s.active.storage, s.active.raft] : [s.active.storage];
    for (const dek of deks) {
      let step: ReturnType<typeof addMemberPreStep>;
      try {
        step = addMemberPreStep({ get: (d, n) => this.port.registryRow(d, n) }, dek, candidate);
      } catch (e) {
        if (e instanceof KeyError) throw new AdminError(409, e.code, e.message);
        throw e;
      }
      if (step.kind !== 'register') continue;
      try {
        await this.port.proposeAdmin(encodeRegisterWriter(step.registration), deadline);
      } catch (e) {
        throw new AdminError(409, 'PEER_NOT_ENCRYPTION_REGISTERED', `registering '${id}' for dek_id ${dek} failed: ${(e as Error).message}`);
      }
    }
  }

  private async requireCapable(id: string, address: string | undefined): Promise<void> {
    let report: unknown;
    try {
      report = await this.port.requestCandidate(id, address, { t: CAPABILITY_REQUEST }, this.port.fanOutTimeoutMs);
    } catch (e) {
      throw new AdminError(409, 'CAPABILITY_CHECK_FAILED', `'${id}' did not answer the capability request: ${(e as Error).message}`);
    }
    if ((report as { encryption_capable?: unknown } | null)?.encryption_capable !== true) {
      throw new AdminError(409, 'PEER_NOT_ENCRYPTION_CAPABLE', `'${id}' is not encryption-capable; start it with --encryption and the cluster's KEK`);
    }
  }
}

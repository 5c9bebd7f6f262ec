// The admin endpoints of DESIGN.md §4 over a ClusterNode.

import { AdminError, ProposalError } from '../errors.js';
import { checkNodeId, parseHostPort } from '../node/config.js';
import type { ClusterNode } from '../node/cluster-node.js';
import type { AdminHttpServer, Json } from './admin-http.js';
import type { NodeMetrics } from './metrics.js';

function str(body: Record<string, Json>, name: string, required: boolean): string | undefined {
  const v = body[name];
  if (v === undefined && !required) return undefined;
  if (typeof v !== 'string' || v === '') throw new AdminError(400, 'INVALID_ARGUMENT', `'${name}' must be a non-empty string`);
  return v;
}

function onlyKeys(body: Record<string, Json>, allowed: string[]): void {
  for (const k of Object.keys(body)) {
    if (k !== 'timeout_ms' && !allowed.includes(k)) throw new AdminError(400, 'INVALID_ARGUMENT', `unknown member '${k}'`);
  }
}

function requireLeader(node: ClusterNode): void {
  if (!node.raft.isLeader()) throw new ProposalError('NOT_LEADER', 'this node is not the leader', { leader: node.raft.leader });
}

/**
 * Runs before a conf change that adds or promotes `id` (WR-7, RO-14: the encryption gate); a
 * throw refuses the change before anything is proposed.
 */
export interface MemberChangeGate {
  beforeChange(id: string, address: string | undefined, deadline: number): Promise<void>;
  /** After a refusal: forget an address entered for a candidate that did not join. */
  refused(id: string): void;
}

async function gated(gate: MemberChangeGate | undefined, id: string, address: string | undefined, deadline: number): Promise<void> {
  if (gate === undefined) return;
  try {
    await gate.beforeChange(id, address, deadline);
  } catch (e) {
    gate.refused(id);
    throw e;
  }
}

export function registerAdminRoutes(http: AdminHttpServer, node: ClusterNode, metrics: NodeMetrics, gate?: MemberChangeGate): void {
  http.route('GET', '/v1/status', async () => ({ body: node.status() }));
  http.route('GET', '/v1/members', async () => ({ body: { members: node.members() } }));
  http.route('POST', '/v1/members', async (req) => {
    onlyKeys(req.body, ['id', 'address', 'role']);
    const id = str(req.body, 'id', true)!;
    try {
      checkNodeId(id);
    } catch (e) {
      throw new AdminError(400, 'INVALID_ARGUMENT', (e as Error).message);
    }
    const address = str(req.body, 'address', true)!;
    try {
      parseHostPort(address, 'address');
    } catch (e) {
      throw new AdminError(400, 'INVALID_ARGUMENT', (e as Error).message);
    }
    // A new member joins as a learner and the leader promotes it once it has caught up
    // (issue 9, defect 9); a voter straight away only when asked for explicitly.
    const asked = str(req.body, 'role', false);
    const role = asked ?? 'learner';
    if (role !== 'voter' && role !== 'learner') throw new AdminError(400, 'INVALID_ARGUMENT', "'role' must be 'voter' or 'learner'");
    requireLeader(node);
    const current = node.members().find((m) => m.id === id);
    // A retried default add of a learner that was promoted meanwhile is not a demotion request.
    if (current && (current.role === role || asked === undefined)) return { body: { applied_index: '0', was_already_member: true } };
    await gated(gate, id, current ? undefined : address, req.deadline);
    const index =
      current?.role === 'learner' && role === 'voter'
        ? await node.promoteMember(id, req.deadline)
        : await node.addMember(id, address, role === 'learner', req.deadline);
    return { body: { applied_index: index.toString(), was_already_member: false } };
  });
  http.route('POST', '/v1/members/:id/promote', async (req) => {
    onlyKeys(req.body, []);
    const id = req.params.id!;
    requireLeader(node);
    const current = node.members().find((m) => m.id === id);
    if (!current) throw new AdminError(404, 'NOT_A_MEMBER', `'${id}' is not a member`);
    if (current.role !== 'learner') throw new AdminError(400, 'INVALID_ARGUMENT', `'${id}' is already a voter`);
    await gated(gate, id, undefined, req.deadline);
    const index = await node.promoteMember(id, req.deadline);
    return { body: { applied_index: index.toString() } };
  });
  http.route('DELETE', '/v1/members/:id', async (req) => {
    requireLeader(node);
    if (!node.members().some((m) => m.id === req.params.id)) {
      throw new AdminError(404, 'NOT_A_MEMBER', `'${req.params.id}' is not a member`);
    }
    const index = await node.removeMember(req.params.id!, req.deadline);
    return { body: { applied_index: index.toString() } };
  });
  http.route('POST', '/v1/transfer-leader', async (req) => {
    onlyKeys(req.body, ['id']);
    const id = str(req.body, 'id', true)!;
    requireLeader(node);
    await node.transferLeader(id, req.deadline);
    return { body: { leader: id } };
  });
  http.route('GET', '/metrics', async () => {
    metrics.syncEncryption();
    return { raw: await metrics.registry.metrics(), contentType: metrics.registry.contentType };
  });
}

// A node's nonce identity (SPEC RE-4, KM-14 step 1): full_node_id = FNV-1a-64(raft id), node_id16
// = its low 16 bits.

import { KeyError } from '../errors.js';
import { fnv1a64 } from '../crypto/envelope/nonce.js';

export interface NodeIdentity {
  readonly raftId: string;
  readonly fullNodeId: bigint;
  readonly nodeId16: number;
}

export function lowNodeId16(fullNodeId: bigint): number {
  return Number(fullNodeId & 0xffffn);
}

/** NODE_ID_INVALID when the id is empty or hashes to 0 (0 means "unknown" on the wire, RO-2). */
export function deriveNodeIdentity(raftId: string): NodeIdentity {
  if (raftId === '') throw new KeyError('NODE_ID_INVALID', 'the Raft id is empty');
  const fullNodeId = fnv1a64(raftId);
  if (fullNodeId === 0n) throw new KeyError('NODE_ID_INVALID', `the Raft id '${raftId}' hashes to full_node_id 0; choose another id`);
  return { raftId, fullNodeId, nodeId16: lowNodeId16(fullNodeId) };
}

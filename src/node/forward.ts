// A follower's write forwarded to the leader (PE-6), with honest outcomes (issue 9, defect 8):
// the leader's own answer is relayed as is (UNKNOWN_OUTCOME when its proposal reached its log and
// it stepped down, NOT_LEADER when it never appended it); a connection lost after the request
// was written means the leader may have appended it, so that, too, is UNKNOWN_OUTCOME; a leader
// that is no known peer received nothing (NOT_LEADER).

import { ProposalError, SealkvError } from '../errors.js';

/** What forwarding needs from the peer transport. */
export interface ForwardLink {
  request(to: string, payload: unknown, timeoutMs: number): Promise<unknown>;
}

export async function forwardToLeader(link: ForwardLink, leader: string, payload: unknown, timeoutMs: number): Promise<unknown> {
  try {
    return await link.request(leader, payload, timeoutMs);
  } catch (e) {
    throw forwardFailure(e, leader);
  }
}

/** Maps a forwarding failure to what the client may conclude from it. */
export function forwardFailure(e: unknown, leader: string): unknown {
  if (e instanceof SealkvError && e.code === 'PEER_DISCONNECTED') {
    return new ProposalError('UNKNOWN_OUTCOME', `connection to the leader ${leader} lost after the write was forwarded; it may or may not commit`, {
      leader,
      cause: e,
    });
  }
  if (e instanceof SealkvError && e.code === 'PEER_UNKNOWN') {
    // Nothing was sent (e.g. the leader this node knows was just removed): a safe retry.
    return new ProposalError('NOT_LEADER', `the leader ${leader} is not a known peer; the write was not forwarded`, { leader: null, cause: e });
  }
  return e;
}

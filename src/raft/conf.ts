// Membership: single-server changes to a ConfState. The same function runs on every replica
// when the entry is applied, so an invalid change must become a deterministic no-op there;
// the leader also validates at propose time to refuse it early.

import { type ConfChange, ConfChangeType, type ConfState } from './types.js';

/** Why `cc` cannot apply to `cs`, or null when it can. */
export function confChangeProblem(cs: ConfState, cc: ConfChange): string | null {
  const isVoter = cs.voters.includes(cc.node);
  const isLearner = cs.learners.includes(cc.node);
  switch (cc.type) {
    case ConfChangeType.AddVoter:
      return isVoter ? `${cc.node} is already a voter` : null;
    case ConfChangeType.AddLearner:
      if (isVoter) return `${cc.node} is a voter; demotion is not supported`;
      return isLearner ? `${cc.node} is already a learner` : null;
    case ConfChangeType.PromoteLearner:
      return isLearner ? null : `${cc.node} is not a learner`;
    case ConfChangeType.RemoveNode:
      if (!isVoter && !isLearner) return `${cc.node} is not a member`;
      return isVoter && cs.voters.length === 1 ? 'cannot remove the last voter' : null;
    default:
      return `unknown conf change type ${String(cc.type)}`;
  }
}

/** The configuration after `cc` (unchanged when the change is invalid). */
export function applyToConfState(cs: ConfState, cc: ConfChange): ConfState {
  if (confChangeProblem(cs, cc) !== null) return cs;
  const voters = cs.voters.filter((v) => v !== cc.node);
  const learners = cs.learners.filter((v) => v !== cc.node);
  switch (cc.type) {
    case ConfChangeType.AddVoter:
    case ConfChangeType.PromoteLearner:
      voters.push(cc.node);
      break;
    case ConfChangeType.AddLearner:
      learners.push(cc.node);
      break;
    default:
      break;
  }
  return { voters, learners };
}

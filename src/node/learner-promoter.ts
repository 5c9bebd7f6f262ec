// Learner promotion (issue 9, defect 9): new members join as learners — replicated to, never
// counted in a quorum — and the leader promotes a learner to voter only once it has caught up,
// so a fresh or unreachable node can never cost the cluster its majority.
//
// Caught up = the leader replicates to it in pipeline mode (not probing, not sending a
// snapshot), it answered within the last election timeout, and its match index is within
// LEARNER_READY_LAG entries of the leader's commit index. (etcd's comparable check refuses a
// promotion while the learner's match is below 90% of the leader's; a fixed lag is stricter for
// long logs, where 10% can be a very large number of entries.)

import { ProgressState, type RaftStatus } from '../raft/index.js';

/** How far (in entries) behind the commit index a learner may be and still be promoted. */
export const LEARNER_READY_LAG = 1000;

/** True when the leader's view of learner `id` says it has caught up (see above). */
export function learnerReady(status: Pick<RaftStatus, 'commit' | 'progress'>, id: string, lag = LEARNER_READY_LAG): boolean {
  const pr = status.progress?.[id];
  if (!pr?.learner) return false;
  if (pr.state !== ProgressState.Replicate || !pr.recentActive) return false;
  return pr.match > 0 && pr.match + lag >= status.commit;
}

export interface PromoterHost {
  isLeader(): boolean;
  status(): Pick<RaftStatus, 'commit' | 'progress' | 'conf'>;
  /** Proposes the promotion and resolves once it applied here (one conf change at a time). */
  promote(id: string): Promise<unknown>;
  onPromoted(id: string, match: number, commit: number): void;
  onError(id: string, e: unknown): void;
}

/** Runs on every node; acts only while this node leads. `tick()` is called once per Raft tick. */
export class LearnerPromoter {
  private inFlight = false;

  constructor(
    private readonly host: PromoterHost,
    private readonly lag = LEARNER_READY_LAG,
  ) {}

  tick(): void {
    if (this.inFlight || !this.host.isLeader()) return;
    const s = this.host.status();
    const id = s.conf.learners.find((l) => learnerReady(s, l, this.lag));
    if (id === undefined) return;
    const match = s.progress?.[id]?.match ?? 0;
    // One promotion at a time; a failed one (leadership lost, a concurrent admin change) is
    // simply retried on a later tick if the learner is still there and still caught up.
    this.inFlight = true;
    this.host
      .promote(id)
      .then(
        () => this.host.onPromoted(id, match, s.commit),
        (e: unknown) => this.host.onError(id, e),
      )
      .finally(() => {
        this.inFlight = false;
      });
  }
}

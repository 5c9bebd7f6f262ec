// The leader promotes a learner only once it has caught up (issue 9, defect 9).

import { describe, expect, it } from 'vitest';
import { LEARNER_READY_LAG, LearnerPromoter, learnerReady, type PromoterHost } from '../../src/node/learner-promoter.js';
import { type ProgressStatus, ProgressState } from '../../src/raft/index.js';

const voter: ProgressStatus = { match: 5000, next: 5001, state: ProgressState.Replicate, learner: false, recentActive: true };
const learner = (p: Partial<ProgressStatus>): ProgressStatus => ({
  match: 5000,
  next: 5001,
  state: ProgressState.Replicate,
  learner: true,
  recentActive: true,
  ...p,
});

function status(n4: ProgressStatus, commit = 5000) {
  return { commit, progress: { n1: voter, n2: voter, n3: voter, n4 }, conf: { voters: ['n1', 'n2', 'n3'], learners: ['n4'] } };
}

class Host implements PromoterHost {
  leader = true;
  st = status(learner({ match: 0, state: ProgressState.Probe }));
  promoted: string[] = [];
  release: (() => void) | null = null;
  isLeader() {
    return this.leader;
  }
  status() {
    return this.st;
  }
  promote(id: string) {
    this.promoted.push(id);
    return new Promise<void>((r) => {
      this.release = r;
    });
  }
  onPromoted() {}
  onError() {}
}

describe('learner promotion', () => {
  it('defect 9.9 (learner join): a learner is ready only when replicating, recently active and within the lag of the commit index', () => {
    expect(learnerReady(status(learner({})), 'n4')).toBe(true);
    expect(learnerReady(status(learner({ match: 5000 - LEARNER_READY_LAG })), 'n4')).toBe(true);
    expect(learnerReady(status(learner({ match: 5000 - LEARNER_READY_LAG - 1 })), 'n4')).toBe(false);
    expect(learnerReady(status(learner({ state: ProgressState.Probe })), 'n4')).toBe(false);
    expect(learnerReady(status(learner({ state: ProgressState.Snapshot })), 'n4')).toBe(false);
    expect(learnerReady(status(learner({ recentActive: false })), 'n4')).toBe(false);
    // A fresh learner the leader has not heard from, even in a short log.
    expect(learnerReady(status(learner({ match: 0, state: ProgressState.Probe }), 12), 'n4')).toBe(false);
    expect(learnerReady(status(learner({ match: 0 }), 12), 'n4')).toBe(false);
    // Voters and unknown ids are never "ready learners"; nor is anything on a follower (no progress).
    expect(learnerReady(status(learner({})), 'n1')).toBe(false);
    expect(learnerReady(status(learner({})), 'n9')).toBe(false);
    expect(learnerReady({ commit: 5000, progress: null }, 'n4')).toBe(false);
  });

  it('defect 9.9 (learner join): the promoter proposes nothing while the learner lags, promotes once it caught up, one at a time, leader only', async () => {
    const h = new Host();
    const p = new LearnerPromoter(h);
    p.tick();
    h.st = status(learner({ match: 100 }));
    p.tick();
    expect(h.promoted).toEqual([]);
    h.leader = false;
    h.st = status(learner({ match: 4990 }));
    p.tick();
    expect(h.promoted).toEqual([]);
    h.leader = true;
    p.tick();
    p.tick(); // still in flight: no second proposal
    expect(h.promoted).toEqual(['n4']);
    h.release!();
    await new Promise((r) => setImmediate(r));
    p.tick(); // the host still lists n4 as a learner (e.g. the change was lost): tried again
    expect(h.promoted).toEqual(['n4', 'n4']);
  });
});

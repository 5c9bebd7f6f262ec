// The leader's view of one follower: how far its log matches, what to send next, and in which
// replication state it is (thesis §4.2.1 / etcd's Progress).

import { Inflights } from './inflights.js';

export enum ProgressState {
  /** One App at a time until the follower's match is found. */
  Probe = 'probe',
  /** Optimistic pipelining of Apps, bounded by the inflights window. */
  Replicate = 'replicate',
  /** A snapshot is being sent; nothing else until its status is reported. */
  Snapshot = 'snapshot',
}

export class Progress {
  match = 0;
  next: number;
  state: ProgressState = ProgressState.Probe;
  /** Snapshot state: index of the snapshot in flight. */
  pendingSnapshot = 0;
  /** Probe state: an App is outstanding; wait for its answer (or a heartbeat response). */
  probeSent = false;
  /** Highest commit index sent to this follower (so an ack can trigger a commit-only App). */
  sentCommit = 0;
  /** Heard from since the last check-quorum round. */
  recentActive = false;
  isLearner: boolean;
  readonly inflights: Inflights;

  constructor(next: number, isLearner: boolean, maxInflight: number, maxInflightBytes: number) {
    this.next = next;
    this.isLearner = isLearner;
    this.inflights = new Inflights(maxInflight, maxInflightBytes);
  }

  private resetState(state: ProgressState): void {
    this.probeSent = false;
    this.pendingSnapshot = 0;
    this.state = state;
    this.inflights.reset();
  }

  becomeProbe(): void {
    if (this.state === ProgressState.Snapshot) {
      const pending = this.pendingSnapshot;
      this.resetState(ProgressState.Probe);
      this.next = Math.max(this.match + 1, pending + 1);
    } else {
      this.resetState(ProgressState.Probe);
      this.next = this.match + 1;
    }
  }

  becomeReplicate(): void {
    this.resetState(ProgressState.Replicate);
    this.next = this.match + 1;
  }

  becomeSnapshot(index: number): void {
    this.resetState(ProgressState.Snapshot);
    this.pendingSnapshot = index;
  }

  /** An ack for `index`: returns true when match moved forward. */
  maybeUpdate(index: number): boolean {
    let updated = false;
    if (this.match < index) {
      this.match = index;
      updated = true;
      this.probeSent = false;
    }
    if (this.next < index + 1) this.next = index + 1;
    return updated;
  }

  /** Replicate state: entries up to `last` were sent optimistically. */
  optimisticUpdate(last: number): void {
    this.next = last + 1;
  }

  /**
   * A rejection of the App whose previous index was `rejected`; `matchHint` is the follower's
   * hint. Returns false when the rejection is stale (out of order or duplicate).
   */
  maybeDecrTo(rejected: number, matchHint: number): boolean {
    if (this.state === ProgressState.Replicate) {
      if (rejected <= this.match) return false;
      this.next = this.match + 1;
      return true;
    }
    if (this.next - 1 !== rejected) return false;
    this.next = Math.max(Math.min(rejected, matchHint + 1), this.match + 1);
    this.probeSent = false;
    return true;
  }

  isPaused(): boolean {
    switch (this.state) {
      case ProgressState.Probe:
        return this.probeSent;
      case ProgressState.Replicate:
        return this.inflights.full();
      default:
        return true;
    }
  }
}

// Majority quorum math over one voter set (single-server membership changes need no joint
// quorums: consecutive configurations differ by one voter, so their majorities overlap).

import type { NodeId } from './types.js';

export type VoteResult = 'won' | 'lost' | 'pending';

// Reused scratch for committedIndex; voter sets are small, and this keeps the per-ack hot path
// free of allocations.
let scratch: number[] = [];

/** The largest index that a majority of `voters` has matched. */
export function committedIndex(voters: readonly NodeId[], matchOf: (id: NodeId) => number): number {
  const n = voters.length;
  if (n === 0) return Number.MAX_SAFE_INTEGER;
  if (scratch.length < n) scratch = new Array<number>(n).fill(0);
  for (let i = 0; i < n; i++) scratch[i] = matchOf(voters[i]!);
  // Insertion sort, descending: n ≤ 7 or so in practice.
  for (let i = 1; i < n; i++) {
    const v = scratch[i]!;
    let j = i - 1;
    while (j >= 0 && scratch[j]! < v) {
      scratch[j + 1] = scratch[j]!;
      j--;
    }
    scratch[j + 1] = v;
  }
  return scratch[Math.floor(n / 2)]!;
}

/** Outcome of an election given the votes received so far. */
export function voteResult(voters: readonly NodeId[], votes: ReadonlyMap<NodeId, boolean>): VoteResult {
  const n = voters.length;
  if (n === 0) return 'won';
  let granted = 0;
  let rejected = 0;
  for (const id of voters) {
    const v = votes.get(id);
    if (v === true) granted++;
    else if (v === false) rejected++;
  }
  const q = Math.floor(n / 2) + 1;
  if (granted >= q) return 'won';
  if (granted + (n - granted - rejected) >= q) return 'pending';
  return 'lost';
}

/** True when the members of `active` form a majority of `voters`. */
export function hasQuorum(voters: readonly NodeId[], active: (id: NodeId) => boolean): boolean {
  let k = 0;
  for (const id of voters) if (active(id)) k++;
  return k >= Math.floor(voters.length / 2) + 1;
}

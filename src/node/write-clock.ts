// The time of data (issue 9 defect 7): the leader stamps every write it admits with its clock,
// and a linearizable read is judged at a time the leader provides, so expiry is decided as the
// leader's clock says whichever node a client talks to.
//
// Times never go backwards here: a stamp or a read time is at least every time this node has
// stamped or seen in the log (entries received, entries applied). Otherwise a leader whose clock
// is behind its predecessor's (or stepped back) could stamp a write earlier than writes a read
// may already observe — `SET k v EX 1` would then be born expired for such a read.

export class WriteClock {
  private high = 0n;
  private applied = 0n;

  constructor(private readonly clock: () => number) {}

  /** This node's own clock reading (ms), unadjusted: a receiving node's provisional `now`. */
  local(): bigint {
    return BigInt(Math.floor(this.clock()));
  }

  /** The time for a write admitted now (leader). */
  stamp(): bigint {
    const t = this.readTime();
    this.high = t;
    return t;
  }

  /** The time a linearizable read starting now is judged at: max(clock, every time known). */
  readTime(): bigint {
    return later(this.local(), this.high);
  }

  /** A time found in the log (a received entry's stamp, a leader's read time). */
  observe(t: bigint): void {
    if (t > this.high) this.high = t;
  }

  /** The stamp of an entry applied here. */
  observeApplied(t: bigint): void {
    if (t > this.applied) this.applied = t;
    this.observe(t);
  }

  /**
   * The time a read whose leader answered with `leaderReadTime` is judged at, once this node
   * applied up to the read index: never earlier than a write the read can observe here. This
   * node's own clock plays no part (it may be skewed).
   */
  judge(leaderReadTime: bigint): bigint {
    return later(leaderReadTime, this.applied);
  }
}

function later(a: bigint, b: bigint): bigint {
  if (a > b) return a;
  return b;
}

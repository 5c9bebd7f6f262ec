// One expiry rule for apply and reads, as Redis: a key with expireAt T is visible while
// now ≤ T and gone once now > T. A write whose new expireAt is ≤ now deletes the key at once
// (Redis's checkAlreadyExpired), so both rules agree that such a key is never read.

/** True when a record with `expireAt` (0n = none) is expired at `now` (ms). */
export function isExpired(expireAt: bigint, now: bigint): boolean {
  return expireAt !== 0n && now > expireAt;
}

/** True when a write that sets `expireAt` at `now` must delete the key instead. */
export function expiresOnWrite(expireAt: bigint, now: bigint): boolean {
  return expireAt !== 0n && expireAt <= now;
}

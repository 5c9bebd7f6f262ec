// Redis-style glob matching over bytes (SCAN MATCH): `*`, `?`, `[abc]`, `[^a-z]`, `\x`.
// Every token but `*` consumes exactly one byte, so the classic two-pointer walk with one
// remembered star is exact and runs in O(|pattern|·|key|) worst case, never exponential.

const STAR = 0x2a;
const QMARK = 0x3f;
const LBRACKET = 0x5b;
const RBRACKET = 0x5d;
const BACKSLASH = 0x5c;
const CARET = 0x5e;
const DASH = 0x2d;

/** Matches one non-star token at `p` against byte `c`; returns the next pattern index or -1. */
function matchToken(pat: Uint8Array, p: number, c: number): number {
  const t = pat[p]!;
  if (t === QMARK) return p + 1;
  if (t === BACKSLASH && p + 1 < pat.length) return pat[p + 1] === c ? p + 2 : -1;
  if (t !== LBRACKET) return t === c ? p + 1 : -1;
  let q = p + 1;
  const negate = pat[q] === CARET;
  if (negate) q++;
  let hit = false;
  for (;;) {
    if (q >= pat.length) break; // unterminated class: it runs to the end of the pattern (as Redis)
    const b = pat[q]!;
    if (b === BACKSLASH && q + 1 < pat.length) {
      if (pat[q + 1] === c) hit = true;
      q += 2;
    } else if (b === RBRACKET) {
      q++;
      break;
    } else if (q + 2 < pat.length && pat[q + 1] === DASH) {
      let lo = b;
      let hi = pat[q + 2]!;
      if (lo > hi) [lo, hi] = [hi, lo];
      if (c >= lo && c <= hi) hit = true;
      q += 3;
    } else {
      if (b === c) hit = true;
      q++;
    }
  }
  return hit !== negate ? q : -1;
}

export function globMatch(pattern: Uint8Array, key: Uint8Array): boolean {
  let p = 0;
  let i = 0;
  let starP = -1;
  let starI = 0;
  while (i < key.length) {
    if (p < pattern.length && pattern[p] === STAR) {
      while (p < pattern.length && pattern[p] === STAR) p++;
      starP = p;
      starI = i;
      continue;
    }
    if (p < pattern.length) {
      const next = matchToken(pattern, p, key[i]!);
      if (next >= 0) {
        p = next;
        i++;
        continue;
      }
    }
    if (starP < 0) return false;
    // Let the last star absorb one more byte and retry from there.
    starI++;
    i = starI;
    p = starP;
  }
  while (p < pattern.length && pattern[p] === STAR) p++;
  return p === pattern.length;
}

import type { Entry } from './types.js';

/** Bytes an entry counts for message-size and in-flight-bytes limits: its payload. */
export function entrySize(e: Entry): number {
  return e.data.byteLength;
}

/**
 * Number of entries from `ents[from]` on that fit in `maxBytes` (always at least one, so a
 * single oversized entry still makes progress).
 */
export function countWithinBytes(ents: Entry[], from: number, to: number, maxBytes: number): number {
  let size = 0;
  let i = from;
  for (; i < to; i++) {
    size += entrySize(ents[i]!);
    if (size > maxBytes && i > from) break;
  }
  return i - from;
}

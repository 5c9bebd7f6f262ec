// LOG_CORRUPT raised by the WAL names the segment file and byte offset of the damage as well as
// the log index it was expected to hold, so an operator can find it.

import { LogCorruptError } from '../../errors.js';

export class WalCorruptError extends LogCorruptError {
  constructor(
    index: number,
    readonly segment: string,
    readonly offset: number,
    reason: string,
  ) {
    super(BigInt(index), `WAL segment ${segment} at byte ${offset}: ${reason}`);
  }
}

// BR-1 `backup-verify`: the offline check of a backup (a compacting LMDB copy plus the sidecar).
// Pure over the backup's `kv` records and its sidecar: every record in state 0b01 (encrypted)
// needs a sidecar, and every key_id in an encrypted record's envelope must be one of the
// sidecar's keys, or the backup cannot be read back with that sidecar.

import { checkEnvelopeFraming, ENV_KEY_ID_OFFSET, readU32 } from '../crypto/envelope/framing.js';
import { decodeValueHeader, STATE_ENCRYPTED, VALUE_HEADER_SIZE } from '../crypto/envelope/value-header.js';
import { KeyError } from '../errors.js';
import type { Sidecar } from './sidecar-schema.js';

export interface BackupSummary {
  readonly records: number;
  readonly encrypted: number;
  readonly cleartext: number;
  /** key_id → number of encrypted records under it. */
  readonly keyIds: ReadonlyMap<number, number>;
}

/**
 * Checks `records` (raw `kv` values: 9-byte header ‖ body) against `sidecar` (undefined when the
 * backup holds none). Throws BACKUP_MISSING_SIDECAR or UNKNOWN_KEY_ID; a record whose header or
 * envelope framing is damaged is INVALID_ARGUMENT (the backup is not usable as it is).
 */
export function verifyBackupRecords(records: Iterable<{ key: Uint8Array; value: Uint8Array }>, sidecar: Sidecar | undefined): BackupSummary {
  let n = 0;
  let encrypted = 0;
  const keyIds = new Map<number, number>();
  for (const { key, value } of records) {
    n++;
    let state: number;
    try {
      state = decodeValueHeader(value).state;
    } catch (e) {
      throw new KeyError('INVALID_ARGUMENT', `kv record ${hexKey(key)}: ${(e as Error).message}`, { cause: e });
    }
    if (state !== STATE_ENCRYPTED) continue;
    encrypted++;
    if (sidecar === undefined) {
      throw new KeyError('BACKUP_MISSING_SIDECAR', 'the backup holds encrypted kv records but no sidecar (keys.json); it cannot be restored');
    }
    const fault = checkEnvelopeFraming(value, VALUE_HEADER_SIZE, value.length - VALUE_HEADER_SIZE);
    if (fault !== null) throw new KeyError('INVALID_ARGUMENT', `kv record ${hexKey(key)}: envelope ${fault}`);
    const id = readU32(value, VALUE_HEADER_SIZE + ENV_KEY_ID_OFFSET);
    keyIds.set(id, (keyIds.get(id) ?? 0) + 1);
  }
  if (sidecar !== undefined) {
    const missing = [...keyIds.keys()].filter((id) => !sidecar.keys.has(id)).sort((a, b) => a - b);
    if (missing.length > 0) {
      throw new KeyError('UNKNOWN_KEY_ID', `encrypted kv records use key_id ${missing.join(', ')}, which the backup's sidecar does not hold`);
    }
  }
  return { records: n, encrypted, cleartext: n - encrypted, keyIds };
}

function hexKey(key: Uint8Array): string {
  const h = Buffer.from(key.buffer, key.byteOffset, Math.min(key.byteLength, 32)).toString('hex');
  return key.byteLength > 32 ? `0x${h}…` : `0x${h}`;
}

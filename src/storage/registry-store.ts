// Writer registry rows (SPEC WR-2), table `registry`:
//   key   = dek_id u32 BE ‖ node_id16 u16 BE                                  (exactly 6 bytes)
//   value = full_node_id u64 BE ‖ first_seen_local_epoch u16 BE ‖ last_seen_local_epoch u16 BE (exactly 12)
// A row of any other size is a typed error, never "missing" (WR-2 Fail). Rows of one DEK share
// the 4-byte key prefix, so `rowsForDek` is one ordered range read.

import type { Transaction } from 'lmdb';
import { view } from './bytes.js';
import type { BinaryDb } from './env.js';
import { StorageError } from './errors.js';

export const REGISTRY_KEY_BYTES = 6;
export const REGISTRY_VALUE_BYTES = 12;

export interface RegistryRow {
  fullNodeId: bigint;
  firstSeenLocalEpoch: number;
  lastSeenLocalEpoch: number;
}

export interface RegistryEntry extends RegistryRow {
  dekId: number;
  nodeId16: number;
}

function checkUint(v: number, bits: 16 | 32, what: string): void {
  if (!Number.isInteger(v) || v < 0 || v > (bits === 16 ? 0xffff : 0xffffffff)) {
    throw new RangeError(`${what} ${v} is not a u${bits}`);
  }
}

export function registryKey(dekId: number, nodeId16: number): Uint8Array {
  checkUint(dekId, 32, 'dek_id');
  checkUint(nodeId16, 16, 'node_id16');
  const k = new Uint8Array(REGISTRY_KEY_BYTES);
  const dv = view(k);
  dv.setUint32(0, dekId);
  dv.setUint16(4, nodeId16);
  return k;
}

export function decodeRegistryKey(key: Uint8Array): { dekId: number; nodeId16: number } {
  if (key.length !== REGISTRY_KEY_BYTES) {
    throw new StorageError('REGISTRY_KEY_MALFORMED', `registry key of ${key.length} bytes (expected ${REGISTRY_KEY_BYTES})`);
  }
  const dv = view(key);
  return { dekId: dv.getUint32(0), nodeId16: dv.getUint16(4) };
}

export function encodeRegistryValue(row: RegistryRow): Uint8Array {
  if (row.fullNodeId < 0n || row.fullNodeId > 0xffffffffffffffffn) throw new RangeError('full_node_id is not a u64');
  checkUint(row.firstSeenLocalEpoch, 16, 'first_seen_local_epoch');
  checkUint(row.lastSeenLocalEpoch, 16, 'last_seen_local_epoch');
  const v = new Uint8Array(REGISTRY_VALUE_BYTES);
  const dv = view(v);
  dv.setBigUint64(0, row.fullNodeId);
  dv.setUint16(8, row.firstSeenLocalEpoch);
  dv.setUint16(10, row.lastSeenLocalEpoch);
  return v;
}

export function decodeRegistryValue(value: Uint8Array, where = 'registry row'): RegistryRow {
  if (value.length !== REGISTRY_VALUE_BYTES) {
    throw new StorageError('REGISTRY_VALUE_MALFORMED', `${where}: value of ${value.length} bytes (expected ${REGISTRY_VALUE_BYTES})`);
  }
  const dv = view(value);
  return { fullNodeId: dv.getBigUint64(0), firstSeenLocalEpoch: dv.getUint16(8), lastSeenLocalEpoch: dv.getUint16(10) };
}

export class RegistryStore {
  constructor(private readonly db: BinaryDb) {}

  /** The row (dekId, nodeId16), or undefined when there is none; a malformed row throws. */
  get(dekId: number, nodeId16: number, txn?: Transaction): RegistryRow | undefined {
    const key = registryKey(dekId, nodeId16);
    const v = (txn === undefined ? this.db.get(key) : this.db.get(key, { transaction: txn })) as Uint8Array | undefined;
    return v === undefined ? undefined : decodeRegistryValue(v, `registry row (${dekId}, ${nodeId16})`);
  }

  /** Raw stored value of a 6-byte key (no size check; `get` checks). */
  getRaw(key: Uint8Array): Uint8Array | undefined {
    return this.db.get(key) as Uint8Array | undefined;
  }

  /** Inside a write-transaction callback only. */
  stagePut(dekId: number, nodeId16: number, row: RegistryRow): void {
    this.db.putSync(registryKey(dekId, nodeId16), encodeRegistryValue(row));
  }

  /** Inside a write-transaction callback only. */
  stageDelete(dekId: number, nodeId16: number): boolean {
    return this.db.removeSync(registryKey(dekId, nodeId16));
  }

  /** Every row of one DEK, in node_id16 order. */
  rowsForDek(dekId: number, txn?: Transaction): RegistryEntry[] {
    const start = registryKey(dekId, 0);
    const out: RegistryEntry[] = [];
    for (const { key, value } of this.db.getRange({ start, transaction: txn })) {
      const k = decodeRegistryKey(key);
      if (k.dekId !== dekId) break;
      out.push({ ...k, ...decodeRegistryValue(value, `registry row (${k.dekId}, ${k.nodeId16})`) });
    }
    return out;
  }

  /** Every row, in key order. */
  all(txn?: Transaction): RegistryEntry[] {
    const out: RegistryEntry[] = [];
    for (const { key, value } of this.db.getRange(txn === undefined ? {} : { transaction: txn })) {
      const k = decodeRegistryKey(key);
      out.push({ ...k, ...decodeRegistryValue(value, `registry row (${k.dekId}, ${k.nodeId16})`) });
    }
    return out;
  }
}

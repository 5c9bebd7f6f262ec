// Public surface of the storage layer (DESIGN.md §3).
export { type StorageEnv, type StorageEnvOptions, type BinaryDb, MAX_KEY_BYTES, openStorageEnv } from './env.js';
export { StorageError, type StorageCode } from './errors.js';
export { CommitQueue, type WriteOp, type TxnFn } from './commit-queue.js';
export { LmdbLogStorage, type PersistRequest, type LogStoreOptions } from './log-store.js';
export { encodeLogRecord, decodeLogRecord, logKey, LOG_RECORD_OVERHEAD } from './log-record.js';
export { MetaStore, META_KEYS, type StoredSnapshotMeta, type LogTrunc } from './meta-store.js';
export { KvStore, type KvRecord, type ScanOptions, type ScanPage, isStorableKey } from './kv-store.js';
export {
  RegistryStore,
  type RegistryRow,
  type RegistryEntry,
  registryKey,
  decodeRegistryKey,
  encodeRegistryValue,
  decodeRegistryValue,
} from './registry-store.js';
export { ApplyStore, ApplyBatch, type StoreTable, type StoreWrite, type EncryptionCopies } from './apply-txn.js';
export {
  createSnapshotStream,
  installSnapshot,
  recordLocalSnapshot,
  stagedRegistryRow,
  chooseHeaderCutover,
  type SnapshotStream,
  type SnapshotWriteOptions,
  type InstallOptions,
} from './snapshot.js';
export {
  type SnapshotHeader,
  type SnapshotEncryptionState,
  type SnapshotKey,
  encodeSnapshotHeader,
  decodeSnapshotHeader,
  encodeEncryptionState,
  decodeEncryptionState,
  SNAPSHOT_FORMAT_VERSION,
} from './snapshot-header.js';

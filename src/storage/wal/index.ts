// Public surface of the Raft-log WAL (docs/ARCHITECTURE.md, "Raft-log WAL").
export { WalLogStorage, type WalOptions, type WalStats } from './wal-log.js';
export type { DurableLog, PersistRequest } from './durable-log.js';
export { WalCorruptError } from './errors.js';
export { type Preallocation, segmentName, SEGMENT_MAGIC } from './segment-file.js';
export { RecordType, MIN_FRAME, readRecord, writeRecord, frameSize } from './record.js';

// Crypto worker (runs compiled, from dist/pool/worker.js): loads the backend once, reads DEKs
// from the shared key table, executes one batch per task in place and transfers the buffer back.

import { threadId } from 'node:worker_threads';
import { move, transferableSymbol, valueSymbol, workerData } from 'piscina';
import { loadAead } from '../crypto/index.js';
import { executeTask } from './execute.js';
import { KeyTableReader } from './key-table.js';
import type { PoolWorkerData, WorkerResult } from './worker-data.js';

const data = workerData as PoolWorkerData;
const aead = await loadAead(data.backend);
// Backends that hold a context per DEK (native) release it as soon as the DEK leaves the table.
const dispose = (aead as { disposeKey?: (key: Uint8Array) => void }).disposeKey?.bind(aead);
const keys = new KeyTableReader(data.keyTable, dispose);
// A removed DEK is wiped (and its backend state disposed) as soon as the table changes, not at
// this worker's next task (issue 8 item 4). The pending wait does not keep the thread alive.
keys.watch();

/** Both buffers go back in one message, transferred (Piscina's movable protocol). */
export default function runTask(task: ArrayBuffer): unknown {
  const output = executeTask(task, aead, keys, threadId);
  const value: WorkerResult = { task, output };
  return move({ [transferableSymbol]: output.byteLength > 0 ? [task, output] : [task], [valueSymbol]: value } as unknown as ArrayBuffer);
}

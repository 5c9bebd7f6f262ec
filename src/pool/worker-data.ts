// What every crypto worker receives once, at start-up (Piscina workerData). The key table is a
// SharedArrayBuffer, so it is shared with the main thread, not copied; no DEK travels here or
// in any task.

import type { BackendName } from '../crypto/aead.js';

export interface PoolWorkerData {
  backend: BackendName;
  keyTable: SharedArrayBuffer;
}

/** What a worker task returns: the task buffer (statuses, back for reuse) and the results. */
export interface WorkerResult {
  task: ArrayBuffer;
  output: ArrayBuffer;
}

// Adapts the encryption runtime to the metrics snapshot the server renders (cli/ wires both).

import type { EncryptionRuntime } from '../encryption/runtime.js';
import type { EncryptionMetricsSnapshot } from '../server/metrics.js';

export function encryptionMetricsSource(rt: EncryptionRuntime): () => EncryptionMetricsSnapshot {
  return () => ({
    pool: rt.poolMetrics(),
    activeDekIds: rt.status().activeDekIds,
    decryptFailures: rt.counters.decryptFailures,
    writesPerDek: rt.counters.writesPerDek,
  });
}

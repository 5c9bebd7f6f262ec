// The end of every fault test: once the cluster has caught up, every node serves every
// acknowledged write (read back through that node), and the whole recorded history — the final
// reads included — is linearizable.

import { expect } from 'vitest';
import type { HistoryRecorder } from '../../lincheck/history.js';
import type { Cluster } from './cluster.js';
import { historyFile } from './fixture.js';
import { checkRecorded, type LincheckReport } from './lincheck.js';
import { lostUniqueWrites, recordedReads, type Workload } from './workload.js';

export async function verifyAfterFaults(
  c: Cluster,
  rec: HistoryRecorder,
  w: Workload,
  keys: string[],
  nodes: string[] = c.ids(),
): Promise<LincheckReport> {
  await c.waitCaughtUp(nodes, 15_000);
  for (const id of nodes) {
    const conn = await c.resp(id);
    try {
      expect(await lostUniqueWrites(w, conn), `acknowledged writes missing via ${id}`).toEqual([]);
      await recordedReads(rec, conn, id, keys);
    } finally {
      conn.close();
    }
  }
  return checkRecorded(rec.history(), historyFile(c));
}

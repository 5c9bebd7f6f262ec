// Per-test cluster lifecycle: the cluster is destroyed when its test finishes (kept on disk and
// its logs printed when the test failed), and every cluster still alive is destroyed in afterAll.

import { join } from 'node:path';
import { onTestFinished } from 'vitest';
import { HistoryRecorder } from '../../lincheck/history.js';
import { Cluster, type ClusterOptions } from './cluster.js';
import { RespClient } from './resp-client.js';
import type { Endpoint } from './workload.js';

const alive = new Set<Cluster>();

/** Creates and starts a cluster owned by the current test. Call inside `it`. */
export async function clusterForTest(opts: ClusterOptions): Promise<Cluster> {
  const c = await Cluster.create(opts);
  alive.add(c);
  // vitest runs onTestFinished before onTestFailed, so the verdict is read from the task here.
  onTestFinished(async (ctx) => {
    const failed = ctx.task.result?.state === 'fail';
    if (failed) {
      console.error(`\n===== node logs (test failed) =====\n${c.logTail(120)}\nproxies: ${JSON.stringify(c.proxyStats())}`);
    }
    alive.delete(c);
    await c.destroy(failed);
  });
  return c;
}

/** For afterAll: kills whatever a crashed test left running. */
export async function destroyAllClusters(): Promise<void> {
  await Promise.all([...alive].map((c) => c.destroy(true)));
  alive.clear();
}

/** Workload endpoints for the given node ids of `c` (re-evaluated by the workload before each op). */
export function endpointsOf(c: Cluster, ids: () => string[]): () => Endpoint[] {
  return () =>
    ids().map((id) => ({
      id,
      connect: () => RespClient.connect(c.node(id).respPort, '127.0.0.1', 1000),
    }));
}

export function newRecorder(): HistoryRecorder {
  return new HistoryRecorder(() => performance.now());
}

export function historyFile(c: Cluster): string {
  return join(c.dir, 'history.json');
}

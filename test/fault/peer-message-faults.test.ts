// Issue 10 item 8 (SPEC §17 harness): a real 3-node cluster whose every peer message runs through
// the test-only fault layer (SEALKV_PEER_FAULTS=@file: 10 % drop, 2–10 ms delay, 10 % duplicate,
// 10 % reorder, on every node, both directions of Raft traffic). A SET/INCR/GET/DEL workload on all
// nodes must stay linearizable, and once the faults are lifted (the files emptied) the nodes
// converge and serve every acknowledged write.

import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { clusterForTest, destroyAllClusters, endpointsOf, newRecorder } from '../integration/harness/fixture.js';
import { verifyAfterFaults } from '../integration/harness/verify.js';
import { sleep, waitFor } from '../integration/harness/wait.js';
import { Workload } from '../integration/harness/workload.js';

const KEYS = ['a', 'b', 'c', 'd'];
const IDS = ['n1', 'n2', 'n3'];
const dir = mkdtempSync(join(tmpdir(), 'sealkv-peerfaults-'));
afterAll(async () => {
  await destroyAllClusters();
  rmSync(dir, { recursive: true, force: true });
});

const faultFile = (id: string): string => join(dir, `${id}.faults.json`);

it('Raft under drop+delay+duplicate+reorder: linearizable, converges after the faults are lifted', async () => {
  const seedBase = Number(process.env.SEALKV_NEMESIS_SEED ?? 1);
  for (const [i, id] of IDS.entries()) {
    const rule = { dir: 'out', drop: 0.1, delayMs: 2, jitterMs: 8, duplicate: 0.1, reorder: 0.1, reorderMs: 15 };
    writeFileSync(faultFile(id), JSON.stringify({ seed: seedBase * 10 + i, rules: [rule] }));
  }
  const env = Object.fromEntries(IDS.map((id) => [id, { SEALKV_PEER_FAULTS: `@${faultFile(id)}` }]));
  const c = await clusterForTest({ name: 'peerfaults', env });
  await c.waitForLeader({ quorum: 3, timeoutMs: 20_000 });
  for (const id of IDS) expect(readFileSync(c.node(id).logFile, 'utf8')).toContain('TEST-ONLY peer fault layer is on');

  const rec = newRecorder();
  const w = new Workload({
    recorder: rec,
    endpoints: endpointsOf(c, () => c.ids()),
    clients: 6,
    keys: KEYS,
    maxOps: 20_000,
    durationMs: 16_000,
    opTimeoutMs: 4000,
    pauseAfterInfoMs: 200,
    seed: seedBase,
  });
  await sleep(10_000);
  // Lift the faults; each node writes what its layer did to <file>.counters on the change.
  // (The start-up load wrote zeros there: remove them first.)
  for (const id of IDS) rmSync(`${faultFile(id)}.counters`, { force: true });
  for (const id of IDS) writeFileSync(faultFile(id), '');
  const counters = new Map<string, { dropped: number; duplicated: number; reordered: number; delayed: number }>();
  await waitFor(
    'fault counters',
    () => {
      for (const id of IDS) {
        try {
          const v = JSON.parse(readFileSync(`${faultFile(id)}.counters`, 'utf8'));
          counters.set(id, v);
        } catch {
          // not written yet
        }
      }
      return counters.size === IDS.length;
    },
    5000,
  );
  await w.stop();
  const report = await verifyAfterFaults(c, rec, w, KEYS);
  console.info(`[peer-faults] ${report.text}; stats ${JSON.stringify(w.stats)}; faults ${JSON.stringify(Object.fromEntries(counters))}`);
  for (const [id, v] of counters) {
    for (const k of ['dropped', 'duplicated', 'reordered', 'delayed'] as const) expect(v[k], `${id} ${k}`).toBeGreaterThan(0);
  }
  expect(w.stats.ok).toBeGreaterThan(100);
  expect(report.ok, report.text).toBe(true);
  expect(c.unexpectedExits()).toEqual([]);
}, 60_000);

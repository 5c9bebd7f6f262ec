#!/usr/bin/env node
// `npm run bench`: every benchmark in turn (crypto, raft, storage, cluster); each writes its
// results to bench/results/. A failing benchmark is reported and the others still run.
import { spawnSync } from 'node:child_process';

const suites = [
  ['crypto', ['dist/bench/crypto.js']],
  ['raft', ['dist/bench/raft.js']],
  ['storage', ['dist/bench/storage.js']],
  ['cluster', ['scripts/bench-cluster.mjs']],
];
const only = process.argv.slice(2);
let failed = 0;
for (const [name, args] of suites) {
  if (only.length > 0 && !only.includes(name)) continue;
  process.stdout.write(`\n=== bench: ${name} ===\n`);
  const t0 = Date.now();
  const r = spawnSync(process.execPath, args, { stdio: 'inherit' });
  process.stdout.write(`=== bench: ${name} ${r.status === 0 ? 'done' : `FAILED (${r.status ?? r.signal})`} in ${((Date.now() - t0) / 1000).toFixed(0)} s ===\n`);
  if (r.status !== 0) failed++;
}
process.exitCode = failed ? 1 : 0;

// npm run sim:node -- --seeds N --seed-start S [--defect NAME] [--fault-ms MS] [--heal-ms MS] [--verbose]
// Runs the whole-node simulator (node-sim.ts) on seeds S..S+N−1 and prints one JSON summary line
// {runs, violations, faults…, cutoversCompleted, halts, nodeMinutesPerWallSecond}; every failing
// seed is printed to stderr with the command that replays it. `--defect` re-introduces one known
// defect (src/node/defect-switches.ts) so the simulator can be seen to catch it. Exit 1 on any
// violation.

import { DEFECTS, type DefectName, isDefectName } from '../defect-switches.js';
import { runNodeSim } from './node-sim.js';
import { runNodeSims } from './node-sim-many.js';
import { arg, intArg } from '../util/cli-args.js';

// A run allocates mostly short-lived objects (frames, promises, closures). A larger young
// generation lets more of them die there, but only from the command line
// (`node --max-semi-space-size=64 dist/sim/node-sim-cli.js …`: half the scavenges, about 2% less
// CPU): V8 sizes the heap when the process starts, so setting the flag from here (as this file
// used to) changed nothing (145 scavenges per 100 seeds with or without it).

const seeds = intArg('--seeds', 100)!;
const seedStart = intArg('--seed-start', 1)!;
const faultMs = intArg('--fault-ms', undefined);
const healMs = intArg('--heal-ms', undefined);
const defectArg = arg('--defect');
let defect: DefectName | null = null;
if (defectArg !== undefined) {
  if (!isDefectName(defectArg)) {
    process.stderr.write(`error: USAGE: unknown --defect '${defectArg}' (known: ${Object.keys(DEFECTS).join(', ')})\n`);
    process.exit(1);
  }
  defect = defectArg;
}
const verbose = process.argv.includes('--verbose');
const flags = [
  defect !== null ? ` --defect ${defect}` : '',
  faultMs !== undefined ? ` --fault-ms ${faultMs}` : '',
  healMs !== undefined ? ` --heal-ms ${healMs}` : '',
].join('');

if (verbose && seeds === 1) {
  const r = await runNodeSim({ seed: seedStart, defect, keepTrace: true, ...(faultMs !== undefined ? { faultMs } : {}), ...(healMs !== undefined ? { healMs } : {}) });
  for (const l of r.trace ?? []) process.stderr.write(`${l}\n`);
  for (const v of r.violations) process.stderr.write(`violation: ${v}\n`);
  const { trace: _t, ...rest } = r;
  process.stdout.write(`${JSON.stringify(rest)}\n`);
  process.exitCode = r.violations.length > 0 ? 1 : 0;
} else {
  // Progress on stderr every 10 s (a 100,000-seed soak runs for hours); a failing seed is named
  // at once, not only in the summary.
  const t0 = Date.now();
  let done = 0;
  let failed = 0;
  let lastReport = t0;
  const summary = await runNodeSims(seedStart, seeds, {
    onResult: (r) => {
      done++;
      if (r.violations.length > 0) {
        failed++;
        process.stderr.write(`sim:node: seed ${r.seed} failed: ${r.violations[0]!.slice(0, 200)}\n`);
      }
      const now = Date.now();
      if (now - lastReport >= 10_000) {
        lastReport = now;
        process.stderr.write(`sim:node: ${done}/${seeds} seeds, ${failed} failed, ${Math.round((now - t0) / 1000)} s\n`);
      }
    },
    defect,
    ...(faultMs !== undefined ? { faultMs } : {}),
    ...(healMs !== undefined ? { healMs } : {}),
  });
  for (const s of summary.failedSeeds) {
    process.stderr.write(`violation: seed ${s}: ${summary.firstViolations[String(s)]}\n  replay: npm run sim:node -- --seed-start ${s} --seeds 1${flags} --verbose\n`);
  }
  process.stdout.write(`${JSON.stringify(summary)}\n`);
  process.exitCode = summary.violations > 0 ? 1 : 0;
}

// node dist/raft/sim/cli.js --seeds N --seed-start S [--nodes 3|5] [--steps M] [--profile default|figure8] [--async-apply]
//   [--unsafe-commit-old-term | --unsafe-send-before-persist | --unsafe-read-without-quorum]
//   (test only: broken variants the checker must catch: the Figure 8 commit rule, a run loop that
//   ignores the durability contract, ReadIndex without a heartbeat quorum)
// Prints one JSON summary line; exits 1 when any run found a violation (each failing seed is
// printed to stderr so `--seed-start S --seeds 1` reproduces it exactly).

import { simulateMany } from './run.js';
import { arg, intArg } from '../../util/cli-args.js';


const seeds = intArg('--seeds', 100)!;
const seedStart = intArg('--seed-start', 1)!;
const nodes = intArg('--nodes', undefined);
const steps = intArg('--steps', undefined);
if (nodes !== undefined && nodes !== 3 && nodes !== 5) {
  process.stderr.write('error: USAGE: --nodes must be 3 or 5\n');
  process.exit(1);
}
const profile = arg('--profile') ?? 'default';
if (profile !== 'default' && profile !== 'figure8') {
  process.stderr.write('error: USAGE: --profile must be default or figure8\n');
  process.exit(1);
}
const summary = simulateMany(seedStart, seeds, {
  nodes,
  steps,
  profile,
  asyncApply: process.argv.includes('--async-apply'),
  unsafeCommitOldTerm: process.argv.includes('--unsafe-commit-old-term'),
  unsafeSendBeforePersist: process.argv.includes('--unsafe-send-before-persist'),
  unsafeReadWithoutQuorum: process.argv.includes('--unsafe-read-without-quorum'),
});
// Everything but the seed range, so the printed command reproduces the failing run exactly.
const sameFlags = [
  nodes !== undefined ? ` --nodes ${nodes}` : '',
  steps !== undefined ? ` --steps ${steps}` : '',
  profile !== 'default' ? ` --profile ${profile}` : '',
  ...['--async-apply', '--unsafe-commit-old-term', '--unsafe-send-before-persist', '--unsafe-read-without-quorum'].filter((f) => process.argv.includes(f)).map((f) => ` ${f}`),
].join('');
for (const s of summary.failedSeeds) process.stderr.write(`violation: seed ${s} (reproduce: --seed-start ${s} --seeds 1${sameFlags})\n`);
process.stdout.write(`${JSON.stringify(summary)}\n`);
process.exitCode = summary.violations > 0 ? 1 : 0;

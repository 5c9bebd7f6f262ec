// `npm run bench:compare A B` (A, B: results.json files or bench/results/<timestamp> directories).

import { compareResults, formatComparison, loadResults } from './compare.js';

const [pa, pb] = process.argv.slice(2);
if (!pa || !pb) {
  process.stderr.write('usage: npm run bench:compare A B   (results.json files or bench/results/<timestamp> directories)\n');
  process.exit(2);
}
try {
  const a = loadResults(pa);
  const b = loadResults(pb);
  process.stdout.write(formatComparison(a, b, compareResults(a, b)));
} catch (e) {
  process.stderr.write(`bench:compare: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exitCode = 1;
}

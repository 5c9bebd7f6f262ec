// `npm run bench [-- --quick | --smoke] [--only cutover,crypto] [--backends native,js] [--profile] [--out DIR]`: the
// benchmark suite. Writes bench/results/<timestamp>/ (results.json, REPORT.md, charts/, report.html).

import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runSuite } from './driver.js';
import type { RunMode } from './results.js';
import { ALL_BACKENDS } from './section.js';
import { PENDING, SECTIONS } from './sections/index.js';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

function usage(msg: string): never {
  process.stderr.write(`bench: ${msg}\nusage: npm run bench -- [--quick | --smoke] [--only ${SECTIONS.map((s) => s.id).join(',')}] [--backends ${ALL_BACKENDS.join(',')}] [--profile] [--out DIR]\n`);
  process.exit(2);
}

const argv = process.argv.slice(2);
let mode: RunMode = 'full';
let outBase = join(REPO, 'bench', 'results');
let only: string[] = [];
let profile = false;
let backends = ALL_BACKENDS;
for (let i = 0; i < argv.length; i++) {
  const a = argv[i]!;
  if (a === '--quick') mode = 'quick';
  else if (a === '--smoke') mode = 'smoke';
  else if (a === '--out') outBase = resolve(argv[++i] ?? usage('--out needs a directory'));
  else if (a === '--profile') profile = true;
  else if (a === '--backends') backends = (argv[++i] ?? usage('--backends needs names')).split(',');
  else if (a === '--only') only = (argv[++i] ?? usage('--only needs section ids')).split(',');
  else usage(`unknown argument ${a}`);
}
const badBackend = backends.filter((b) => !ALL_BACKENDS.includes(b));
if (badBackend.length > 0 || backends.length === 0) usage(`--backends takes ${ALL_BACKENDS.join(',')}`);
const unknown = only.filter((id) => !SECTIONS.some((s) => s.id === id));
if (unknown.length > 0) usage(`unknown section(s) ${unknown.join(', ')}`);

// Ctrl-C: exit, and the sections' exit hooks stop the processes they started.
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => process.exit(130));

const run = await runSuite({ mode, outBase, repo: REPO, sections: SECTIONS, pending: PENDING, only, argv, profile, backends });
process.exitCode = run.failed > 0 ? 1 : 0;

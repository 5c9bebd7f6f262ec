#!/usr/bin/env node
// Prints the CI's last line, `N passed, N failed`, from vitest's JSON reporter output. A test file
// that fails before its tests run (import error, missing fixture) has no failed test of its own:
// it counts as one failure, so the line can never say "0 failed" for a red run. Skipped tests
// are reported on the line before.
import { readFileSync } from 'node:fs';

const file = process.argv[2] ?? 'test-results.json';
try {
  const r = JSON.parse(readFileSync(file, 'utf8'));
  const brokenFiles = (r.testResults ?? []).filter(
    (f) => f.status === 'failed' && !(f.assertionResults ?? []).some((a) => a.status === 'failed'),
  );
  for (const f of brokenFiles) console.log(`test file failed to run: ${f.name}${f.message ? ` — ${String(f.message).split('\n')[0]}` : ''}`);
  const skipped = (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0);
  if (skipped > 0) console.log(`${skipped} skipped`);
  console.log(`${r.numPassedTests} passed, ${r.numFailedTests + brokenFiles.length} failed`);
} catch (e) {
  console.log(`could not read ${file}: ${e.message}`);
  console.log('0 passed, 1 failed');
  process.exitCode = 1;
}

#!/usr/bin/env node
// Prints `N passed, N failed[, N skipped]` from vitest's JSON reporter output.
import { readFileSync } from 'node:fs';

const file = process.argv[2] ?? 'test-results.json';
try {
  const r = JSON.parse(readFileSync(file, 'utf8'));
  const skipped = (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0);
  console.log(`${r.numPassedTests} passed, ${r.numFailedTests} failed${skipped ? `, ${skipped} skipped` : ''}`);
} catch (e) {
  console.log(`could not read ${file}: ${e.message}`);
  console.log('0 passed, 1 failed');
  process.exitCode = 1;
}

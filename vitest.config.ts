import { defineConfig } from 'vitest/config';

// Tests import compiled JS from dist/ where worker threads are involved (Piscina
// loads dist/pool/worker.js); `npm test` runs `tsc` first (pretest).
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    maxWorkers: 2,
    reporters: process.env.CI ? ['default', 'json'] : ['default'],
    outputFile: { json: 'test-results.json' },
  },
});

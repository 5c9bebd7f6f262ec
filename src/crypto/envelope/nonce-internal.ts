// Capability for test code only: nonce factories with an arbitrary epoch and a seeded counter,
// outside the one-per-purpose rule. Not re-exported by the package (index.ts, package.json
// "exports"); production code never imports it (test/crypto/helpers/nonce-factory.ts does).
export const TEST_ONLY_ACCESS: unique symbol = Symbol('sealkv.nonce.test-only');

/**
 * Capability for the whole-node simulator only (src/sim): several simulated processes live in one
 * real process, each with its own "one factory per purpose" set. Not re-exported by the package.
 */
export const PROCESS_SCOPE_ACCESS: unique symbol = Symbol('sealkv.nonce.process-scope');

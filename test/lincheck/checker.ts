// Moved to src/lincheck/ (the whole-node simulator checks its histories with it); re-exported for the tests.
export * from '../../src/lincheck/checker.js';

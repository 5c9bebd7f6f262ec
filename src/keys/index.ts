// The key-management wing (DESIGN.md §1 `keys/`): KEK providers, DEK wrap, the sidecar, epochs,
// writer-registry rules, encryption-entry codecs and apply decisions, start-up checks. Everything
// here is pure or does only file I/O on the sidecar and the KEK sources; `node/` wires it.

export * from './dek-wrap.js';
export * from './encryption-entries.js';
export * from './entry-apply.js';
export * from './epochs.js';
export * from './hydrate.js';
export * from './kdf-install.js';
export * from './kek-env.js';
export * from './kek-file.js';
export * from './kek-kdf.js';
export * from './kek-passphrase.js';
export * from './kek-provider.js';
export * from './kek-source.js';
export * from './node-identity.js';
export * from './registry-rules.js';
export * from './resync.js';
export * from './secret-file.js';
export * from './sidecar-report.js';
export * from './sidecar-schema.js';
export * from './sidecar-store.js';
export * from './startup.js';
export * from './startup-guards.js';
export * from './writer-batch.js';

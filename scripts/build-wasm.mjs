#!/usr/bin/env node
// Compiles wasm/ with AssemblyScript. Filled in by the WASM backend work.
console.log('[build-wasm] not built yet');

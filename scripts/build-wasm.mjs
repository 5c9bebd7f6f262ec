#!/usr/bin/env node
// Compiles the constant-time AES-256-GCM module (wasm/assembly, AssemblyScript with SIMD) to
// wasm/build/aesgcm.wasm. Unlike the native module this one is required: any compile error,
// or a module that does not expose the expected entry points, fails the build loudly.
import { spawnSync } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const wasmDir = join(root, 'wasm');
const out = join(wasmDir, 'build', 'aesgcm.wasm');
const asc = join(root, 'node_modules', 'assemblyscript', 'bin', 'asc.js');
const EXPORTS = ['memory', 'scratchEnd', 'slotBytes', 'expandKey', 'sealBatch', 'openBatch', 'wipeScratch'];

function fail(message) {
  console.error(`[build-wasm] FAILED: ${message}`);
  process.exit(1);
}

const t0 = Date.now();
console.log('[build-wasm] asc assembly/index.ts --target release (SIMD, -O3, stub runtime) ...');
const r = spawnSync(process.execPath, [asc, '--config', 'asconfig.json', '--target', 'release'], {
  cwd: wasmDir,
  stdio: 'inherit',
});
if (r.error) fail(`could not run AssemblyScript (${r.error.message}); is the dev dependency installed?`);
if (r.status !== 0) fail(`asc exited with status ${r.status}`);

let size;
try {
  size = statSync(out).size;
} catch {
  fail(`${out} was not produced`);
}
// Sanity check: the module compiles in this Node (SIMD support) and has the expected entry points.
try {
  const mod = new WebAssembly.Module(readFileSync(out));
  const names = WebAssembly.Module.exports(mod).map((e) => e.name);
  const missing = EXPORTS.filter((n) => !names.includes(n));
  if (missing.length > 0) fail(`module lacks exports: ${missing.join(', ')}`);
  if (WebAssembly.Module.imports(mod).length > 0) fail('module must not import anything');
} catch (e) {
  fail(`built module does not load: ${e.message}`);
}
console.log(`[build-wasm] ok: wasm/build/aesgcm.wasm (${size} bytes, ${Date.now() - t0} ms)`);

#!/usr/bin/env node
// `npm install` (prepare) and `npm run build`: TypeScript, then the WASM and native AEAD modules.
// The native module is optional: without Rust the build records why, and the `native`
// backend reports BACKEND_UNAVAILABLE with that reason at run time.
import { spawnSync } from 'node:child_process';

function run(label, cmd, args, { optional = false } = {}) {
  const t0 = Date.now();
  process.stdout.write(`[build] ${label} ...\n`);
  const r = spawnSync(cmd, args, { stdio: 'inherit' });
  const ok = r.status === 0;
  process.stdout.write(`[build] ${label} ${ok ? 'ok' : 'FAILED'} (${Date.now() - t0} ms)\n`);
  if (!ok && !optional) process.exit(r.status ?? 1);
  return ok;
}

run('typescript', process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.json']);
run('wasm (AssemblyScript)', process.execPath, ['scripts/build-wasm.mjs']);
run('native (Rust, Node-API)', process.execPath, ['scripts/build-native.mjs'], { optional: true });

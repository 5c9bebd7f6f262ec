#!/usr/bin/env node
// Builds the native AEAD backend (native/, a zero-crate Rust cdylib) with @napi-rs/cli into
// native/sealkv_native.<platform>.node.
//
// The native backend is optional, so this script never fails `npm install`: when cargo is missing
// or the build fails it prints a warning, records the reason in native/UNAVAILABLE.txt (which the
// backend reports as BACKEND_UNAVAILABLE) and exits 0. On success it deletes that file.
// `--strict` makes a failure exit 1 (for CI jobs that require the native backend).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const nativeDir = join(root, 'native');
const marker = join(nativeDir, 'UNAVAILABLE.txt');
const strict = process.argv.includes('--strict');
const napiCli = join(root, 'node_modules', '@napi-rs', 'cli', 'dist', 'cli.js');

const log = (msg) => process.stdout.write(`[build-native] ${msg}\n`);

function unavailable(reason, detail = '') {
  writeFileSync(marker, `${reason}\n`);
  process.stderr.write(
    `[build-native] WARNING: native AEAD backend not built: ${reason}\n` +
      (detail ? `${detail}\n` : '') +
      '[build-native] sealkv still works; the `native` cipher reports BACKEND_UNAVAILABLE with this reason.\n',
  );
  process.exit(strict ? 1 : 0);
}

const cargo = spawnSync('cargo', ['--version'], { encoding: 'utf8' });
if (cargo.error || cargo.status !== 0) {
  unavailable(cargo.error?.code === 'ENOENT' ? 'cargo not found on PATH' : `cargo --version failed: ${(cargo.stderr || cargo.error?.message || '').trim()}`);
}
log(`using ${cargo.stdout.trim()}`);
if (!existsSync(napiCli)) unavailable('@napi-rs/cli is not installed (node_modules/@napi-rs/cli)');

// Zero crates: nothing to fetch, and offline mode keeps cargo from trying the network at all.
const args = [
  napiCli,
  'build',
  '--platform',
  '--release',
  '--manifest-path',
  join(nativeDir, 'Cargo.toml'),
  '--config-path',
  join(nativeDir, 'napi.json'),
  '--package-json-path',
  join(root, 'package.json'),
  '--target-dir',
  join(nativeDir, 'target'),
  '--output-dir',
  nativeDir,
  '--no-js',
];
log('cargo build --release (via napi build --platform) ...');
const t0 = Date.now();
const child = spawn(process.execPath, args, {
  cwd: root,
  stdio: ['ignore', 'inherit', 'pipe'],
  env: { ...process.env, CARGO_NET_OFFLINE: 'true' },
});
// cargo reports progress on stderr: stream it live, and keep the tail for a failure report.
let tail = '';
child.stderr.setEncoding('utf8');
child.stderr.on('data', (chunk) => {
  // napi-rs warns that it generates no JS/TS bindings: that is intended here.
  process.stderr.write(chunk.replace(/^.*napi-derive.*\n/gm, ''));
  tail = (tail + chunk).slice(-4000);
});
const result = await new Promise((resolve) => {
  child.on('error', (error) => resolve({ error }));
  child.on('close', (status) => resolve({ status }));
});
if (result.error || result.status !== 0) {
  const detail = tail.trim().split('\n').slice(-15).join('\n');
  unavailable(`native build failed (${result.error?.message ?? `exit status ${result.status}`})`, detail);
}
const built = readdirSync(nativeDir).filter((f) => f.startsWith('sealkv_native.') && f.endsWith('.node'));
if (built.length === 0) unavailable('native build produced no .node file');
rmSync(marker, { force: true });
log(`built ${built.join(', ')} in ${Date.now() - t0} ms`);

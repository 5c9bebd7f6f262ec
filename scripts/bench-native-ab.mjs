#!/usr/bin/env node
// A/B for sealkv issue 8's crypto gate (src/bench/crypto.ts `acceptance`: native sealBatch/openBatch
// 1024 x 256 B, AAD 16 B, vs the in-native EVP reference loop with textbook ctrl calls, >= 75 %).
//
// In ONE node process:
//   new = <this repo>/dist/crypto/backends/native.js (loads <this repo>/native/sealkv_native.*.node)
//   old = <OLD>/dist/crypto/backends/native.js (loads <OLD>/native/sealkv_native.*.node), where OLD
//         is a built checkout of another commit, e.g. the code before the issue-8 hardening:
//           git worktree add /tmp/pre8 dc066e7^ && cd /tmp/pre8 && cp -al <repo>/node_modules . && node scripts/build.mjs
//   EVP = <this repo>/dist/bench/native-ref.js evpLoop (the current binary's loop, as the gate uses)
// Inputs are built as the gate's makeInputs(ref, 256, 1024): separately allocated randomBytes()
// Buffers, sealed by the `node` backend. Rounds are interleaved with a rotating order; the best
// (minimum) ns per item of each entry is kept, as interleavedBest does.
//
// Usage: taskset -c 1 node scripts/bench-native-ab.mjs --old=<OLD> [--rounds N] [--gate-extras] [--old-loop] [--yield]
//   --rounds N      interleaved rounds (default 150, as the gate's non-quick run)
//   --gate-extras   also run the gate's other entries each round (node:crypto per message on 64
//                   items, EVP loop with params calls), so caches see what they see in the gate
//   --old-loop      also time the OLD binary's evpLoop ctrl (checks both binaries' loops agree)
//   --yield         await setImmediate between rounds (lets V8 finalizers return pooled native
//                   output blocks; the gate does NOT do this, it runs its rounds synchronously)
//   --fixed-order   run entries in the gate's fixed order instead of rotating the start each round
//   --old-first     import (and so load/JIT) the old module before the new one

import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cpus, loadavg } from 'node:os';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const NEW_DIST = join(REPO, 'dist');
const oldArg = process.argv.find((a) => a.startsWith('--old='));
if (oldArg === undefined && !process.argv.includes('--help') && !process.argv.includes('-h')) {
  console.error('bench-native-ab: --old=<built checkout of the other commit> is required');
  process.exit(1);
}
const OLD_ROOT = resolve((oldArg ?? '--old=.').slice('--old='.length));
const OLD_DIST = join(OLD_ROOT, 'dist');

// --------------------------------------------------------------------------------------------
// Options
const argv = process.argv.slice(2);
let rounds = 150;
const flags = new Set();
for (let i = 0; i < argv.length; i++) {
  const a = argv[i];
  if (a === '--rounds') rounds = Number(argv[++i]);
  else if (a.startsWith('--old=')) continue;
  else if (a === '--gate-extras' || a === '--old-loop' || a === '--yield' || a === '--fixed-order' || a === '--old-first') flags.add(a);
  else if (a === '-h' || a === '--help') {
    process.stdout.write(readFileSync(new URL(import.meta.url), 'utf8').split('\n').slice(0, 23).join('\n') + '\n');
    process.exit(0);
  } else throw new Error(`unknown option ${a}`);
}
if (!Number.isInteger(rounds) || rounds < 1) throw new Error('--rounds needs a positive integer');

// --------------------------------------------------------------------------------------------
// Modules: each dist resolves its binary from its own ../../../native/ directory.
const [newMod, oldMod] = flags.has('--old-first')
  ? await import(`${OLD_DIST}/crypto/backends/native.js`).then(async (o) => [await import(`${NEW_DIST}/crypto/backends/native.js`), o])
  : await import(`${NEW_DIST}/crypto/backends/native.js`).then(async (n) => [n, await import(`${OLD_DIST}/crypto/backends/native.js`)]);
const nref = await import(`${NEW_DIST}/bench/native-ref.js`);
const { loadAead } = await import(`${NEW_DIST}/crypto/index.js`);

const [newB, oldB] = flags.has('--old-first')
  ? (() => { const o = oldMod.nativeBinding(); return [newMod.nativeBinding(), o]; })()
  : [newMod.nativeBinding(), oldMod.nativeBinding()];
if (newB === oldB) throw new Error('old and new resolved the same native binding object');
// Which sealkv_native binaries are mapped into this process (must be two distinct files).
const mapped = [...new Set(readFileSync('/proc/self/maps', 'utf8').split('\n').map((l) => l.trim().split(/\s+/)[5]).filter((p) => p?.includes('sealkv_native')))];
const newBin = mapped.find((p) => p.startsWith(join(REPO, 'native') + '/'));
const oldBin = mapped.find((p) => p.startsWith(join(OLD_ROOT, 'native') + '/'));
if (!newBin || !oldBin) throw new Error(`expected both binaries mapped, got: ${mapped.join(', ')}`);

const newA = newMod.createNativeAead();
const oldA = oldMod.createNativeAead();

// --------------------------------------------------------------------------------------------
// Inputs, as src/bench/crypto.ts makeInputs(ref, 256, 1024) with AAD_LEN 16.
const AAD_LEN = 16;
const SIZE = 256;
const COUNT = 1024;
const KEY = randomBytes(32);
const ref = await loadAead('node');
const plain = [];
for (let i = 0; i < COUNT; i++) plain.push({ nonce: randomBytes(12), aad: randomBytes(AAD_LEN), data: randomBytes(SIZE) });
const ct = ref.sealBatch(KEY, plain);
const sealed = plain.map((it, i) => ({ nonce: it.nonce, aad: it.aad, data: ct[i] }));

// --------------------------------------------------------------------------------------------
// Sanity: old and new seal byte-identically (and match the node backend); both open correctly.
{
  const sn = newA.sealBatch(KEY, plain);
  const so = oldA.sealBatch(KEY, plain);
  let diff = 0;
  for (let i = 0; i < COUNT; i++) {
    if (!Buffer.from(sn[i]).equals(Buffer.from(so[i])) || !Buffer.from(sn[i]).equals(Buffer.from(ct[i]))) diff++;
  }
  const on = newA.openBatch(KEY, sealed);
  const oo = oldA.openBatch(KEY, sealed);
  let bad = 0;
  for (let i = 0; i < COUNT; i++) {
    if (!(on[i] instanceof Uint8Array) || !(oo[i] instanceof Uint8Array)) bad++;
    else if (!Buffer.from(on[i]).equals(plain[i].data) || !Buffer.from(oo[i]).equals(plain[i].data)) bad++;
  }
  if (diff || bad) throw new Error(`sanity FAILED: ${diff} ciphertexts differ, ${bad} opens wrong`);
  process.stdout.write(`sanity: old and new sealBatch byte-identical to each other and to the node backend (${COUNT} items); both openBatch recover the plaintext\n`);
}

// --------------------------------------------------------------------------------------------
// Entries (each run returns nothing -> wall time, or a number -> its own ns total, as the gate).
const loop = (mode, tagVia) => () => nref.evpLoop({ size: SIZE, aadLen: AAD_LEN, iterations: COUNT, mode, tagVia, repeats: 1 }).nsPerOp * COUNT;
const oldLoopKey = new Uint8Array(randomBytes(32));
const oldLoop = (mode) => () => oldB.evpLoop(oldLoopKey, SIZE, AAD_LEN, COUNT, mode === 'seal' ? 0 : 1, 0);
const few = plain.slice(0, 64);
const fewSealed = sealed.slice(0, 64);
function nodeSealOne(it) {
  const c = createCipheriv('aes-256-gcm', KEY, it.nonce);
  c.setAAD(it.aad);
  return Buffer.concat([c.update(it.data), c.final(), c.getAuthTag()]);
}
function nodeOpenOne(it) {
  const tagAt = it.data.length - 16;
  const d = createDecipheriv('aes-256-gcm', KEY, it.nonce);
  d.setAAD(it.aad);
  d.setAuthTag(it.data.subarray(tagAt));
  return Buffer.concat([d.update(it.data.subarray(0, tagAt)), d.final()]);
}

const entries = {
  newSeal: { run: () => { newA.sealBatch(KEY, plain); }, items: COUNT },
  oldSeal: { run: () => { oldA.sealBatch(KEY, plain); }, items: COUNT },
  evpSealCtrl: { run: loop('seal', 'ctrl'), items: COUNT },
  newOpen: { run: () => { newA.openBatch(KEY, sealed); }, items: COUNT },
  oldOpen: { run: () => { oldA.openBatch(KEY, sealed); }, items: COUNT },
  evpOpenCtrl: { run: loop('open', 'ctrl'), items: COUNT },
};
if (flags.has('--old-loop')) {
  entries.oldEvpSealCtrl = { run: oldLoop('seal'), items: COUNT };
  entries.oldEvpOpenCtrl = { run: oldLoop('open'), items: COUNT };
}
if (flags.has('--gate-extras')) {
  entries.nodeSeal = { run: () => { for (const it of few) nodeSealOne(it); }, items: 64 };
  entries.nodeOpen = { run: () => { for (const it of fewSealed) nodeOpenOne(it); }, items: 64 };
  entries.evpSealParams = { run: loop('seal', 'params'), items: COUNT };
  entries.evpOpenParams = { run: loop('open', 'params'), items: COUNT };
}

// --------------------------------------------------------------------------------------------
// Interleaved rounds, rotating start; best ns/item per entry (like interleavedBest).
const keys = Object.keys(entries);
const best = Object.fromEntries(keys.map((k) => [k, Number.POSITIVE_INFINITY]));
const all = Object.fromEntries(keys.map((k) => [k, []]));
const pinned = (() => {
  try {
    const m = readFileSync('/proc/self/status', 'utf8').match(/^Cpus_allowed_list:\s*(.*)$/m);
    return m ? m[1] : '?';
  } catch {
    return '?';
  }
})();
process.stdout.write(
  [
    `NOTE: for a real measurement run on an idle machine pinned to one core:  taskset -c 1 node scripts/bench-native-ab.mjs --old=${OLD_ROOT} --rounds ${rounds}`,
    `this process: cpus allowed ${pinned} (of ${cpus().length}), loadavg ${loadavg().map((x) => x.toFixed(2)).join(' ')}, node ${process.version}`,
    `new binary: ${newBin}`,
    `old binary: ${oldBin}   (old code = dc066e7^)`,
    `new implementation: ${JSON.stringify(newB.implementationInfo())}`,
    `old binding: directCallsInUse ${oldB.directCallsInUse()}, paramsCallsInUse ${oldB.paramsCallsInUse()}; new: directCallsInUse ${newB.directCallsInUse()}, paramsCallsInUse ${newB.paramsCallsInUse()}`,
    `rounds ${rounds}, order ${flags.has('--fixed-order') ? 'fixed' : 'rotating'}, entries: ${keys.join(', ')}${flags.has('--yield') ? ', yielding between rounds' : ''}${flags.has('--old-first') ? ', old loaded first' : ''}`,
    '',
  ].join('\n'),
);
const t0 = process.hrtime.bigint();
for (let r = 0; r < rounds; r++) {
  const start = flags.has('--fixed-order') ? 0 : r % keys.length;
  for (let j = 0; j < keys.length; j++) {
    const k = keys[(start + j) % keys.length];
    const e = entries[k];
    const t = process.hrtime.bigint();
    const own = e.run();
    const ns = typeof own === 'number' ? own : Number(process.hrtime.bigint() - t);
    const per = ns / e.items;
    all[k].push(per);
    if (per < best[k]) best[k] = per;
  }
  if (flags.has('--yield')) await new Promise((res) => setImmediate(res));
}
const wallS = Number(process.hrtime.bigint() - t0) / 1e9;

// --------------------------------------------------------------------------------------------
// Report
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
};
const pct = (x) => `${(100 * x).toFixed(1)} %`;
const lines = [`${'entry'.padEnd(16)} ${'best ns/item'.padStart(12)} ${'median'.padStart(10)}`];
for (const k of keys) lines.push(`${k.padEnd(16)} ${best[k].toFixed(1).padStart(12)} ${median(all[k]).toFixed(1).padStart(10)}`);
lines.push('');
lines.push('gate ratio (EVP ctrl loop / backend, best rounds; required >= 75 %):');
lines.push(`  seal: new ${pct(best.evpSealCtrl / best.newSeal)}   old ${pct(best.evpSealCtrl / best.oldSeal)}`);
lines.push(`  open: new ${pct(best.evpOpenCtrl / best.newOpen)}   old ${pct(best.evpOpenCtrl / best.oldOpen)}`);
lines.push('old/new time (< 1 = old faster):');
lines.push(`  seal: ${(best.oldSeal / best.newSeal).toFixed(3)}   open: ${(best.oldOpen / best.newOpen).toFixed(3)}`);
lines.push(`  (per item: seal new-old ${(best.newSeal - best.oldSeal).toFixed(1)} ns, open new-old ${(best.newOpen - best.oldOpen).toFixed(1)} ns)`);
if (best.oldEvpSealCtrl !== undefined) {
  lines.push(`old binary's own EVP ctrl loop: seal ${best.oldEvpSealCtrl.toFixed(1)} ns, open ${best.oldEvpOpenCtrl.toFixed(1)} ns (vs current loop ${best.evpSealCtrl.toFixed(1)} / ${best.evpOpenCtrl.toFixed(1)})`);
}
if (best.nodeSeal !== undefined) {
  lines.push(`(gate extras) vs node:crypto per message: seal new ${(best.nodeSeal / best.newSeal).toFixed(1)}x old ${(best.nodeSeal / best.oldSeal).toFixed(1)}x; open new ${(best.nodeOpen / best.newOpen).toFixed(1)}x old ${(best.nodeOpen / best.oldOpen).toFixed(1)}x`);
  lines.push(`(gate extras) vs EVP params loop: seal new ${pct(best.evpSealParams / best.newSeal)} old ${pct(best.evpSealParams / best.oldSeal)}; open new ${pct(best.evpOpenParams / best.newOpen)} old ${pct(best.evpOpenParams / best.oldOpen)}`);
}
const ps = (b) => {
  const s = b.outputPoolStats();
  return `cached ${(s.cachedBytes / 2 ** 20).toFixed(1)} MiB, lent ${(s.lentBytes / 2 ** 20).toFixed(1)} MiB`;
};
lines.push(`native output pools at end (cap 64 MiB each; lent blocks return only when V8 finalizes them): new ${ps(newB)}; old ${ps(oldB)}`);
lines.push(`wall ${wallS.toFixed(1)} s, loadavg at end ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
process.stdout.write(`${lines.join('\n')}\n`);

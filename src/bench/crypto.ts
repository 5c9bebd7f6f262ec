// `npm run bench:crypto`: AES-256-GCM micro-benchmarks (issue 2 item 8, SPEC PF-1).
//
// Matrix: every backend that loads × sizes 64 B…64 KiB × batch 1/64/1024 × inline/pool ×
// seal/open, timed with tinybench. Reference points measured in the same run: node:crypto per
// message as a user would write it, the native module's EVP loop with one reused keyed context
// (the limit of the native design), and `openssl speed -evp aes-256-gcm` at 16 KiB. Also the
// main-thread busy time of pool batches (event-loop utilisation) and the inline/pool break-even
// behind the pool's inline threshold. Writes bench/results/crypto-<date>.{json,md,svg}.
//
// Options: --quick (tiny smoke matrix), --time <ms per cell> (default 300),
// --out <dir> (default bench/results), --backends native,wasm,js,node, --sizes 256,4096,
// --batches 1,1024 (partial runs write crypto-partial-<date>.* so they never replace a full run).

import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { Bench } from 'tinybench';
import type { Aead, BackendName, BatchItem } from '../crypto/aead.js';
import { BACKENDS, loadAead } from '../crypto/index.js';
import { CryptoPool } from '../pool/crypto-pool.js';
import { DEFAULT_INLINE_THRESHOLD_US, inlineCostUs } from '../pool/inline-policy.js';
import { type BarChart, machineInfo, type ReportCheck, type ReportTable, writeReport } from './report.js';

// ---------------------------------------------------------------------------------------------
// Options

interface Options {
  quick: boolean;
  timeMs: number;
  outDir: string;
  backends: BackendName[];
  sizes?: number[];
  batches?: number[];
}

function parseArgs(argv: string[]): Options {
  const o: Options = {
    quick: false,
    timeMs: 300,
    outDir: fileURLToPath(new URL('../../bench/results/', import.meta.url)),
    backends: [...BACKENDS],
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--quick') o.quick = true;
    else if (a === '--time') o.timeMs = Number(argv[++i]);
    else if (a === '--out') o.outDir = argv[++i]!;
    else if (a === '--backends') o.backends = argv[++i]!.split(',') as BackendName[];
    else if (a === '--sizes') o.sizes = argv[++i]!.split(',').map(Number);
    else if (a === '--batches') o.batches = argv[++i]!.split(',').map(Number);
    else throw new Error(`unknown option ${a}`);
  }
  if (o.quick && !argv.includes('--time')) o.timeMs = 40;
  return o;
}

const opts = parseArgs(process.argv.slice(2));
const SIZES = opts.sizes ?? (opts.quick ? [256, 1024] : [64, 256, 1024, 4096, 65536]);
const BATCHES = opts.batches ?? (opts.quick ? [1, 64] : [1, 64, 1024]);
const AAD_LEN = 16;
const KEY = randomBytes(32);
const KEY_ID = 1;
const t0 = performance.now();
const startedAt = new Date().toISOString();

function log(msg: string): void {
  process.stdout.write(`[${((performance.now() - t0) / 1000).toFixed(0).padStart(4)}s] ${msg}\n`);
}

// ---------------------------------------------------------------------------------------------
// Inputs

interface Inputs {
  plain: BatchItem[];
  sealed: BatchItem[];
}

function makeInputs(ref: Aead, size: number, batch: number): Inputs {
  const plain: BatchItem[] = [];
  for (let i = 0; i < batch; i++) plain.push({ nonce: randomBytes(12), aad: randomBytes(AAD_LEN), data: randomBytes(size) });
  const ct = ref.sealBatch(KEY, plain);
  return { plain, sealed: plain.map((it, i) => ({ nonce: it.nonce, aad: it.aad, data: ct[i]! })) };
}

// ---------------------------------------------------------------------------------------------
// Timing

interface Cell {
  backend: BackendName | 'node:crypto per message' | 'EVP reused context' | 'EVP reused context (params)' | 'openssl speed';
  op: 'seal' | 'open';
  mode: 'inline' | 'pool' | 'reference';
  size: number;
  batch: number;
  /** Items (messages) per second. */
  opsPerSec: number;
  mbPerSec: number;
  /** Median time of one call (one batch, or one message for per-message references), µs. */
  callUs: number;
  samples: number;
}

const cells: Cell[] = [];

/**
 * Times `fn` (one call = `itemsPerCall` messages) with tinybench; slow calls get a fixed small
 * number of iterations so the whole matrix stays within minutes.
 */
async function time(name: string, itemsPerCall: number, fn: () => unknown): Promise<{ callUs: number; opsPerSec: number; samples: number }> {
  const p0 = performance.now();
  await fn();
  const probeMs = performance.now() - p0;
  const slow = probeMs > 60;
  // Above a second per call the probe itself was the warm-up.
  const verySlow = probeMs > 1000;
  const bench = new Bench({
    name,
    time: slow ? 0 : opts.timeMs,
    iterations: slow ? (opts.quick || verySlow ? 2 : 3) : 5,
    warmup: !verySlow,
    warmupTime: slow ? 0 : Math.min(60, opts.timeMs / 4),
    warmupIterations: slow ? 1 : 3,
    throws: true,
  });
  bench.add(name, fn);
  await bench.run();
  const r = bench.tasks[0]!.result;
  if (r.state !== 'completed') throw new Error(`${name}: benchmark ${r.state}`);
  const callMs = r.latency.p50;
  return { callUs: callMs * 1000, opsPerSec: (itemsPerCall * 1000) / callMs, samples: r.latency.samples?.length ?? 0 };
}

function record(c: Omit<Cell, 'mbPerSec'>): Cell {
  const cell = { ...c, mbPerSec: (c.opsPerSec * c.size) / 1e6 };
  cells.push(cell);
  log(
    `${cell.backend.padEnd(24)} ${cell.op} ${cell.mode.padEnd(9)} ${fmtSize(cell.size).padStart(6)} × ${String(cell.batch).padStart(4)}  ` +
      `${fmtOps(cell.opsPerSec).padStart(8)} ops/s  ${cell.mbPerSec.toFixed(1).padStart(8)} MB/s`,
  );
  return cell;
}

function fmtSize(n: number): string {
  return n >= 1024 ? `${n / 1024} KiB` : `${n} B`;
}

function fmtOps(v: number): string {
  if (v >= 1e6) return `${(v / 1e6).toFixed(2)}M`;
  if (v >= 1e3) return `${(v / 1e3).toFixed(1)}k`;
  return v.toFixed(0);
}

// ---------------------------------------------------------------------------------------------
// Reference points

/** node:crypto as an application would write it: a new cipher per message. */
function nodeSealOne(it: BatchItem): Buffer {
  const c = createCipheriv('aes-256-gcm', KEY, it.nonce);
  c.setAAD(it.aad);
  return Buffer.concat([c.update(it.data), c.final(), c.getAuthTag()]);
}

function nodeOpenOne(it: BatchItem): Buffer {
  const tagAt = it.data.length - 16;
  const d = createDecipheriv('aes-256-gcm', KEY, it.nonce);
  d.setAAD(it.aad);
  d.setAuthTag(it.data.subarray(tagAt));
  return Buffer.concat([d.update(it.data.subarray(0, tagAt)), d.final()]);
}

interface EvpBinding {
  /** tagVia 0 = EVP_CIPHER_CTX_ctrl (the textbook loop), 1 = get/set_params (as the batch path). */
  evpLoop(key: Uint8Array, size: number, aadLen: number, iterations: number, mode: number, tagVia: number): number;
}

async function evpBinding(): Promise<EvpBinding | string> {
  try {
    const m = await import('../crypto/backends/native.js');
    return m.nativeBinding();
  } catch (e) {
    return (e as Error).message;
  }
}

/** Median of 3 runs of the in-native EVP loop, each ~120 ms. */
function evpOpsPerSec(b: EvpBinding, size: number, mode: 0 | 1, tagVia: 0 | 1): number {
  const probeIters = 2000;
  const probeNs = b.evpLoop(KEY, size, AAD_LEN, probeIters, mode, tagVia);
  const iters = Math.max(1000, Math.round(((opts.quick ? 30e6 : 120e6) / probeNs) * probeIters));
  const runs = [0, 1, 2].map(() => (iters * 1e9) / b.evpLoop(KEY, size, AAD_LEN, iters, mode, tagVia));
  runs.sort((a, c) => a - c);
  return runs[1]!;
}

/** `openssl speed -evp aes-256-gcm -bytes 16384`: bytes per second, or the reason it failed. */
function opensslSpeed16k(): { bytesPerSec: number; raw: string } | string {
  const r = spawnSync('openssl', ['speed', '-evp', 'aes-256-gcm', '-bytes', '16384', '-seconds', opts.quick ? '1' : '3'], {
    encoding: 'utf8',
  });
  if (r.error) return `openssl not runnable: ${r.error.message}`;
  const line = r.stdout.split('\n').find((l) => /^aes-256-gcm\s/i.test(l.trim()));
  const m = line ? /([\d.]+)k\s*$/.exec(line.trim()) : null;
  if (!m) return `could not parse openssl speed output: ${r.stdout.slice(-300)} ${r.stderr.slice(-300)}`;
  return { bytesPerSec: Number(m[1]) * 1000, raw: line!.trim() };
}

// ---------------------------------------------------------------------------------------------
// Main-thread busy time of pool batches

/**
 * CPU time of the main thread in ns, from Linux schedstat (Node 20 has no per-thread CPU clock);
 * undefined elsewhere. Unlike event-loop utilisation it does not count time the thread was
 * runnable but preempted, which on a loaded 2-core machine inflates "active" wall time.
 */
function mainThreadCpuNs(): number | undefined {
  try {
    return Number(readFileSync(`/proc/self/task/${process.pid}/schedstat`, 'utf8').split(' ')[0]);
  } catch {
    return undefined;
  }
}

interface Busy {
  /** Main-thread CPU µs per batch (schedstat), or the ELU figure where unavailable. */
  busyUs: number;
  /** Event-loop active µs per batch (ELU). */
  eluUs: number;
  wallUs: number;
}

/** Main-thread busy µs per batch over `n` sequential batches. */
async function busyPerBatch(run: () => Promise<unknown>, n: number): Promise<Busy> {
  for (let i = 0; i < Math.min(20, n); i++) await run();
  const e0 = performance.eventLoopUtilization();
  const c0 = mainThreadCpuNs();
  const w0 = performance.now();
  for (let i = 0; i < n; i++) await run();
  const c1 = mainThreadCpuNs();
  const e = performance.eventLoopUtilization(e0);
  const eluUs = (e.active * 1000) / n;
  return {
    busyUs: c0 !== undefined && c1 !== undefined ? (c1 - c0) / 1000 / n : eluUs,
    eluUs,
    wallUs: ((performance.now() - w0) * 1000) / n,
  };
}

// ---------------------------------------------------------------------------------------------
// Run

async function main(): Promise<void> {
  log(`crypto benchmark: sizes ${SIZES.map(fmtSize).join(', ')}; batches ${BATCHES.join(', ')}; ${opts.timeMs} ms per cell${opts.quick ? ' (quick)' : ''}`);
  const aeads = new Map<BackendName, Aead>();
  const skipped: Record<string, string> = {};
  for (const b of opts.backends) {
    try {
      aeads.set(b, await loadAead(b));
      log(`backend ${b}: loaded (hardwareAes ${aeads.get(b)!.hardwareAes})`);
    } catch (e) {
      skipped[b] = (e as Error).message;
      log(`backend ${b}: SKIPPED — ${skipped[b]}`);
    }
  }
  const ref = aeads.get('node') ?? (await loadAead('node'));
  const pools = new Map<BackendName, CryptoPool>();
  for (const [b] of aeads) {
    const p = await CryptoPool.create({ backend: b, workers: 1, maxInflightBatches: 2, inlineThreshold: 0 });
    p.installKey(KEY_ID, KEY);
    pools.set(b, p);
  }

  // 1. Reference: node:crypto per message.
  log('— reference: node:crypto createCipheriv per message');
  for (const size of SIZES) {
    const inp = makeInputs(ref, size, 64);
    let i = 0;
    const s = await time('node seal 1', 1, () => nodeSealOne(inp.plain[i++ & 63]!));
    record({ backend: 'node:crypto per message', op: 'seal', mode: 'reference', size, batch: 1, ...s });
    const o = await time('node open 1', 1, () => nodeOpenOne(inp.sealed[i++ & 63]!));
    record({ backend: 'node:crypto per message', op: 'open', mode: 'reference', size, batch: 1, ...o });
  }

  // 2. Reference: the native EVP loop with a reused context, and openssl speed.
  const evp = await evpBinding();
  if (typeof evp === 'string') log(`EVP reference loop: SKIPPED — ${evp}`);
  else {
    log('— reference: native EVP loop, one reused keyed context');
    for (const size of SIZES) {
      for (const [op, mode] of [
        ['seal', 0],
        ['open', 1],
      ] as const) {
        const ops = evpOpsPerSec(evp, size, mode, 0);
        record({ backend: 'EVP reused context', op, mode: 'reference', size, batch: 1, opsPerSec: ops, callUs: 1e6 / ops, samples: 3 });
        const opsP = evpOpsPerSec(evp, size, mode, 1);
        record({ backend: 'EVP reused context (params)', op, mode: 'reference', size, batch: 1, opsPerSec: opsP, callUs: 1e6 / opsP, samples: 3 });
      }
    }
  }
  log('— reference: openssl speed -evp aes-256-gcm -bytes 16384');
  const ossl = opensslSpeed16k();
  if (typeof ossl === 'string') log(`openssl speed: SKIPPED — ${ossl}`);
  else {
    log(`openssl speed: ${(ossl.bytesPerSec / 1e6).toFixed(0)} MB/s (${ossl.raw})`);
    record({ backend: 'openssl speed', op: 'seal', mode: 'reference', size: 16384, batch: 1, opsPerSec: ossl.bytesPerSec / 16384, callUs: 16384e6 / ossl.bytesPerSec, samples: 1 });
  }

  // 3. The matrix.
  const total = aeads.size * SIZES.length * BATCHES.length * 4;
  let n = 0;
  for (const size of SIZES) {
    for (const batch of BATCHES) {
      const inp = makeInputs(ref, size, batch);
      for (const [b, aead] of aeads) {
        const pool = pools.get(b)!;
        for (const op of ['seal', 'open'] as const) {
          const items = op === 'seal' ? inp.plain : inp.sealed;
          n++;
          log(`[${n}/${total}] ${b} ${op} inline ${fmtSize(size)} × ${batch}`);
          const inl = await time(`${b} ${op} inline`, batch, op === 'seal' ? () => aead.sealBatch(KEY, items) : () => aead.openBatch(KEY, items));
          record({ backend: b, op, mode: 'inline', size, batch, ...inl });
          n++;
          log(`[${n}/${total}] ${b} ${op} pool ${fmtSize(size)} × ${batch}`);
          // Two batches in flight keep the one worker busy while the main thread handles results.
          const call = op === 'seal' ? () => pool.seal(KEY_ID, items) : () => pool.open(KEY_ID, items);
          const pl = await time(`${b} ${op} pool`, 2 * batch, () => Promise.all([call(), call()]));
          record({ backend: b, op, mode: 'pool', size, batch, ...pl, callUs: pl.callUs / 2 });
        }
      }
    }
  }

  // 4. Main-thread busy time per pool batch, 1024 × 1 KiB, one worker.
  log('— main-thread busy time per pool batch (1024 × 1 KiB seal, 1 worker)');
  const busyRows: (string | number)[][] = [];
  const busy: Record<string, Busy> = {};
  {
    const inp = makeInputs(ref, 1024, 1024);
    // Measured the same way as the pool batches (main-thread CPU), so the ratio compares like
    // with like even when the machine is loaded.
    const nodeBusy = await busyPerBatch(async () => {
      for (const it of inp.plain) nodeSealOne(it);
    }, opts.quick ? 10 : 40);
    const nodeInline = { callUs: nodeBusy.busyUs };
    log(`node:crypto per message, 1024 × 1 KiB inline: ${nodeBusy.busyUs.toFixed(0)} µs CPU per batch (wall ${nodeBusy.wallUs.toFixed(0)} µs)`);
    for (const [b, pool] of pools) {
      const r = await busyPerBatch(() => pool.seal(KEY_ID, inp.plain), opts.quick ? 20 : b === 'js' ? 20 : 200);
      busy[b] = r;
      const ratio = r.busyUs / nodeInline.callUs;
      busyRows.push([b, r.busyUs.toFixed(0), r.eluUs.toFixed(0), r.wallUs.toFixed(0), nodeInline.callUs.toFixed(0), `${(ratio * 100).toFixed(1)} %`]);
      log(
        `pool ${b}: main thread CPU ${r.busyUs.toFixed(0)} µs per batch (event loop active ${r.eluUs.toFixed(0)} µs, wall ${r.wallUs.toFixed(0)} µs) = ${(ratio * 100).toFixed(1)} % of inline node:crypto`,
      );
    }
    busy['node:crypto inline'] = nodeBusy;
  }

  // 5. Inline threshold: main-thread cost of a pool round trip vs running the batch inline.
  log('— inline threshold: main-thread µs per batch, pool vs inline (256 B items)');
  const thrRows: (string | number)[][] = [];
  const threshold: { backend: BackendName; items: number; poolBusyUs: number; inlineBusyUs: number; modelUs: number }[] = [];
  for (const [b] of aeads) {
    const inlinePool = await CryptoPool.create({ backend: b, workers: 1, inlineThreshold: Number.POSITIVE_INFINITY });
    inlinePool.installKey(KEY_ID, KEY);
    for (const count of opts.quick ? [1, 16] : [1, 4, 16, 64, 256]) {
      const inp = makeInputs(ref, 256, count);
      const reps = opts.quick ? 30 : b === 'js' ? 60 : 300;
      const p = await busyPerBatch(() => pools.get(b)!.seal(KEY_ID, inp.plain), reps);
      const i = await busyPerBatch(() => inlinePool.seal(KEY_ID, inp.plain), reps);
      const model = inlineCostUs(b, count, count * 256);
      threshold.push({ backend: b, items: count, poolBusyUs: p.busyUs, inlineBusyUs: i.busyUs, modelUs: model });
      thrRows.push([b, count, p.busyUs.toFixed(1), i.busyUs.toFixed(1), model.toFixed(1), i.busyUs < p.busyUs ? 'inline' : 'pool', model < DEFAULT_INLINE_THRESHOLD_US ? 'inline' : 'pool']);
      log(`${b} 256 B × ${count}: pool ${p.busyUs.toFixed(1)} µs, inline ${i.busyUs.toFixed(1)} µs (model ${model.toFixed(1)} µs)`);
    }
    await inlinePool.close();
  }
  for (const p of pools.values()) await p.close();

  // 6. Checks.
  const find = (backend: Cell['backend'], op: Cell['op'], mode: Cell['mode'], size: number, batch: number) =>
    cells.find((c) => c.backend === backend && c.op === op && c.mode === mode && c.size === size && c.batch === batch);
  const checks: ReportCheck[] = [];
  const ratioCheck = (name: string, a: Cell | undefined, bCell: Cell | undefined, min: number, why: string): void => {
    if (!a || !bCell) {
      checks.push({ name, measured: 'n/a', required: `≥ ${fmtRatio(min)}`, pass: null, detail: why });
      return;
    }
    const r = a.opsPerSec / bCell.opsPerSec;
    checks.push({
      name,
      measured: `${fmtRatio(r)} (${fmtOps(a.opsPerSec)} vs ${fmtOps(bCell.opsPerSec)} ops/s)`,
      required: `≥ ${fmtRatio(min)}`,
      pass: r >= min,
    });
  };
  const big = BATCHES.includes(1024) ? 1024 : BATCHES[BATCHES.length - 1]!;
  const nativeWhy = skipped.native ? `native skipped: ${skipped.native}` : 'not measured in this run';
  for (const op of ['seal', 'open'] as const) {
    ratioCheck(`native ${op}Batch ${big} × 256 B vs node:crypto per message`, find('native', op, 'inline', 256, big), find('node:crypto per message', op, 'reference', 256, 1), 12, nativeWhy);
    ratioCheck(`native ${op}Batch ${big} × 256 B vs EVP reused-context loop`, find('native', op, 'inline', 256, big), find('EVP reused context', op, 'reference', 256, 1), 0.75, nativeWhy);
    ratioCheck(`(info) native ${op}Batch ${big} × 256 B vs EVP loop with params tag access`, find('native', op, 'inline', 256, big), find('EVP reused context (params)', op, 'reference', 256, 1), 0.75, nativeWhy);
  }
  {
    const n64 = cells.filter((c) => c.backend === 'native' && c.op === 'seal' && c.mode === 'inline' && c.size === 65536);
    const bestN64 = n64.sort((a, c) => c.mbPerSec - a.mbPerSec)[0];
    const osslCell = cells.find((c) => c.backend === 'openssl speed');
    if (bestN64 && osslCell) {
      const r = bestN64.mbPerSec / osslCell.mbPerSec;
      checks.push({
        name: 'native seal 64 KiB vs openssl speed -evp aes-256-gcm 16 KiB',
        measured: `${fmtRatio(r)} (${bestN64.mbPerSec.toFixed(0)} MB/s at batch ${bestN64.batch} vs ${osslCell.mbPerSec.toFixed(0)} MB/s)`,
        required: '≥ 80 %',
        pass: r >= 0.8,
      });
    } else checks.push({ name: 'native seal 64 KiB vs openssl speed 16 KiB', measured: 'n/a', required: '≥ 80 %', pass: null, detail: SIZES.includes(65536) ? nativeWhy : 'quick run' });
  }
  for (const size of [1024, 4096]) {
    for (const op of ['seal', 'open'] as const) {
      ratioCheck(`wasm ${op} ${fmtSize(size)} × ${big} vs @noble/ciphers (js)`, find('wasm', op, 'inline', size, big), find('js', op, 'inline', size, big), 3, skipped.wasm ?? skipped.js ?? 'not measured in this run');
    }
  }
  {
    const nb = busy['node:crypto inline'];
    for (const [b, r] of Object.entries(busy)) {
      if (b === 'node:crypto inline' || !nb) continue;
      const ratio = r.busyUs / nb.busyUs;
      checks.push({
        name: `pool (${b}, 1 worker) main-thread busy per 1024 × 1 KiB batch vs inline node:crypto`,
        measured: `${(ratio * 100).toFixed(1)} % (${r.busyUs.toFixed(0)} µs vs ${nb.busyUs.toFixed(0)} µs)`,
        required: '< 25 %',
        pass: ratio < 0.25,
      });
    }
  }
  {
    const n4 = find('native', 'seal', 'inline', 4096, big);
    const hw = aeads.get('native')?.hardwareAes;
    checks.push(
      n4
        ? {
            name: `PF-1: native seal 4 KiB × ${big} ≥ 1 GB/s per core`,
            measured: `${(n4.mbPerSec / 1000).toFixed(2)} GB/s (hardwareAes ${hw})`,
            required: '≥ 1 GB/s',
            pass: hw === false ? null : n4.mbPerSec >= 1000,
            detail: hw === false ? 'host without hardware AES: not applicable' : undefined,
          }
        : { name: 'PF-1: native seal 4 KiB ≥ 1 GB/s per core', measured: 'n/a', required: '≥ 1 GB/s', pass: null, detail: SIZES.includes(4096) ? nativeWhy : 'quick run' },
    );
  }

  // 7. Report.
  const tables: ReportTable[] = [];
  for (const op of ['seal', 'open'] as const) {
    const rows: (string | number)[][] = [];
    for (const c of cells.filter((x) => x.op === op)) {
      rows.push([c.backend, c.mode, fmtSize(c.size), c.batch, fmtOps(c.opsPerSec), c.mbPerSec.toFixed(1), c.callUs.toFixed(c.callUs < 10 ? 2 : 0)]);
    }
    tables.push({
      title: `${op}: throughput per backend, size, batch and path`,
      columns: ['backend', 'path', 'size', 'batch', 'ops/s', 'MB/s', 'µs per call'],
      rows,
      note: 'ops/s counts messages; a pool call is one batch (two batches kept in flight, one worker). References run per message (EVP: median of 3 native loops).',
    });
  }
  tables.push({
    title: 'Main-thread busy time per pool batch (1024 × 1 KiB seal, 1 worker)',
    columns: ['pool backend', 'main-thread CPU µs/batch', 'event-loop active µs/batch', 'wall µs/batch', 'inline node:crypto µs/batch', 'CPU / inline node:crypto'],
    rows: busyRows,
    note:
      'Main-thread CPU comes from /proc/self/task/<pid>/schedstat over sequential batches (packing, posting, receiving, result views); event-loop active time (ELU) also counts time the thread was runnable but preempted. The inline reference (createCipheriv per message, 1024 × 1 KiB) is measured the same way.',
  });
  tables.push({
    title: 'Inline threshold: main-thread µs per batch of 256 B items',
    columns: ['backend', 'items', 'pool busy µs', 'inline busy µs', 'model µs', 'cheaper (measured)', 'pool decides'],
    rows: thrRows,
    note: `The pool runs a batch inline when the model (src/pool/inline-policy.ts) estimates less than ${DEFAULT_INLINE_THRESHOLD_US} µs of main-thread work.`,
  });
  const chart: BarChart = {
    title: 'AES-256-GCM seal throughput, batch 1024 inline (references per message)',
    unit: 'MB/s',
    log: true,
    series: [...aeads.keys(), 'node:crypto per message', 'EVP reused context'],
    groups: SIZES.map((size) => {
      const values: Record<string, number | undefined> = {};
      for (const b of aeads.keys()) values[b] = find(b, 'seal', 'inline', size, big)?.mbPerSec;
      values['node:crypto per message'] = find('node:crypto per message', 'seal', 'reference', size, 1)?.mbPerSec;
      values['EVP reused context'] = find('EVP reused context', 'seal', 'reference', size, 1)?.mbPerSec;
      return { label: fmtSize(size), values };
    }),
  };
  const durationS = (performance.now() - t0) / 1000;
  const notes = [
    ...Object.entries(skipped).map(([b, why]) => `backend ${b} skipped: ${why}`),
    'Each matrix cell is a fresh tinybench run (median latency of the samples); slow cells (> 60 ms per call) run 3 iterations, cells above 1 s per call 2 iterations after the probe call.',
    `Machine load during the run is not controlled; load average at the end: ${loadAvg()}.`,
  ];
  const written = writeReport(opts.outDir, {
    name: opts.quick ? 'crypto-quick' : opts.sizes || opts.batches || opts.backends.length < BACKENDS.length ? 'crypto-partial' : 'crypto',
    title: 'sealkv crypto micro-benchmarks',
    startedAt,
    durationS,
    environment: { ...machineInfo(), quick: opts.quick, msPerCell: opts.timeMs, aadBytes: AAD_LEN },
    tables,
    checks,
    notes,
    data: { cells, busy, threshold, skipped, openssl: typeof ossl === 'string' ? { skipped: ossl } : ossl },
    chart,
  });

  log('— acceptance');
  for (const c of checks) log(`${c.pass === null ? 'n/a ' : c.pass ? 'PASS' : 'FAIL'}  ${c.name}: ${c.measured} (required ${c.required})${c.detail ? ` — ${c.detail}` : ''}`);
  log(`wrote ${written.join(', ')}`);
  log(`done in ${durationS.toFixed(0)} s`);
}

function fmtRatio(r: number): string {
  return r >= 2 ? `${r.toFixed(1)}×` : `${(r * 100).toFixed(0)} %`;
}

function loadAvg(): string {
  try {
    return spawnSync('cat', ['/proc/loadavg'], { encoding: 'utf8' }).stdout.trim();
  } catch {
    return 'unknown';
  }
}

main().catch((e) => {
  process.stderr.write(`bench:crypto failed: ${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});

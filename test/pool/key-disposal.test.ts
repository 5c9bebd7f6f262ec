// Issue 8 item 4: a removed key leaves no per-key state behind — the wasm key slot is wiped, the
// pool disposes the main thread's backend state at removal, and every worker wipes its copy as
// soon as the key table changes (not at its next task). Workers run compiled JS: run
// `npx tsc -p tsconfig.json` first.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BroadcastChannel, Worker } from 'node:worker_threads';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadAead } from '../../src/crypto/index.js';
import type { WasmAead } from '../../src/crypto/backends/wasm.js';
import { createKeyTableBuffer, KeyTableReader, KeyTableWriter } from '../../src/pool/key-table.js';
import { CryptoPool } from '../../src/pool/crypto-pool.js';

const KEY = new Uint8Array(32).fill(0x5c);
const NONCE = new Uint8Array(12).fill(1);

describe('issue 8 item 4: key removal disposes per-key backend state', () => {
  it('wasm disposeKey wipes the key slot at once', async () => {
    const aead = (await loadAead('wasm')) as WasmAead;
    const before = aead.liveKeySlots;
    aead.seal(KEY, NONCE, new Uint8Array(0), new Uint8Array(10));
    expect(aead.liveKeySlots).toBe(before + 1);
    aead.disposeKey(Uint8Array.from(KEY)); // equal bytes in another array find the slot too
    expect(aead.liveKeySlots).toBe(before);
    // Still usable afterwards: the schedule is rebuilt.
    expect(aead.seal(KEY, NONCE, new Uint8Array(0), new Uint8Array(10)).length).toBe(26);
  });

  it('KeyTableWriter.remove hands the DEK to the disposer before wiping it', () => {
    const seen: number[][] = [];
    const w = new KeyTableWriter(createKeyTableBuffer(4), (dek) => seen.push([...dek]));
    w.install(3, KEY);
    const held = w.get(3)!;
    w.remove(3);
    expect(seen).toEqual([[...KEY]]);
    expect(held.every((b) => b === 0)).toBe(true);
  });

  it('a watching KeyTableReader wipes a removed DEK without waiting for a task', async () => {
    const buf = createKeyTableBuffer(4);
    const w = new KeyTableWriter(buf);
    const disposed: number[] = [];
    const r = new KeyTableReader(buf, (dek) => disposed.push(dek[0]!));
    w.install(7, KEY);
    const stop = r.watch();
    await new Promise((res) => setTimeout(res, 20));
    const copy = r.get(7)!;
    expect(copy[0]).toBe(0x5c);
    w.remove(7);
    await new Promise((res) => setTimeout(res, 50));
    expect(disposed).toEqual([0x5c]);
    expect(copy.every((b) => b === 0)).toBe(true);
    stop();
  });
});

describe('issue 8 item 4: the pool disposes removed keys on the main thread and in idle workers', () => {
  let pool: CryptoPool;
  beforeAll(async () => {
    pool = await CryptoPool.create({ backend: 'wasm', workers: 1, inlineThreshold: Number.POSITIVE_INFINITY });
  });
  afterAll(async () => {
    await pool.close();
  });

  it('removeKey wipes the main thread backend slot of that key at once', async () => {
    const aead = (await loadAead('wasm')) as WasmAead;
    pool.installKey(9, KEY);
    await pool.seal(9, [{ nonce: NONCE, aad: new Uint8Array(0), data: new Uint8Array(5) }]);
    const live = aead.liveKeySlots;
    pool.removeKey(9);
    expect(aead.liveKeySlots).toBe(live - 1);
  });

  it('an idle worker reloads the key table as soon as it changes', async () => {
    // The pool's workers run with async atomics, so a worker watching the table sees a removal
    // while idle; check the same mechanism in a plain worker over a shared table.
    const buf = createKeyTableBuffer(4);
    const w = new KeyTableWriter(buf);
    w.install(5, KEY);
    const url = new URL('../../dist/pool/key-table.js', import.meta.url).href;
    const worker = new Worker(
      `const { workerData, parentPort } = require('node:worker_threads');
       import(workerData.url).then(({ KeyTableReader }) => {
         const r = new KeyTableReader(workerData.buf, (dek) => parentPort.postMessage({ removed: dek[0] }));
         r.watch();
         // Like a Piscina worker, keep the thread's event loop alive (a pending waitAsync does not).
         parentPort.on('message', () => {});
         parentPort.postMessage({ ready: r.get(5)?.[0] });
       });`,
      { eval: true, workerData: { url, buf } },
    );
    try {
      // A worker error (e.g. an old build without watch()) fails the test at once instead of timing out.
      const failed = new Promise<never>((_, rej) => worker.once('error', rej));
      const next = () => Promise.race([new Promise<unknown>((res) => worker.once('message', res)), failed]);
      expect(await next()).toEqual({ ready: 0x5c });
      const removed = next();
      w.remove(5);
      expect(await Promise.race([removed, new Promise((res) => setTimeout(() => res('no removal within 15 s'), 15_000))])).toEqual({ removed: 0x5c });
    } finally {
      await worker.terminate();
    }
  });

  it('an idle Piscina worker of the pool disposes a removed DEK without any task (async atomics)', async () => {
    // A worker module that runs the real pool worker and also reports, over a BroadcastChannel,
    // every DEK a watching reader of the same shared table sees leave.
    const dir = mkdtempSync(join(tmpdir(), 'sealkv-h8-'));
    const file = join(dir, 'worker.mjs');
    const dist = new URL('../../dist/pool/', import.meta.url).href;
    const piscina = new URL('../../node_modules/piscina/dist/esm-wrapper.mjs', import.meta.url).href;
    writeFileSync(
      file,
      `import { workerData } from '${piscina}';
       import { BroadcastChannel } from 'node:worker_threads';
       import { KeyTableReader } from '${dist}key-table.js';
       export { default } from '${dist}worker.js';
       const bc = new BroadcastChannel('sealkv-h8-key-disposal');
       const r = new KeyTableReader(workerData.keyTable, (dek) => bc.postMessage({ removed: dek[0] }));
       r.watch();
       // Tell the test once this observer has loaded key 4 (its own wake-up may lag the install).
       const poll = setInterval(() => { r.refresh(); if (r.get(4)) { clearInterval(poll); bc.postMessage({ loaded: 4 }); } }, 5);`,
    );
    const p = await CryptoPool.create({ backend: 'node', workers: 1, inlineThreshold: 0, workerFile: file });
    const bc = new BroadcastChannel('sealkv-h8-key-disposal');
    const inbox: unknown[] = [];
    let wake: (() => void) | undefined;
    bc.onmessage = (e) => {
      inbox.push((e as { data: unknown }).data);
      wake?.();
    };
    const nextMessage = async (): Promise<unknown> => {
      while (inbox.length === 0) await new Promise<void>((res) => (wake = res));
      return inbox.shift();
    };
    try {
      p.installKey(4, KEY);
      await p.seal(4, [{ nonce: NONCE, aad: new Uint8Array(0), data: new Uint8Array(3) }]);
      expect(await nextMessage()).toEqual({ loaded: 4 });
      // The worker is idle now; no further task is submitted.
      const removed = nextMessage();
      p.removeKey(4);
      expect(await Promise.race([removed, new Promise((res) => setTimeout(() => res('no removal within 15 s'), 15_000))])).toEqual({ removed: 0x5c });
    } finally {
      bc.close();
      await p.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

// The crypto worker pool: batched seal/open/reseal through Piscina workers (DESIGN.md §2).
// Needs compiled JS for the workers: run `npx tsc -p tsconfig.json` first.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MessagePort, Worker } from 'node:worker_threads';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { BackendName, BatchItem } from '../../src/crypto/aead.js';
import { wrapRaft } from '../../src/crypto/envelope/raft.js';
import { openStorageEnvelope } from '../../src/crypto/envelope/storage.js';
import { encodeValueHeader, STATE_ENCRYPTED } from '../../src/crypto/envelope/value-header.js';
import { loadAead } from '../../src/crypto/index.js';
import { Keystore } from '../../src/crypto/keystore.js';
import { CryptoError, EnvelopeError, IntegrityError } from '../../src/errors.js';
import { CryptoPool, type Resealed } from '../../src/pool/crypto-pool.js';
import { H_WORKER_ID } from '../../src/pool/task-format.js';
import { testNonceFactory } from '../crypto/helpers/nonce-factory.js';

const K1 = 11;
const RAFT = 21;
const STORE = 31;

function items(n: number, maxLen: number, seed = 0): BatchItem[] {
  return Array.from({ length: n }, (_, i) => ({
    nonce: randomBytes(12),
    aad: randomBytes((i + seed) % 20),
    data: randomBytes(Math.floor(Math.random() * maxLen)),
  }));
}

function header(expireAt = 0n): Uint8Array {
  return encodeValueHeader({ tombstone: false, state: STATE_ENCRYPTED, expireAt });
}

describe('CryptoPool (node backend, 2 workers)', () => {
  let pool: CryptoPool;
  const ks = new Keystore();
  const k1 = randomBytes(32);

  beforeAll(async () => {
    pool = await CryptoPool.create({ backend: 'node', workers: 2, maxInflightBatches: 4, inlineThreshold: 0 });
    ks.set(K1, k1);
    ks.set(RAFT, randomBytes(32));
    ks.set(STORE, randomBytes(32));
    pool.followKeystore(ks);
  });
  afterAll(async () => {
    await pool.close();
  });

  it('seals and opens a batch through a worker, byte-identical to the backend inline', async () => {
    const aead = await loadAead('node');
    const batch = items(50, 300);
    // The task buffer is handed to Piscina in the transfer list (moved, not copied).
    const piscina = (pool as unknown as { piscina: { run: (t: unknown, o: { transferList: unknown[] }) => Promise<unknown> } }).piscina;
    const realRun = piscina.run.bind(piscina);
    const posted: ArrayBuffer[] = [];
    let inTransferList = false;
    const spy = vi.spyOn(piscina, 'run').mockImplementation((t, o) => {
      posted.push(t as ArrayBuffer);
      inTransferList = o.transferList.length === 1 && o.transferList[0] === t;
      return realRun(t, o);
    });
    const sealed = await pool.seal(K1, batch);
    spy.mockRestore();
    expect(inTransferList).toBe(true);
    expect(posted).toHaveLength(1);
    expect(posted[0]!.byteLength).toBe(0); // detached: it moved to the worker
    expect(sealed).toHaveLength(50);
    // Results are views into one output buffer per batch.
    expect(new Set(sealed.map((s) => s.buffer)).size).toBe(1);
    sealed.forEach((s, i) => {
      const it = batch[i]!;
      expect(Buffer.from(s)).toEqual(Buffer.from(aead.seal(k1, it.nonce, it.aad, it.data)));
    });
    const opened = await pool.open(K1, batch.map((it, i) => ({ ...it, data: sealed[i]! })));
    opened.forEach((o, i) => {
      expect(o).toBeInstanceOf(Uint8Array);
      expect(Buffer.from(o as Uint8Array)).toEqual(Buffer.from(batch[i]!.data));
    });
    expect(pool.metrics.poolBatches).toBeGreaterThanOrEqual(2);
    expect(pool.metrics.cryptoSeconds.node).toBeGreaterThan(0);
  });

  it('keeps item order for random batches submitted concurrently', async () => {
    const aead = await loadAead('node');
    const batches = Array.from({ length: 12 }, (_, b) => items(1 + ((b * 37) % 90), 2000, b));
    const results = await Promise.all(batches.map((b) => pool.seal(K1, b)));
    results.forEach((res, b) => {
      res.forEach((s, i) => {
        const it = batches[b]![i]!;
        expect(Buffer.from(s)).toEqual(Buffer.from(aead.seal(k1, it.nonce, it.aad, it.data)));
      });
    });
  });

  it('a tampered item fails with INTEGRITY at its position and the others open', async () => {
    const batch = items(20, 100);
    const sealed = await pool.seal(K1, batch);
    const tampered = sealed.map((s) => Uint8Array.from(s));
    tampered[7]![tampered[7]!.length - 1]! ^= 1; // tag byte
    tampered[13] = tampered[13]!.subarray(0, 5); // shorter than a tag
    const opened = await pool.open(K1, batch.map((it, i) => ({ ...it, data: tampered[i]! })));
    opened.forEach((o, i) => {
      if (i === 7 || i === 13) {
        expect(o).toBeInstanceOf(IntegrityError);
        expect((o as IntegrityError).code).toBe('INTEGRITY');
        expect((o as IntegrityError).message).toContain(`item ${i}`);
      } else {
        expect(Buffer.from(o as Uint8Array)).toEqual(Buffer.from(batch[i]!.data));
      }
    });
  });

  it('reseal opens raft envelopes and seals storage envelopes that open with the SE-2 AAD', async () => {
    const aead = await loadAead('node');
    const raftNonces = testNonceFactory(0x1234, 1);
    const storeNonces = testNonceFactory(0x1234, 2);
    const payloads = Array.from({ length: 30 }, (_, i) => randomBytes(i * 7));
    const envs = payloads.map((p) => wrapRaft(aead, ks, RAFT, raftNonces.next(), p));
    const keys = payloads.map((_, i) => new TextEncoder().encode(`key-${i}`));
    const hdrs = payloads.map((_, i) => header(BigInt(i) * 1000n));
    const res = await pool.reseal(
      STORE,
      envs.map((envelope, i) => ({ envelope, storageKey: keys[i]!, valueHeader: hdrs[i]!, nonce: storeNonces.next() })),
    );
    res.forEach((r, i) => {
      expect(r).not.toBeInstanceOf(Error);
      const { payload, storageEnvelope } = r as Resealed;
      expect(Buffer.from(payload)).toEqual(payloads[i]);
      expect(storageEnvelope.length).toBe(payloads[i]!.length + 34);
      expect([...storageEnvelope.subarray(0, 6)]).toEqual([1, 0, 0, 0, 0, STORE]);
      const back = openStorageEnvelope(aead, ks, hdrs[i]!, storageEnvelope, keys[i]!);
      expect(Buffer.from(back)).toEqual(payloads[i]);
      // SE-3: the same envelope under another key does not open.
      expect(() => openStorageEnvelope(aead, ks, hdrs[i]!, storageEnvelope, new Uint8Array([1]))).toThrow();
    });
  });

  it('reseal draws storage nonces from the shared factory when items carry none (KM-9)', async () => {
    const aead = await loadAead('node');
    const storeNonces = testNonceFactory(0x0042, 9);
    const p2 = await CryptoPool.create({ backend: 'node', workers: 1, inlineThreshold: 0, storageNonces: storeNonces });
    try {
      p2.followKeystore(ks);
      const envs = [1, 2, 3].map((n) => wrapRaft(aead, ks, RAFT, testNonceFactory(1, 1, { seed: BigInt(n - 1) }).next(), randomBytes(n)));
      const res = (await p2.reseal(
        STORE,
        envs.map((envelope) => ({ envelope, storageKey: new Uint8Array([7]), valueHeader: header() })),
      )) as Resealed[];
      expect(res.map((r) => Buffer.from(r.storageEnvelope.subarray(6, 18)).toString('hex'))).toEqual([
        '004200090000000000000001',
        '004200090000000000000002',
        '004200090000000000000003',
      ]);
      expect(storeNonces.writeCount).toBe(3n);
    } finally {
      await p2.close();
    }
  });

  it('reseal reports each bad item with its RE-6 code at its position; the rest succeed', async () => {
    const aead = await loadAead('node');
    const nf = testNonceFactory(1, 1);
    const good = () => wrapRaft(aead, ks, RAFT, nf.next(), randomBytes(40));
    const envs = Array.from({ length: 8 }, good);
    envs[1] = envs[1]!.subarray(0, 33); // ENVELOPE_SHORT
    envs[2] = Uint8Array.from(envs[2]!);
    envs[2][0] = 2; // ENVELOPE_VERSION
    envs[3] = Uint8Array.from(envs[3]!);
    envs[3][1] = 1; // ENVELOPE_FLAG
    envs[4] = Uint8Array.from(envs[4]!);
    envs[4][5] ^= 0x40; // key_id not loaded → UNKNOWN_KEY_ID
    envs[5] = Uint8Array.from(envs[5]!);
    envs[5][envs[5].length - 1] ^= 1; // tag → INTEGRITY
    envs[6] = wrapRaft(aead, ks, K1, nf.next(), randomBytes(3)); // another loaded raft key: fine
    const res = await pool.reseal(
      STORE,
      envs.map((envelope) => ({ envelope, storageKey: new Uint8Array([1, 2]), valueHeader: header(), nonce: nf.next() })),
    );
    const codes = res.map((r) => (r instanceof Error ? (r as CryptoError).code : 'ok'));
    expect(codes).toEqual(['ok', 'ENVELOPE_SHORT', 'ENVELOPE_VERSION', 'ENVELOPE_FLAG', 'UNKNOWN_KEY_ID', 'INTEGRITY', 'ok', 'ok']);
    expect(res[4]).toBeInstanceOf(EnvelopeError);
    expect(res[5]).toBeInstanceOf(IntegrityError);
  });

  it('a task for an unknown key id fails with UNKNOWN_KEY_ID for that batch, not a crash', async () => {
    await expect(pool.seal(999, items(3, 10))).rejects.toMatchObject({ code: 'UNKNOWN_KEY_ID' });
    await expect(pool.reseal(998, [])).rejects.toMatchObject({ code: 'UNKNOWN_KEY_ID' });
    // Worker side: the key is removed after the task was admitted but before a worker runs it
    // (both workers are busy with big batches first).
    const tmp = 4242;
    pool.installKey(tmp, randomBytes(32));
    const big = items(400, 8000);
    const busy = [pool.seal(K1, big), pool.seal(K1, big)];
    const doomed = pool.seal(tmp, items(5, 10));
    pool.removeKey(tmp);
    // The freed slot is immediately reused by another key: the queued task must not pick it up.
    pool.installKey(tmp + 1, randomBytes(32));
    await expect(doomed).rejects.toBeInstanceOf(CryptoError);
    await expect(doomed).rejects.toMatchObject({ code: 'UNKNOWN_KEY_ID' });
    await Promise.all(busy);
    // The pool still works.
    expect(await pool.seal(K1, items(2, 10))).toHaveLength(2);
    pool.removeKey(tmp + 1);
  });

  it('a key installed right before a task is used by every worker', async () => {
    const aead = await loadAead('node');
    // Record which worker ran each task (header field H_WORKER_ID of the returned buffer).
    const piscina = (pool as unknown as { piscina: { run: (...a: unknown[]) => Promise<{ task: ArrayBuffer }> } }).piscina;
    const realRun = piscina.run.bind(piscina);
    const ran = new Set<number>();
    const spy = vi.spyOn(piscina, 'run').mockImplementation(async (...a: unknown[]) => {
      const out = await realRun(...a);
      ran.add(new Uint32Array(out.task, 0, 16)[H_WORKER_ID]!);
      return out;
    });
    for (let round = 0; round < 15; round++) {
      const id = 5000 + round;
      const key = randomBytes(32);
      pool.installKey(id, key);
      const batches = Array.from({ length: 6 }, () => items(3, 64));
      const res = await Promise.all(batches.map((b) => pool.seal(id, b)));
      res.forEach((r, b) => {
        r.forEach((s, i) => {
          const it = batches[b]![i]!;
          expect(Buffer.from(aead.open(key, it.nonce, it.aad, s))).toEqual(Buffer.from(it.data));
        });
      });
      pool.removeKey(id);
    }
    spy.mockRestore();
    expect(ran.size).toBe(2);
  });

  it('back-pressure: never more than maxInflightBatches outstanding; the rest wait', async () => {
    const batches = Array.from({ length: 10 }, () => items(50, 4000));
    const piscina = (pool as unknown as { piscina: { run: (...a: unknown[]) => Promise<unknown> } }).piscina;
    const realRun = piscina.run.bind(piscina);
    let running = 0;
    let peak = 0;
    const spy = vi.spyOn(piscina, 'run').mockImplementation(async (...a: unknown[]) => {
      running++;
      peak = Math.max(peak, running);
      try {
        return await realRun(...a);
      } finally {
        running--;
      }
    });
    try {
      const all = batches.map((b) => pool.seal(K1, b));
      // All ten were packed synchronously; four hold slots, six wait.
      await Promise.resolve();
      expect(pool.metrics.inflight).toBe(4);
      expect(pool.metrics.queueDepth).toBe(6);
      await Promise.all(all);
      expect(peak).toBeLessThanOrEqual(4);
      expect(spy).toHaveBeenCalledTimes(10);
      expect(pool.metrics.inflight).toBe(0);
      expect(pool.metrics.queueDepth).toBe(0);
    } finally {
      spy.mockRestore();
    }
  });

  it('no DEK bytes in any message the main thread posts', async () => {
    const aead = await loadAead('node');
    const secret = randomBytes(32);
    const posted: Uint8Array[] = [];
    const collect = (v: unknown, depth = 0): void => {
      if (depth > 6 || v === null || v === undefined) return;
      if (v instanceof SharedArrayBuffer) return; // the key table itself: shared memory, not a message
      if (v instanceof ArrayBuffer) posted.push(new Uint8Array(v.slice(0)));
      else if (ArrayBuffer.isView(v)) posted.push(new Uint8Array(v.buffer.slice(v.byteOffset, v.byteOffset + v.byteLength)));
      else if (typeof v === 'string') posted.push(new TextEncoder().encode(v));
      else if (typeof v === 'object') for (const x of Object.values(v as object)) collect(x, depth + 1);
    };
    // Record every message posted from this thread, then call through.
    const origPort = MessagePort.prototype.postMessage;
    const origWorker = Worker.prototype.postMessage;
    MessagePort.prototype.postMessage = function (this: MessagePort, msg: unknown, ...rest: unknown[]) {
      collect(msg);
      return Reflect.apply(origPort, this, [msg, ...rest]);
    } as typeof origPort;
    Worker.prototype.postMessage = function (this: Worker, msg: unknown, ...rest: unknown[]) {
      collect(msg);
      return Reflect.apply(origWorker, this, [msg, ...rest]);
    } as typeof origWorker;
    let p3: CryptoPool | undefined;
    try {
      p3 = await CryptoPool.create({ backend: 'node', workers: 2, inlineThreshold: 0 });
      p3.installKey(77, secret);
      const batch = items(20, 200);
      const sealed = await p3.seal(77, batch);
      await p3.open(77, batch.map((it, i) => ({ ...it, data: sealed[i]! })));
      const envs = [wrapRaft(aead, ks, RAFT, randomBytes(12), randomBytes(10))];
      p3.installKey(RAFT, ks.get(RAFT)!);
      await p3.reseal(77, envs.map((envelope) => ({ envelope, storageKey: new Uint8Array([1]), valueHeader: header(), nonce: randomBytes(12) })));
      expect(Buffer.from(aead.open(secret, batch[0]!.nonce, batch[0]!.aad, sealed[0]!))).toEqual(Buffer.from(batch[0]!.data));
    } finally {
      MessagePort.prototype.postMessage = origPort;
      Worker.prototype.postMessage = origWorker;
      await p3?.close();
    }
    // The tasks really went through postMessage (3 tasks, each carrying its buffer).
    expect(posted.length).toBeGreaterThanOrEqual(3);
    const needle = Buffer.from(secret);
    for (const p of posted) expect(Buffer.from(p).indexOf(needle)).toBe(-1);
    // Nor any 8-byte window of it (a partial copy).
    for (const p of posted) expect(Buffer.from(p).indexOf(needle.subarray(12, 20))).toBe(-1);
  });
});

describe('CryptoPool inline path and shutdown', () => {
  it('create() fails with BACKEND_UNAVAILABLE when the workers cannot start', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sealkv-pool-'));
    const bad = join(dir, 'worker.mjs');
    writeFileSync(bad, "throw new Error('backend load failed in worker');\n");
    try {
      await expect(CryptoPool.create({ backend: 'node', workers: 1, workerFile: bad })).rejects.toMatchObject({
        code: 'BACKEND_UNAVAILABLE',
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('small batches run inline with the same results; big ones go to a worker', async () => {
    const pool = await CryptoPool.create({ backend: 'node', workers: 1, inlineThreshold: 50 });
    try {
      const key = randomBytes(32);
      pool.installKey(1, key);
      const small = items(2, 32);
      const big = items(200, 1000);
      const [s1, s2] = await Promise.all([pool.seal(1, small), pool.seal(1, big)]);
      expect(pool.metrics.inlineBatches).toBe(1);
      expect(pool.metrics.poolBatches).toBe(1);
      const aead = await loadAead('node');
      for (const [res, src] of [
        [s1, small],
        [s2, big],
      ] as const) {
        res.forEach((s, i) => {
          expect(Buffer.from(s)).toEqual(Buffer.from(aead.seal(key, src[i]!.nonce, src[i]!.aad, src[i]!.data)));
        });
      }
    } finally {
      await pool.close();
    }
  });

  it('close() waits for in-flight batches, stops workers, then refuses new work', async () => {
    const pool = await CryptoPool.create({ backend: 'node', workers: 2, inlineThreshold: 0 });
    pool.installKey(1, randomBytes(32));
    const inflight = pool.seal(1, items(100, 1000));
    const closing = pool.close();
    expect(await inflight).toHaveLength(100);
    await closing;
    const threads = (pool as unknown as { piscina: { threads: unknown[] } }).piscina.threads;
    expect(threads).toHaveLength(0);
    await expect(pool.seal(1, items(1, 1))).rejects.toMatchObject({ code: 'CRYPTO_BACKEND' });
    await pool.close(); // idempotent
  });
});

describe.each<BackendName>(['native', 'wasm', 'js'])('CryptoPool with the %s backend', (backend) => {
  it('seal/open/reseal round trip matches the node backend (CK-4)', async (ctx) => {
    let pool: CryptoPool;
    try {
      await loadAead(backend);
      pool = await CryptoPool.create({ backend, workers: 1, inlineThreshold: 0 });
    } catch (e) {
      ctx.skip(`${backend} backend does not load here: ${(e as Error).message}`);
      return;
    }
    try {
      const node = await loadAead('node');
      const ks = new Keystore();
      ks.set(1, randomBytes(32));
      ks.set(2, randomBytes(32));
      pool.followKeystore(ks);
      const batch = items(40, 3000);
      const sealed = await pool.seal(1, batch);
      sealed.forEach((s, i) => {
        const it = batch[i]!;
        expect(Buffer.from(s)).toEqual(Buffer.from(node.seal(ks.get(1)!, it.nonce, it.aad, it.data)));
      });
      const tampered = sealed.map((s) => Uint8Array.from(s));
      tampered[3]![0]! ^= 1;
      const opened = await pool.open(1, batch.map((it, i) => ({ ...it, data: tampered[i]! })));
      opened.forEach((o, i) => {
        if (i === 3) expect(o).toBeInstanceOf(IntegrityError);
        else expect(Buffer.from(o as Uint8Array)).toEqual(Buffer.from(batch[i]!.data));
      });
      const envs = [0, 5, 100].map((n) => wrapRaft(node, ks, 2, randomBytes(12), randomBytes(n)));
      const res = (await pool.reseal(1, envs.map((envelope) => ({ envelope, storageKey: new Uint8Array([9]), valueHeader: header(), nonce: randomBytes(12) })))) as Resealed[];
      for (const r of res) {
        expect(Buffer.from(openStorageEnvelope(node, ks, header(), r.storageEnvelope, new Uint8Array([9])))).toEqual(Buffer.from(r.payload));
      }
    } finally {
      await pool.close();
    }
  });
});

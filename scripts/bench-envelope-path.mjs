// Main-thread cost per entry of a node's envelope work (issue 11): the raft wrap of a proposal
// batch, the raft unwrap of an apply batch and the storage seals of an apply batch, each through
// the crypto pool's inline path, as the node runs them.
//   node scripts/bench-envelope-path.mjs [backend=native] [entries per batch=16] [iterations=20000]
// Run `npm run build` first (it loads dist/). Uses the test-only nonce factory constructor: a
// benchmark, never a node.
import { randomBytes } from 'node:crypto';
const D = new URL('../dist', import.meta.url).pathname;
const { CryptoPool } = await import(`${D}/pool/index.js`);
const { loadAead } = await import(`${D}/crypto/index.js`);
const { Keystore } = await import(`${D}/crypto/keystore.js`);
const { NonceFactory } = await import(`${D}/crypto/envelope/nonce.js`);
const { TEST_ONLY_ACCESS } = await import(`${D}/crypto/envelope/nonce-internal.js`);
const { buildRaftWrap } = await import(`${D}/encryption/raft-wrap.js`);
const { PackScratch } = await import(`${D}/encryption/pack-scratch.js`);
const { PoolRaftUnwrapper } = await import(`${D}/encryption/pool-raft-unwrapper.js`);
const { SealingValueCodec } = await import(`${D}/encryption/value-codec.js`);
const { EncryptionStateCell } = await import(`${D}/encryption/state-cell.js`);
const backend = process.argv[2] ?? 'native';
const N = Number(process.argv[3] ?? 16);
const aead = await loadAead(backend);
const ks = new Keystore(); ks.set(7, randomBytes(32)); ks.set(9, randomBytes(32));
const pool = await CryptoPool.create({ backend, workers: 1, storageNonces: undefined });
pool.followKeystore(ks);
const raftN = NonceFactory[TEST_ONLY_ACCESS](1, 1), stN = NonceFactory[TEST_ONLY_ACCESS](1, 2);
const wrap = buildRaftWrap({ aead, keystore: ks, nonces: raftN, sealer: pool, registered: () => true, scratch: new PackScratch() }, 7);
const unw = new PoolRaftUnwrapper(aead, ks, pool);
const state = new EncryptionStateCell({ storageEnvelopeActive: true, active: { storage: 9, raft: 7 } });
const codec = new SealingValueCodec(aead, ks, state, stN, pool);
const payloads = Array.from({ length: N }, () => randomBytes(290));
const keys = Array.from({ length: N }, (_, i) => Buffer.from(`key:0000${String(i).padStart(8, '0')}`));
const vals = Array.from({ length: N }, () => new Uint8Array(randomBytes(256)));
const hdr = { tombstone: false, expireAt: 0n };
async function phase(name, fn, iters) {
  for (let i = 0; i < iters / 10; i++) await fn();
  const t0 = process.cpuUsage(); const w0 = performance.now();
  for (let i = 0; i < iters; i++) await fn();
  const c = process.cpuUsage(t0); const w = performance.now() - w0;
  console.log(`${name.padEnd(10)} ${(w * 1000 / iters / N).toFixed(2)} µs/entry wall, ${((c.user + c.system) / iters / N).toFixed(2)} µs/entry cpu`);
}
let envs = await wrap(payloads, 'user');
const ITERS = Number(process.argv[4] ?? 20000);
await phase('wrap', async () => { envs = await wrap(payloads, 'user'); }, ITERS);
await phase('unwrap', async () => { const r = await unw.unwrapBatch(envs); if (!(r[0].payload instanceof Uint8Array)) throw r[0]; }, ITERS);
await phase('storage', async () => { for (let i = 0; i < N; i++) codec.encodeRecord(keys[i], hdr, vals[i]); await codec.finishBatch(); }, ITERS);
await pool.close();

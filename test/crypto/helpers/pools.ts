// One pool that always runs inline and one that always goes to a worker, both with the given keys
// installed and closed after the describe block: the two paths every pool test must cover.
import { afterAll, beforeAll } from 'vitest';
import { CryptoPool } from '../../../src/pool/index.js';

export function inlineAndWorkerPools(keys: ReadonlyArray<readonly [number, Uint8Array]>): [string, CryptoPool][] {
  const pools: [string, CryptoPool][] = [];
  beforeAll(async () => {
    pools.push(['inline', await CryptoPool.create({ backend: 'node', workers: 1, inlineThreshold: Number.POSITIVE_INFINITY })]);
    pools.push(['worker', await CryptoPool.create({ backend: 'node', workers: 1, inlineThreshold: 0 })]);
    for (const [, p] of pools) for (const [id, key] of keys) p.installKey(id, key);
  });
  afterAll(async () => {
    for (const [, p] of pools) await p.close();
  });
  return pools;
}

// Test-only nonce factories: any epoch, a seeded counter, as many as a test needs. Production code
// gets its factory only from NonceFactory.fromPersistedEpoch (KM-8); this helper holds the
// capability the package does not export.
import { NonceFactory } from '../../../src/crypto/envelope/nonce.js';
import { TEST_ONLY_ACCESS } from '../../../src/crypto/envelope/nonce-internal.js';

/** @param seed the write_count already issued: seeding at 2^64−2 makes the first nonce carry 2^64−1. */
export function testNonceFactory(nodeId16: number, epoch: number, options: { seed?: bigint } = {}): NonceFactory {
  return NonceFactory[TEST_ONLY_ACCESS](nodeId16, epoch, options.seed ?? 0n);
}

// AS-5 on a real 3-node cluster: a malformed encryption entry (a bootstrap with one trailing
// byte, proposed through the test-only admin hook) HALTs every replica at the same index with
// ENCRYPTION_APPLY / FSM_WIRE_MALFORMED; no applied index passes it; a restart HALTs again there.

import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { Kek } from '../../src/keys/kek-provider.js';
import { encodeBootstrap } from '../../src/keys/encryption-entries.js';
import { clusterForTest, destroyAllClusters } from './harness/fixture.js';

afterAll(destroyAllClusters);

describe('AS-5 on a 3-node cluster', () => {
  it('AS-5: a bootstrap entry with one trailing byte halts all three nodes at the same index (FSM_WIRE_MALFORMED), and again after a restart', async () => {
    const kekBytes = randomBytes(32);
    const KEK = kekBytes.toString('base64');
    const env: Record<string, Record<string, string>> = {};
    for (const id of ['n1', 'n2', 'n3']) env[id] = { SEALKV_TEST_KEK: KEK, SEALKV_TEST_PROPOSE_ADMIN: '1' };
    const c = await clusterForTest({ name: 'enc-as5', extraArgs: ['--encryption', '--kek-env', 'SEALKV_TEST_KEK'], env, cipher: 'native' });
    const leader = await c.waitForLeader({ quorum: 3, timeoutMs: 20_000 });
    const kek = Kek.fromBytes('env', new Uint8Array(kekBytes));
    const good = encodeBootstrap({
      storageDekId: 21,
      storageWrapped: kek.wrapSync(new Uint8Array(32).fill(1)),
      raftDekId: 22,
      raftWrapped: kek.wrapSync(new Uint8Array(32).fill(2)),
      batch: [],
    });
    const bad = Buffer.concat([good, Buffer.from([0])]);
    for (const id of c.ids()) c.expectExit(id);
    const before = (await c.status(leader))!;
    // The proposal never answers (every node halts); the request times out or the socket closes.
    await c.node(leader).admin.request('POST', '/v1/test/propose-admin', { hex: bad.toString('hex'), timeout_ms: 3000 }, 5000).catch(() => null);
    const exits = await Promise.all(c.ids().map((id) => c.waitExit(id)));
    for (const e of exits) expect(e.code).toBe(3);
    const halted = c.ids().map((id) => c.log(id).split('\n').filter((l) => l.startsWith('halted: ')).at(-1));
    for (const h of halted) expect(h).toMatch(/^halted: ENCRYPTION_APPLY at index \d+ \(reason FSM_WIRE_MALFORMED\)/);
    const index = /at index (\d+)/.exec(halted[0]!)![1];
    for (const h of halted) expect(h).toContain(`at index ${index} `);
    expect(BigInt(index!)).toBeGreaterThan(BigInt(before.appliedIndex));
    // A restart halts at the same index again.
    c.expectExit('n2');
    c.start('n2');
    expect((await c.waitExit('n2')).code).toBe(3);
    expect(c.log('n2').split('\n').filter((l) => l.startsWith('halted: ')).at(-1)).toContain(`at index ${index} `);
  }, 120_000);
});

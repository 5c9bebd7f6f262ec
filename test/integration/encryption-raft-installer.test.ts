// Issue 11 acceptance AS-14 on a real 3-node cluster (WI-6, WI-5, RO-11): n2's apply-time wrap
// installer fails when the raft marker applies (the test-only SEALKV_TEST_FAIL_INSTALLER). n2
// HALTs ENCRYPTION_APPLY / INSTALLER_FAILED at N with its sidecar already showing cutover N (the
// installer runs after the durable sidecar write, WI-5) and its applied index below N; n1 and n3
// go on. Restarted without the fault, n2 installs the wrap at start-up from the sidecar (RO-11),
// replays the marker through the already-active branch (the sidecar is ahead of the log), catches
// up, and — made leader — wraps what it proposes.

import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { EntryType } from '../../src/raft/index.js';
import { clusterForTest, destroyAllClusters } from './harness/fixture.js';
import { readLogEntries, readMeta, readSidecar } from './harness/offline.js';
import { setVia } from './harness/writes.js';

afterAll(destroyAllClusters);

const KEK = randomBytes(32).toString('base64');

describe('AS-14 on a 3-node cluster', () => {
  it('AS-14, WI-5, WI-6, RO-11: n2\'s installer fails when the marker applies → HALT ENCRYPTION_APPLY INSTALLER_FAILED with cutover N already in its sidecar; n1/n3 continue; restarted without the fault n2 installs at start-up, replays the marker (already-active), catches up and wraps its proposals as leader', async () => {
    const env: Record<string, Record<string, string>> = {};
    for (const id of ['n1', 'n2', 'n3']) env[id] = { SEALKV_TEST_KEK: KEK };
    const c = await clusterForTest({ name: 'enc-as14', extraArgs: ['--encryption', '--kek-env', 'SEALKV_TEST_KEK'], env, cipher: 'native' });
    const l = await c.waitForLeader({ quorum: 3, timeoutMs: 20_000 });
    if (l === 'n2') {
      expect((await c.node('n2').admin.request('POST', '/v1/transfer-leader', { id: 'n1' }, 15_000)).status).toBe(200);
      await c.waitForLeader({ not: 'n2', timeoutMs: 20_000 });
    }
    expect((await c.adminOnLeader('POST', '/v1/encryption/bootstrap', {})).status).toBe(200);
    expect((await c.adminOnLeader('POST', '/v1/encryption/enable-storage-envelope', {})).status).toBe(200);
    for (const id of c.ids()) await setVia(c, id, `phase1-${id}`, 'p1');
    await c.waitCaughtUp(c.ids(), 30_000);

    // n2 restarted with the installer fault armed (a follower).
    await c.kill('n2', 'SIGTERM');
    c.start('n2', false, { SEALKV_TEST_FAIL_INSTALLER: '1' });
    await setVia(c, 'n2', 'n2-armed', 'a');
    await c.waitCaughtUp(c.ids(), 30_000);
    await c.waitForLeader({ not: 'n2', timeoutMs: 20_000 });
    c.expectExit('n2');
    const en = await c.adminOnLeader('POST', '/v1/encryption/enable-raft-envelope', {}, 60_000);
    expect(en.status, JSON.stringify(en.body)).toBe(200);
    const N = BigInt((en.body as { applied_index: string }).applied_index);
    expect((await c.waitExit('n2', 60_000)).code).toBe(3);
    const halted = c.log('n2').split('\n').filter((x) => x.startsWith('halted: ')).at(-1);
    expect(halted).toMatch(new RegExp(`^halted: ENCRYPTION_APPLY at index ${N} \\(reason INSTALLER_FAILED\\)`));
    expect(halted).toContain('fresh cutover');
    // WI-5: the sidecar write came first (cutover N is durable), the applied index stayed below N.
    const n2 = c.node('n2').dataDir;
    expect(readSidecar(n2).raftEnvelopeCutoverIndex).toBe(N);
    expect((await readMeta(n2)).appliedIndex).toBeLessThan(N);

    // n1 and n3 continue.
    for (const id of ['n1', 'n3']) await setVia(c, id, `as14-while-halted-${id}`, 'h');

    // Restarted without the fault: start-up install (RO-11), marker replayed (already-active).
    c.start('n2', false, { SEALKV_TEST_FAIL_INSTALLER: '' });
    await c.waitCaughtUp(c.ids(), 60_000);
    const restartLog = c.log('n2').split('=== ').at(-1)!;
    expect(restartLog).toContain('sidecar ahead of the Raft log');
    expect(restartLog).not.toContain('halted: ');
    await setVia(c, 'n2', 'as14-n2-back', 'b');
    const conn = await c.resp('n2');
    expect(await conn.call(['GET', 'as14-while-halted-n3'])).toEqual({ type: 'bulk', value: 'h' });
    conn.close();

    // Leadership to n2: what it proposes as leader lands wrapped.
    await c.leadOn('n2');
    const term = BigInt((await c.status('n2'))!.term);
    for (let i = 0; i < 5; i++) await setVia(c, 'n2', `as14-led-by-n2-${i}`, `v${i}`);
    await c.waitCaughtUp(c.ids(), 30_000);
    expect(c.unexpectedExits()).toEqual([]);
    for (const id of c.ids()) await c.kill(id, 'SIGTERM');

    const sidecars = c.ids().map((id) => readSidecar(c.node(id).dataDir));
    for (const s of sidecars) {
      expect(s.raftEnvelopeCutoverIndex).toBe(N);
      expect(s.active).toEqual(sidecars[0]!.active);
    }
    // n2's own log: every non-empty normal record of its term (it was the leader) is a raft envelope.
    let wrapped = 0;
    for (const e of await readLogEntries(n2, Number(N) + 1)) {
      const i = e.index;
      if (e.type !== EntryType.Normal || e.data.length === 0) continue;
      expect(e.data[0], `log ${i}`).toBe(0x01);
      expect(e.data[9], `log ${i} envelope version`).toBe(0x01);
      expect(e.data[10], `log ${i} envelope flag`).toBe(0x00);
      if (BigInt(e.term) === term) wrapped++;
    }
    expect(wrapped, 'records n2 proposed as leader').toBeGreaterThanOrEqual(5);
  }, 240_000);
});

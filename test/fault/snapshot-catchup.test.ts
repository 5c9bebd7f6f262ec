// Issue 4 acceptance: a node wiped and re-added catches up from a snapshot. The leader snapshots
// every few entries and keeps almost no log behind its snapshot, so an empty node cannot catch up
// from the log alone.

import { afterAll, expect, it } from 'vitest';
import { clusterForTest, destroyAllClusters } from '../integration/harness/fixture.js';
import type { RespClient } from '../integration/harness/resp-client.js';
import { waitFor } from '../integration/harness/wait.js';

afterAll(destroyAllClusters);

const N_KEYS = 600;

async function setMany(conn: RespClient, prefix: string, from: number, to: number): Promise<void> {
  const replies = await Promise.all(
    Array.from({ length: to - from }, (_, i) => conn.call(['SET', `${prefix}${from + i}`, `value-${from + i}`], 10_000)),
  );
  const bad = replies.filter((r) => !(r.type === 'simple' && r.value === 'OK'));
  expect(bad, 'every SET acknowledged').toEqual([]);
}

it('a node wiped and re-added catches up from a snapshot and serves every key', async () => {
  const c = await clusterForTest({ name: 'snapshot', snapshotThreshold: 50, compactionMargin: 5 });
  const leader = await c.waitForLeader({ quorum: 3, timeoutMs: 20_000 });
  const victim = c.ids().find((id) => id !== leader)!;

  const lc = await c.resp(leader);
  try {
    await setMany(lc, 'k', 0, N_KEYS / 2);

    // Remove the victim, wipe its disk, start it empty with --join, add it back.
    const del = await c.removeMember(victim);
    expect(del.status, JSON.stringify(del.body)).toBeLessThan(300);
    await waitFor(
      `${victim} to leave the membership`,
      async () => !(await c.members()).some((m) => m.id === victim),
      10_000,
    );
    await c.kill(victim, 'SIGTERM');
    c.wipe(victim);

    // More writes (and snapshots) while the victim is gone.
    await setMany(lc, 'k', N_KEYS / 2, N_KEYS);
    await lc.call(['SET', 'marker', 'last']);
    const before = await c.status(leader);
    expect(before).not.toBeNull();

    const logBefore = c.log(victim).length;
    c.start(victim, true);
    await waitFor(`${victim} (joining) to answer /v1/status`, () => c.status(victim), 15_000);
    const add = await c.addMember(victim, 'voter');
    expect(add.status, JSON.stringify(add.body)).toBeLessThan(300);

    // Watch the victim's appliedIndex: from a snapshot it jumps from 0 to near the leader's
    // commit index instead of walking up from the first entries.
    const seen: bigint[] = [];
    const target = BigInt(before!.commitIndex);
    await waitFor(
      `${victim} to apply the leader's index ${target}`,
      async () => {
        const s = await c.status(victim, 500);
        if (!s) return false;
        const a = BigInt(s.appliedIndex);
        if (seen.length === 0 || seen[seen.length - 1] !== a) seen.push(a);
        return a >= target ? s : false;
      },
      20_000,
      10,
    );
    const firstNonZero = seen.find((a) => a > 0n);
    const s = (await c.status(victim))!;
    const snapshotLog = c
      .log(victim)
      .slice(logBefore)
      .split('\n')
      .filter((l) => !l.startsWith('===') && /snapshot (install|restor|receiv|appl)/i.test(l));
    const evidence = {
      snapshotIndex: s.snapshotIndex ?? '(no snapshotIndex in /v1/status)',
      appliedIndexSeen: seen.map(String),
      snapshotLogLines: snapshotLog.slice(0, 5),
    };
    console.info(`[snapshot] ${victim} caught up; evidence ${JSON.stringify(evidence)}`);
    const viaStatus = s.snapshotIndex !== undefined && BigInt(s.snapshotIndex) > 0n;
    // Without a status field, the first applied index seen must be far past the first entries
    // (the log behind the leader's snapshot is compacted away), or the node logged the install.
    const viaJump = firstNonZero !== undefined && firstNonZero > 100n;
    expect(viaStatus || viaJump || snapshotLog.length > 0, `no sign of a snapshot install: ${JSON.stringify(evidence)}`).toBe(true);

    // It serves every key through its own linearizable GETs.
    const vc = await c.resp(victim);
    try {
      const keys = Array.from({ length: N_KEYS }, (_, i) => `k${i}`);
      const replies = await Promise.all(keys.map((k) => vc.call(['GET', k], 10_000)));
      const wrong = keys.filter((k, i) => {
        const r = replies[i]!;
        return !(r.type === 'bulk' && r.value === `value-${k.slice(1)}`);
      });
      expect(wrong, 'keys missing or wrong on the re-added node').toEqual([]);
      expect(await vc.call(['GET', 'marker'])).toEqual({ type: 'bulk', value: 'last' });
      // And it is a full member again: a write through it commits.
      expect(await vc.call(['SET', 'after', 'rejoin'])).toEqual({ type: 'simple', value: 'OK' });
    } finally {
      vc.close();
    }
    const members = await c.members();
    expect(members.find((m) => m.id === victim)?.role).toBe('voter');
  } finally {
    lc.close();
  }
  expect(c.unexpectedExits()).toEqual([]);
});

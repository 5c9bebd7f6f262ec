// Issue 4 acceptance, happy path, with real `sealkv start` processes on loopback: a 3-node cluster
// elects exactly one leader, a write through any node is readable through every node, and
// redis-cli talks to it.

import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { clusterForTest, destroyAllClusters } from './harness/fixture.js';

const run = promisify(execFile);

afterAll(destroyAllClusters);

describe('3-node cluster on loopback', () => {
  it('elects exactly one leader; a SET through each node is readable through every node', async () => {
    const c = await clusterForTest({ name: 'basic' });
    const leader = await c.waitForLeader({ quorum: 3, timeoutMs: 20_000 });

    const st = await c.statuses();
    expect([...st.keys()].sort()).toEqual(['n1', 'n2', 'n3']);
    const leaders = [...st.values()].filter((s) => s.role === 'leader');
    expect(leaders.map((s) => s.id)).toEqual([leader]);
    const term = st.get(leader)!.term;
    for (const s of st.values()) {
      expect(s.leader).toBe(leader);
      expect(s.term).toBe(term);
      expect(s.role === 'leader' || s.role === 'follower').toBe(true);
    }

    const members = await c.node(leader).admin.members();
    expect(members.map((m) => [m.id, m.role]).sort()).toEqual([
      ['n1', 'voter'],
      ['n2', 'voter'],
      ['n3', 'voter'],
    ]);

    const conns = new Map(await Promise.all(c.ids().map(async (id) => [id, await c.resp(id)] as const)));
    try {
      for (const [id, conn] of conns) {
        expect(await conn.call(['SET', `key-${id}`, `written via ${id}`])).toEqual({ type: 'simple', value: 'OK' });
      }
      // Linearizable reads: no waiting for replication, every node must see every acknowledged write.
      for (const [, conn] of conns) {
        for (const writer of c.ids()) {
          expect(await conn.call(['GET', `key-${writer}`])).toEqual({ type: 'bulk', value: `written via ${writer}` });
        }
        expect(await conn.call(['GET', 'never-written'])).toEqual({ type: 'bulk', value: null });
      }
      // INCR through followers and leader: one counter, strictly sequential results.
      let n = 0n;
      for (const [, conn] of conns) expect(await conn.call(['INCR', 'counter'])).toEqual({ type: 'int', value: ++n });
    } finally {
      for (const conn of conns.values()) conn.close();
    }

    // Prometheus /metrics (issue 4 item 7) on the leader and a follower, after those writes.
    for (const id of [leader, c.ids().find((x) => x !== leader)!]) {
      const r = await c.node(id).admin.request('GET', '/metrics');
      expect(r.status).toBe(200);
      const text = String(r.body);
      const value = (name: string): number => {
        const line = text.split('\n').find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
        expect(line, `${name} on ${id}`).toBeDefined();
        return Number(line!.slice(line!.lastIndexOf(' ') + 1));
      };
      expect(value('sealkv_raft_term')).toBe(Number(term));
      expect(value('sealkv_raft_commit_index')).toBeGreaterThan(1);
      expect(value('sealkv_raft_applied_index')).toBeGreaterThan(1);
      expect(value('sealkv_raft_is_leader')).toBe(id === leader ? 1 : 0);
      expect(value('sealkv_apply_batch_entries_count')).toBeGreaterThan(0);
      expect(value('sealkv_apply_batch_seconds_count')).toBeGreaterThan(0);
      expect(value('sealkv_raft_log_persist_seconds_count')).toBeGreaterThan(0);
      expect(value('sealkv_storage_commits_total')).toBeGreaterThan(0);
      expect(value('sealkv_crypto_pool_queue_depth')).toBe(0);
      expect(text).toContain('# TYPE sealkv_crypto_seconds_total counter');
      expect(text).toContain('# TYPE sealkv_resp_commands_total counter');
      if (id === leader) expect(value('sealkv_proposals_total')).toBeGreaterThan(0);
    }
    expect(c.unexpectedExits()).toEqual([]);
  });

  it('redis-cli works against the cluster', async (ctx) => {
    try {
      await run('which', ['redis-cli']);
    } catch {
      ctx.skip('redis-cli not installed');
    }
    const c = await clusterForTest({ name: 'rediscli' });
    const leader = await c.waitForLeader({ quorum: 3, timeoutMs: 20_000 });
    const follower = c.ids().find((id) => id !== leader)!;
    const cli = async (id: string, ...args: string[]): Promise<string> => {
      const { stdout } = await run('redis-cli', ['-h', '127.0.0.1', '-p', String(c.node(id).respPort), ...args], { timeout: 10_000 });
      return stdout.trim();
    };
    expect(await cli(follower, 'ping')).toBe('PONG');
    expect(await cli(follower, 'set', 'k', 'v')).toBe('OK');
    expect(await cli(leader, 'get', 'k')).toBe('v');
    expect(await cli(follower, 'get', 'k')).toBe('v');
    expect(await cli(leader, 'incr', 'n')).toBe('1');
    expect(await cli(follower, 'incr', 'n')).toBe('2');
    expect(await cli(follower, 'get', 'missing')).toBe('');
    expect(await cli(leader, 'del', 'k')).toBe('1');
    expect(await cli(follower, 'exists', 'k')).toBe('0');
    // Interactive-mode handshake (COMMAND DOCS etc.) must not break a piped session.
    const { stdout } = await run('sh', ['-c', `printf 'set a 1\\nget a\\n' | redis-cli -p ${c.node(follower).respPort}`], { timeout: 10_000 });
    expect(stdout.trim().split('\n')).toEqual(['OK', '1']);
    expect(c.unexpectedExits()).toEqual([]);
  });
});

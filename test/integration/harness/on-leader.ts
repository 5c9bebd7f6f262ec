// One admin call to the current leader, for answers that may be expected refusals (so a 409 or a
// 400 is returned, not retried). Only a 421 — the node asked was no longer the leader, e.g. a
// leadership change between the lookup and the call — makes it look up the leader again.
import type { AdminReply } from './admin-client.js';
import type { Cluster } from './cluster.js';
import { sleep } from './wait.js';

export async function onLeader(c: Cluster, method: 'POST' | 'GET', path: string, body?: unknown): Promise<AdminReply> {
  for (let attempt = 0; ; attempt++) {
    const leader = await c.waitForLeader({ timeoutMs: 20_000 });
    const r = await c.node(leader).admin.request(method, path, body, 15_000);
    if (r.status !== 421 || attempt >= 20) return r;
    await sleep(100);
  }
}

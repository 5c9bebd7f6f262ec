// Forwarded writes relay the leader's outcome distinction, and a forward connection lost after
// the request was written is an unknown outcome (issue 9, defect 8).

import { afterEach, describe, expect, it } from 'vitest';
import { ProposalError } from '../../src/errors.js';
import { forwardToLeader } from '../../src/node/forward.js';
import { PeerTransport } from '../../src/transport/peer-transport.js';

const quiet = { warn: () => {}, info: () => {}, debug: () => {} };
const open: PeerTransport[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((t) => t.close()));
});

async function pair(): Promise<[PeerTransport, PeerTransport]> {
  const ts = ['n1', 'n2'].map(
    (id) =>
      new PeerTransport({
        id,
        clusterId: 'c1',
        listen: '127.0.0.1:0',
        peers: {},
        backoff: { minMs: 10, maxMs: 100 },
        limits: { maxFrameBytes: 1024 * 1024, handshakeTimeoutMs: 1000 },
        logger: quiet,
      }),
  ) as [PeerTransport, PeerTransport];
  open.push(...ts);
  const addrs: Record<string, string> = {};
  for (const t of ts) addrs[t.id] = `127.0.0.1:${(await t.start()).port}`;
  for (const t of ts) t.updatePeers(addrs);
  const t0 = Date.now();
  while (!ts.every((t) => t.status().every((p) => p.connected))) {
    if (Date.now() - t0 > 5000) throw new Error('no connection');
    await new Promise((r) => setTimeout(r, 5));
  }
  return ts;
}

describe('forwarded writes', () => {
  it("defect 9.8 (UNKNOWN_OUTCOME): the follower relays the leader's UNKNOWN_OUTCOME and NOT_LEADER unchanged", async () => {
    const [follower, leader] = await pair();
    leader.onRequest((_from, p) => {
      const op = (p as { op: string }).op;
      if (op === 'appended') throw new ProposalError('UNKNOWN_OUTCOME', 'stepped down after the proposal was appended', { leader: 'n3' });
      throw new ProposalError('NOT_LEADER', 'this node is not the leader', { leader: 'n3' });
    });
    const unknown = await forwardToLeader(follower, 'n2', { op: 'appended' }, 2000).catch((e: unknown) => e);
    expect(unknown).toBeInstanceOf(ProposalError);
    expect(unknown).toMatchObject({ code: 'UNKNOWN_OUTCOME', leader: 'n3' });
    const never = await forwardToLeader(follower, 'n2', { op: 'refused' }, 2000).catch((e: unknown) => e);
    expect(never).toMatchObject({ code: 'NOT_LEADER', leader: 'n3' });
    // A leader this node cannot address (removed meanwhile): nothing was sent.
    const unsent = await forwardToLeader(follower, 'n9', { op: 'appended' }, 2000).catch((e: unknown) => e);
    expect(unsent).toMatchObject({ code: 'NOT_LEADER' });
  });

  it('defect 9.8 (UNKNOWN_OUTCOME): a forward connection lost after the request was written is UNKNOWN_OUTCOME', async () => {
    const [follower, leader] = await pair();
    let received = false;
    leader.onRequest(() => {
      received = true;
      return new Promise(() => {}); // the leader took it and never answers
    });
    const inFlight = forwardToLeader(follower, 'n2', { op: 'write' }, 10_000).catch((e: unknown) => e);
    const t0 = Date.now();
    while (!received && Date.now() - t0 < 5000) await new Promise((r) => setTimeout(r, 5));
    expect(received).toBe(true);
    await leader.close();
    const e = await inFlight;
    expect(e).toBeInstanceOf(ProposalError);
    expect(e).toMatchObject({ code: 'UNKNOWN_OUTCOME', leader: 'n2' });
  });
});

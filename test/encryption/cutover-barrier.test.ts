// The quiescence barrier of the raft-envelope cutover (SPEC RO-7, RO-9) over a real Proposer
// and a fake Raft: who is refused, who waits, what the drain waits for, and how it is left.
import { afterEach, describe, expect, it } from 'vitest';
import { decodeProposal } from '../../src/crypto/envelope/proposal.js';
import { type BarrierPort, CutoverBarrier } from '../../src/encryption/cutover-barrier.js';
import { ProposalError } from '../../src/errors.js';
import { Proposer, type RaftSink } from '../../src/node/proposer.js';

class FakeRaft implements RaftSink {
  appended: Uint8Array[] = [];
  isLeader() {
    return true;
  }
  term() {
    return 1;
  }
  leader() {
    return 'n1';
  }
  transferInProgress() {
    return false;
  }
  proposeEntries(data: Uint8Array[]) {
    this.appended.push(...data);
  }
}

const enc = new TextEncoder();
const dec = new TextDecoder();
const tick = () => new Promise((r) => setImmediate(r));
const until = async (f: () => boolean) => {
  for (let i = 0; i < 2000 && !f(); i++) await tick();
  expect(f()).toBe(true);
};
let open: Proposer<string>[] = [];
afterEach(() => {
  for (const p of open) p.close();
  open = [];
});

function make(over: Partial<BarrierPort> = {}) {
  const raft = new FakeRaft();
  const p = new Proposer<string>(raft, 60_000);
  open.push(p);
  let cutover = 0n;
  const log: string[] = [];
  /** Applies (resolves) the appended entry at log position `i` as index i+1. */
  const apply = (i: number) => p.resolve(BigInt(i + 1), 1, raft.appended[i]!, 'OK');
  const port: BarrierPort = {
    drained: () => p.drained(),
    isLeader: () => true,
    leader: () => 'n1',
    proposeMarker: async (payload, deadline) => {
      log.push(`marker after ${raft.appended.length} entries`);
      const r = p.proposeMarker(payload, { deadline });
      await until(() => raft.appended.length > 0 && dec.decode(decodeProposal(raft.appended.at(-1)!).payload) === 'MARKER');
      const at = raft.appended.length - 1;
      cutover = BigInt(at + 1);
      apply(at);
      return (await r).commitIndex;
    },
    waitApplied: async () => undefined,
    raftCutover: () => cutover,
    converge: (c) => {
      log.push(`converge ${c}`);
      // The installer: every later proposal is wrapped.
      p.setWrap(async (payloads) => payloads.map((x) => new Uint8Array([0x01, ...x])));
    },
    ...over,
  };
  const barrier = new CutoverBarrier(port);
  p.setGate(barrier);
  return { raft, p, barrier, apply, log };
}

describe('CutoverBarrier', () => {
  it('RO-7: N proposals admitted before Begin complete before the marker; user proposals are refused until End; an admin proposal waits and is wrapped after End', async () => {
    const h = make();
    const before = [0, 1, 2].map((i) => h.p.propose(enc.encode(`w${i}`)));
    await until(() => h.raft.appended.length === 3);
    const run = h.barrier.run(enc.encode('MARKER'), Date.now() + 30_000);
    expect(h.barrier.active()).toBe(true);
    await expect(h.p.propose(enc.encode('late'))).rejects.toMatchObject({ code: 'ENVELOPE_CUTOVER_IN_PROGRESS' });
    const admin = h.p.proposeAdmin(enc.encode('reg'));
    await tick();
    await tick();
    expect(h.log).toEqual([]); // the drain is still waiting for the three
    for (let i = 0; i < 3; i++) h.apply(i);
    await Promise.all(before);
    const index = await run;
    expect(index).toBe(4n);
    expect(h.log).toEqual(['marker after 3 entries', 'converge 4']);
    expect(h.barrier.active()).toBe(false);
    // The waiting admin proposal went in after End, wrapped, above the marker.
    await until(() => h.raft.appended.length === 5);
    expect(decodeProposal(h.raft.appended[4]!).payload[0]).toBe(0x01);
    h.apply(4);
    await admin;
    // The marker itself was not wrapped (raw path).
    expect(dec.decode(decodeProposal(h.raft.appended[3]!).payload)).toBe('MARKER');
    // After End user proposals are admitted (and wrapped) again.
    const after = h.p.propose(enc.encode('x'));
    await until(() => h.raft.appended.length === 6);
    expect(decodeProposal(h.raft.appended[5]!).payload[0]).toBe(0x01);
    h.apply(5);
    await after;
  });

  it('RO-7: Begin on an idle proposer finishes the drain at once', async () => {
    const h = make();
    await expect(h.barrier.run(enc.encode('MARKER'), Date.now() + 30_000)).resolves.toBe(1n);
  });

  it('RO-7: an admin proposal waiting on the barrier fails with ENVELOPE_CUTOVER_IN_PROGRESS at its deadline', async () => {
    const h = make({ proposeMarker: () => new Promise<bigint>(() => {}) });
    void h.barrier.run(enc.encode('MARKER'), Date.now() + 60_000).catch(() => undefined);
    await expect(h.p.proposeAdmin(enc.encode('reg'), { deadline: Date.now() + 100 })).rejects.toMatchObject({ code: 'ENVELOPE_CUTOVER_IN_PROGRESS' });
  });

  it('RO-9: a drain that misses the deadline lifts the barrier (nothing was proposed) and answers TIMEOUT', async () => {
    const h = make();
    const pending = h.p.propose(enc.encode('w'));
    pending.catch(() => undefined);
    await until(() => h.raft.appended.length === 1);
    await expect(h.barrier.run(enc.encode('MARKER'), Date.now() + 100)).rejects.toMatchObject({ code: 'TIMEOUT' });
    expect(h.barrier.active()).toBe(false);
    expect(h.log).toEqual([]);
    expect(h.raft.appended).toHaveLength(1);
  });

  it('AS-9, RO-9: a leader that steps down with the marker in its log answers NOT_LEADER (the outcome is unknown) and keeps its barrier up', async () => {
    const h = make({
      proposeMarker: async () => {
        throw new ProposalError('UNKNOWN_OUTCOME', 'this node stopped being the leader after the proposal was appended; it may or may not commit', { leader: 'n2' });
      },
    });
    await expect(h.barrier.run(enc.encode('MARKER'), Date.now() + 30_000)).rejects.toMatchObject({ code: 'NOT_LEADER', leader: 'n2' });
    expect(h.barrier.active()).toBe(true);
    await expect(h.p.propose(enc.encode('a'))).rejects.toMatchObject({ code: 'ENVELOPE_CUTOVER_IN_PROGRESS' });
  });

  it('PF-4: a run that lifts its barrier records where the pause went (drain, marker applied, install)', async () => {
    const h = make();
    expect(h.barrier.lastTimings).toBeNull();
    await h.barrier.run(enc.encode('MARKER'), Date.now() + 30_000);
    const t = h.barrier.lastTimings!;
    expect(Object.keys(t).sort()).toEqual(['drain', 'install', 'markerApplied', 'total']);
    for (const v of Object.values(t)) expect(v).toBeGreaterThanOrEqual(0);
    expect(t.total).toBeGreaterThanOrEqual(t.drain);
  });

  it('RO-9: when the apply wait times out after the marker, the barrier stays in force and user proposals keep failing', async () => {
    const h = make({
      waitApplied: async () => {
        throw new ProposalError('TIMEOUT', 'apply wait timed out');
      },
    });
    await expect(h.barrier.run(enc.encode('MARKER'), Date.now() + 30_000)).rejects.toMatchObject({ code: 'TIMEOUT' });
    expect(h.barrier.active()).toBe(true);
    await expect(h.p.propose(enc.encode('a'))).rejects.toMatchObject({ code: 'ENVELOPE_CUTOVER_IN_PROGRESS' });
    await expect(h.p.propose(enc.encode('b'))).rejects.toMatchObject({ code: 'ENVELOPE_CUTOVER_IN_PROGRESS' });
    // A second attempt on this process is refused too: only a restart clears it.
    await expect(h.barrier.run(enc.encode('MARKER'), Date.now() + 30_000)).rejects.toMatchObject({ code: 'ENVELOPE_CUTOVER_IN_PROGRESS' });
  });

  it('RO-9: a marker consumed as stale (sidecar cutover still 0) lifts the barrier and answers 409 CUTOVER_DEK_ID_STALE', async () => {
    const h = make({ raftCutover: () => 0n });
    await expect(h.barrier.run(enc.encode('MARKER'), Date.now() + 30_000)).rejects.toMatchObject({ code: 'CUTOVER_DEK_ID_STALE', status: 409 });
    expect(h.barrier.active()).toBe(false);
    expect(h.log).toEqual(['marker after 0 entries']);
  });
});

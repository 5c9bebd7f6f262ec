// Proposer: ids, pending table, response routing and failure modes (SPEC PE-1, PE-3..PE-6, RO-12).

import { afterEach, describe, expect, it } from 'vitest';
import { loadAead } from '../../src/crypto/index.js';
import { decodeProposal, encodeProposal } from '../../src/crypto/envelope/proposal.js';
import { unwrapRaft, wrapRaft } from '../../src/crypto/envelope/raft.js';
import { Keystore } from '../../src/crypto/keystore.js';
import { ProposalError } from '../../src/errors.js';
import { Proposer, type RaftSink } from '../../src/node/proposer.js';

class FakeRaft implements RaftSink {
  leaderNow = true;
  termNow = 3;
  transfer = false;
  appended: Uint8Array[][] = [];
  pendingAtAppend: number[] = [];
  proposer: Proposer<string> | null = null;
  isLeader() {
    return this.leaderNow;
  }
  term() {
    return this.termNow;
  }
  leader() {
    return this.leaderNow ? 'n1' : 'n2';
  }
  transferInProgress() {
    return this.transfer;
  }
  proposeEntries(data: Uint8Array[]) {
    this.pendingAtAppend.push(this.proposer?.inFlight() ?? -1);
    this.appended.push(data);
  }
}

const enc = new TextEncoder();
const tick = () => new Promise((r) => setImmediate(r));
let open: Proposer<string>[] = [];
afterEach(() => {
  for (const p of open) p.close();
  open = [];
});

function make(raft = new FakeRaft()) {
  const p = new Proposer<string>(raft, 1000);
  raft.proposer = p;
  open.push(p);
  return { raft, p };
}

describe('proposer', () => {
  it('RO-12: a new leader hands nothing to Raft before it has applied an entry of its own term (issue 14, node-sim)', async () => {
    // A leader elected with an unapplied raft-cutover marker in its log would otherwise append
    // cleartext entries above the cutover (every replica then HALTs RAFT_UNWRAP_FAILED).
    const raft = new (class extends FakeRaft {
      caughtUp = false;
      appliedOwnTerm() {
        return this.caughtUp;
      }
    })();
    const { p } = make(raft);
    const done = p.propose(enc.encode('early'));
    for (let i = 0; i < 5; i++) await tick();
    await new Promise((r) => setTimeout(r, 20));
    expect(raft.appended).toEqual([]);
    raft.caughtUp = true;
    await new Promise((r) => setTimeout(r, 20));
    expect(raft.appended.length).toBe(1);
    expect(new TextDecoder().decode(decodeProposal(raft.appended[0]![0]!).payload)).toBe('early');
    p.close();
    await done.catch(() => undefined);
  });

  it('issue 9 defect 7: user payloads are stamped on admission, in submission order; admin payloads are not', async () => {
    const { raft, p } = make();
    let t = 100;
    const seen: string[] = [];
    p.setStamp((payload, relativeTtl) => {
      seen.push(`${new TextDecoder().decode(payload)}:${relativeTtl}`);
      payload[0] = t++; // the stamp writes into the proposer's own copy
    });
    const caller = enc.encode('A');
    // Left pending: afterEach closes the proposer, which fails them (UNKNOWN_OUTCOME once in the log).
    const ignore = () => {};
    p.propose(caller, { relativeTtl: true }).catch(ignore);
    p.propose(enc.encode('B')).catch(ignore);
    p.proposeAdmin(enc.encode('C')).catch(ignore);
    await tick();
    expect(seen).toEqual(['A:true', 'B:false']);
    expect(raft.appended[0]!.map((e) => decodeProposal(e).payload[0])).toEqual([100, 101, 'C'.charCodeAt(0)]);
    expect(caller[0]).toBe('A'.charCodeAt(0)); // the caller's buffer is untouched
  });

  it('PE-1/PE-3: concurrent proposals get distinct ids, are pending before Raft sees them, and go as one batch', async () => {
    const { raft, p } = make();
    const a = p.propose(enc.encode('A'));
    const b = p.propose(enc.encode('B'));
    await tick();
    expect(raft.appended).toHaveLength(1);
    const [ea, eb] = raft.appended[0]!;
    expect(raft.pendingAtAppend[0]).toBe(2);
    const da = decodeProposal(ea!);
    const db = decodeProposal(eb!);
    expect(da.id).not.toBe(db.id);
    expect([...ea!.subarray(0, 9)]).toEqual([1, 0, 0, 0, 0, 0, 0, 0, Number(da.id)]);
    p.resolve(10n, 3, ea!, 'ra');
    p.resolve(11n, 3, eb!, 'rb');
    await expect(a).resolves.toEqual({ commitIndex: 10n, response: 'ra' });
    await expect(b).resolves.toEqual({ commitIndex: 11n, response: 'rb' });
  });

  it('PE-4: an entry of another term carrying the same id does not resolve the pending proposal', async () => {
    const { raft, p } = make();
    const a = p.propose(enc.encode('A'));
    await tick();
    const data = raft.appended[0]![0]!;
    const id = decodeProposal(data).id;
    let settled = false;
    void a.then(() => {
      settled = true;
    });
    p.resolve(7n, 2, encodeProposal(id, enc.encode('other')), 'wrong'); // term 2 ≠ 3
    p.resolve(8n, 3, encodeProposal(999n, enc.encode('x')), 'unknown id');
    await tick();
    expect(settled).toBe(false);
    p.resolve(9n, 3, data, 'right');
    await expect(a).resolves.toEqual({ commitIndex: 9n, response: 'right' });
  });

  it('PE-3: fails fast with NOT_LEADER, LEADERSHIP_TRANSFER_IN_PROGRESS, ABORTED and TIMEOUT', async () => {
    const { raft, p } = make();
    raft.leaderNow = false;
    await expect(p.propose(enc.encode('x'))).rejects.toMatchObject({ code: 'NOT_LEADER', leader: 'n2' });
    raft.leaderNow = true;
    raft.transfer = true;
    await expect(p.propose(enc.encode('x'))).rejects.toMatchObject({ code: 'LEADERSHIP_TRANSFER_IN_PROGRESS' });
    raft.transfer = false;
    const ac = new AbortController();
    ac.abort();
    await expect(p.propose(enc.encode('x'), { signal: ac.signal })).rejects.toMatchObject({ code: 'ABORTED' });
    await expect(p.propose(enc.encode('x'), { deadline: Date.now() - 1 })).rejects.toMatchObject({ code: 'TIMEOUT' });
    expect(raft.appended).toHaveLength(0);
    expect(p.inFlight()).toBe(0);
  });

  it('defect 9.8 (UNKNOWN_OUTCOME): a step-down fails proposals already handed to Raft with UNKNOWN_OUTCOME, queued ones with NOT_LEADER', async () => {
    const { raft, p } = make();
    const inLog = [p.propose(enc.encode('a')), p.propose(enc.encode('b'))];
    await tick();
    expect(raft.appended).toHaveLength(1);
    // Admitted in this turn, not yet flushed to Raft: certainly not in any log.
    const queued = p.propose(enc.encode('c'));
    p.failAll('NOT_LEADER', 'n2');
    for (const x of inLog) await expect(x).rejects.toBeInstanceOf(ProposalError);
    for (const x of inLog) await expect(x).rejects.toMatchObject({ code: 'UNKNOWN_OUTCOME', leader: 'n2' });
    await expect(queued).rejects.toMatchObject({ code: 'NOT_LEADER', leader: 'n2' });
    await tick();
    expect(raft.appended).toHaveLength(1);
    expect(p.inFlight()).toBe(0);
  });

  it('defect 9.8 (UNKNOWN_OUTCOME): a step-down while the batch is being wrapped answers NOT_LEADER (nothing reached Raft)', async () => {
    const { raft, p } = make();
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    p.setWrap(async (payloads) => {
      await gate;
      return payloads;
    });
    const x = p.propose(enc.encode('a'));
    await tick();
    p.failAll('NOT_LEADER', 'n2');
    release();
    await expect(x).rejects.toMatchObject({ code: 'NOT_LEADER' });
    await tick();
    expect(raft.appended).toHaveLength(0);
  });

  it('PE-6: an abort after admission removes the pending record; the deadline sweep fails with TIMEOUT', async () => {
    const { p } = make();
    const ac = new AbortController();
    const a = p.propose(enc.encode('a'), { signal: ac.signal });
    const t = p.propose(enc.encode('t'), { deadline: Date.now() + 30 });
    await tick();
    ac.abort();
    await expect(a).rejects.toMatchObject({ code: 'ABORTED' });
    await expect(t).rejects.toMatchObject({ code: 'TIMEOUT' });
    expect(p.inFlight()).toBe(0);
  });

  it('PE-6: close fails queued proposals with CLOSED, proposals handed to Raft with UNKNOWN_OUTCOME (defect 9.8)', async () => {
    const { p } = make();
    const a = p.propose(enc.encode('a'));
    await tick();
    const q = p.propose(enc.encode('q'));
    p.close();
    await expect(a).rejects.toMatchObject({ code: 'UNKNOWN_OUTCOME' });
    await expect(q).rejects.toMatchObject({ code: 'CLOSED' });
  });

  it('PE-5/RO-12: with a wrap installed, only the payload is wrapped; the proposal header stays cleartext', async () => {
    const { raft, p } = make();
    const aead = await loadAead('node');
    const ks = new Keystore();
    ks.set(5, new Uint8Array(32).fill(1));
    let n = 0;
    p.setWrap(async (payloads) =>
      payloads.map((pl) => {
        const nonce = new Uint8Array(12);
        nonce[11] = ++n;
        return wrapRaft(aead, ks, 5, nonce, pl);
      }),
    );
    const a = p.propose(enc.encode('SET k v'));
    await tick();
    await tick();
    const data = raft.appended[0]![0]!;
    expect(data[0]).toBe(0x01);
    const { id, payload } = decodeProposal(data);
    expect(new TextDecoder().decode(unwrapRaft(aead, ks, payload))).toBe('SET k v');
    p.resolve(4n, 3, data, 'OK');
    await expect(a).resolves.toEqual({ commitIndex: 4n, response: 'OK' });
    expect(id).toBeGreaterThan(0n);
  });

  it('RO-12: a wrap error rejects the proposal and nothing reaches Raft', async () => {
    const { raft, p } = make();
    p.setWrap(async () => {
      throw new ProposalError('WRITER_NOT_REGISTERED', 'not registered');
    });
    await expect(p.propose(enc.encode('x'))).rejects.toMatchObject({ code: 'WRITER_NOT_REGISTERED' });
    expect(raft.appended).toHaveLength(0);
  });
});

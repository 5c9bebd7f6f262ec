// The test-only peer fault layer (issue 10 item 8, SPEC §17 harness): the layer alone, then wired
// into two real PeerTransports.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { PeerFaultLayer, parsePeerFaultSpec, peerFaultLayerFromEnv, stopPeerFaultWatchers } from '../../src/transport/peer-faults.js';
import { PeerTransport } from '../../src/transport/peer-transport.js';

async function waitFor(cond: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Runs `n` messages through the layer; returns the delivery order of their numbers. */
async function pump(layer: PeerFaultLayer, n: number, peer = 'n2', dir: 'out' | 'in' = 'out', settleMs = 80): Promise<number[]> {
  const got: number[] = [];
  for (let i = 0; i < n; i++) layer.message(peer, dir, () => got.push(i));
  await new Promise((r) => setTimeout(r, settleMs));
  return got;
}

describe('PeerFaultLayer', () => {
  it('passes messages through unchanged without a matching rule', async () => {
    const l = new PeerFaultLayer({ rules: [{ peer: 'n3', drop: 1 }] });
    expect(await pump(l, 50, 'n2', 'out', 0)).toEqual([...Array(50).keys()]);
  });

  it('drop: a probability of 1 loses everything, 0.3 loses some but not all', async () => {
    expect(await pump(new PeerFaultLayer({ rules: [{ drop: 1 }] }), 100)).toEqual([]);
    const l = new PeerFaultLayer({ seed: 7, rules: [{ drop: 0.3 }] });
    const got = await pump(l, 1000);
    expect(got.length).toBeGreaterThan(500);
    expect(got.length).toBeLessThan(900);
    expect(l.counters.dropped).toBe(1000 - got.length);
  });

  it('duplicate: every message delivered, some twice', async () => {
    const l = new PeerFaultLayer({ rules: [{ duplicate: 0.5 }] });
    const got = await pump(l, 200);
    expect(new Set(got).size).toBe(200);
    expect(got.length).toBe(200 + l.counters.duplicated);
    expect(l.counters.duplicated).toBeGreaterThan(0);
  });

  it('delay: nothing arrives synchronously; jitter and reorder change the order, nothing is lost', async () => {
    const l = new PeerFaultLayer({ rules: [{ delayMs: 5, jitterMs: 10, reorder: 0.2, reorderMs: 20 }] });
    const got: number[] = [];
    for (let i = 0; i < 200; i++) l.message('n2', 'out', () => got.push(i));
    expect(got).toEqual([]);
    await waitFor(() => got.length === 200, 'all delayed messages');
    expect([...got].sort((a, b) => a - b)).toEqual([...Array(200).keys()]);
    expect(got).not.toEqual([...Array(200).keys()]);
    expect(l.counters.reordered).toBeGreaterThan(0);
  });

  it('rules match by peer and direction, first match wins; set() and clear() change them at run time', async () => {
    const l = new PeerFaultLayer({ rules: [{ peer: 'n2', dir: 'in', partition: true }, { peer: '*', dir: 'both', drop: 0 }] });
    expect(await pump(l, 5, 'n2', 'in', 0)).toEqual([]);
    expect(await pump(l, 5, 'n2', 'out', 0)).toHaveLength(5);
    expect(l.blocks('n2', 'in')).toBe(true);
    expect(l.blocks('n2', 'out')).toBe(false);
    l.set({ rules: [{ partition: true, dir: 'both' }] });
    expect(l.blocks('n3', 'out')).toBe(true);
    l.clear();
    expect(l.active).toBe(false);
    expect(await pump(l, 5, 'n2', 'in', 0)).toHaveLength(5);
  });

  it('the same seed gives the same fault schedule', async () => {
    const spec = { seed: 42, rules: [{ drop: 0.5 }] };
    expect(await pump(new PeerFaultLayer(spec), 100, 'n2', 'out', 0)).toEqual(await pump(new PeerFaultLayer(spec), 100, 'n2', 'out', 0));
  });

  it('refuses malformed specs naming the field', () => {
    expect(() => parsePeerFaultSpec({ rules: [{ drop: 2 }] })).toThrow(/rules\[0\]\.drop/);
    expect(() => parsePeerFaultSpec({ rules: [{ dorp: 0.1 }] })).toThrow(/rules\[0\]\.dorp is unknown/);
    expect(() => parsePeerFaultSpec({ rules: [{ dir: 'sideways' }] })).toThrow(/dir/);
    expect(() => parsePeerFaultSpec([])).toThrow(/object/);
    expect(() => parsePeerFaultSpec({ rules: [{ drop: -1 }] })).toThrow(expect.objectContaining({ code: 'PEER_FAULT_SPEC_INVALID' }));
    expect(() => peerFaultLayerFromEnv('{oops')).toThrow(expect.objectContaining({ code: 'PEER_FAULT_SPEC_INVALID' }));
  });
});

describe('SEALKV_PEER_FAULTS', () => {
  const dirs: string[] = [];
  afterEach(() => {
    stopPeerFaultWatchers();
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it('unset or empty → no layer (zero cost); inline JSON → a layer', () => {
    expect(peerFaultLayerFromEnv(undefined)).toBeNull();
    expect(peerFaultLayerFromEnv('  ')).toBeNull();
    expect(peerFaultLayerFromEnv('{"rules":[{"drop":1}]}')?.active).toBe(true);
    expect(() => peerFaultLayerFromEnv('{"rules":[{"drop":"x"}]}')).toThrow(/drop/);
  });

  it('@file: the node polls the file, so a test changes and lifts the faults at run time', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'faults-'));
    dirs.push(dir);
    const file = join(dir, 'faults.json');
    const errors: Error[] = [];
    const l = peerFaultLayerFromEnv(`@${file}`, (e) => errors.push(e));
    expect(l?.active).toBe(false); // missing file = no faults
    writeFileSync(file, JSON.stringify({ rules: [{ partition: true }] }));
    await waitFor(() => l?.blocks('n2', 'out') === true, 'file picked up');
    writeFileSync(file, '{ not json');
    await waitFor(() => errors.length > 0, 'malformed file reported');
    expect(l?.blocks('n2', 'out')).toBe(true); // the previous faults stay
    writeFileSync(file, '');
    await waitFor(() => l?.active === false, 'faults lifted');
  });
});

describe('PeerTransport with a fault layer', () => {
  const open: PeerTransport[] = [];
  afterEach(async () => {
    await Promise.all(open.splice(0).map((t) => t.close()));
  });

  async function pair(faults1: PeerFaultLayer | null, faults2: PeerFaultLayer | null) {
    const mk = (id: string, faults: PeerFaultLayer | null) => {
      const t = new PeerTransport({ id, clusterId: 'c', listen: '127.0.0.1:0', peers: {}, backoff: { minMs: 10, maxMs: 100 }, faults });
      open.push(t);
      return t;
    };
    const a = mk('n1', faults1);
    const b = mk('n2', faults2);
    const pa = await a.start();
    const pb = await b.start();
    const peers = { n1: `127.0.0.1:${pa.port}`, n2: `127.0.0.1:${pb.port}` };
    a.updatePeers(peers);
    b.updatePeers(peers);
    await waitFor(() => a.status().every((p) => p.connected) && b.status().every((p) => p.connected), 'connected');
    return { a, b };
  }

  it('duplicates one-way messages but never requests: a request is served exactly once', async () => {
    const faults = new PeerFaultLayer({ rules: [{ dir: 'both', duplicate: 1 }] });
    const { a, b } = await pair(faults, null);
    const msgs: unknown[] = [];
    let served = 0;
    b.onMessage((_from, m) => msgs.push(m));
    b.onRequest((_from, p) => {
      served++;
      return p;
    });
    a.send('n2', { x: 1 });
    await waitFor(() => msgs.length === 2, 'duplicated message');
    expect(msgs).toEqual([{ x: 1 }, { x: 1 }]);
    for (let i = 0; i < 20; i++) expect(await a.request('n2', { i }, 2000)).toEqual({ i });
    await new Promise((r) => setTimeout(r, 50));
    expect(served).toBe(20);
  });

  it('a delayed message carries its contents at send time', async () => {
    const { a, b } = await pair(new PeerFaultLayer({ rules: [{ delayMs: 30 }] }), null);
    const msgs: unknown[] = [];
    b.onMessage((_from, m) => msgs.push(m));
    const m = { v: 'before' };
    a.send('n2', m);
    m.v = 'after';
    await waitFor(() => msgs.length === 1, 'delayed message');
    expect(msgs).toEqual([{ v: 'before' }]);
  });

  it('partition cuts messages, requests (they time out) and replies; lifting it restores traffic', async () => {
    const fa = new PeerFaultLayer({ rules: [{ peer: 'n2', dir: 'out', partition: true }] });
    const { a, b } = await pair(fa, null);
    const msgs: unknown[] = [];
    b.onMessage((_from, m) => msgs.push(m));
    b.onRequest(() => 'pong');
    a.onRequest(() => 'pong');
    a.send('n2', 1);
    await expect(a.request('n2', 'ping', 200)).rejects.toMatchObject({ code: 'TIMEOUT' });
    // One-way: n2 → n1 still works, but n1's reply to n2 is cut.
    await expect(b.request('n1', 'ping', 200)).rejects.toMatchObject({ code: 'TIMEOUT' });
    expect(msgs).toEqual([]);
    fa.clear();
    a.send('n2', 2);
    await waitFor(() => msgs.length === 1, 'message after heal');
    expect(msgs).toEqual([2]);
    expect(await a.request('n2', 'ping', 2000)).toBe('pong');
    expect(await b.request('n1', 'ping', 2000)).toBe('pong');
  });

  it('inbound faults: n2 drops what it receives from n1', async () => {
    const fb = new PeerFaultLayer({ rules: [{ peer: 'n1', dir: 'in', drop: 1 }] });
    const { a, b } = await pair(null, fb);
    const got: unknown[] = [];
    b.onMessage((_f, m) => got.push(m));
    for (let i = 0; i < 10; i++) a.send('n2', i);
    await waitFor(() => fb.counters.dropped === 10, 'drops');
    expect(got).toEqual([]);
  });
});

describe('PeerFaultLayer types filter (AS-8: slow only the acknowledgements)', () => {
  it('a rule with types matches only messages of those types, never requests', async () => {
    const l = new PeerFaultLayer({ rules: [{ types: [6, 8], drop: 1 }] });
    const got: number[] = [];
    for (const type of [5, 6, 7, 8]) l.message('n1', 'out', () => got.push(type), { type });
    l.message('n1', 'out', () => got.push(0)); // no message object: not a typed message
    expect(got).toEqual([5, 7, 0]);
    expect(l.counters.dropped).toBe(2);
    expect(l.blocks('n1', 'out')).toBe(false);
    expect(new PeerFaultLayer({ rules: [{ types: [6], partition: true }] }).blocks('n1', 'out')).toBe(false);
    expect(() => parsePeerFaultSpec({ rules: [{ types: ['AppResp'] }] })).toThrow(/types/);
  });
});

// Issue 9, defect 3 (node side): a snapshot that arrives while committed membership entries are
// still queued for apply must not have them applied over it — no phantom voter in the running
// configuration, no phantom address in peers.json. One real ClusterNode (n2) in process; the test
// plays its leader n1 over a real PeerTransport: it appends a long run of SETs ending with
// "add n3", and right after n2 acknowledges them sends a snapshot (whose configuration has no
// n3) — so the snapshot meets entries n2 has committed but not yet applied.

import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import type { NodeConfig } from '../../src/cli/config.js';
import { encodeProposal } from '../../src/crypto/envelope/proposal.js';
import type { HaltError } from '../../src/errors.js';
import { ClusterNode } from '../../src/node/cluster-node.js';
import { encodeCommand } from '../../src/node/fsm/command-codec.js';
import { silentLogger } from '../../src/node/logger.js';
import { encodeConfChange } from '../../src/raft/conf-change-codec.js';
import { ConfChangeType, type Entry, EntryType, type Message, MessageType } from '../../src/raft/types.js';
import { NodeMetrics } from '../../src/server/metrics.js';
import { ApplyStore, LmdbLogStorage, createSnapshotStream, openStorageEnv } from '../../src/storage/index.js';
import { PeerTransport } from '../../src/transport/peer-transport.js';
import { freePort } from '../integration/harness/ports.js';
import { waitFor } from '../integration/harness/wait.js';

const cleanup: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

const enc = new TextEncoder();
const N = 40_000; // SETs before the conf change: more than 8 apply batches of 4096, so the pipeline yields to I/O (and the snapshot) while applying
const SNAP_INDEX = N + 100;
const CONF = { voters: ['n1', 'n2'], learners: [] };

function set(index: number): Entry {
  const cmd = encodeCommand({ op: 'set', now: 0n, key: enc.encode(`k${index}`), value: enc.encode(`v${index}`), condition: 'always', get: false, ttl: { mode: 'clear' } });
  return { index, term: 2, type: EntryType.Normal, data: encodeProposal(BigInt(index), cmd) };
}

it('defect 9.3: a snapshot over queued membership entries: no phantom voter, peers.json matches the snapshot', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sealkv-d93-'));
  cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
  const [p1, p2] = [await freePort(), await freePort()];
  const addr1 = `127.0.0.1:${p1}`;
  const addr2 = `127.0.0.1:${p2}`;

  // The snapshot n1 will send: state at SNAP_INDEX, configuration {n1, n2}, both addresses.
  const src = await openStorageEnv(join(dir, 'src'));
  cleanup.push(() => src.close());
  await LmdbLogStorage.open(src).persist({ snapshot: { index: SNAP_INDEX, term: 2, conf: CONF } });
  const b = new ApplyStore(src).begin();
  b.putKv(enc.encode('from-snapshot'), enc.encode('yes'));
  b.setConfState(CONF);
  await b.commit(BigInt(SNAP_INDEX));
  const stream = createSnapshotStream(src, { peers: new Map([['n1', addr1], ['n2', addr2]]), chunkBytes: 64 * 1024 });

  const cfg: NodeConfig = {
    id: 'n2',
    clusterId: 'd93',
    dataDir: join(dir, 'n2'),
    raft: { host: '127.0.0.1', port: p2 },
    resp: { host: '127.0.0.1', port: 0 },
    admin: { host: '127.0.0.1', port: 0 },
    peers: new Map([
      ['n1', { host: '127.0.0.1', port: p1 }],
      ['n2', { host: '127.0.0.1', port: p2 }],
    ]),
    join: false,
    cipher: 'node',
    cryptoWorkers: 1,
    adminTokenFile: null,
    logLevel: 'silent',
    tickMs: 50,
    electionTicks: 40, // n2 must not disturb: the test is its leader
    heartbeatTicks: 1,
    snapshotThreshold: 1_000_000,
    compactionMargin: 1000,
    maxBulkBytes: 1 << 20,
    requestTimeoutMs: 5000,
  };
  const halts: HaltError[] = [];
  const fatals: unknown[] = [];
  const node = await ClusterNode.start(cfg, silentLogger(), new NodeMetrics(false), { onHalt: (e) => halts.push(e), onFatal: (e) => fatals.push(e) });
  cleanup.push(() => node.close());

  // n1: the leader, a bare transport.
  const n1 = new PeerTransport({ id: 'n1', clusterId: 'd93', listen: addr1, peers: new Map([['n2', addr2]]) });
  cleanup.push(() => n1.close());
  const acks: Message[] = [];
  n1.onMessage((_from, m) => {
    if ((m as Message).type === MessageType.AppResp) acks.push(m as Message);
  });
  await n1.start();

  // Stage the snapshot data on n2 first (the Snap message comes later).
  let seq = 0;
  const id = 'snap-d93';
  for await (const data of stream.chunks) await n1.request('n2', { t: 'snap-chunk', id, seq: seq++, data }, 10_000);
  await n1.request('n2', { t: 'snap-chunk', id, seq, last: SNAP_INDEX }, 10_000);

  // Entries 2..N+1 (SETs) and N+2 = add n3, all committed.
  const entries = Array.from({ length: N }, (_, i) => set(i + 2));
  const addN3: Entry = {
    index: N + 2,
    term: 2,
    type: EntryType.ConfChange,
    data: encodeConfChange({ type: ConfChangeType.AddVoter, node: 'n3', context: enc.encode('127.0.0.1:9') }),
  };
  n1.send('n2', { type: MessageType.App, from: 'n1', to: 'n2', term: 2, index: 1, logTerm: 1, entries: [...entries, addN3], commit: N + 2 } satisfies Message);
  await waitFor('n2 to acknowledge the entries', () => acks.some((m) => m.index === N + 2 && !m.reject), 20_000, 1);

  // At once: the snapshot. A node that is still applying must not take it over those entries;
  // the leader resends until it is taken (as a real leader does after its next probe).
  const snap: Message = { type: MessageType.Snap, from: 'n1', to: 'n2', term: 2, snapshot: { index: SNAP_INDEX, term: 2, conf: CONF } };
  await waitFor(
    'n2 to install the snapshot',
    async () => {
      n1.send('n2', snap);
      await new Promise((r) => setTimeout(r, 20));
      return node.status().appliedIndex === String(SNAP_INDEX);
    },
    30_000,
    1,
  );
  await node.linearizableRead().catch(() => undefined);

  expect(halts).toEqual([]);
  expect(fatals).toEqual([]);
  expect(node.raft.status().conf, 'running configuration (a phantom n3 if the add was applied over the snapshot)').toEqual(CONF);
  expect(node.members().map((m) => m.id).sort()).toEqual(['n1', 'n2']);
  const peers = JSON.parse(readFileSync(join(cfg.dataDir, 'peers.json'), 'utf8')) as Record<string, string>;
  expect(Object.keys(peers).sort(), 'peers.json').toEqual(['n1', 'n2']);
  expect(peers.n1).toBe(addr1);
}, 60_000);

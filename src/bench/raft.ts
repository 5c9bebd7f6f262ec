// Micro-benchmark of the pure Raft core: a 3-node in-memory cluster driven in one process
// (MemoryStorage, no disk, no network), proposals of 256 B in batches. Reports entries
// committed per second and CPU time per entry. `npm run bench:raft` (after the build).
// Options: --batch N (default 128), --seconds S (default 3), --json.

import { MemoryStorage } from '../raft/memory-storage.js';
import { RaftNode } from '../raft/node.js';
import type { Message, NodeId, Ready } from '../raft/types.js';

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
}

const BATCH = arg('--batch', 128);
const SECONDS = arg('--seconds', 3);
const PAYLOAD = 256;
const ids: NodeId[] = ['n1', 'n2', 'n3'];

interface BenchNode {
  raft: RaftNode;
  storage: MemoryStorage;
  applied: number;
}

let seed = 1;
const nodes = new Map<NodeId, BenchNode>();
for (const id of ids) {
  const storage = MemoryStorage.bootstrap(ids);
  const raft = new RaftNode(
    {
      id,
      electionTick: 10,
      heartbeatTick: 1,
      preVote: true,
      checkQuorum: true,
      maxSizePerMsg: 1 << 20,
      maxInflightMsgs: 256,
      maxInflightBytes: 0,
      random: (n) => {
        seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
        return seed % n;
      },
      applied: 1,
    },
    storage,
  );
  nodes.set(id, { raft, storage, applied: 1 });
}

const queue: Message[] = [];

function handle(n: BenchNode, rd: Ready): void {
  for (const m of rd.messages) queue.push(m);
  if (rd.entries.length > 0) n.storage.append(rd.entries);
  if (rd.hardState) n.storage.setHardState(rd.hardState);
  for (const m of rd.messagesAfterPersist) queue.push(m);
  const ce = rd.committedEntries;
  if (ce.length > 0) n.applied = ce[ce.length - 1]!.index;
  n.raft.advance(rd);
}

function pump(): void {
  for (let guard = 0; guard < 1000; guard++) {
    let work = false;
    for (const n of nodes.values()) {
      const rd = n.raft.ready();
      if (rd) {
        handle(n, rd);
        work = true;
      }
    }
    while (queue.length > 0) {
      const batch = queue.splice(0, queue.length);
      for (const m of batch) nodes.get(m.to)!.raft.step(m);
      work = true;
    }
    if (!work) return;
  }
}

// Elect n1.
const n1 = nodes.get('n1')!;
for (let i = 0; i < 40 && !n1.raft.isLeader(); i++) {
  n1.raft.tick();
  pump();
}
if (!n1.raft.isLeader()) throw new Error('bench: no leader');
pump();

// Payloads: views into one buffer (the benchmark measures Raft, not allocation of user data).
const pool = new Uint8Array(PAYLOAD * BATCH);
const data: Uint8Array[] = [];
for (let i = 0; i < BATCH; i++) data.push(pool.subarray(i * PAYLOAD, (i + 1) * PAYLOAD));

function run(ms: number): { entries: number; wallMs: number; cpuUs: number } {
  const startApplied = n1.applied;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  let rounds = 0;
  while (performance.now() - t0 < ms) {
    // A few proposals per pump round: proposals batch like a run loop's event-loop turn.
    for (let k = 0; k < 4; k++) {
      const r = n1.raft.propose(data);
      if (!r.ok) throw new Error(`bench: propose failed: ${r.code}`);
    }
    pump();
    if (++rounds % 64 === 0) {
      // Keep memory flat: compact what every node applied.
      for (const n of nodes.values()) {
        const upTo = Math.min(n.applied, n.storage.lastIndex()) - 1000;
        if (upTo > n.storage.firstIndex()) n.storage.compact(upTo);
      }
    }
  }
  const wallMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  return { entries: n1.applied - startApplied, wallMs, cpuUs: cpu.user + cpu.system };
}

run(Math.min(1000, SECONDS * 300)); // warm-up (JIT)
const r = run(SECONDS * 1000);
const perSec = (r.entries / r.wallMs) * 1000;
const result = {
  bench: 'raft-core-3-nodes-in-memory',
  payloadBytes: PAYLOAD,
  batch: BATCH,
  entries: r.entries,
  seconds: +(r.wallMs / 1000).toFixed(3),
  entriesPerSec: Math.round(perSec),
  cpuNsPerEntry: Math.round((r.cpuUs * 1000) / r.entries),
  target: 500_000,
  pass: perSec >= 500_000,
};
if (process.argv.includes('--json')) process.stdout.write(`${JSON.stringify(result)}\n`);
else {
  process.stdout.write(
    `raft core, 3 in-memory nodes, ${PAYLOAD} B entries, batches of ${BATCH}: ${result.entriesPerSec.toLocaleString('en-US')} entries/s committed, ` +
      `${result.cpuNsPerEntry} ns CPU per entry (all 3 nodes) — ${result.pass ? 'PASS' : 'FAIL'} (target ≥ 500,000/s)\n`,
  );
}
process.exitCode = result.pass ? 0 : 1;

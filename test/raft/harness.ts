// A small deterministic in-process network for interaction tests: nodes over MemoryStorage, a
// message queue with per-link drop filters, and a run loop that follows the Ready contract.

import { decodeConfChange } from '../../src/raft/conf-change-codec.js';
import { MemoryStorage } from '../../src/raft/memory-storage.js';
import { RaftNode, type RaftNodeConfig } from '../../src/raft/node.js';
import { EntryType, type Entry, type Message, MessageType, type NodeId, type ReadState } from '../../src/raft/types.js';

export interface TestNode {
  id: NodeId;
  raft: RaftNode;
  storage: MemoryStorage;
  applied: Entry[];
  readStates: ReadState[];
  /** Snapshot data staged by the "transport" for installation. */
  staged: Map<number, Uint8Array>;
}

export function config(id: NodeId, over: Partial<RaftNodeConfig> = {}): RaftNodeConfig {
  let s = 0;
  for (const ch of id) s = s * 31 + ch.charCodeAt(0);
  return {
    id,
    electionTick: 10,
    heartbeatTick: 1,
    preVote: false,
    checkQuorum: false,
    maxSizePerMsg: 1 << 20,
    maxInflightMsgs: 256,
    maxInflightBytes: 0,
    // Deterministic per node, different across nodes.
    random: (n) => {
      s = (Math.imul(s, 1103515245) + 12345) >>> 0;
      return s % n;
    },
    ...over,
  };
}

export class TestNet {
  readonly nodes = new Map<NodeId, TestNode>();
  queue: Message[] = [];
  /** Links that drop everything: "a->b". */
  readonly cut = new Set<string>();
  /** Every message that went through send(), for assertions. */
  readonly sent: Message[] = [];
  dropTypes = new Set<MessageType>();
  /** Extra drop rule (may keep state: it sees every message in send order). */
  drop: ((m: Message) => boolean) | null = null;

  constructor(voters: NodeId[], over: Partial<RaftNodeConfig> = {}, learners: NodeId[] = []) {
    for (const id of [...voters, ...learners]) this.add(id, MemoryStorage.bootstrap(voters, learners), over);
  }

  add(id: NodeId, storage: MemoryStorage, over: Partial<RaftNodeConfig> = {}, applied = 1): TestNode {
    const n: TestNode = {
      id,
      raft: new RaftNode({ ...config(id, over), applied: Math.min(applied, storage.initialState().hardState.commit) }, storage),
      storage,
      applied: [],
      readStates: [],
      staged: new Map(),
    };
    this.nodes.set(id, n);
    return n;
  }

  node(id: NodeId): TestNode {
    return this.nodes.get(id)!;
  }

  isolate(id: NodeId): void {
    for (const other of this.nodes.keys()) {
      if (other === id) continue;
      this.cut.add(`${id}->${other}`);
      this.cut.add(`${other}->${id}`);
    }
  }

  heal(): void {
    this.cut.clear();
  }

  private send(m: Message): void {
    this.sent.push(m);
    if (this.cut.has(`${m.from}->${m.to}`) || this.dropTypes.has(m.type) || this.drop?.(m)) {
      if (m.type === MessageType.Snap) this.nodes.get(m.from)?.raft.step({ type: MessageType.SnapStatus, from: m.to, to: m.from, term: 0, reject: true });
      return;
    }
    if (m.type === MessageType.Snap) {
      // The transport streams the leader's snapshot data, then reports the outcome.
      const snap = this.nodes.get(m.from)!.storage.snapshot();
      this.nodes.get(m.to)?.staged.set(snap.meta.index, snap.data);
      this.queue.push({ ...m, snapshot: snap.meta });
      this.nodes.get(m.from)!.raft.step({ type: MessageType.SnapStatus, from: m.to, to: m.from, term: 0 });
      return;
    }
    this.queue.push(m);
  }

  /** Run one node's Ready (persist, send, apply, advance). */
  processReady(n: TestNode): boolean {
    const rd = n.raft.ready();
    if (!rd) return false;
    for (const m of rd.messages) this.send(m);
    if (rd.snapshot) n.storage.applySnapshot({ meta: rd.snapshot.meta, data: n.staged.get(rd.snapshot.meta.index) ?? new Uint8Array(0) });
    n.storage.append(rd.entries);
    if (rd.hardState) n.storage.setHardState(rd.hardState);
    for (const m of rd.messagesAfterPersist) this.send(m);
    for (const e of rd.committedEntries) {
      n.applied.push(e);
      if (e.type === EntryType.ConfChange) n.storage.setConfState(n.raft.applyConfChange(decodeConfChange(e.data)));
    }
    n.readStates.push(...rd.readStates);
    n.raft.advance(rd);
    return true;
  }

  /** Deliver messages and process Readies until nothing moves. */
  stabilize(maxRounds = 1000): void {
    for (let i = 0; i < maxRounds; i++) {
      let moved = false;
      for (const n of this.nodes.values()) if (this.processReady(n)) moved = true;
      const q = this.queue;
      this.queue = [];
      for (const m of q) {
        const to = this.nodes.get(m.to);
        if (to) {
          to.raft.step(m);
          moved = true;
        }
      }
      if (!moved) return;
    }
    throw new Error('harness: did not stabilize');
  }

  tick(id: NodeId, times = 1): void {
    for (let i = 0; i < times; i++) this.node(id).raft.tick();
  }

  tickAll(times = 1): void {
    for (let i = 0; i < times; i++) {
      for (const n of this.nodes.values()) n.raft.tick();
      this.stabilize();
    }
  }

  /** Make `id` campaign (election timeout elapses on it only) and settle. */
  elect(id: NodeId): void {
    const n = this.node(id);
    for (let i = 0; i < 100 && !n.raft.isLeader(); i++) {
      n.raft.tick();
      this.stabilize();
    }
    if (!n.raft.isLeader()) throw new Error(`harness: ${id} was not elected`);
  }

  propose(id: NodeId, ...payloads: string[]): void {
    const r = this.node(id).raft.propose(payloads.map((p) => new TextEncoder().encode(p)));
    if (!r.ok) throw new Error(`harness: propose on ${id} failed: ${r.code}`);
    this.stabilize();
  }
}

export function text(e: Entry): string {
  return new TextDecoder().decode(e.data);
}

export function appliedTexts(n: TestNode): string[] {
  return n.applied.filter((e) => e.type === EntryType.Normal && e.data.length > 0).map(text);
}

// Snapshot transfer between peers, out of band of the Raft messages.
//
// Sender (leader): when the core emits a Snap message for a follower, stream the current applied
// state from ONE LMDB read transaction in chunks, each awaited (back-pressure), then send the Snap
// message with the stream's own header as metadata — the read transaction may be ahead of the
// snapshot the core recorded, and the follower must install exactly what it received — and
// report SnapStatus to the core. Receiver (follower): stage the chunks in a file; when the core
// accepts the Snap message (Ready.snapshot), install the staged file atomically.

import { randomUUID } from 'node:crypto';
import { SealkvError } from '../errors.js';
import { type Message, MessageType, type NodeId, type SnapshotMeta } from '../raft/index.js';
import { createSnapshotStream, type InstallOptions, installSnapshot, type SnapshotHeader, type StorageEnv } from '../storage/index.js';
import type { Logger } from './logger.js';
import { realScheduler, type Scheduler } from './scheduler.js';
import type { SnapshotStaging, StagingFile } from './snapshot-staging.js';

export interface SnapChunk {
  t: 'snap-chunk';
  id: string;
  seq: number;
  data?: Uint8Array;
  /** Set on the final (empty) chunk: the stream's last included index. */
  last?: number;
}

export interface SnapshotPeerIo {
  request(to: NodeId, payload: SnapChunk, timeoutMs: number): Promise<unknown>;
  sendRaft(to: NodeId, m: Message): void;
  stepLocal(m: Message): void;
  /** The sender's address book: the stream's header carries the members' addresses. */
  peers?(): ReadonlyMap<string, string>;
  /** Term of a log index from the node's Raft log (the WAL), for the header's last term. */
  termOf?(index: number): number;
  /** SH-4: the raft cutover this process has seen and the sidecar's (never downgrade the header). */
  cutoverSeen?(): { seen: bigint; sidecar: bigint };
}

const CHUNK_BYTES = 1024 * 1024;
const CHUNK_TIMEOUT_MS = 30_000;

export class SnapshotSender {
  private readonly active = new Set<NodeId>();

  constructor(
    private readonly env: StorageEnv,
    private readonly io: SnapshotPeerIo,
    private readonly log: Logger,
    private readonly sched: Scheduler = realScheduler,
    /** Stream ids (the simulator passes a seeded one). */
    private readonly newId: () => string = randomUUID,
  ) {}

  send(m: Message): void {
    if (this.active.has(m.to)) return; // one stream per follower at a time
    this.active.add(m.to);
    void this.stream(m).finally(() => this.active.delete(m.to));
  }

  private async stream(m: Message): Promise<void> {
    const termOf = this.io.termOf?.bind(this.io);
    const cutoverSeen = this.io.cutoverSeen?.bind(this.io);
    const s = createSnapshotStream(this.env, {
      chunkBytes: CHUNK_BYTES,
      peers: this.io.peers?.(),
      termOf,
      ...(cutoverSeen ? { cutoverSeen, onCutoverError: (msg: string) => this.log.error({ to: m.to }, msg) } : {}),
    });
    const id = this.newId();
    const index = Number(s.header.lastIndex);
    const t0 = this.sched.monotonic();
    let bytes = 0;
    try {
      let seq = 0;
      for await (const data of s.chunks) {
        bytes += data.length;
        await this.io.request(m.to, { t: 'snap-chunk', id, seq: seq++, data }, CHUNK_TIMEOUT_MS);
      }
      await this.io.request(m.to, { t: 'snap-chunk', id, seq, last: index }, CHUNK_TIMEOUT_MS);
      const meta: SnapshotMeta = { index, term: Number(s.header.lastTerm), conf: s.header.conf };
      this.io.sendRaft(m.to, { ...m, snapshot: meta });
      this.log.info({ to: m.to, index, bytes, ms: Math.round(this.sched.monotonic() - t0) }, 'snapshot sent');
      this.io.stepLocal({ type: MessageType.SnapStatus, from: m.to, to: m.from, term: 0, reject: false });
    } catch (e) {
      s.close();
      this.log.warn({ to: m.to, index, err: (e as Error).message }, 'snapshot transfer failed');
      this.io.stepLocal({ type: MessageType.SnapStatus, from: m.to, to: m.from, term: 0, reject: true });
    }
  }
}

interface Staging {
  name: string;
  next: number;
  handle: StagingFile;
}

export class SnapshotReceiver {
  private readonly staging = new Map<string, Staging>();
  /** Completed streams by last included index. */
  private readonly ready = new Map<number, string>();

  /** `files`: the staging area, already emptied of a previous process's leftovers (useless: the core never saw their Snap message). */
  constructor(
    private readonly files: SnapshotStaging,
    private readonly env: StorageEnv,
    private readonly log: Logger,
  ) {}

  /** Handles one chunk request; resolves when the chunk is written (the sender's back-pressure). */
  async onChunk(from: NodeId, c: SnapChunk): Promise<true> {
    const key = `${from}:${c.id}`;
    let st = this.staging.get(key);
    if (c.seq === 0 && !st) {
      const name = `${from}-${c.id}.part`;
      st = { name, next: 0, handle: await this.files.create(name) };
      this.staging.set(key, st);
    }
    if (!st || c.seq !== st.next) throw new SealkvError('SNAPSHOT_STREAM', `snapshot chunk ${c.seq} out of order from ${from}`);
    st.next++;
    if (c.last === undefined) {
      if (c.data) await st.handle.write(c.data);
      return true;
    }
    this.staging.delete(key);
    await st.handle.sync();
    await st.handle.close();
    const done = `snap-${c.last}.snap`;
    await this.files.rename(st.name, done);
    const old = this.ready.get(c.last);
    if (old && old !== done) await this.files.remove(old);
    this.ready.set(c.last, done);
    return true;
  }

  /**
   * Installs the staged stream for `meta` (atomically: all of it or nothing). `opts` are
   * installSnapshot's (the node adds its log reset, halt check and crash points there).
   */
  async install(meta: SnapshotMeta, opts: InstallOptions = {}): Promise<SnapshotHeader> {
    const name = this.ready.get(meta.index);
    if (!name) throw new SealkvError('SNAPSHOT_MISSING', `no staged snapshot data for index ${meta.index}`);
    try {
      const header = await installSnapshot(this.env, this.files.read(name, CHUNK_BYTES), {
        ...opts,
        check: async (h) => {
          if (Number(h.lastIndex) !== meta.index || Number(h.lastTerm) !== meta.term) {
            throw new SealkvError('SNAPSHOT_MISMATCH', `staged snapshot ${h.lastIndex}/${h.lastTerm} does not match ${meta.index}/${meta.term}`);
          }
          await opts.check?.(h);
        },
      });
      this.log.info({ index: meta.index }, 'snapshot installed');
      return header;
    } finally {
      this.ready.delete(meta.index);
      await this.files.remove(name);
      for (const [i, p] of this.ready) {
        if (i < meta.index) {
          this.ready.delete(i);
          await this.files.remove(p);
        }
      }
    }
  }
}

// Executes RESP commands against a node: classification (commands.ts), writes through Raft
// (forwarded to the leader by followers), linearizable reads (ReadIndex, then a local read), and
// per-connection MULTI/EXEC/WATCH state (transaction.ts): a transaction is ONE Raft entry.
// One connection's commands take effect in order (connection-order.ts): a read (and WATCH) waits
// for the connection's earlier writes to be applied on this node before its ReadIndex round, and a
// write (and EXEC) waits for the connection's earlier reads.

import { isStorableKey, MAX_KEY_BYTES } from '../storage/index.js';
import type { ClusterNode } from '../node/cluster-node.js';
import { encodeCommand, type KvCommand, relativeTtlOf } from '../node/fsm/command-codec.js';
import { KvReader } from '../node/fsm/kv-reads.js';
import type { KvReadView } from '../node/fsm/kv-store.js';
import {
  type Classified,
  classifyCommand,
  executeRead,
  fsmResponseToReply,
  precheckCommand,
  type ReadQuery,
  type SessionState,
  type TxControl,
} from './commands.js';
import { ConnectionOrder } from './connection-order.js';
import type { NodeMetrics } from './metrics.js';
import { error, OK, type Reply, simple } from './resp-codec.js';
import type { ClientContext, CommandHandler } from './resp-server.js';
import {
  buildExec,
  commandKeys,
  ERR_DISCARD_WITHOUT_MULTI,
  ERR_EXEC_WITHOUT_MULTI,
  ERR_EXECABORT,
  ERR_MULTI_NESTED,
  ERR_WATCH_IN_MULTI,
  execReply,
  toQueued,
  TransactionState,
} from './transaction.js';
import { latin1 } from '../util/latin1.js';

const QUEUED = simple('QUEUED');

function keyError(c: KvCommand): Reply | null {
  for (const k of commandKeys(c)) {
    if (!isStorableKey(k)) return error(`ERR key must be 1 to ${MAX_KEY_BYTES} bytes`);
  }
  return null;
}

/** What the handler needs of a node (ClusterNode; a fake in unit tests). */
export type RespNode = Pick<ClusterNode, 'now' | 'write' | 'waitApplied' | 'linearizableRead' | 'linearizableReadAt' | 'readView' | 'status'> &
  Partial<Pick<ClusterNode, 'codec'>>;
/** The metrics the handler counts (NodeMetrics). */
export type HandlerMetrics = Pick<NodeMetrics, 'respCommands'>;

interface Connection {
  session: SessionState;
  tx: TransactionState;
  order: ConnectionOrder;
  /** Highest log index one of this connection's writes applied at. */
  writeIndex: bigint;
}

export class RespHandler implements CommandHandler {
  private readonly conns = new WeakMap<ClientContext, Connection>();
  /** Reads dispatch on each record's encryption state through the node's codec (SE-5). */
  private readonly reader: KvReader;

  constructor(
    private readonly node: RespNode,
    private readonly metrics: HandlerMetrics,
  ) {
    this.reader = new KvReader(node.codec);
  }

  private connection(client: ClientContext): Connection {
    let c = this.conns.get(client);
    if (!c) {
      c = {
        session: { name: null, id: client.id, protocol: 2, addr: client.remoteAddress, createdAtMs: Date.now(), multi: -1 },
        tx: new TransactionState(),
        order: new ConnectionOrder(),
        writeIndex: 0n,
      };
      this.conns.set(client, c);
    }
    return c;
  }

  execute(args: Buffer[], client: ClientContext): Reply | Promise<Reply> {
    const conn = this.connection(client);
    // Provisional: the leader re-stamps a write (and moves an EX/PX expiry) when it admits it.
    const now = this.node.now();
    if (conn.tx.inMulti) {
      // Redis's pre-queue checks: a failure aborts the transaction at EXEC.
      const pre = precheckCommand(args);
      if (pre !== null) {
        conn.tx.dirty = true;
        return error(pre);
      }
    }
    const c = classifyCommand(args, { now, session: conn.session, info: (section) => this.info(section) });
    if (c.kind === 'tx') return this.control(c.control, conn, now);
    if (conn.tx.inMulti && !(c.kind === 'local' && c.close)) return this.enqueue(c, args, conn, client, now);
    return this.run(c, conn, client);
  }

  private run(c: Exclude<Classified, { kind: 'tx' }>, conn: Connection, client: ClientContext): Reply | Promise<Reply> {
    switch (c.kind) {
      case 'local':
        this.metrics.respCommands.inc({ kind: 'local' });
        if (c.close) client.closeAfterReply = true;
        client.name = conn.session.name ? Buffer.from(conn.session.name).toString('utf8') : null;
        client.protocol = conn.session.protocol;
        return c.reply;
      case 'write': {
        this.metrics.respCommands.inc({ kind: 'write' });
        const bad = keyError(c.command);
        if (bad) return bad;
        return this.write(conn, c.command).then(fsmResponseToReply);
      }
      case 'read': {
        this.metrics.respCommands.inc({ kind: 'read' });
        return conn.order.run('read', async () => {
          // The connection's earlier writes are applied here before the read's ReadIndex round.
          if (conn.writeIndex > 0n) await this.node.waitApplied(conn.writeIndex);
          const readTime = await this.node.linearizableRead();
          const view = await this.preopened(c.query, this.node.readView());
          return executeRead(c.query, view, this.reader, readTime);
        });
      }
    }
  }

  /**
   * GET and MGET of sealed values: the records are read once, and those worth it (large, or many)
   * are opened in the crypto pool before the synchronous read runs over exactly these records
   * (issue 10 item 4). Other queries, and nodes without a pool, read the view directly.
   */
  private async preopened(query: ReadQuery, view: KvReadView): Promise<KvReadView> {
    const codec = this.node.codec;
    if (codec?.preopen === undefined || (query.op !== 'get' && query.op !== 'mget')) return view;
    const keys = query.op === 'get' ? [query.key] : query.keys;
    const records = new Map<string, Uint8Array | undefined>();
    const items: { key: Uint8Array; record: Uint8Array }[] = [];
    for (const key of keys) {
      const id = latin1(key);
      if (records.has(id)) continue;
      const record = view.get(key);
      records.set(id, record);
      if (record !== undefined) items.push({ key, record });
    }
    await codec.preopen(items);
    return {
      get: (key) => {
        const id = latin1(key);
        return records.has(id) ? records.get(id) : view.get(key);
      },
      range: (after) => view.range(after),
    };
  }

  /** A write in the connection's order; records the index it applied at for later reads. */
  private write(conn: Connection, command: KvCommand) {
    const payload = encodeCommand(command);
    const relativeTtl = relativeTtlOf(command);
    // A plain closure over the write's promise, not an async function (issue 13: promises per write).
    return conn.order.run('write', () =>
      this.node.write(payload, { relativeTtl }).then((r) => {
        if (r.index > conn.writeIndex) conn.writeIndex = r.index;
        return r.response;
      }),
    );
  }

  private enqueue(c: Exclude<Classified, { kind: 'tx' }>, args: Buffer[], conn: Connection, client: ClientContext, now: bigint): Reply {
    const q = toQueued(c, args[0]!.toString('latin1').toLowerCase(), now);
    if (q.kind === 'entry') {
      const bad = keyError(q.command);
      conn.tx.queue.push(bad ? { kind: 'reply', reply: bad } : q);
    } else {
      conn.tx.queue.push(q);
    }
    conn.session.multi = conn.tx.queue.length;
    client.name = conn.session.name ? Buffer.from(conn.session.name).toString('utf8') : null;
    return QUEUED;
  }

  private control(t: TxControl, conn: Connection, now: bigint): Reply | Promise<Reply> {
    const tx = conn.tx;
    this.metrics.respCommands.inc({ kind: 'local' });
    switch (t.op) {
      case 'multi':
        if (tx.inMulti) return error(ERR_MULTI_NESTED);
        tx.begin();
        conn.session.multi = 0;
        return OK;
      case 'discard':
        if (!tx.inMulti) return error(ERR_DISCARD_WITHOUT_MULTI);
        tx.reset();
        conn.session.multi = -1;
        return OK;
      case 'unwatch':
        if (tx.inMulti) {
          tx.queue.push({ kind: 'reply', reply: OK });
          return QUEUED;
        }
        tx.unwatch();
        return OK;
      case 'watch': {
        if (tx.inMulti) return error(ERR_WATCH_IN_MULTI);
        for (const k of t.keys) if (!isStorableKey(k)) return error(`ERR key must be 1 to ${MAX_KEY_BYTES} bytes`);
        // The index after a ReadIndex round: every write at or below it is visible to this
        // connection's later reads, and any write of the key above it makes EXEC fail. A failed
        // round leaves index 0 (any recorded write since then aborts EXEC): never unsafe.
        const round = conn.order.run('read', async () => {
          if (conn.writeIndex > 0n) await this.node.waitApplied(conn.writeIndex);
          return (await this.node.linearizableReadAt()).index;
        });
        const index = round.catch(() => 0n);
        for (const k of t.keys) tx.watch(k, now, index);
        return round.then(() => OK);
      }
      case 'exec':
        return this.exec(conn, now);
    }
  }

  private async exec(conn: Connection, now: bigint): Promise<Reply> {
    const tx = conn.tx;
    if (!tx.inMulti) return error(ERR_EXEC_WITHOUT_MULTI);
    const queue = tx.queue;
    const dirty = tx.dirty;
    const watchesP = tx.watches();
    tx.reset();
    conn.session.multi = -1;
    if (dirty) return error(ERR_EXECABORT);
    const entry = buildExec(queue, await watchesP, now);
    if (entry === null) return execReply(queue, null);
    this.metrics.respCommands.inc({ kind: 'write' });
    return execReply(queue, await this.write(conn, entry));
  }

  /** INFO's body; RESP3 connections get it as a verbatim string (Redis 7). */
  private info(section: string | null): string {
    const s = this.node.status();
    const lines = [
      '# Server',
      'redis_version:7.0.0',
      'sealkv_version:0.1.0',
      `process_id:${process.pid}`,
      '',
      '# Replication',
      `role:${s.role === 'leader' ? 'master' : 'slave'}`,
      `raft_id:${s.id}`,
      `raft_role:${s.role}`,
      `raft_leader:${s.leader ?? ''}`,
      `raft_term:${s.term}`,
      `raft_commit_index:${s.commitIndex}`,
      `raft_applied_index:${s.appliedIndex}`,
      '',
    ];
    if (section === null || section === 'all' || section === 'everything' || section === 'default') return lines.join('\r\n');
    const out: string[] = [];
    let take = false;
    for (const l of lines) {
      if (l.startsWith('# ')) take = l.slice(2).toLowerCase() === section;
      if (take) out.push(l);
    }
    return out.join('\r\n');
  }
}

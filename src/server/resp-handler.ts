// Executes RESP commands against a node: classification (commands.ts), writes through Raft
// (forwarded to the leader by followers), linearizable reads (ReadIndex, then a local read).
// One connection's commands take effect in order (connection-order.ts): a read waits for the
// connection's earlier writes to be applied on this node before its ReadIndex round, and a write
// waits for the connection's earlier reads.

import { isStorableKey, MAX_KEY_BYTES } from '../storage/index.js';
import type { ClusterNode } from '../node/cluster-node.js';
import { encodeCommand, hasRelativeTtl, type KvCommand } from '../node/fsm/command-codec.js';
import { KvReader } from '../node/fsm/kv-reads.js';
import { classifyCommand, executeRead, fsmResponseToReply, type SessionState } from './commands.js';
import type { NodeMetrics } from './metrics.js';
import { error, type Reply } from './resp-codec.js';
import { ConnectionOrder } from './connection-order.js';
import type { ClientContext, CommandHandler } from './resp-server.js';

/** What the handler needs of a node (a ClusterNode; a fake in unit tests). */
export type RespNode = Pick<ClusterNode, 'now' | 'write' | 'waitApplied' | 'linearizableRead' | 'readView' | 'status'>;

interface Connection {
  session: SessionState;
  order: ConnectionOrder;
  /** Highest log index one of this connection's writes applied at. */
  writeIndex: bigint;
}

/** Keys a write command touches (to refuse keys LMDB cannot store before anything is proposed). */
function commandKeys(c: KvCommand): Uint8Array[] {
  switch (c.op) {
    case 'del':
    case 'sweepExpired':
      return c.keys;
    case 'mset':
      return c.pairs.map((p) => p.key);
    default:
      return [c.key];
  }
}

export class RespHandler implements CommandHandler {
  private readonly conns = new WeakMap<ClientContext, Connection>();
  private readonly reader = new KvReader();

  constructor(
    private readonly node: RespNode,
    private readonly metrics: NodeMetrics,
  ) {}

  execute(args: Buffer[], client: ClientContext): Reply | Promise<Reply> {
    let conn = this.conns.get(client);
    if (!conn) {
      conn = { session: { name: null, id: client.id }, order: new ConnectionOrder(), writeIndex: 0n };
      this.conns.set(client, conn);
    }
    const session = conn.session;
    // Provisional: the leader re-stamps the write (and moves an EX/PX expiry) when it admits it.
    const now = this.node.now();
    const c = classifyCommand(args, { now, session, info: (section) => this.info(section) });
    switch (c.kind) {
      case 'local':
        this.metrics.respCommands.inc({ kind: 'local' });
        if (c.close) client.closeAfterReply = true;
        client.name = session.name ? Buffer.from(session.name).toString('utf8') : null;
        return c.reply;
      case 'write': {
        this.metrics.respCommands.inc({ kind: 'write' });
        for (const k of commandKeys(c.command)) {
          if (!isStorableKey(k)) return error(`ERR key must be 1 to ${MAX_KEY_BYTES} bytes`);
        }
        const payload = encodeCommand(c.command);
        const relativeTtl = hasRelativeTtl(c.command);
        const cn = conn;
        return cn.order.run('write', async () => {
          const r = await this.node.write(payload, { relativeTtl });
          if (r.index > cn.writeIndex) cn.writeIndex = r.index;
          return fsmResponseToReply(r.response);
        });
      }
      case 'read': {
        this.metrics.respCommands.inc({ kind: 'read' });
        const cn = conn;
        return cn.order.run('read', async () => {
          // The connection's earlier writes are applied here before the read's ReadIndex round.
          if (cn.writeIndex > 0n) await this.node.waitApplied(cn.writeIndex);
          const readTime = await this.node.linearizableRead();
          return executeRead(c.query, this.node.readView(), this.reader, readTime);
        });
      }
    }
  }

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

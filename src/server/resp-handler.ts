// Executes RESP commands against a node: classification (commands.ts), writes through Raft
// (forwarded to the leader by followers), linearizable reads (ReadIndex, then a local read).

import { isStorableKey, MAX_KEY_BYTES } from '../storage/index.js';
import type { ClusterNode } from '../node/cluster-node.js';
import { encodeCommand, type KvCommand } from '../node/fsm/command-codec.js';
import { KvReader } from '../node/fsm/kv-reads.js';
import { classifyCommand, executeRead, fsmResponseToReply, type SessionState } from './commands.js';
import type { NodeMetrics } from './metrics.js';
import { error, type Reply } from './resp-codec.js';
import type { ClientContext, CommandHandler } from './resp-server.js';

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
  private readonly sessions = new WeakMap<ClientContext, SessionState>();
  private readonly reader = new KvReader();

  constructor(
    private readonly node: ClusterNode,
    private readonly metrics: NodeMetrics,
  ) {}

  execute(args: Buffer[], client: ClientContext): Reply | Promise<Reply> {
    let session = this.sessions.get(client);
    if (!session) {
      session = { name: null, id: client.id };
      this.sessions.set(client, session);
    }
    const now = BigInt(Date.now());
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
        return this.node.write(encodeCommand(c.command)).then(fsmResponseToReply);
      }
      case 'read':
        this.metrics.respCommands.inc({ kind: 'read' });
        return this.node.linearizableBarrier().then(() => executeRead(c.query, this.node.readView(), this.reader, BigInt(Date.now())));
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

// The real RespHandler over a single-replica fake node (test/fsm/harness.ts): writes are encoded,
// decoded and applied in order; a linearizable barrier returns the applied index. Several
// connections share the node, so WATCH conflicts between clients can be played out in a test.

import type { ClusterNode, WriteResult } from '../../src/node/cluster-node.js';
import { decodeCommand } from '../../src/node/fsm/command-codec.js';
import type { FsmResponse } from '../../src/node/fsm/fsm-types.js';
import { encodeReply, type Reply, type RespVersion } from '../../src/server/resp-codec.js';
import { type HandlerMetrics, RespHandler, type RespNode } from '../../src/server/resp-handler.js';
import type { ClientContext } from '../../src/server/resp-server.js';
import { Node } from '../fsm/harness.js';

export class FakeNode implements RespNode {
  readonly node = new Node();
  /** Every EXEC entry proposed, decoded. */
  readonly proposals: ReturnType<typeof decodeCommand>[] = [];

  now(): bigint {
    return BigInt(Date.now());
  }
  async write(payload: Uint8Array): Promise<WriteResult> {
    this.proposals.push(decodeCommand(payload));
    const r = this.node.applyPayload(payload);
    if ('halt' in r) throw r.halt;
    return { index: this.node.index, response: r.response as FsmResponse };
  }
  async waitApplied(): Promise<void> {}
  async linearizableRead(): Promise<bigint> {
    return this.now();
  }
  async linearizableReadAt(): Promise<{ index: bigint; readTime: bigint }> {
    return { index: this.node.index, readTime: this.now() };
  }
  readView(): ReturnType<ClusterNode['readView']> {
    return this.node.kv;
  }
  status(): ReturnType<ClusterNode['status']> {
    return { id: 'n1', role: 'leader', leader: 'n1', term: '1', commitIndex: String(this.node.index), appliedIndex: String(this.node.index) };
  }
}

const metrics = { respCommands: { inc: () => undefined } } as unknown as HandlerMetrics;

export class Conn {
  private static nextId = 1;
  readonly client: ClientContext;
  constructor(private readonly handler: RespHandler) {
    this.client = { id: Conn.nextId++, remoteAddress: '127.0.0.1:1', name: null, db: 0, closeAfterReply: false, protocol: 2 };
  }
  /** Runs one command; the reply and the protocol it is encoded in (as the server would). */
  async run(...args: string[]): Promise<Reply> {
    return await this.handler.execute(
      args.map((a) => Buffer.from(a, 'latin1')),
      this.client,
    );
  }
  /** The reply's wire bytes in this connection's protocol. */
  async wire(...args: string[]): Promise<string> {
    const r = await this.run(...args);
    return encodeReply(r, this.client.protocol as RespVersion).toString('latin1');
  }
}

export function setup(): { fake: FakeNode; conn: () => Conn } {
  const fake = new FakeNode();
  const handler = new RespHandler(fake, metrics);
  return { fake, conn: () => new Conn(handler) };
}

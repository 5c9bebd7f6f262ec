// A single-replica "server" for tests: the command table, the codec, the state machine and the
// reads wired together over an in-memory kv table, with a controllable clock.

import { decodeCommand, encodeCommand } from '../../src/node/fsm/command-codec.js';
import type { ApplyResult } from '../../src/node/fsm/fsm-types.js';
import { KvReader } from '../../src/node/fsm/kv-reads.js';
import { KvStateMachine, type KvStateMachineOptions } from '../../src/node/fsm/kv-state-machine.js';
import { MemoryKv } from '../../src/node/fsm/memory-kv.js';
import type { ValueCodec } from '../../src/node/fsm/value-codec.js';
import {
  type Classified,
  classifyCommand,
  executeRead,
  fsmResponseToReply,
  type SessionState,
} from '../../src/server/commands.js';
import type { Reply } from '../../src/server/resp-codec.js';

export const T0 = 1_700_000_000_000n;

export class Node {
  readonly kv = new MemoryKv();
  /** Per-key modification indexes (WATCH). */
  readonly mods = new MemoryKv();
  readonly fsm: KvStateMachine;
  readonly reader: KvReader;
  readonly session: SessionState = { name: null, id: 7, protocol: 2 };
  now = T0;
  index = 0n;
  /** Every payload applied, in order. */
  readonly log: Uint8Array[] = [];

  constructor(options: KvStateMachineOptions & { codec?: ValueCodec } = {}) {
    this.fsm = new KvStateMachine(options);
    this.reader = new KvReader(options.codec);
  }

  classify(...args: (string | Uint8Array)[]): Classified {
    const bytes = args.map((a) => (typeof a === 'string' ? Buffer.from(a, 'latin1') : a));
    return classifyCommand(bytes, { now: this.now, session: this.session });
  }

  applyPayload(payload: Uint8Array): ApplyResult {
    this.index++;
    this.log.push(payload);
    return this.fsm.apply(payload, this.index, { kv: this.kv, kvmod: this.mods });
  }

  /** Runs a command end to end and returns its reply. */
  run(...args: (string | Uint8Array)[]): Reply {
    const c = this.classify(...args);
    if (c.kind === 'local') return c.reply;
    if (c.kind === 'read') return executeRead(c.query, this.kv, this.reader, this.now);
    if (c.kind === 'tx') throw new Error('MULTI/EXEC/WATCH need a connection: use test/server/tx-harness.ts');
    const payload = encodeCommand(c.command);
    // The payload is what replicates: check it decodes to the same command.
    decodeCommand(payload);
    const r = this.applyPayload(payload);
    if ('halt' in r) throw r.halt;
    return fsmResponseToReply(r.response);
  }
}

/** A reply flattened to plain JS for toEqual: bulk → string|null, int → number. */
export type Plain = string | number | null | Plain[] | { error: string };
export function plain(r: Reply): Plain {
  switch (r.t) {
    case 'simple':
      return r.v;
    case 'error':
      return { error: r.v };
    case 'int':
      return Number(r.v);
    case 'bulk':
      return r.v === null ? null : typeof r.v === 'string' ? r.v : Buffer.from(r.v).toString('latin1');
    case 'array':
      return r.v === null ? null : r.v.map(plain);
    case 'map':
      return r.v.flatMap(([k, v]) => [plain(k), plain(v)]);
    case 'verbatim':
      return r.v;
  }
}

// MULTI/EXEC/WATCH state of one connection, and the mapping of a queued transaction to ONE
// replicated EXEC entry (issue 12). Pure: no sockets, no Raft.
//
// Queueing follows Redis: an unknown command or a wrong argument count refuses the command and
// makes EXEC answer -EXECABORT; any other error is a runtime error of that command only, returned
// in its place in EXEC's array. Writes and reads go into the entry (reads are decided in apply so
// they see the transaction's own writes); replies of local commands (PING, ECHO, ...) are known
// at queue time and spliced into EXEC's array around the state machine's replies.

import type { ExecCommand, KvCommand, ReadCommand, TxCommand, WatchedKey } from '../node/fsm/command-codec.js';
import type { FsmResponse } from '../node/fsm/fsm-types.js';
import type { Classified, ReadQuery } from './commands.js';
import { array, error, type Reply } from './resp-codec.js';
import { latin1 } from '../util/latin1.js';

export const ERR_EXEC_WITHOUT_MULTI = 'ERR EXEC without MULTI';
export const ERR_DISCARD_WITHOUT_MULTI = 'ERR DISCARD without MULTI';
export const ERR_MULTI_NESTED = 'ERR MULTI calls can not be nested';
export const ERR_WATCH_IN_MULTI = 'ERR WATCH inside MULTI is not allowed';
export const ERR_EXECABORT = 'EXECABORT Transaction discarded because of previous errors.';
/** KEYS/SCAN/DBSIZE walk the whole table, which apply cannot do inside an entry. */
export const ERR_NOT_IN_MULTI = (name: string): string => `ERR '${name}' inside MULTI is not supported by sealkv`;

/** One queued command: a replicated command, or a reply already known. */
export type Queued = { kind: 'entry'; command: TxCommand } | { kind: 'reply'; reply: Reply };

/** A watched key; `index` settles when the WATCH's ReadIndex round does. */
export interface PendingWatch {
  key: Uint8Array;
  watchNow: bigint;
  index: Promise<bigint>;
}

function id(key: Uint8Array): string {
  return latin1(key);
}

export class TransactionState {
  inMulti = false;
  /** A command was refused while queueing: EXEC answers -EXECABORT. */
  dirty = false;
  queue: Queued[] = [];
  private readonly watched = new Map<string, PendingWatch>();

  begin(): void {
    this.inMulti = true;
    this.dirty = false;
    this.queue = [];
  }

  /** Ends MULTI (EXEC, DISCARD) and forgets every WATCH, as Redis does. */
  reset(): void {
    this.inMulti = false;
    this.dirty = false;
    this.queue = [];
    this.watched.clear();
  }

  unwatch(): void {
    this.watched.clear();
  }

  /** Redis keeps the first WATCH of a key until EXEC/DISCARD/UNWATCH. */
  watch(key: Uint8Array, watchNow: bigint, index: Promise<bigint>): void {
    const k = id(key);
    if (!this.watched.has(k)) this.watched.set(k, { key: key.slice(), watchNow, index });
  }

  get watchCount(): number {
    return this.watched.size;
  }

  /** The watched keys with their settled indexes (rejects if a WATCH round failed). */
  async watches(): Promise<WatchedKey[]> {
    const out: WatchedKey[] = [];
    for (const w of this.watched.values()) out.push({ key: w.key, index: await w.index, watchNow: w.watchNow });
    return out;
  }
}

/** A read query as a read decided in apply; null for those that walk the table. */
export function readToTx(q: ReadQuery, now: bigint): ReadCommand | null {
  switch (q.op) {
    case 'get':
    case 'strlen':
    case 'type':
      return { op: 'read', now, read: q.op, keys: [q.key] };
    case 'mget':
    case 'exists':
      return { op: 'read', now, read: q.op, keys: q.keys };
    case 'ttl':
      return { op: 'read', now, read: q.unit === 's' ? 'ttl' : 'pttl', keys: [q.key] };
    case 'scan':
    case 'keys':
    case 'dbsize':
      return null;
  }
}

/**
 * What a command classified inside MULTI queues. `name` is the lowercase command name. Commands
 * of kind 'tx' are handled by the caller before this.
 */
export function toQueued(c: Exclude<Classified, { kind: 'tx' }>, name: string, now: bigint): Queued {
  switch (c.kind) {
    case 'local':
      return { kind: 'reply', reply: c.reply };
    case 'write':
      return { kind: 'entry', command: c.command as TxCommand };
    case 'read': {
      const r = readToTx(c.query, now);
      return r === null ? { kind: 'reply', reply: error(ERR_NOT_IN_MULTI(name)) } : { kind: 'entry', command: r };
    }
  }
}

/** The EXEC entry for `queue`; null when nothing needs the log (no command, no WATCH). */
export function buildExec(queue: readonly Queued[], watches: WatchedKey[], now: bigint): ExecCommand | null {
  const commands: TxCommand[] = [];
  for (const q of queue) if (q.kind === 'entry') commands.push(q.command);
  if (commands.length === 0 && watches.length === 0) return null;
  return { op: 'exec', now, watches, commands };
}

/**
 * EXEC's reply: the state machine's array (null = aborted by WATCH) with the local replies put
 * back in their queue positions. `fsm` is null when nothing was proposed.
 */
export function execReply(queue: readonly Queued[], fsm: FsmResponse | null): Reply {
  if (fsm !== null && fsm.t === 'error') return fsm;
  if (fsm !== null && (fsm.t !== 'array' || fsm.v === null)) return array(null);
  const results = fsm?.v ?? [];
  const out: Reply[] = [];
  let j = 0;
  for (const q of queue) out.push(q.kind === 'reply' ? q.reply : (results[j++] ?? error('ERR internal error: missing EXEC reply')));
  return array(out);
}

/** Keys a command touches (to refuse keys LMDB cannot store before anything is proposed). */
export function commandKeys(c: KvCommand): Uint8Array[] {
  switch (c.op) {
    case 'del':
    case 'sweepExpired':
    case 'read':
      return c.keys;
    case 'mset':
      return c.pairs.map((p) => p.key);
    case 'rename':
      return [c.key, c.newKey];
    case 'exec':
      return [...c.watches.map((w) => w.key), ...c.commands.flatMap((s) => commandKeys(s))];
    default:
      return [c.key];
  }
}

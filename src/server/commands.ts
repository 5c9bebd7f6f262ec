// The RESP command table (DESIGN.md §4): argument validation with Redis's error texts, and
// classification of each command into a replicated write, a linearizable read, or a local reply.
// Pure: no sockets, no Raft. The caller (the RESP server) runs writes through the proposer and
// sends the state machine's response, runs reads after ReadIndex with `executeRead`, and sends
// local replies at once.

import type {
  GetExCommand,
  KvCommand,
  SetTtl,
} from '../node/fsm/command-codec.js';
import type { FsmResponse } from '../node/fsm/fsm-types.js';
import { I64_MAX, I64_MIN, parseI64 } from '../node/fsm/int64.js';
import type { KvReader, ScanOptions } from '../node/fsm/kv-reads.js';
import type { KvReadView } from '../node/fsm/kv-store.js';
import { decodeScanCursor, encodeScanCursor } from '../node/fsm/scan-cursor.js';
import { SealkvError } from '../errors.js';
import { array, bulk, error, errorReply, int, map, NIL, OK, type Reply, type RespVersion, simple, verbatim } from './resp-codec.js';
import { latin1 } from '../util/latin1.js';

// ---- public types ----

/** Per-connection state that local commands read and change. */
export interface SessionState {
  /** CLIENT SETNAME / HELLO SETNAME; null when unset. */
  name: Uint8Array | null;
  /** Connection id reported by HELLO and CLIENT ID. */
  id: number;
  /** HELLO 2 / HELLO 3. */
  protocol: RespVersion;
  /** CLIENT INFO fields. */
  addr?: string;
  createdAtMs?: number;
  /** CLIENT SETINFO LIB-NAME / LIB-VER. */
  libName?: string;
  libVer?: string;
  /** CLIENT INFO `multi=`: queued commands, -1 outside MULTI (the handler keeps it current). */
  multi?: number;
}

export interface CommandContext {
  /**
   * This node's wall clock in ms: EX/PX become absolute with it, and it is each write's `now`
   * until the admitting leader re-stamps both with its own clock (`stampCommand`).
   */
  now: bigint;
  session: SessionState;
  /** INFO body provider (sections `# Name` + `key:value` lines); a minimal default otherwise. */
  info?: (section: string | null) => string;
}

/** A read served locally after a linearizable ReadIndex. */
export type ReadQuery =
  | { op: 'get'; key: Uint8Array }
  | { op: 'mget'; keys: Uint8Array[] }
  | { op: 'exists'; keys: Uint8Array[] }
  | { op: 'strlen'; key: Uint8Array }
  | { op: 'ttl'; key: Uint8Array; unit: 's' | 'ms' }
  | { op: 'scan'; after: Uint8Array | null; options: ScanOptions }
  | { op: 'keys'; pattern: Uint8Array }
  | { op: 'type'; key: Uint8Array }
  | { op: 'dbsize' };

/** Connection-state commands (the handler keeps MULTI/WATCH state per connection). */
export type TxControl =
  | { op: 'multi' }
  | { op: 'exec' }
  | { op: 'discard' }
  | { op: 'watch'; keys: Uint8Array[] }
  | { op: 'unwatch' };

export type Classified =
  /** Propose `command`; answer with the state machine's response (`fsmResponseToReply`). */
  | { kind: 'write'; command: KvCommand }
  /** ReadIndex, then `executeRead(query, ...)`. */
  | { kind: 'read'; query: ReadQuery }
  /** Answer `reply` now; `close`: close the connection after it is written (QUIT). */
  | { kind: 'local'; reply: Reply; close?: boolean }
  /** MULTI, EXEC, DISCARD, WATCH, UNWATCH (arity already checked). */
  | { kind: 'tx'; control: TxControl };

// ---- error texts (Redis 7 wording) ----

export const ERR_SYNTAX = 'ERR syntax error';
export const ERR_NOT_INTEGER = 'ERR value is not an integer or out of range';
export const ERR_DB_INDEX = 'ERR DB index is out of range';
export const ERR_INVALID_CURSOR = 'ERR invalid cursor';

export function wrongArity(name: string): string {
  return `ERR wrong number of arguments for '${name}' command`;
}
export function invalidExpire(name: string): string {
  return `ERR invalid expire time in '${name}' command`;
}

/** Redis's unknown-command text: the name, then args quoted until 128 characters are used. */
export function unknownCommand(args: readonly Uint8Array[]): string {
  let list = '';
  for (let i = 1; i < args.length && list.length < 128; i++) {
    list += `'${latin1(args[i]!).slice(0, 128 - list.length)}' `;
  }
  return `ERR unknown command '${latin1(args[0]!).slice(0, 128)}', with args beginning with: ${list}`;
}

function unknownSubcommand(sub: Uint8Array, cmd: string): string {
  return `ERR unknown subcommand '${latin1(sub).slice(0, 128)}'. Try ${cmd} HELP.`;
}

// ---- helpers ----

function lower(b: Uint8Array): string {
  return latin1(b).toLowerCase();
}
function local(reply: Reply, close = false): Classified {
  return close ? { kind: 'local', reply, close } : { kind: 'local', reply };
}
function fail(message: string): Classified {
  return local(error(message));
}

/** The state machine's response as a RESP reply (the shapes coincide by construction). */
export function fsmResponseToReply(r: FsmResponse): Reply {
  return r;
}

type Handler = (args: readonly Uint8Array[], ctx: CommandContext) => Classified;
interface Spec {
  /** Redis arity: > 0 exact argc (with the name), < 0 at least -arity. */
  arity: number;
  handler: Handler;
}

function arityOk(arity: number, argc: number): boolean {
  return arity > 0 ? argc === arity : argc >= -arity;
}

const MS_PER_S = 1000n;

// ---- command handlers ----

function setCommand(args: readonly Uint8Array[], ctx: CommandContext): Classified {
  let condition: 'always' | 'nx' | 'xx' = 'always';
  let get = false;
  let keepTtl = false;
  let expire: { unit: 'ex' | 'px' | 'exat' | 'pxat'; arg: Uint8Array } | null = null;
  for (let i = 3; i < args.length; i++) {
    const opt = lower(args[i]!);
    const hasNext = i + 1 < args.length;
    if (opt === 'nx' && condition !== 'xx') condition = 'nx';
    else if (opt === 'xx' && condition !== 'nx') condition = 'xx';
    else if (opt === 'get') get = true;
    else if (opt === 'keepttl' && expire === null) keepTtl = true;
    else if ((opt === 'ex' || opt === 'px' || opt === 'exat' || opt === 'pxat') && !keepTtl && hasNext) {
      // The same option may repeat (last wins), a different expiry option may not (as Redis).
      if (expire !== null && expire.unit !== opt) return fail(ERR_SYNTAX);
      expire = { unit: opt, arg: args[++i]! };
    } else return fail(ERR_SYNTAX);
  }
  let ttl: SetTtl = { mode: keepTtl ? 'keep' : 'clear' };
  if (expire !== null) {
    const n = parseI64(expire.arg);
    if (n === null) return fail(ERR_NOT_INTEGER);
    const seconds = expire.unit === 'ex' || expire.unit === 'exat';
    if (n <= 0n || (seconds && n > I64_MAX / MS_PER_S)) return fail(invalidExpire('set'));
    let at = seconds ? n * MS_PER_S : n;
    if (expire.unit === 'ex' || expire.unit === 'px') at += ctx.now;
    if (at > I64_MAX) return fail(invalidExpire('set'));
    ttl = { mode: 'at', expireAt: at, relative: expire.unit === 'ex' || expire.unit === 'px' };
  }
  return { kind: 'write', command: { op: 'set', now: ctx.now, key: args[1]!, value: args[2]!, condition, get, ttl } };
}

/** EXPIRE / PEXPIRE / EXPIREAT / PEXPIREAT. */
function expireCommand(name: string, seconds: boolean, absolute: boolean): Handler {
  return (args, ctx) => {
    const n = parseI64(args[2]!);
    if (n === null) return fail(ERR_NOT_INTEGER);
    if (args.length > 3) return fail(`ERR Unsupported option ${latin1(args[3]!)}`);
    let when = n;
    if (seconds) {
      if (when > I64_MAX / MS_PER_S || when < I64_MIN / MS_PER_S) return fail(invalidExpire(name));
      when *= MS_PER_S;
    }
    if (!absolute) {
      if (when > I64_MAX - ctx.now) return fail(invalidExpire(name));
      when += ctx.now;
    }
    // Any time ≤ now deletes the key at apply; 1 keeps that meaning while staying a valid u64
    // and distinct from 0 (= PERSIST on the wire).
    const expireAt = when < 1n ? 1n : when;
    return { kind: 'write', command: { op: 'expire', now: ctx.now, key: args[1]!, expireAt, relative: !absolute } };
  };
}

function incrBy(args: readonly Uint8Array[], ctx: CommandContext, sign: 1n | -1n, deltaArg: Uint8Array | null): Classified {
  let delta = 1n;
  if (deltaArg !== null) {
    const n = parseI64(deltaArg);
    if (n === null) return fail(ERR_NOT_INTEGER);
    if (sign < 0n && n === I64_MIN) return fail('ERR decrement would overflow');
    delta = n;
  }
  return { kind: 'write', command: { op: 'incrby', now: ctx.now, key: args[1]!, delta: sign * delta } };
}

/** GETEX key [EX s | PX ms | EXAT ts | PXAT ms-ts | PERSIST]: at most one option. */
function getexCommand(args: readonly Uint8Array[], ctx: CommandContext): Classified {
  let ttl: GetExCommand['ttl'] = { mode: 'keep' };
  let seen = false;
  for (let i = 2; i < args.length; i++) {
    const opt = lower(args[i]!);
    if (seen) return fail(ERR_SYNTAX);
    seen = true;
    if (opt === 'persist') {
      ttl = { mode: 'persist' };
      continue;
    }
    if ((opt !== 'ex' && opt !== 'px' && opt !== 'exat' && opt !== 'pxat') || i + 1 >= args.length) return fail(ERR_SYNTAX);
    const n = parseI64(args[++i]!);
    if (n === null) return fail(ERR_NOT_INTEGER);
    const seconds = opt === 'ex' || opt === 'exat';
    if (n <= 0n || (seconds && n > I64_MAX / MS_PER_S)) return fail(invalidExpire('getex'));
    let at = seconds ? n * MS_PER_S : n;
    if (opt === 'ex' || opt === 'px') at += ctx.now;
    if (at > I64_MAX) return fail(invalidExpire('getex'));
    ttl = { mode: 'at', expireAt: at, relative: opt === 'ex' || opt === 'px' };
  }
  return { kind: 'write', command: { op: 'getex', now: ctx.now, key: args[1]!, ttl } };
}

function scanCommand(args: readonly Uint8Array[]): Classified {
  const after = decodeScanCursor(args[1]!);
  if (after === undefined) return fail(ERR_INVALID_CURSOR);
  const options: ScanOptions = { count: 10 };
  for (let i = 2; i < args.length; i += 2) {
    const opt = lower(args[i]!);
    if (i + 1 >= args.length) return fail(ERR_SYNTAX);
    const val = args[i + 1]!;
    if (opt === 'count') {
      const n = parseI64(val);
      if (n === null) return fail(ERR_NOT_INTEGER);
      if (n < 1n) return fail(ERR_SYNTAX);
      // COUNT is a work hint; beyond 2^31 it means "everything" anyway.
      options.count = n > 0x7fffffffn ? 0x7fffffff : Number(n);
    } else if (opt === 'match') {
      options.match = val;
    } else if (opt === 'type') {
      options.type = latin1(val);
    } else return fail(ERR_SYNTAX);
  }
  return { kind: 'read', query: { op: 'scan', after, options } };
}

function helloCommand(args: readonly Uint8Array[], ctx: CommandContext): Classified {
  let i = 1;
  // Without a version HELLO reports the current protocol and switches nothing (Redis).
  let protocol = ctx.session.protocol;
  if (args.length > 1) {
    const ver = parseI64(args[1]!);
    if (ver === null) return fail('ERR Protocol version is not an integer or out of range');
    if (ver !== 2n && ver !== 3n) return fail('NOPROTO unsupported protocol version');
    protocol = ver === 3n ? 3 : 2;
    i = 2;
  }
  let name: Uint8Array | undefined;
  for (; i < args.length; i++) {
    const opt = lower(args[i]!);
    if (opt === 'auth' && i + 2 < args.length) {
      // No ACLs: only the default user exists and it is `nopass` (Redis without requirepass),
      // so any password is accepted for it and any other user name is refused.
      if (latin1(args[i + 1]!) !== 'default') return fail(ERR_WRONGPASS);
      i += 2;
    } else if (opt === 'setname' && i + 1 < args.length) {
      const n = args[++i]!;
      if (!validClientName(n)) return fail(ERR_CLIENT_NAME);
      name = n;
    } else {
      return fail(`ERR Syntax error in HELLO option '${latin1(args[i]!)}'`);
    }
  }
  if (name !== undefined) ctx.session.name = name.length === 0 ? null : name.slice();
  // The switch applies to this reply already: a map in RESP3, a flat array in RESP2.
  ctx.session.protocol = protocol;
  return local(
    map([
      [bulk('server'), bulk('redis')],
      [bulk('version'), bulk(REDIS_VERSION)],
      [bulk('proto'), int(protocol)],
      [bulk('id'), int(ctx.session.id)],
      [bulk('mode'), bulk('standalone')],
      [bulk('role'), bulk('master')],
      [bulk('modules'), array([])],
    ]),
  );
}

/** CLIENT INFO's one line (Redis field names; fields sealkv has no notion of are constants). */
function clientInfoLine(ctx: CommandContext): string {
  const s = ctx.session;
  const age = s.createdAtMs === undefined ? 0 : Math.max(0, Math.floor((Number(ctx.now) - s.createdAtMs) / 1000));
  const name = s.name === null ? '' : latin1(s.name);
  return (
    `id=${s.id} addr=${s.addr ?? ''} laddr= fd=-1 name=${name} age=${age} idle=0 flags=N db=0 sub=0 psub=0 ssub=0 ` +
    `multi=${s.multi ?? -1} watch=0 qbuf=0 qbuf-free=0 argv-mem=0 multi-mem=0 rbs=0 rbp=0 obl=0 oll=0 omem=0 tot-mem=0 ` +
    `events=r cmd=client|info user=default redir=-1 resp=${s.protocol} lib-name=${s.libName ?? ''} lib-ver=${s.libVer ?? ''}\n`
  );
}

const ERR_WRONGPASS = 'WRONGPASS invalid username-password pair or user is disabled.';
const ERR_CLIENT_NAME = 'ERR Client names cannot contain spaces, newlines or special characters.';
const REDIS_VERSION = '7.0.0';

/** Redis allows '!'..'~' only. */
function validClientName(b: Uint8Array): boolean {
  for (const c of b) if (c < 0x21 || c > 0x7e) return false;
  return true;
}

function clientCommand(args: readonly Uint8Array[], ctx: CommandContext): Classified {
  const sub = lower(args[1]!);
  switch (sub) {
    case 'setname': {
      if (args.length !== 3) return fail(wrongArity('client|setname'));
      if (!validClientName(args[2]!)) return fail(ERR_CLIENT_NAME);
      ctx.session.name = args[2]!.length === 0 ? null : args[2]!.slice();
      return local(OK);
    }
    case 'getname':
      if (args.length !== 2) return fail(wrongArity('client|getname'));
      return local(bulk(ctx.session.name));
    case 'id':
      if (args.length !== 2) return fail(wrongArity('client|id'));
      return local(int(ctx.session.id));
    case 'setinfo': {
      // Sent by client libraries on connect; shown by CLIENT INFO.
      if (args.length !== 4) return fail(wrongArity('client|setinfo'));
      const attr = lower(args[2]!);
      if (attr !== 'lib-name' && attr !== 'lib-ver') return fail(`ERR Unrecognized option '${latin1(args[2]!)}'`);
      if (!validClientName(args[3]!) && args[3]!.length > 0) return fail(`ERR ${attr} cannot contain spaces, newlines or special characters.`);
      const v = latin1(args[3]!);
      if (attr === 'lib-name') ctx.session.libName = v;
      else ctx.session.libVer = v;
      return local(OK);
    }
    case 'info':
      if (args.length !== 2) return fail(wrongArity('client|info'));
      return local(verbatim(clientInfoLine(ctx)));
    default:
      return fail(unknownSubcommand(args[1]!, 'CLIENT'));
  }
}

function commandCommand(args: readonly Uint8Array[]): Classified {
  if (args.length === 1) return local(array([])); // no command metadata: clients fall back
  const sub = lower(args[1]!);
  switch (sub) {
    case 'count':
      if (args.length !== 2) return fail(wrongArity('command|count'));
      return local(int(COMMANDS.size));
    case 'docs':
      return local(map([])); // redis-cli asks at start-up; no docs is a valid answer
    case 'info':
      return local(array(args.slice(2).map(() => NIL)));
    case 'list':
      return local(array([...COMMANDS.keys()].map((n) => bulk(n))));
    default:
      return fail(unknownSubcommand(args[1]!, 'COMMAND'));
  }
}

function configCommand(args: readonly Uint8Array[]): Classified {
  const sub = lower(args[1]!);
  if (sub === 'get') {
    if (args.length < 3) return fail(wrongArity('config|get'));
    return local(map([])); // sealkv has no Redis config parameters
  }
  return fail(unknownSubcommand(args[1]!, 'CONFIG'));
}

function defaultInfo(): string {
  return `# Server\r\nredis_version:${REDIS_VERSION}\r\nredis_mode:standalone\r\nsealkv_resp:2\r\n`;
}

// ---- the table ----

const read = (query: ReadQuery): Classified => ({ kind: 'read', query });
const tx = (control: TxControl): Classified => ({ kind: 'tx', control });

const COMMANDS = new Map<string, Spec>([
  ['ping', { arity: -1, handler: (a) => (a.length > 2 ? fail(wrongArity('ping')) : local(a.length === 2 ? bulk(a[1]!) : simple('PONG'))) }],
  ['echo', { arity: 2, handler: (a) => local(bulk(a[1]!)) }],
  ['hello', { arity: -1, handler: helloCommand }],
  [
    'select',
    {
      arity: 2,
      handler: (a) => {
        const n = parseI64(a[1]!);
        if (n === null || n > 0x7fffffffn || n < -0x80000000n) return fail(ERR_NOT_INTEGER);
        return n === 0n ? local(OK) : fail(ERR_DB_INDEX);
      },
    },
  ],
  ['get', { arity: 2, handler: (a) => read({ op: 'get', key: a[1]! }) }],
  ['set', { arity: -3, handler: setCommand }],
  ['setnx', { arity: 3, handler: (a, c) => ({ kind: 'write', command: { op: 'setnx', now: c.now, key: a[1]!, value: a[2]! } }) }],
  ['getset', { arity: 3, handler: (a, c) => ({ kind: 'write', command: { op: 'getset', now: c.now, key: a[1]!, value: a[2]! } }) }],
  ['del', { arity: -2, handler: (a, c) => ({ kind: 'write', command: { op: 'del', now: c.now, keys: a.slice(1) } }) }],
  ['exists', { arity: -2, handler: (a) => read({ op: 'exists', keys: a.slice(1) }) }],
  ['mget', { arity: -2, handler: (a) => read({ op: 'mget', keys: a.slice(1) }) }],
  [
    'mset',
    {
      arity: -3,
      handler: (a, c) => {
        if (a.length % 2 === 0) return fail(wrongArity('mset'));
        const pairs: { key: Uint8Array; value: Uint8Array }[] = [];
        for (let i = 1; i < a.length; i += 2) pairs.push({ key: a[i]!, value: a[i + 1]! });
        return { kind: 'write', command: { op: 'mset', now: c.now, pairs } };
      },
    },
  ],
  ['incr', { arity: 2, handler: (a, c) => incrBy(a, c, 1n, null) }],
  ['incrby', { arity: 3, handler: (a, c) => incrBy(a, c, 1n, a[2]!) }],
  ['decr', { arity: 2, handler: (a, c) => incrBy(a, c, -1n, null) }],
  ['decrby', { arity: 3, handler: (a, c) => incrBy(a, c, -1n, a[2]!) }],
  ['append', { arity: 3, handler: (a, c) => ({ kind: 'write', command: { op: 'append', now: c.now, key: a[1]!, value: a[2]! } }) }],
  ['strlen', { arity: 2, handler: (a) => read({ op: 'strlen', key: a[1]! }) }],
  ['expire', { arity: -3, handler: expireCommand('expire', true, false) }],
  ['pexpire', { arity: -3, handler: expireCommand('pexpire', false, false) }],
  ['expireat', { arity: -3, handler: expireCommand('expireat', true, true) }],
  ['pexpireat', { arity: -3, handler: expireCommand('pexpireat', false, true) }],
  ['ttl', { arity: 2, handler: (a) => read({ op: 'ttl', key: a[1]!, unit: 's' }) }],
  ['pttl', { arity: 2, handler: (a) => read({ op: 'ttl', key: a[1]!, unit: 'ms' }) }],
  ['persist', { arity: 2, handler: (a, c) => ({ kind: 'write', command: { op: 'expire', now: c.now, key: a[1]!, expireAt: null } }) }],
  ['scan', { arity: -2, handler: scanCommand }],
  ['dbsize', { arity: 1, handler: () => read({ op: 'dbsize' }) }],
  [
    'info',
    {
      arity: -1,
      handler: (a, c) => local(verbatim((c.info ?? defaultInfo)(a.length > 1 ? lower(a[1]!) : null))),
    },
  ],
  ['command', { arity: -1, handler: commandCommand }],
  ['config', { arity: -2, handler: configCommand }],
  ['client', { arity: -2, handler: clientCommand }],
  ['quit', { arity: -1, handler: () => local(OK, true) }],
  ['keys', { arity: 2, handler: (a) => read({ op: 'keys', pattern: a[1]! }) }],
  ['type', { arity: 2, handler: (a) => read({ op: 'type', key: a[1]! }) }],
  ['rename', { arity: 3, handler: (a, c) => ({ kind: 'write', command: { op: 'rename', now: c.now, key: a[1]!, newKey: a[2]! } }) }],
  ['unlink', { arity: -2, handler: (a, c) => ({ kind: 'write', command: { op: 'del', now: c.now, keys: a.slice(1) } }) }],
  ['getdel', { arity: 2, handler: (a, c) => ({ kind: 'write', command: { op: 'getdel', now: c.now, key: a[1]! } }) }],
  ['getex', { arity: -2, handler: getexCommand }],
  ['multi', { arity: 1, handler: () => tx({ op: 'multi' }) }],
  ['exec', { arity: 1, handler: () => tx({ op: 'exec' }) }],
  ['discard', { arity: 1, handler: () => tx({ op: 'discard' }) }],
  ['watch', { arity: -2, handler: (a) => tx({ op: 'watch', keys: a.slice(1) }) }],
  ['unwatch', { arity: 1, handler: () => tx({ op: 'unwatch' }) }],
]);

/** Names of every command in the table (lowercase). */
export function commandNames(): string[] {
  return [...COMMANDS.keys()];
}

/**
 * The checks Redis makes before queueing a command inside MULTI: the command exists and its
 * argument count fits. Returns the error text, or null. Failing them aborts the transaction.
 */
export function precheckCommand(args: readonly Uint8Array[]): string | null {
  if (args.length === 0) return ERR_SYNTAX;
  const name = lower(args[0]!);
  const spec = COMMANDS.get(name);
  if (spec === undefined) return unknownCommand(args);
  if (!arityOk(spec.arity, args.length)) return wrongArity(name);
  return null;
}

/**
 * Validates one request (`args[0]` is the command name, any case) and says how to run it.
 * Never throws for client input: invalid requests become `{ kind: 'local', reply: error }`.
 * Session changes (CLIENT SETNAME, HELLO SETNAME) are made on `ctx.session`.
 */
export function classifyCommand(args: readonly Uint8Array[], ctx: CommandContext): Classified {
  if (args.length === 0) return fail(ERR_SYNTAX);
  const name = lower(args[0]!);
  const spec = COMMANDS.get(name);
  if (spec === undefined) return fail(unknownCommand(args));
  if (!arityOk(spec.arity, args.length)) return fail(wrongArity(name));
  return spec.handler(args, ctx);
}

/**
 * Runs a read query on a read view (after ReadIndex) at the read time `now`. Typed read
 * errors (NO_CIPHER, ENCRYPTED_READ_INTEGRITY, ...) become error replies carrying the code
 * (C-6: never nil); untyped errors are rethrown.
 */
export function executeRead(query: ReadQuery, view: KvReadView, reader: KvReader, now: bigint): Reply {
  try {
    switch (query.op) {
      case 'get':
        return bulk(reader.get(view, query.key, now));
      case 'mget':
        return array(reader.mget(view, query.keys, now).map((v) => bulk(v)));
      case 'exists':
        return int(reader.exists(view, query.keys, now));
      case 'strlen':
        return int(reader.strlen(view, query.key, now));
      case 'ttl':
        return int(query.unit === 's' ? reader.ttl(view, query.key, now) : reader.pttl(view, query.key, now));
      case 'scan': {
        const r = reader.scan(view, query.after, query.options, now);
        return array([bulk(encodeScanCursor(r.next)), array(r.keys.map((k) => bulk(k)))]);
      }
      case 'dbsize':
        return int(reader.dbsize(view, now));
      case 'keys': {
        // O(N) over the whole table, like Redis's KEYS.
        const r = reader.scan(view, null, { count: Number.MAX_SAFE_INTEGER, match: query.pattern }, now);
        return array(r.keys.map((k) => bulk(k)));
      }
      case 'type':
        return simple(reader.get(view, query.key, now) === null ? 'none' : 'string');
    }
  } catch (e) {
    if (e instanceof SealkvError) return errorReply(e);
    throw e;
  }
}

// KV write commands ↔ state-machine payload bytes (the "KV command codec" of SPEC FW-1).
//
// Layout (all integers big-endian, C-1):
//   [opcode u8][now u64][body...]
// `now` is the admitting leader's wall clock in ms (`stampCommand`, issue 9 defect 7): every
// replica evaluates expiry against it, so the apply never reads a local clock and stays
// deterministic. Keys and values are `len u32 ‖ bytes`.
//
// Opcodes live in 0x10..0x1D, outside 0x03..0x07 (the encryption entries, FW-1). Rule for
// evolution: new semantics get a NEW opcode, never a reused flag bit, because a replica that does
// not know a flag would reject the entry while a newer one applies it (divergence).

import { ProtocolError } from '../../errors.js';
import { allocBytesUnsafe } from '../../util/alloc-bytes.js';

export const OP_SET = 0x10;
export const OP_SETNX = 0x11;
export const OP_GETSET = 0x12;
export const OP_DEL = 0x13;
export const OP_MSET = 0x14;
export const OP_INCRBY = 0x15;
export const OP_APPEND = 0x16;
export const OP_EXPIRE = 0x17;
export const OP_SWEEP_EXPIRED = 0x18;
export const OP_RENAME = 0x19;
export const OP_GETDEL = 0x1a;
export const OP_GETEX = 0x1b;
/** MULTI/EXEC: the watched keys and the queued commands, applied as one entry (issue 12). */
export const OP_EXEC = 0x1c;
/** A read decided in apply: only useful inside EXEC, where it must see the transaction's state. */
export const OP_READ = 0x1d;

/** Opcodes of the KV codec; none is in 0x03..0x07 (FW-1). */
export const KV_OPCODES: readonly number[] = [
  OP_SET,
  OP_SETNX,
  OP_GETSET,
  OP_DEL,
  OP_MSET,
  OP_INCRBY,
  OP_APPEND,
  OP_EXPIRE,
  OP_SWEEP_EXPIRED,
  OP_RENAME,
  OP_GETDEL,
  OP_GETEX,
  OP_EXEC,
  OP_READ,
];

const U64_MAX = (1n << 64n) - 1n;
const I64_MIN = -(1n << 63n);
const I64_MAX = (1n << 63n) - 1n;

/** How SET treats the key's time to live. */
export type SetTtl =
  | { mode: 'clear' } // plain SET: any existing TTL is discarded
  | { mode: 'keep' } // KEEPTTL
  // EX/PX/EXAT/PXAT, already absolute (ms); > 0. `relative`: made absolute from `now` (EX/PX), so
  // re-stamping moves it with `now`; not on the wire (the log holds only absolute times).
  | { mode: 'at'; expireAt: bigint; relative?: boolean };

export interface SetCommand {
  op: 'set';
  now: bigint;
  key: Uint8Array;
  value: Uint8Array;
  /** NX: only if absent; XX: only if present; never both. */
  condition: 'always' | 'nx' | 'xx';
  /** GET option: reply with the old value. */
  get: boolean;
  ttl: SetTtl;
}
export interface SetNxCommand {
  op: 'setnx';
  now: bigint;
  key: Uint8Array;
  value: Uint8Array;
}
export interface GetSetCommand {
  op: 'getset';
  now: bigint;
  key: Uint8Array;
  value: Uint8Array;
}
export interface DelCommand {
  op: 'del';
  now: bigint;
  keys: Uint8Array[];
}
export interface MSetCommand {
  op: 'mset';
  now: bigint;
  pairs: { key: Uint8Array; value: Uint8Array }[];
}
/** INCR, DECR, INCRBY, DECRBY: `delta` is a signed 64-bit integer. */
export interface IncrByCommand {
  op: 'incrby';
  now: bigint;
  key: Uint8Array;
  delta: bigint;
}
export interface AppendCommand {
  op: 'append';
  now: bigint;
  key: Uint8Array;
  value: Uint8Array;
}
/**
 * EXPIRE/PEXPIRE/EXPIREAT/PEXPIREAT (`expireAt` absolute ms, ≥ 1; at or before `now` deletes the
 * key) and PERSIST (`expireAt` = null).
 */
export interface ExpireCommand {
  op: 'expire';
  now: bigint;
  key: Uint8Array;
  expireAt: bigint | null;
  /** EXPIRE/PEXPIRE: `expireAt` was `now` + a duration (see SetTtl); not on the wire. */
  relative?: boolean;
}
/**
 * Replicated expiry sweep: deletes those of `keys` that are expired at `now`. The proposer picks
 * the candidates with `collectExpiredKeys` (kv-reads.ts) so that apply does no table scan; apply
 * re-checks each key against `now`, so a key rewritten in between survives.
 */
export interface SweepExpiredCommand {
  op: 'sweepExpired';
  now: bigint;
  keys: Uint8Array[];
}

/** RENAME key newkey: the value moves with its TTL. */
export interface RenameCommand {
  op: 'rename';
  now: bigint;
  key: Uint8Array;
  newKey: Uint8Array;
}
export interface GetDelCommand {
  op: 'getdel';
  now: bigint;
  key: Uint8Array;
}
/** GETEX: `ttl` keep = no option, persist = PERSIST, at = EX/PX/EXAT/PXAT made absolute (≥ 1). */
export interface GetExCommand {
  op: 'getex';
  now: bigint;
  key: Uint8Array;
  /** `relative` (EX/PX): as in SetTtl, moved by the leader's re-stamp; not on the wire. */
  ttl: { mode: 'keep' } | { mode: 'persist' } | { mode: 'at'; expireAt: bigint; relative?: boolean };
}

/** Reads that can be queued inside MULTI (decided in apply, so they see the transaction's state). */
export type TxReadOp = 'get' | 'mget' | 'exists' | 'strlen' | 'ttl' | 'pttl' | 'type';
export interface ReadCommand {
  op: 'read';
  now: bigint;
  read: TxReadOp;
  keys: Uint8Array[];
}

/**
 * WATCH as seen by EXEC: `index` is a raft index at or after which the connection's later reads
 * saw every write; `watchNow` the watching node's clock (ms) at WATCH. Apply aborts the EXEC when
 * the key's last modification index is above `index`, or when the key expired after `watchNow`.
 */
export interface WatchedKey {
  key: Uint8Array;
  index: bigint;
  watchNow: bigint;
}

/** MULTI … EXEC as one entry. Every command runs with the entry's one `now`. */
export interface ExecCommand {
  op: 'exec';
  now: bigint;
  watches: WatchedKey[];
  commands: TxCommand[];
}

/** What EXEC may carry: any command but EXEC itself. */
export type TxCommand = Exclude<KvCommand, ExecCommand>;

export type KvCommand =
  | ExecCommand
  | ReadCommand
  | RenameCommand
  | GetDelCommand
  | GetExCommand
  | SetCommand
  | SetNxCommand
  | GetSetCommand
  | DelCommand
  | MSetCommand
  | IncrByCommand
  | AppendCommand
  | ExpireCommand
  | SweepExpiredCommand;

const GETEX_MODES = ['keep', 'persist', 'at'] as const;
const TX_READS: readonly TxReadOp[] = ['get', 'mget', 'exists', 'strlen', 'ttl', 'pttl', 'type'];

// SET flag bits.
const F_NX = 0x01;
const F_XX = 0x02;
const F_GET = 0x04;
const F_KEEPTTL = 0x08;
const F_EXPIRE_AT = 0x10;
const F_RESERVED = 0xe0;

/** Malformed KV payload; `reason` says what was wrong. */
function malformed(reason: string, message: string): ProtocolError {
  return new ProtocolError('COMMAND_MALFORMED', `KV command payload: ${message}`, { reason });
}

class Writer {
  private buf: Uint8Array;
  private view: DataView;
  private pos = 0;
  constructor(size: number) {
    // Pooled (issue 13: one per write); `done()` checks that every byte was written.
    this.buf = allocBytesUnsafe(size);
    this.view = new DataView(this.buf.buffer, this.buf.byteOffset, size);
  }
  u8(v: number): void {
    this.buf[this.pos++] = v;
  }
  u32(v: number): void {
    this.view.setUint32(this.pos, v, false);
    this.pos += 4;
  }
  u64(v: bigint): void {
    if (v < 0n || v > U64_MAX) throw new RangeError(`u64 out of range: ${v}`);
    this.view.setBigUint64(this.pos, v, false);
    this.pos += 8;
  }
  i64(v: bigint): void {
    if (v < I64_MIN || v > I64_MAX) throw new RangeError(`i64 out of range: ${v}`);
    this.view.setBigInt64(this.pos, v, false);
    this.pos += 8;
  }
  bytes(b: Uint8Array): void {
    this.u32(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }
  done(): Uint8Array {
    if (this.pos !== this.buf.length) throw new Error(`codec size mismatch: ${this.pos} != ${this.buf.length}`);
    return this.buf;
  }
}

class Reader {
  private view: DataView;
  pos = 0;
  constructor(private readonly buf: Uint8Array) {
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }
  private need(n: number): void {
    if (this.buf.length - this.pos < n) throw malformed('TRUNCATED', `truncated at byte ${this.pos}`);
  }
  u8(): number {
    this.need(1);
    return this.buf[this.pos++]!;
  }
  u32(): number {
    this.need(4);
    const v = this.view.getUint32(this.pos, false);
    this.pos += 4;
    return v;
  }
  u64(): bigint {
    this.need(8);
    const v = this.view.getBigUint64(this.pos, false);
    this.pos += 8;
    return v;
  }
  i64(): bigint {
    this.need(8);
    const v = this.view.getBigInt64(this.pos, false);
    this.pos += 8;
    return v;
  }
  /** A length-prefixed byte string, copied: EH-7 lets the payload alias entry.data. */
  bytes(): Uint8Array {
    const n = this.u32();
    this.need(n);
    const out = this.buf.slice(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }
  /**
   * A length-prefixed byte string as a view of the payload, for values: the state machine never
   * keeps a value beyond the apply call, it copies it into the new record (EH-7), so copying it
   * here too would be a second copy of every written value (issue 13: allocations per write).
   */
  bytesView(): Uint8Array {
    const n = this.u32();
    this.need(n);
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }
  /** A u32 count of items each at least `minItemSize` bytes, checked before anything is allocated. */
  count(minItemSize: number): number {
    const n = this.u32();
    if (n * minItemSize > this.buf.length - this.pos) throw malformed('TRUNCATED', `count ${n} exceeds the payload`);
    return n;
  }
  end(): void {
    if (this.pos !== this.buf.length) throw malformed('TRAILING', `${this.buf.length - this.pos} trailing bytes`);
  }
}

const HEAD = 1 + 8; // opcode + now

function bytesSize(b: Uint8Array): number {
  return 4 + b.length;
}

/** Encodes a command. Throws RangeError for values outside their wire range (a caller bug). */
export function encodeCommand(cmd: KvCommand): Uint8Array {
  switch (cmd.op) {
    case 'set': {
      if (cmd.condition !== 'always' && cmd.condition !== 'nx' && cmd.condition !== 'xx') {
        throw new RangeError(`bad SET condition ${String(cmd.condition)}`);
      }
      let flags = cmd.condition === 'nx' ? F_NX : cmd.condition === 'xx' ? F_XX : 0;
      if (cmd.get) flags |= F_GET;
      if (cmd.ttl.mode === 'keep') flags |= F_KEEPTTL;
      if (cmd.ttl.mode === 'at') {
        if (cmd.ttl.expireAt <= 0n) throw new RangeError('SET expireAt must be > 0');
        flags |= F_EXPIRE_AT;
      }
      const w = new Writer(HEAD + 1 + (flags & F_EXPIRE_AT ? 8 : 0) + bytesSize(cmd.key) + bytesSize(cmd.value));
      w.u8(OP_SET);
      w.u64(cmd.now);
      w.u8(flags);
      if (cmd.ttl.mode === 'at') w.u64(cmd.ttl.expireAt);
      w.bytes(cmd.key);
      w.bytes(cmd.value);
      return w.done();
    }
    case 'setnx':
    case 'getset':
    case 'append': {
      const w = new Writer(HEAD + bytesSize(cmd.key) + bytesSize(cmd.value));
      w.u8(cmd.op === 'setnx' ? OP_SETNX : cmd.op === 'getset' ? OP_GETSET : OP_APPEND);
      w.u64(cmd.now);
      w.bytes(cmd.key);
      w.bytes(cmd.value);
      return w.done();
    }
    case 'del':
    case 'sweepExpired': {
      let size = HEAD + 4;
      for (const k of cmd.keys) size += bytesSize(k);
      const w = new Writer(size);
      w.u8(cmd.op === 'del' ? OP_DEL : OP_SWEEP_EXPIRED);
      w.u64(cmd.now);
      w.u32(cmd.keys.length);
      for (const k of cmd.keys) w.bytes(k);
      return w.done();
    }
    case 'mset': {
      let size = HEAD + 4;
      for (const p of cmd.pairs) size += bytesSize(p.key) + bytesSize(p.value);
      const w = new Writer(size);
      w.u8(OP_MSET);
      w.u64(cmd.now);
      w.u32(cmd.pairs.length);
      for (const p of cmd.pairs) {
        w.bytes(p.key);
        w.bytes(p.value);
      }
      return w.done();
    }
    case 'incrby': {
      const w = new Writer(HEAD + 8 + bytesSize(cmd.key));
      w.u8(OP_INCRBY);
      w.u64(cmd.now);
      w.i64(cmd.delta);
      w.bytes(cmd.key);
      return w.done();
    }
    case 'rename': {
      const w = new Writer(HEAD + bytesSize(cmd.key) + bytesSize(cmd.newKey));
      w.u8(OP_RENAME);
      w.u64(cmd.now);
      w.bytes(cmd.key);
      w.bytes(cmd.newKey);
      return w.done();
    }
    case 'getdel': {
      const w = new Writer(HEAD + bytesSize(cmd.key));
      w.u8(OP_GETDEL);
      w.u64(cmd.now);
      w.bytes(cmd.key);
      return w.done();
    }
    case 'getex': {
      if (cmd.ttl.mode === 'at' && cmd.ttl.expireAt <= 0n) throw new RangeError('GETEX expireAt must be > 0');
      const w = new Writer(HEAD + 1 + (cmd.ttl.mode === 'at' ? 8 : 0) + bytesSize(cmd.key));
      w.u8(OP_GETEX);
      w.u64(cmd.now);
      w.u8(GETEX_MODES.indexOf(cmd.ttl.mode));
      if (cmd.ttl.mode === 'at') w.u64(cmd.ttl.expireAt);
      w.bytes(cmd.key);
      return w.done();
    }
    case 'read': {
      const code = TX_READS.indexOf(cmd.read);
      if (code < 0) throw new RangeError(`bad read op ${String(cmd.read)}`);
      let size = HEAD + 1 + 4;
      for (const k of cmd.keys) size += bytesSize(k);
      const w = new Writer(size);
      w.u8(OP_READ);
      w.u64(cmd.now);
      w.u8(code);
      w.u32(cmd.keys.length);
      for (const k of cmd.keys) w.bytes(k);
      return w.done();
    }
    case 'exec': {
      // Sub-commands are encoded whole (their own `now` included, for one decoder), but the
      // decoder gives each the entry's `now`: one clock per entry, whoever stamps it.
      const subs = cmd.commands.map((c) => {
        if ((c as KvCommand).op === 'exec') throw new RangeError('EXEC cannot nest');
        return encodeCommand({ ...c, now: cmd.now } as KvCommand);
      });
      let size = HEAD + 4 + 4;
      for (const wk of cmd.watches) size += bytesSize(wk.key) + 16;
      for (const b of subs) size += bytesSize(b);
      const w = new Writer(size);
      w.u8(OP_EXEC);
      w.u64(cmd.now);
      w.u32(cmd.watches.length);
      for (const wk of cmd.watches) {
        w.u64(wk.index);
        w.u64(wk.watchNow);
        w.bytes(wk.key);
      }
      w.u32(subs.length);
      for (const b of subs) w.bytes(b);
      return w.done();
    }
    case 'expire': {
      // expireAt 0 on the wire = PERSIST; a real expiry is ≥ 1 (the command table clamps).
      const at = cmd.expireAt ?? 0n;
      if (cmd.expireAt !== null && cmd.expireAt <= 0n) throw new RangeError('EXPIRE expireAt must be > 0');
      const w = new Writer(HEAD + 8 + bytesSize(cmd.key));
      w.u8(OP_EXPIRE);
      w.u64(cmd.now);
      w.u64(at);
      w.bytes(cmd.key);
      return w.done();
    }
  }
}

/** True when `opcode` is one of this codec's opcodes. */
export function isKvOpcode(opcode: number): boolean {
  return opcode >= OP_SET && opcode <= OP_READ;
}

/**
 * Decodes a payload. Throws ProtocolError('COMMAND_MALFORMED') with reason `UNKNOWN_OPCODE`,
 * `TRUNCATED`, `TRAILING`, `RESERVED_FLAGS` or `BAD_COMBINATION`; never an untyped error.
 */
export function decodeCommand(payload: Uint8Array): KvCommand {
  const r = new Reader(payload);
  if (payload.length === 0) throw malformed('TRUNCATED', 'empty payload');
  const opcode = r.u8();
  if (!isKvOpcode(opcode)) {
    throw malformed('UNKNOWN_OPCODE', `unknown opcode 0x${opcode.toString(16).padStart(2, '0')}`);
  }
  const now = r.u64();
  let cmd: KvCommand;
  switch (opcode) {
    case OP_SET: {
      const flags = r.u8();
      if (flags & F_RESERVED) throw malformed('RESERVED_FLAGS', `reserved SET flag bits 0x${flags.toString(16)}`);
      if (flags & F_NX && flags & F_XX) throw malformed('BAD_COMBINATION', 'SET with both NX and XX');
      if (flags & F_KEEPTTL && flags & F_EXPIRE_AT) throw malformed('BAD_COMBINATION', 'SET with KEEPTTL and expireAt');
      let ttl: SetTtl = { mode: flags & F_KEEPTTL ? 'keep' : 'clear' };
      if (flags & F_EXPIRE_AT) {
        const expireAt = r.u64();
        if (expireAt === 0n) throw malformed('BAD_COMBINATION', 'SET expireAt of 0');
        ttl = { mode: 'at', expireAt };
      }
      const key = r.bytes();
      const value = r.bytesView();
      cmd = {
        op: 'set',
        now,
        key,
        value,
        condition: flags & F_NX ? 'nx' : flags & F_XX ? 'xx' : 'always',
        get: (flags & F_GET) !== 0,
        ttl,
      };
      break;
    }
    case OP_SETNX:
    case OP_GETSET:
    case OP_APPEND: {
      const key = r.bytes();
      const value = r.bytesView();
      const op = opcode === OP_SETNX ? 'setnx' : opcode === OP_GETSET ? 'getset' : 'append';
      cmd = { op, now, key, value };
      break;
    }
    case OP_DEL:
    case OP_SWEEP_EXPIRED: {
      const n = r.count(4);
      const keys: Uint8Array[] = [];
      for (let i = 0; i < n; i++) keys.push(r.bytes());
      cmd = opcode === OP_DEL ? { op: 'del', now, keys } : { op: 'sweepExpired', now, keys };
      break;
    }
    case OP_MSET: {
      const n = r.count(8);
      const pairs: { key: Uint8Array; value: Uint8Array }[] = [];
      for (let i = 0; i < n; i++) {
        const key = r.bytes();
        const value = r.bytesView();
        pairs.push({ key, value });
      }
      cmd = { op: 'mset', now, pairs };
      break;
    }
    case OP_INCRBY: {
      const delta = r.i64();
      cmd = { op: 'incrby', now, key: r.bytes(), delta };
      break;
    }
    case OP_RENAME: {
      const key = r.bytes();
      cmd = { op: 'rename', now, key, newKey: r.bytes() };
      break;
    }
    case OP_GETDEL:
      cmd = { op: 'getdel', now, key: r.bytes() };
      break;
    case OP_GETEX: {
      const mode = GETEX_MODES[r.u8()];
      if (mode === undefined) throw malformed('RESERVED_FLAGS', 'unknown GETEX mode');
      if (mode === 'at') {
        const expireAt = r.u64();
        if (expireAt === 0n) throw malformed('BAD_COMBINATION', 'GETEX expireAt of 0');
        cmd = { op: 'getex', now, ttl: { mode, expireAt }, key: r.bytes() };
      } else {
        cmd = { op: 'getex', now, ttl: { mode }, key: r.bytes() };
      }
      break;
    }
    case OP_READ: {
      const read = TX_READS[r.u8()];
      if (read === undefined) throw malformed('RESERVED_FLAGS', 'unknown read op');
      const n = r.count(4);
      const keys: Uint8Array[] = [];
      for (let i = 0; i < n; i++) keys.push(r.bytes());
      const multiKey = read === 'mget' || read === 'exists';
      if (multiKey ? n === 0 : n !== 1) throw malformed('BAD_COMBINATION', `${read} with ${n} keys`);
      cmd = { op: 'read', now, read, keys };
      break;
    }
    case OP_EXEC: {
      const nw = r.count(20);
      const watches: WatchedKey[] = [];
      for (let i = 0; i < nw; i++) {
        const index = r.u64();
        const watchNow = r.u64();
        watches.push({ key: r.bytes(), index, watchNow });
      }
      const nc = r.count(4);
      const commands: TxCommand[] = [];
      for (let i = 0; i < nc; i++) {
        const sub = r.bytes();
        if (sub[0] === OP_EXEC) throw malformed('BAD_COMBINATION', 'EXEC inside EXEC');
        // An unknown sub-opcode throws UNKNOWN_OPCODE like a top-level one (the entry HALTs).
        commands.push({ ...decodeCommand(sub), now } as TxCommand);
      }
      cmd = { op: 'exec', now, watches, commands };
      break;
    }
    default: {
      // OP_EXPIRE (isKvOpcode narrowed the range to the opcodes above).
      const at = r.u64();
      cmd = { op: 'expire', now, key: r.bytes(), expireAt: at === 0n ? null : at };
      break;
    }
  }
  r.end();
  return cmd;
}

// ---- admission stamping (issue 9 defect 7) ----

/** Byte offset of a payload's `now` (after the opcode): the same for every KV opcode. */
const NOW_OFFSET = 1;

/**
 * True when the command's expiry was computed as `now` + a duration (EX/PX, EXPIRE/PEXPIRE): the
 * admitting leader's re-stamp must move it by the same amount.
 */
export function hasRelativeTtl(cmd: KvCommand): boolean {
  if (cmd.op === 'set') return cmd.ttl.mode === 'at' && cmd.ttl.relative === true;
  if (cmd.op === 'expire') return cmd.expireAt !== null && cmd.relative === true;
  if (cmd.op === 'getex') return cmd.ttl.mode === 'at' && cmd.ttl.relative === true;
  if (cmd.op === 'exec') return cmd.commands.some(hasRelativeTtl);
  return false;
}

/**
 * Which expiries of a command the leader's re-stamp must move: a boolean for a single command, and
 * for EXEC one flag per queued command (the wire keeps only absolute times, so EXPIRE and EXPIREAT
 * inside one transaction are told apart only by this).
 */
export type RelativeTtl = boolean | readonly boolean[];

export function relativeTtlOf(cmd: KvCommand): RelativeTtl {
  if (cmd.op === 'exec') return cmd.commands.some(hasRelativeTtl) ? cmd.commands.map(hasRelativeTtl) : false;
  return hasRelativeTtl(cmd);
}

/** The `now` a KV payload was stamped with; null for a payload that is not a KV command. */
export function commandTime(payload: Uint8Array): bigint | null {
  if (payload.length < HEAD || !isKvOpcode(payload[0]!)) return null;
  return new DataView(payload.buffer, payload.byteOffset, payload.byteLength).getBigUint64(NOW_OFFSET, false);
}

/**
 * The leader's admission stamp, in place: sets the payload's `now` to the leader's time and, for
 * the expiries `relativeTtl` marks, moves the absolute expiry by (leader time − the receiving
 * node's `now`), so `SET k v EX 60` means 60 s of the leader's clock whichever node received it.
 * A payload that is not a KV command is left alone. SET and EXPIRE (the hot path) are patched by
 * layout (no decode/re-encode of the values): `now` sits right after the opcode, SET's expireAt
 * after its flags byte, EXPIRE's right after `now`. GETEX and EXEC are decoded and re-encoded; the
 * encoding has fixed-width times, so the bytes keep their length.
 */
export function stampCommand(payload: Uint8Array, now: bigint, relativeTtl: RelativeTtl): void {
  const old = commandTime(payload);
  if (old === null) return;
  const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  view.setBigUint64(NOW_OFFSET, now, false);
  if (relativeTtl === false) return;
  const delta = now - old;
  if (payload[0] === OP_GETEX || payload[0] === OP_EXEC) {
    const cmd = decodeCommand(payload);
    if (cmd.op === 'getex') {
      if (relativeTtl !== true || cmd.ttl.mode !== 'at') return;
      cmd.ttl = { mode: 'at', expireAt: moveExpiry(cmd.ttl.expireAt, delta) };
    } else if (cmd.op === 'exec') {
      if (!Array.isArray(relativeTtl)) return;
      cmd.commands = cmd.commands.map((c, i) => (relativeTtl[i] === true ? shiftExpiry(c, delta) : c));
    }
    const bytes = encodeCommand(cmd);
    if (bytes.length !== payload.length) throw new ProtocolError('COMMAND_MALFORMED', 're-stamped command changed its length');
    payload.set(bytes);
    return;
  }
  if (relativeTtl !== true) return;
  let at: number;
  if (payload[0] === OP_SET && payload.length >= HEAD + 1 + 8 && (payload[HEAD]! & F_EXPIRE_AT) !== 0) at = HEAD + 1;
  else if (payload[0] === OP_EXPIRE && payload.length >= HEAD + 8) at = HEAD;
  else return;
  const expireAt = view.getBigUint64(at, false);
  if (expireAt === 0n) return; // PERSIST
  view.setBigUint64(at, moveExpiry(expireAt, delta), false);
}

/** Keeps a moved expiry valid: ≥ 1 (0 means none) and within the command table's i64 range. */
function moveExpiry(expireAt: bigint, delta: bigint): bigint {
  const moved = expireAt + delta;
  if (moved < 1n) return 1n;
  if (moved > I64_MAX) return I64_MAX;
  return moved;
}

function shiftExpiry(c: TxCommand, delta: bigint): TxCommand {
  if (c.op === 'set' && c.ttl.mode === 'at') return { ...c, ttl: { mode: 'at', expireAt: moveExpiry(c.ttl.expireAt, delta) } };
  if (c.op === 'expire' && c.expireAt !== null) return { ...c, expireAt: moveExpiry(c.expireAt, delta) };
  if (c.op === 'getex' && c.ttl.mode === 'at') return { ...c, ttl: { mode: 'at', expireAt: moveExpiry(c.ttl.expireAt, delta) } };
  return c;
}

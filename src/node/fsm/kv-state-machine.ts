// The deterministic KV state machine (issue 4 item 4; SPEC FW-1, PE-7, SE-6, EH-5).
//
// apply(payload, index, tx) dispatches on payload[0]: 0x03..0x07 are encryption entries
// (FW-1), everything else is a KV command. Every decision uses the command's own `now`, never a
// local clock, so replicas that apply the same entries hold the same logical table.
//
// WATCH (issue 12): every kv write of an entry also records the entry's index as the key's
// modification index in `kvmod` (kept for deleted keys too: a key created and deleted after WATCH
// was modified). EXEC carries each watched key's WATCH index and aborts when a key's modification
// index is above it, so the decision is made from replicated state only.
//
// A command is all-or-nothing: it reads and seals everything first into a staged write set and
// touches `tx` only at the end, so an entry that HALTs half way leaves nothing of itself in the
// batch transaction (EH-8: entries before it commit, it does not).

import { HaltError, SealkvError } from '../../errors.js';
import {
  type AppendCommand,
  type DelCommand,
  decodeCommand,
  type ExecCommand,
  type ExpireCommand,
  type GetDelCommand,
  type GetExCommand,
  type ReadCommand,
  type RenameCommand,
  type WatchedKey,
  type GetSetCommand,
  type IncrByCommand,
  type KvCommand,
  type MSetCommand,
  type SetCommand,
  type SetNxCommand,
  type SweepExpiredCommand,
} from './command-codec.js';
import { expiresOnWrite, isExpired } from './expiry.js';
import {
  type ApplyResult,
  array,
  bulk,
  type EncryptionHandler,
  err,
  type FsmResponse,
  int,
  NIL,
  OK,
} from './fsm-types.js';
import { formatInt, I64_MAX, I64_MIN, parseI64 } from './int64.js';
import type { ApplyTables, StateMachine } from '../state-machine.js';
import type { KvTxn } from './kv-store.js';
import { cleartextValueCodec, joinRecord, type ValueCodec } from './value-codec.js';
import { latin1 } from '../../util/latin1.js';

/** Redis's proto-max-bulk-len default: APPEND refuses to grow a value past it. */
export const MAX_VALUE_BYTES = 512 * 1024 * 1024;

export const ERR_NOT_INTEGER = 'ERR value is not an integer or out of range';
export const ERR_INCR_OVERFLOW = 'ERR increment or decrement would overflow';
export const ERR_STRING_TOO_LONG = 'ERR string exceeds maximum allowed size (proto-max-bulk-len)';

export interface KvStateMachineOptions<X = never> {
  /** Storage sealing hook; default cleartext (state 0b00). */
  codec?: ValueCodec;
  /** Applies 0x03..0x05; without one those entries HALT with KEK_NOT_CONFIGURED. */
  encryption?: EncryptionHandler<X>;
}

/** A live (visible) value read inside apply. */
interface Live {
  value: Uint8Array;
  expireAt: bigint;
}

/** Thrown inside a command to unwind to apply() with a halt; never escapes apply(). */
class HaltSignal {
  constructor(
    readonly message: string,
    readonly cause: SealkvError,
  ) {}
}

export const ERR_NO_SUCH_KEY = 'ERR no such key';

/** Per-command write set with read-your-writes, flushed to the txn only on success. */
class Staged {
  private readonly writes = new Map<string, { key: Uint8Array; record: Uint8Array | null }>();
  constructor(
    private readonly tx: KvTxn,
    private readonly mods: KvTxn | undefined,
    private readonly index: bigint,
  ) {}
  /** The raft index of the key's last write before this entry; 0 when none is recorded. */
  modIndex(key: Uint8Array): bigint {
    const b = this.mods?.get(key);
    if (b === undefined || b.length !== 8) return 0n;
    return new DataView(b.buffer, b.byteOffset, 8).getBigUint64(0, false);
  }
  private static id(key: Uint8Array): string {
    return latin1(key);
  }
  get(key: Uint8Array): Uint8Array | undefined {
    const w = this.writes.get(Staged.id(key));
    if (w !== undefined) return w.record ?? undefined;
    return this.tx.get(key);
  }
  put(key: Uint8Array, record: Uint8Array): void {
    const id = Staged.id(key);
    this.writes.delete(id); // re-insert so the flush order is the order of last writes
    this.writes.set(id, { key, record });
  }
  del(key: Uint8Array): void {
    const id = Staged.id(key);
    this.writes.delete(id);
    this.writes.set(id, { key, record: null });
  }
  flush(): void {
    let stamp: Uint8Array | null = null;
    for (const w of this.writes.values()) {
      if (w.record === null) this.tx.del(w.key);
      else this.tx.put(w.key, w.record);
      if (this.mods !== undefined) {
        if (stamp === null) {
          // From Buffer's pool: a fresh 8-byte Uint8Array lives on V8's heap, and taking its
          // `.buffer` for a DataView forces a separate backing-store allocation on every write.
          const b = Buffer.allocUnsafe(8);
          b.writeBigUInt64BE(this.index, 0);
          stamp = b;
        }
        this.mods.put(w.key, stamp);
      }
    }
  }
}

export class KvStateMachine<X = never> implements StateMachine<FsmResponse, X> {
  private readonly codec: ValueCodec;
  private readonly encryption: EncryptionHandler<X> | undefined;

  constructor(options: KvStateMachineOptions<X> = {}) {
    this.codec = options.codec ?? cleartextValueCodec;
    this.encryption = options.encryption;
  }

  /**
   * Applies one committed payload at `index`. Business errors come back as `{ response }` with
   * an error reply; only encryption failures (and unknown opcodes, see below) come back as
   * `{ halt }`. Errors that are not SealkvErrors (bugs, storage I/O from `tx`) are thrown.
   */
  apply(payload: Uint8Array, index: bigint, tables: ApplyTables, _extra: unknown = null): ApplyResult<X> {
    const tx = tables.kv;
    const mods = tables.kvmod;
    const opcode = payload.length > 0 ? payload[0]! : -1;
    if (opcode >= 0x03 && opcode <= 0x07) return this.applyEncryptionEntry(opcode, payload, index, tables.registry);

    let cmd: KvCommand;
    try {
      cmd = decodeCommand(payload);
    } catch (e) {
      if (!(e instanceof SealkvError)) throw e;
      // An unknown opcode means a replica of another version proposed it: a newer replica would
      // apply what this one cannot, so fail closed rather than diverge. Any other malformation
      // is rejected identically by every replica running this decoder: a business error reply.
      if (e.reason === 'UNKNOWN_OPCODE') {
        return {
          halt: new HaltError('ENTRY_MALFORMED', `entry ${index}: ${e.message}`, {
            reason: 'UNKNOWN_OPCODE',
            cause: e,
            index,
          }),
        };
      }
      return { response: err(`ERR COMMAND_MALFORMED ${e.message}`) };
    }

    const staged = new Staged(tx, mods, index);
    try {
      const response = this.execute(cmd, staged);
      staged.flush();
      return { response };
    } catch (e) {
      if (e instanceof HaltSignal) {
        return {
          halt: new HaltError('ENCRYPTION_APPLY', `entry ${index}: ${e.message}`, {
            reason: e.cause.code,
            cause: e.cause,
            index,
          }),
        };
      }
      throw e;
    }
  }

  private applyEncryptionEntry(opcode: number, payload: Uint8Array, index: bigint, registry: KvTxn | undefined): ApplyResult<X> {
    if (opcode >= 0x06) {
      return {
        halt: new HaltError('ENCRYPTION_APPLY', `entry ${index}: opcode 0x0${opcode} is reserved`, {
          reason: 'RESERVED_OPCODE',
          index,
        }),
      };
    }
    if (this.encryption === undefined) {
      return {
        halt: new HaltError(
          'ENCRYPTION_APPLY',
          `entry ${index}: encryption entry 0x0${opcode} but no KEK/encryption handler is configured`,
          { reason: 'KEK_NOT_CONFIGURED', index },
        ),
      };
    }
    return this.encryption.apply(payload, index, registry);
  }

  private execute(cmd: KvCommand, s: Staged): FsmResponse {
    switch (cmd.op) {
      case 'set':
        return this.set(cmd, s);
      case 'setnx':
        return this.setnx(cmd, s);
      case 'getset':
        return this.getset(cmd, s);
      case 'del':
        return this.del(cmd, s);
      case 'mset':
        return this.mset(cmd, s);
      case 'incrby':
        return this.incrby(cmd, s);
      case 'append':
        return this.append(cmd, s);
      case 'expire':
        return this.expire(cmd, s);
      case 'sweepExpired':
        return this.sweep(cmd, s);
      case 'rename':
        return this.rename(cmd, s);
      case 'getdel':
        return this.getdel(cmd, s);
      case 'getex':
        return this.getex(cmd, s);
      case 'read':
        return this.read(cmd, s);
      case 'exec':
        return this.exec(cmd, s);
    }
  }

  // --- storage helpers -------------------------------------------------------------------

  /** Runs a codec call; a typed failure becomes an ENCRYPTION_APPLY halt with its code (SE-6). */
  private guard<T>(what: string, key: Uint8Array, f: () => T): T {
    try {
      return f();
    } catch (e) {
      if (e instanceof SealkvError) {
        throw new HaltSignal(`${what} of a value (${key.length}-byte key) failed: ${e.code}`, e);
      }
      throw e;
    }
  }

  /**
   * The visible value of `key` at `now`, or null. Authenticates the record before looking at
   * its tombstone or expiry (SE-8). Expired and tombstoned records are deleted (deterministic:
   * every replica decides with the same `now`).
   */
  private readLive(s: Staged, key: Uint8Array, now: bigint): Live | null {
    const record = s.get(key);
    if (record === undefined) return null;
    const d = this.guard('decrypt', key, () => this.codec.decodeFromStore(key, record));
    if (d.header.tombstone || isExpired(d.header.expireAt, now)) {
      s.del(key);
      return null;
    }
    return { value: d.value, expireAt: d.header.expireAt };
  }

  private write(s: Staged, key: Uint8Array, value: Uint8Array, expireAt: bigint): void {
    const codec = this.codec;
    if (codec.encodeRecord !== undefined) {
      s.put(key, this.guard('seal', key, () => codec.encodeRecord!(key, { tombstone: false, expireAt }, value)));
      return;
    }
    const { header, body } = this.guard('seal', key, () => codec.encodeForStore(key, { tombstone: false, expireAt }, value));
    s.put(key, joinRecord(header, body));
  }

  /** The batch's deferred work (the codec's storage seals, one pool round trip) before it commits. */
  finishBatch(): Promise<void> {
    return this.codec.finishBatch?.() ?? Promise.resolve();
  }

  // --- commands --------------------------------------------------------------------------

  private set(c: SetCommand, s: Staged): FsmResponse {
    // Plain SET needs nothing of the old record, so it neither reads nor decrypts it.
    const needsOld = c.condition !== 'always' || c.get || c.ttl.mode === 'keep';
    const old = needsOld ? this.readLive(s, c.key, c.now) : null;
    const reply = c.get ? bulk(old?.value ?? null) : OK;
    if (c.condition === 'nx' && old !== null) return c.get ? reply : NIL;
    if (c.condition === 'xx' && old === null) return c.get ? reply : NIL;
    const expireAt = c.ttl.mode === 'at' ? c.ttl.expireAt : c.ttl.mode === 'keep' ? (old?.expireAt ?? 0n) : 0n;
    if (expiresOnWrite(expireAt, c.now)) {
      s.del(c.key);
      return reply;
    }
    this.write(s, c.key, c.value, expireAt);
    return reply;
  }

  private setnx(c: SetNxCommand, s: Staged): FsmResponse {
    if (this.readLive(s, c.key, c.now) !== null) return int(0);
    this.write(s, c.key, c.value, 0n);
    return int(1);
  }

  private getset(c: GetSetCommand, s: Staged): FsmResponse {
    const old = this.readLive(s, c.key, c.now);
    this.write(s, c.key, c.value, 0n); // GETSET discards the TTL, like SET
    return bulk(old?.value ?? null);
  }

  private del(c: DelCommand, s: Staged): FsmResponse {
    let n = 0;
    for (const key of c.keys) {
      if (this.readLive(s, key, c.now) !== null) {
        s.del(key);
        n++;
      }
    }
    return int(n);
  }

  private mset(c: MSetCommand, s: Staged): FsmResponse {
    for (const p of c.pairs) this.write(s, p.key, p.value, 0n);
    return OK;
  }

  private incrby(c: IncrByCommand, s: Staged): FsmResponse {
    const old = this.readLive(s, c.key, c.now);
    let current = 0n;
    if (old !== null) {
      const v = parseI64(old.value);
      if (v === null) return err(ERR_NOT_INTEGER);
      current = v;
    }
    const next = current + c.delta;
    if (next < I64_MIN || next > I64_MAX) return err(ERR_INCR_OVERFLOW);
    this.write(s, c.key, formatInt(next), old?.expireAt ?? 0n); // INCR keeps the TTL
    return int(next);
  }

  private append(c: AppendCommand, s: Staged): FsmResponse {
    const old = this.readLive(s, c.key, c.now);
    const oldLen = old?.value.length ?? 0;
    if (oldLen + c.value.length > MAX_VALUE_BYTES) return err(ERR_STRING_TOO_LONG);
    const value = new Uint8Array(oldLen + c.value.length);
    if (old !== null) value.set(old.value, 0);
    value.set(c.value, oldLen);
    this.write(s, c.key, value, old?.expireAt ?? 0n); // APPEND keeps the TTL
    return int(value.length);
  }

  private expire(c: ExpireCommand, s: Staged): FsmResponse {
    const old = this.readLive(s, c.key, c.now);
    if (old === null) return int(0);
    if (c.expireAt === null) {
      // PERSIST: 1 only when a TTL was removed.
      if (old.expireAt === 0n) return int(0);
      this.write(s, c.key, old.value, 0n);
      return int(1);
    }
    if (expiresOnWrite(c.expireAt, c.now)) {
      s.del(c.key);
      return int(1);
    }
    // Re-encoded, not patched: the header is in the storage AAD, so a sealing codec reseals (SE-6).
    this.write(s, c.key, old.value, c.expireAt);
    return int(1);
  }

  private rename(c: RenameCommand, s: Staged): FsmResponse {
    const old = this.readLive(s, c.key, c.now);
    if (old === null) return err(ERR_NO_SUCH_KEY);
    if (Buffer.compare(c.key, c.newKey) === 0) return OK;
    // The value moves with its TTL; sealed again under the new key (the key is in the AAD, SE-2).
    this.write(s, c.newKey, old.value, old.expireAt);
    s.del(c.key);
    return OK;
  }

  private getdel(c: GetDelCommand, s: Staged): FsmResponse {
    const old = this.readLive(s, c.key, c.now);
    if (old === null) return NIL;
    s.del(c.key);
    return bulk(old.value);
  }

  private getex(c: GetExCommand, s: Staged): FsmResponse {
    const old = this.readLive(s, c.key, c.now);
    if (old === null) return NIL;
    if (c.ttl.mode === 'persist') {
      if (old.expireAt !== 0n) this.write(s, c.key, old.value, 0n);
    } else if (c.ttl.mode === 'at') {
      if (expiresOnWrite(c.ttl.expireAt, c.now)) s.del(c.key);
      else this.write(s, c.key, old.value, c.ttl.expireAt);
    }
    return bulk(old.value);
  }

  /** A read queued in MULTI: decided here so it sees the transaction's own writes. */
  private read(c: ReadCommand, s: Staged): FsmResponse {
    const live = (k: Uint8Array): Live | null => this.readLive(s, k, c.now);
    const key = c.keys[0]!;
    switch (c.read) {
      case 'get':
        return bulk(live(key)?.value ?? null);
      case 'mget':
        return array(c.keys.map((k) => bulk(live(k)?.value ?? null)));
      case 'exists':
        return int(c.keys.filter((k) => live(k) !== null).length);
      case 'strlen':
        return int(live(key)?.value.length ?? 0);
      case 'type':
        return { t: 'simple', v: live(key) === null ? 'none' : 'string' };
      case 'ttl':
      case 'pttl': {
        const v = live(key);
        if (v === null) return int(-2);
        if (v.expireAt === 0n) return int(-1);
        const ms = v.expireAt - c.now;
        return int(c.read === 'pttl' ? ms : (ms + 500n) / 1000n);
      }
    }
  }

  /** MULTI/EXEC: nil when a watched key was touched after its WATCH, else every reply in order. */
  private exec(c: ExecCommand, s: Staged): FsmResponse {
    for (const w of c.watches) if (this.touchedSince(s, w, c.now)) return array(null);
    // Runtime errors are per command (Redis): the others still run; a HALT stops the whole entry.
    return array(c.commands.map((sub) => this.execute(sub, s)));
  }

  private touchedSince(s: Staged, w: WatchedKey, now: bigint): boolean {
    if (s.modIndex(w.key) > w.index) return true;
    const record = s.get(w.key);
    if (record === undefined) return false;
    const d = this.guard('decrypt', w.key, () => this.codec.decodeFromStore(w.key, record));
    // Redis ≥ 6.0.9: a key that was live at WATCH and has expired since counts as modified.
    const e = d.header.expireAt;
    return !d.header.tombstone && isExpired(e, now) && !isExpired(e, w.watchNow);
  }

  private sweep(c: SweepExpiredCommand, s: Staged): FsmResponse {
    let n = 0;
    for (const key of c.keys) {
      const record = s.get(key);
      if (record === undefined) continue;
      const d = this.guard('decrypt', key, () => this.codec.decodeFromStore(key, record));
      if (d.header.tombstone || isExpired(d.header.expireAt, c.now)) {
        s.del(key);
        n++;
      }
    }
    return int(n);
  }
}

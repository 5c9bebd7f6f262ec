// RESP2: incremental request parser (multibulk and inline); reply serializer for RESP2 and
// RESP3 (HELLO 3): maps, verbatim strings and the `_` null exist only in RESP3 and fall back to
// their RESP2 forms (flat array, bulk string, $-1 / *-1) on a RESP2 connection.
//
// The parser is fed raw socket chunks and hands out one command (Buffer[] args) at a time, so
// the server can stop pulling commands when a client has too many unanswered ones. Every limit
// is checked before the bytes it guards are buffered. Protocol errors carry Redis's wording;
// after one the stream is out of sync and the connection must be closed.

import { ProposalError, ProtocolError, SealkvError } from '../errors.js';

export interface RespLimits {
  /** Largest bulk string argument (Redis proto-max-bulk-len, default 512 MiB). */
  maxBulkBytes?: number;
  /** Largest argument count of one multibulk command (default 1 048 576). */
  maxMultibulkCount?: number;
  /** Longest inline command line and longest `*`/`$` header line (default 64 KiB). */
  maxInlineBytes?: number;
}

export const DEFAULT_MAX_BULK_BYTES = 512 * 1024 * 1024;
export const DEFAULT_MAX_MULTIBULK_COUNT = 1024 * 1024;
export const DEFAULT_MAX_INLINE_BYTES = 64 * 1024;

const CR = 13;
const LF = 10;
const EMPTY = Buffer.alloc(0);

function protocolError(message: string): ProtocolError {
  return new ProtocolError('PROTOCOL_ERROR', `Protocol error: ${message}`);
}

/**
 * Strict decimal parse of a header line (Redis string2ll): optional '-', no '+', no leading
 * zeros, no spaces. Returns null for anything else or beyond ±2^53 (all limits are far lower).
 */
function parseDecimal(b: Buffer, start: number, end: number): number | null {
  let i = start;
  let neg = false;
  if (i < end && b[i] === 45) {
    neg = true;
    i++;
  }
  if (i >= end || end - i > 15) return null;
  if (b[i] === 48 && end - i > 1) return null;
  let v = 0;
  for (; i < end; i++) {
    const d = b[i]! - 48;
    if (d < 0 || d > 9) return null;
    v = v * 10 + d;
  }
  return neg ? -v : v;
}

/** Splits an inline command like Redis's sdssplitargs: spaces, "double" (with escapes) and 'single' quotes. */
export function splitInlineArgs(line: Buffer): Buffer[] | null {
  const args: Buffer[] = [];
  const n = line.length;
  let i = 0;
  const isSpace = (c: number): boolean => c === 32 || c === 9 || c === 10 || c === 13 || c === 11 || c === 12;
  const hex = (c: number): number => (c >= 48 && c <= 57 ? c - 48 : (c | 32) >= 97 && (c | 32) <= 102 ? (c | 32) - 87 : -1);
  while (i < n) {
    while (i < n && isSpace(line[i]!)) i++;
    if (i >= n) break;
    const cur: number[] = [];
    let inDq = false;
    let inSq = false;
    for (;;) {
      if (inDq) {
        if (i >= n) return null; // unterminated quotes
        const c = line[i]!;
        if (c === 92 && i + 3 < n && line[i + 1] === 120 && hex(line[i + 2]!) >= 0 && hex(line[i + 3]!) >= 0) {
          cur.push(hex(line[i + 2]!) * 16 + hex(line[i + 3]!));
          i += 3;
        } else if (c === 92 && i + 1 < n) {
          i++;
          const e = line[i]!;
          cur.push(e === 110 ? 10 : e === 114 ? 13 : e === 116 ? 9 : e === 98 ? 8 : e === 97 ? 7 : e);
        } else if (c === 34) {
          // A closing quote must be followed by a space or the end.
          if (i + 1 < n && !isSpace(line[i + 1]!)) return null;
          inDq = false;
          i++;
          break;
        } else {
          cur.push(c);
        }
      } else if (inSq) {
        if (i >= n) return null;
        const c = line[i]!;
        if (c === 92 && i + 1 < n && line[i + 1] === 39) {
          i++;
          cur.push(39);
        } else if (c === 39) {
          if (i + 1 < n && !isSpace(line[i + 1]!)) return null;
          inSq = false;
          i++;
          break;
        } else {
          cur.push(c);
        }
      } else {
        if (i >= n) break;
        const c = line[i]!;
        if (isSpace(c)) break;
        if (c === 34) inDq = true;
        else if (c === 39) inSq = true;
        else cur.push(c);
      }
      i++;
    }
    args.push(Buffer.from(cur));
  }
  return args;
}

/**
 * Incremental RESP2 request parser. `feed()` chunks, then call `next()` until it returns null
 * (needs more data). `next()` throws ProtocolError; the parser then stays failed.
 */
export class RespParser {
  private readonly maxBulk: number;
  private readonly maxCount: number;
  private readonly maxInline: number;

  // Unconsumed input: `buf` from `pos`, then `more` chunks (joined only when a complete line or
  // bulk is present, so slow or large input costs one copy rather than one per chunk).
  private buf: Buffer = EMPTY;
  private pos = 0;
  private more: Buffer[] = [];
  private avail = 0;
  private scanned = 0; // bytes after `pos` already known to hold no '\n'

  // Multibulk in progress.
  private args: Buffer[] | null = null;
  private argsLeft = 0;
  private bulkLen = -1;
  private failed: ProtocolError | null = null;

  constructor(limits: RespLimits = {}) {
    this.maxBulk = limits.maxBulkBytes ?? DEFAULT_MAX_BULK_BYTES;
    this.maxCount = limits.maxMultibulkCount ?? DEFAULT_MAX_MULTIBULK_COUNT;
    this.maxInline = limits.maxInlineBytes ?? DEFAULT_MAX_INLINE_BYTES;
  }

  /** Input bytes held (for the client query-buffer limit). */
  get bufferedBytes(): number {
    return this.avail;
  }

  feed(chunk: Buffer): void {
    if (chunk.length === 0 || this.failed) return;
    if (this.avail === 0) {
      this.buf = chunk;
      this.pos = 0;
    } else {
      this.more.push(chunk);
    }
    this.avail += chunk.length;
  }

  /** The next complete command, or null when more input is needed. Empty commands are skipped. */
  next(): Buffer[] | null {
    if (this.failed) throw this.failed;
    try {
      for (;;) {
        const cmd = this.step();
        if (cmd === null) return null;
        if (cmd.length > 0) return cmd;
      }
    } catch (e) {
      this.failed = e instanceof ProtocolError ? e : protocolError(String((e as Error)?.message ?? e));
      this.buf = EMPTY;
      this.more = [];
      this.avail = 0;
      throw this.failed;
    }
  }

  /** One parsing step: a command, [] for an empty one, or null for "need more data". */
  private step(): Buffer[] | null {
    if (this.args === null) {
      if (this.avail === 0) return null;
      if (this.buf[this.pos] !== 42 /* '*' */) return this.inline();
      const lineEnd = this.findLine(true);
      if (lineEnd < 0) return null;
      const n = parseDecimal(this.buf, this.pos + 1, this.crlfEnd(lineEnd));
      this.consumeLine(lineEnd);
      if (n === null || n > this.maxCount) throw protocolError('invalid multibulk length');
      if (n <= 0) return [];
      this.args = [];
      this.argsLeft = n;
    }
    while (this.argsLeft > 0) {
      if (this.bulkLen < 0) {
        if (this.avail === 0) return null;
        const first = this.buf[this.pos]!;
        if (first !== 36 /* '$' */) throw protocolError(`expected '$', got '${String.fromCharCode(first)}'`);
        const lineEnd = this.findLine(false);
        if (lineEnd < 0) return null;
        const len = parseDecimal(this.buf, this.pos + 1, this.crlfEnd(lineEnd));
        this.consumeLine(lineEnd);
        if (len === null || len < 0 || len > this.maxBulk) throw protocolError('invalid bulk length');
        this.bulkLen = len;
      }
      if (this.avail < this.bulkLen + 2) return null;
      const body = this.take(this.bulkLen + 2);
      if (body[this.bulkLen] !== CR || body[this.bulkLen + 1] !== LF) {
        throw protocolError("expected '\\r\\n' after bulk data");
      }
      this.args!.push(body.subarray(0, this.bulkLen));
      this.bulkLen = -1;
      this.argsLeft--;
    }
    const cmd = this.args!;
    this.args = null;
    return cmd;
  }

  private inline(): Buffer[] | null {
    const lineEnd = this.findLine(null);
    if (lineEnd < 0) return null;
    // Like Redis, accept a bare '\n' as terminator and drop a preceding '\r'.
    const line = this.buf.subarray(this.pos, this.crlfEnd(lineEnd));
    this.consumeLine(lineEnd);
    const args = splitInlineArgs(line);
    if (args === null) throw protocolError('unbalanced quotes in request');
    return args;
  }

  /**
   * Finds the '\n' ending the line at `pos`, joining chunks only once it is found. Returns its
   * absolute index in `buf`, or -1 (need more). `mbulk`: true for '*', false for '$', null inline —
   * only the error wording for an overlong line differs.
   */
  private findLine(mbulk: boolean | null): number {
    let idx = this.buf.indexOf(LF, this.pos + this.scanned);
    if (idx < 0) {
      const inBuf = this.buf.length - this.pos;
      let seen = inBuf;
      let found = false;
      for (const c of this.more) {
        if (c.indexOf(LF, Math.max(0, this.scanned - seen)) >= 0) {
          found = true;
          break;
        }
        seen += c.length;
      }
      if (!found) {
        this.scanned = this.avail;
        if (this.avail > this.maxInline) throw this.lineTooLong(mbulk);
        return -1;
      }
      this.join();
      idx = this.buf.indexOf(LF, this.pos + this.scanned);
    }
    if (idx - this.pos > this.maxInline) throw this.lineTooLong(mbulk);
    return idx;
  }

  /** End of a header line's content: before "\r\n" (a bare "\n" is tolerated, as inline). */
  private crlfEnd(lineEnd: number): number {
    return lineEnd > this.pos && this.buf[lineEnd - 1] === CR ? lineEnd - 1 : lineEnd;
  }

  private lineTooLong(mbulk: boolean | null): ProtocolError {
    if (mbulk === null) return protocolError('too big inline request');
    return protocolError(mbulk ? 'too big mbulk count string' : 'too big bulk count string');
  }

  /** Consumes a "<header>\r\n" line ending at `lineEnd` ('\n'). */
  private consumeLine(lineEnd: number): void {
    const n = lineEnd + 1 - this.pos;
    this.pos = lineEnd + 1;
    this.avail -= n;
    this.afterConsume();
  }

  private afterConsume(): void {
    this.scanned = 0;
    if (this.pos >= this.buf.length) {
      this.buf = this.more.shift() ?? EMPTY;
      this.pos = 0;
    }
  }

  private join(): void {
    this.buf = Buffer.concat([this.buf.subarray(this.pos), ...this.more]);
    this.pos = 0;
    this.more = [];
  }

  /** Removes n ≤ avail bytes; a view (zero-copy) when they lie in the current chunk. */
  private take(n: number): Buffer {
    if (this.buf.length - this.pos < n) this.join();
    const res = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    this.avail -= n;
    this.afterConsume();
    return res;
  }
}

// ---- replies ----

/** The protocol a connection speaks (HELLO 2 / HELLO 3). */
export type RespVersion = 2 | 3;

/** What a command handler answers; serialized as RESP2 or RESP3. */
export type Reply =
  /** RESP3 map `%`; RESP2: a flat array key, value, key, value, ... */
  | { readonly t: 'map'; readonly v: readonly (readonly [Reply, Reply])[] }
  /** RESP3 verbatim string `=` with the 3-letter format (`txt`); RESP2: a bulk string. */
  | { readonly t: 'verbatim'; readonly format: string; readonly v: string }
  | { readonly t: 'simple'; readonly v: string }
  /** Full error text after '-', starting with the Redis prefix: "ERR ...", "WRONGTYPE ...", "TRYAGAIN ...". */
  | { readonly t: 'error'; readonly v: string }
  | { readonly t: 'int'; readonly v: number | bigint }
  | { readonly t: 'bulk'; readonly v: Uint8Array | string | null }
  | { readonly t: 'array'; readonly v: readonly Reply[] | null };

export const OK: Reply = { t: 'simple', v: 'OK' };
export const NIL: Reply = { t: 'bulk', v: null };
export const NIL_ARRAY: Reply = { t: 'array', v: null };
export const simple = (v: string): Reply => ({ t: 'simple', v });
export const error = (v: string): Reply => ({ t: 'error', v });
export const int = (v: number | bigint): Reply => ({ t: 'int', v });
export const bulk = (v: Uint8Array | string | null): Reply => ({ t: 'bulk', v });
export const array = (v: readonly Reply[] | null): Reply => ({ t: 'array', v });
export const map = (v: readonly (readonly [Reply, Reply])[]): Reply => ({ t: 'map', v });
export const verbatim = (v: string, format = 'txt'): Reply => ({ t: 'verbatim', format, v });

// SPEC C-6: retryable proposal refusals use -TRYAGAIN.
const TRYAGAIN_CODES = new Set(['ENVELOPE_CUTOVER_IN_PROGRESS', 'WRITER_NOT_REGISTERED']);

/**
 * Maps a thrown error to the Redis error reply (SPEC C-6): the text carries the code;
 * retryable proposal refusals use -TRYAGAIN; anything untyped becomes a generic -ERR.
 */
export function errorReply(e: unknown): Reply {
  if (e instanceof ProtocolError) return error(`ERR ${e.message}`);
  if (e instanceof SealkvError) {
    const prefix = e instanceof ProposalError && TRYAGAIN_CODES.has(e.code) ? 'TRYAGAIN' : 'ERR';
    return error(`${prefix} ${e.code} ${e.message}`);
  }
  return error('ERR internal error');
}

// Simple strings and errors cannot contain CR/LF; Redis replaces them with spaces too.
function oneLine(s: string): string {
  return /[\r\n]/.test(s) ? s.replace(/[\r\n]+/g, ' ') : s;
}

/** Encoded size of a reply in bytes. */
export function replySize(r: Reply, proto: RespVersion = 2): number {
  return sizeOf(r, proto);
}

function sizeOf(r: Reply, proto: RespVersion): number {
  if (proto === 3 && (r.t === 'bulk' || r.t === 'array') && r.v === null) return 3; // _\r\n
  switch (r.t) {
    case 'map': {
      let s = 3 + String(proto === 3 ? r.v.length : r.v.length * 2).length;
      for (const [k, v] of r.v) s += sizeOf(k, proto) + sizeOf(v, proto);
      return s;
    }
    case 'verbatim': {
      const n = Buffer.byteLength(r.v) + (proto === 3 ? 4 : 0);
      return 5 + String(n).length + n;
    }
    case 'simple':
    case 'error':
      return 3 + Buffer.byteLength(oneLine(r.v));
    case 'int':
      return 3 + String(r.v).length;
    case 'bulk': {
      if (r.v === null) return 5;
      const n = typeof r.v === 'string' ? Buffer.byteLength(r.v) : r.v.length;
      return 5 + String(n).length + n;
    }
    case 'array': {
      if (r.v === null) return 5;
      let s = 3 + String(r.v.length).length;
      for (const x of r.v) s += sizeOf(x, proto);
      return s;
    }
  }
}

function writeReply(out: Buffer, off: number, r: Reply, proto: RespVersion): number {
  if (proto === 3 && (r.t === 'bulk' || r.t === 'array') && r.v === null) {
    out[off++] = 95; // '_'
    out[off++] = CR;
    out[off++] = LF;
    return off;
  }
  switch (r.t) {
    case 'map':
      out[off++] = proto === 3 ? 37 : 42; // '%' or '*'
      off += out.write(String(proto === 3 ? r.v.length : r.v.length * 2), off, 'latin1');
      out[off++] = CR;
      out[off++] = LF;
      for (const [k, v] of r.v) {
        off = writeReply(out, off, k, proto);
        off = writeReply(out, off, v, proto);
      }
      return off;
    case 'verbatim': {
      const body = proto === 3 ? `${r.format}:${r.v}` : r.v;
      out[off++] = proto === 3 ? 61 : 36; // '=' or '$'
      off += out.write(String(Buffer.byteLength(body)), off, 'latin1');
      out[off++] = CR;
      out[off++] = LF;
      off += out.write(body, off);
      break;
    }
    case 'simple':
    case 'error':
      out[off++] = r.t === 'simple' ? 43 : 45;
      off += out.write(oneLine(r.v), off);
      break;
    case 'int':
      out[off++] = 58;
      off += out.write(String(r.v), off, 'latin1');
      break;
    case 'bulk':
      out[off++] = 36;
      if (r.v === null) {
        off += out.write('-1', off, 'latin1');
      } else if (typeof r.v === 'string') {
        const n = Buffer.byteLength(r.v);
        off += out.write(String(n), off, 'latin1');
        out[off++] = CR;
        out[off++] = LF;
        off += out.write(r.v, off);
      } else {
        off += out.write(String(r.v.length), off, 'latin1');
        out[off++] = CR;
        out[off++] = LF;
        out.set(r.v, off);
        off += r.v.length;
      }
      break;
    case 'array':
      out[off++] = 42;
      if (r.v === null) {
        off += out.write('-1', off, 'latin1');
      } else {
        off += out.write(String(r.v.length), off, 'latin1');
        out[off++] = CR;
        out[off++] = LF;
        for (const x of r.v) off = writeReply(out, off, x, proto);
        return off;
      }
      break;
  }
  out[off++] = CR;
  out[off++] = LF;
  return off;
}

/**
 * Serializes replies (e.g. one pipelined batch) into a single buffer. `proto`: one version for
 * all, or one per reply (a HELLO in the batch switches the protocol from its own reply on).
 */
export function encodeReplies(replies: readonly Reply[], proto: RespVersion | readonly RespVersion[] = 2): Buffer {
  const p = (i: number): RespVersion => (typeof proto === 'number' ? proto : (proto[i] ?? 2));
  let size = 0;
  for (let i = 0; i < replies.length; i++) size += sizeOf(replies[i]!, p(i));
  const out = Buffer.allocUnsafe(size);
  let off = 0;
  for (let i = 0; i < replies.length; i++) off = writeReply(out, off, replies[i]!, p(i));
  return out;
}

/**
 * `encodeReplies` when the caller already knows each reply's encoded size (`size` = their sum,
 * from `replySize`): the write path sizes a reply once, when it settles.
 */
export function encodeRepliesSized(replies: readonly Reply[], protos: readonly RespVersion[], size: number): Buffer {
  const out = Buffer.allocUnsafe(size);
  let off = 0;
  for (let i = 0; i < replies.length; i++) off = writeReply(out, off, replies[i]!, protos[i] ?? 2);
  // A size that does not match what was written would send garbage: size them again instead.
  return off === size ? out : encodeReplies(replies, protos);
}

export function encodeReply(r: Reply, proto: RespVersion = 2): Buffer {
  return encodeReplies([r], proto);
}

// Minimal RESP2 client for tests: one socket, pipelined requests answered in order, a deadline
// per request. No external package, so the tests depend only on what the node speaks on the wire.
//
// A request that times out poisons the connection (a late reply would be taken for the next
// request's), so the socket is destroyed and every request still waiting fails as "connection
// lost": callers must treat both outcomes as indeterminate.

import net from 'node:net';

export type RespReply =
  | { type: 'simple'; value: string }
  | { type: 'error'; message: string }
  | { type: 'int'; value: bigint }
  | { type: 'bulk'; value: string | null }
  | { type: 'array'; value: RespReply[] | null };

/** The request's deadline passed before its reply arrived. */
export class RespTimeoutError extends Error {
  override readonly name = 'RespTimeoutError';
}

/** The connection closed (or could not be opened) before the reply arrived. */
export class RespConnectionError extends Error {
  override readonly name = 'RespConnectionError';
}

interface Waiter {
  resolve(r: RespReply): void;
  reject(e: Error): void;
  timer: NodeJS.Timeout;
}

const CRLF = Buffer.from('\r\n');

/** RESP request encoding: an array of bulk strings. */
export function encodeCommand(args: readonly (string | Buffer)[]): Buffer {
  const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`)];
  for (const a of args) {
    const b = typeof a === 'string' ? Buffer.from(a) : a;
    parts.push(Buffer.from(`$${b.length}\r\n`), b, CRLF);
  }
  return Buffer.concat(parts);
}

/**
 * Incremental RESP2 reply parser. `parse` returns the replies complete so far and keeps the
 * unfinished tail for the next chunk.
 */
export class RespReplyParser {
  private buf: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): RespReply[] {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    const out: RespReply[] = [];
    let off = 0;
    for (;;) {
      const r = this.parseAt(off);
      if (r === null) break;
      out.push(r.reply);
      off = r.next;
    }
    this.buf = off === 0 ? this.buf : this.buf.subarray(off);
    return out;
  }

  private line(off: number): { text: string; next: number } | null {
    const end = this.buf.indexOf(CRLF, off);
    return end < 0 ? null : { text: this.buf.toString('utf8', off, end), next: end + 2 };
  }

  private parseAt(off: number): { reply: RespReply; next: number } | null {
    if (off >= this.buf.length) return null;
    const head = this.line(off + 1);
    if (head === null) return null;
    const t = String.fromCharCode(this.buf[off]!);
    switch (t) {
      case '+':
        return { reply: { type: 'simple', value: head.text }, next: head.next };
      case '-':
        return { reply: { type: 'error', message: head.text }, next: head.next };
      case ':':
        return { reply: { type: 'int', value: BigInt(head.text) }, next: head.next };
      case '$': {
        const n = Number(head.text);
        if (n < 0) return { reply: { type: 'bulk', value: null }, next: head.next };
        if (this.buf.length < head.next + n + 2) return null;
        return { reply: { type: 'bulk', value: this.buf.toString('utf8', head.next, head.next + n) }, next: head.next + n + 2 };
      }
      case '*': {
        const n = Number(head.text);
        if (n < 0) return { reply: { type: 'array', value: null }, next: head.next };
        const items: RespReply[] = [];
        let next = head.next;
        for (let i = 0; i < n; i++) {
          const r = this.parseAt(next);
          if (r === null) return null;
          items.push(r.reply);
          next = r.next;
        }
        return { reply: { type: 'array', value: items }, next };
      }
      default:
        throw new Error(`RESP: unexpected reply type byte 0x${this.buf[off]!.toString(16)}`);
    }
  }
}

export class RespClient {
  private readonly waiters: Waiter[] = [];
  private readonly parser = new RespReplyParser();
  private closedWith: Error | null = null;

  private constructor(private readonly socket: net.Socket) {
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      let replies: RespReply[];
      try {
        replies = this.parser.push(chunk);
      } catch (e) {
        this.close(new RespConnectionError(`bad reply stream: ${(e as Error).message}`));
        return;
      }
      for (const r of replies) {
        const w = this.waiters.shift();
        if (w === undefined) {
          this.close(new RespConnectionError('reply without a request'));
          return;
        }
        clearTimeout(w.timer);
        w.resolve(r);
      }
    });
    socket.on('error', (e) => this.close(new RespConnectionError(`socket error: ${e.message}`)));
    socket.on('close', () => this.close(new RespConnectionError('connection closed')));
  }

  /** Opens a connection; rejects with RespConnectionError on refusal or after `timeoutMs`. */
  static connect(port: number, host = '127.0.0.1', timeoutMs = 2000): Promise<RespClient> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ port, host });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new RespConnectionError(`connect to ${host}:${port} timed out`));
      }, timeoutMs);
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.removeAllListeners('error');
        resolve(new RespClient(socket));
      });
      socket.once('error', (e) => {
        clearTimeout(timer);
        socket.destroy();
        reject(new RespConnectionError(`connect to ${host}:${port}: ${e.message}`));
      });
    });
  }

  get isOpen(): boolean {
    return this.closedWith === null;
  }

  /** Sends one command; resolves with its reply (error replies included, they do not reject). */
  call(args: readonly (string | Buffer)[], timeoutMs = 5000): Promise<RespReply> {
    if (this.closedWith !== null) return Promise.reject(this.closedWith);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        const e = new RespTimeoutError(`${String(args[0])}: no reply within ${timeoutMs} ms`);
        // Fail this waiter with the timeout, then poison the connection for the rest.
        const i = this.waiters.indexOf(w);
        if (i >= 0) this.waiters.splice(i, 1);
        reject(e);
        this.close(new RespConnectionError('connection dropped after a request timed out'));
      }, timeoutMs);
      const w: Waiter = { resolve, reject, timer };
      this.waiters.push(w);
      this.socket.write(encodeCommand(args));
    });
  }

  close(reason: Error = new RespConnectionError('closed by the client')): void {
    if (this.closedWith !== null) return;
    this.closedWith = reason;
    this.socket.destroy();
    for (const w of this.waiters.splice(0)) {
      clearTimeout(w.timer);
      w.reject(reason);
    }
  }
}

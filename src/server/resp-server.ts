// RESP2 listener: per-connection parsing, ordered pipelined replies, bounded memory.
//
// Commands of one connection are dispatched as soon as they are parsed (the handler may
// answer asynchronously and out of order); replies leave strictly in request order, batched
// into one write per flush. A connection stops pulling commands (and pauses its socket) when
// it has too many unanswered commands or too much unsent output, so a fast pipelining client
// cannot grow the node's memory without bound. Connection-level commands that need no data
// (PING, ECHO, QUIT, HELLO) are answered here; everything else goes to the injected handler.

import net from 'node:net';
import { Fifo } from '../transport/fifo.js';
import {
  array,
  bulk,
  encodeRepliesSized,
  error,
  errorReply,
  int,
  OK,
  type Reply,
  RespParser,
  type RespLimits,
  replySize,
  type RespVersion,
  simple,
} from './resp-codec.js';

export interface ClientContext {
  readonly id: number;
  readonly remoteAddress: string;
  /** CLIENT SETNAME / HELLO SETNAME. */
  name: string | null;
  /** SELECT: sealkv has only database 0, but the handler owns the command. */
  db: number;
  /**
   * Set by the handler: the connection closes once this command's reply is written. Commands
   * pipelined after it are not run when it is set synchronously in `execute`; when set by an
   * async reply, commands already dispatched run but their replies are not sent.
   */
  closeAfterReply: boolean;
  /** HELLO 2/3: the protocol of this command's reply and the later ones (set by the handler). */
  protocol: RespVersion;
}

export interface CommandHandler {
  /**
   * Runs one command. `args[0]` is the command name as sent (any case). Args are views into
   * socket buffers: copy one (`Buffer.from(arg)`) before keeping it beyond the reply if its
   * memory matters. A throw or rejection becomes an error reply via `errorReply` (SPEC C-6).
   */
  execute(args: Buffer[], client: ClientContext): Reply | Promise<Reply>;
}

/** pino-compatible subset. */
export interface RespLogger {
  warn(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
  debug(obj: object, msg: string): void;
}

const noop = (): void => {};
const noopLogger: RespLogger = { warn: noop, info: noop, debug: noop };

export interface RespServerLimits extends RespLimits {
  /** Unanswered commands per connection before it stops reading (default 1024). */
  maxPendingCommands?: number;
  /** Unsent reply bytes per connection above which it stops reading until drained (default 1 MiB). */
  outputHighWaterBytes?: number;
  /** Unsent reply bytes per connection above which it is closed (default 1 GiB; a client not reading). */
  maxOutputBytes?: number;
  /** Buffered request bytes per connection above which it is closed (default 1 GiB, Redis client-query-buffer-limit). */
  maxQueryBufferBytes?: number;
  /** Concurrent connections (default 10000). */
  maxClients?: number;
}

export interface RespServerOptions {
  handler: CommandHandler;
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 6379; 0 picks an ephemeral port (see `listen()`'s result). */
  port?: number;
  limits?: RespServerLimits;
  logger?: RespLogger;
  /** Close connections idle this long, ms (default 0: never). */
  idleTimeoutMs?: number;
  /** Reported by HELLO. */
  serverVersion?: string;
  /**
   * Answer PING, ECHO, QUIT and HELLO here (default true). false: every command goes to the
   * handler (which then sets `closeAfterReply` for QUIT).
   */
  connectionCommands?: boolean;
}

interface Slot {
  reply: Reply | null;
  /** Close the connection after this reply (QUIT, protocol error). */
  close: boolean;
  /** Encoded reply size, once the reply is known. */
  size: number;
  /** Protocol of the reply: the connection's after the command was dispatched. */
  proto?: RespVersion;
}

interface Resolved {
  maxPending: number;
  outputHigh: number;
  maxOutput: number;
  maxQuery: number;
}

export class RespServer {
  private readonly handler: CommandHandler;
  private readonly host: string;
  private readonly port: number;
  private readonly parserLimits: RespLimits;
  private readonly limits: Resolved;
  private readonly maxClients: number;
  private readonly log: RespLogger;
  private readonly idleTimeoutMs: number;
  private readonly version: string;
  private readonly connectionCommands: boolean;
  private readonly server: net.Server;
  private readonly conns = new Set<Connection>();
  private readonly flusher = new FlushScheduler();
  private nextClientId = 1;
  private closing = false;

  constructor(opts: RespServerOptions) {
    this.handler = opts.handler;
    this.host = opts.host ?? '127.0.0.1';
    this.port = opts.port ?? 6379;
    const l = opts.limits ?? {};
    this.parserLimits = {
      maxBulkBytes: l.maxBulkBytes,
      maxMultibulkCount: l.maxMultibulkCount,
      maxInlineBytes: l.maxInlineBytes,
    };
    this.limits = {
      maxPending: l.maxPendingCommands ?? 1024,
      outputHigh: l.outputHighWaterBytes ?? 1024 * 1024,
      maxOutput: l.maxOutputBytes ?? 1024 * 1024 * 1024,
      maxQuery: l.maxQueryBufferBytes ?? 1024 * 1024 * 1024,
    };
    this.maxClients = l.maxClients ?? 10_000;
    this.log = opts.logger ?? noopLogger;
    this.idleTimeoutMs = opts.idleTimeoutMs ?? 0;
    this.version = opts.serverVersion ?? '0.1.0';
    this.connectionCommands = opts.connectionCommands ?? true;
    this.server = net.createServer((s) => this.onConnection(s));
  }

  /** Starts listening; resolves with the bound address. */
  listen(): Promise<{ host: string; port: number }> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.port, this.host, () => {
        this.server.off('error', reject);
        this.server.on('error', (e) => this.log.warn({ err: e.message }, 'RESP listener error'));
        const a = this.server.address() as net.AddressInfo;
        resolve({ host: a.address, port: a.port });
      });
    });
  }

  get clientCount(): number {
    return this.conns.size;
  }

  /**
   * Stops accepting, stops reading commands, lets every connection write the replies of the
   * commands it already dispatched (up to `graceMs`), then closes them.
   */
  async close(graceMs = 2000): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    const stopped = new Promise<void>((resolve) => this.server.close(() => resolve()));
    await Promise.all([...this.conns].map((c) => c.shutdown(graceMs)));
    await stopped;
  }

  private onConnection(socket: net.Socket): void {
    if (this.closing) {
      socket.destroy();
      return;
    }
    if (this.conns.size >= this.maxClients) {
      socket.end('-ERR max number of clients reached\r\n');
      return;
    }
    const client: ClientContext = {
      id: this.nextClientId++,
      remoteAddress: `${socket.remoteAddress}:${socket.remotePort}`,
      name: null,
      db: 0,
      closeAfterReply: false,
      protocol: 2,
    };
    const conn = new Connection(
      socket,
      client,
      this.handler,
      new RespParser(this.parserLimits),
      this.limits,
      this.log,
      this.connectionCommands ? this.version : null,
      this.flusher,
    );
    this.conns.add(conn);
    socket.once('close', () => this.conns.delete(conn));
    if (this.idleTimeoutMs > 0) {
      socket.setTimeout(this.idleTimeoutMs, () => {
        this.log.debug({ client: client.id }, 'closing idle RESP client');
        socket.destroy();
      });
    }
  }
}

function lowerAscii(b: Buffer): string {
  return b.length > 16 ? '' : b.toString('latin1').toLowerCase();
}

function isThenable(r: Reply | PromiseLike<Reply>): r is PromiseLike<Reply> {
  return typeof (r as { then?: unknown }).then === 'function';
}

/**
 * Runs the pumps of every connection whose handler promises settled during this turn of the loop,
 * from ONE setImmediate: each connection then writes all its ready replies with one socket write,
 * and the server does not queue an immediate per connection per turn.
 */
class FlushScheduler {
  private due: Connection[] = [];
  private scheduled = false;

  add(c: Connection): void {
    this.due.push(c);
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => this.run());
  }

  private run(): void {
    this.scheduled = false;
    const due = this.due;
    this.due = [];
    for (const c of due) c.flushDue();
  }
}

/** `+OK\r\n`, the reply of most writes, encoded once (socket writes never modify it). */
const OK_BYTES = Buffer.from('+OK\r\n', 'latin1');

// Upper bound on replies per socket write within one pipeline (keeps single writes moderate).
const MAX_COMMANDS_PER_WRITE = 256;

const arityError = (cmd: string): Reply => error(`ERR wrong number of arguments for '${cmd}' command`);

class Connection {
  private readonly slots = new Fifo<Slot>();
  private stopped = false; // no more commands are parsed (QUIT, protocol error, shutdown)
  private paused = false;
  private blocked = false; // output above the high-water mark, waiting for 'drain'
  private pumping = false;
  private flushScheduled = false;
  private dead = false;
  private heldBytes = 0; // encoded size of replies that are ready but not yet written
  private onIdle: (() => void) | null = null;

  constructor(
    private readonly socket: net.Socket,
    private readonly client: ClientContext,
    private readonly handler: CommandHandler,
    private readonly parser: RespParser,
    private readonly limits: Resolved,
    private readonly log: RespLogger,
    /** HELLO's version; null when connection-level commands go to the handler. */
    private readonly version: string | null,
    private readonly flusher: FlushScheduler,
  ) {
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (e) => this.log.debug({ client: client.id, err: e.message }, 'RESP client socket error'));
    socket.on('close', () => {
      this.dead = true;
      this.onIdle?.();
    });
    socket.on('drain', () => {
      if (!this.blocked) return;
      this.blocked = false;
      this.pump();
    });
  }

  /** Graceful close: answer what was dispatched, then end; destroy after `graceMs`. */
  shutdown(graceMs: number): Promise<void> {
    this.stopped = true;
    if (this.dead) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const timer = setTimeout(() => this.socket.destroy(), graceMs);
      this.onIdle = () => {
        clearTimeout(timer);
        resolve();
      };
      if (this.slots.length === 0) this.socket.end();
      // Otherwise flush() ends the socket once the last reply is written.
    });
  }

  private onData(chunk: Buffer): void {
    if (this.dead) return;
    if (this.stopped) return; // after QUIT / a protocol error, further input is ignored
    this.parser.feed(chunk);
    if (this.parser.bufferedBytes > this.limits.maxQuery) {
      this.log.warn({ client: this.client.id, bytes: this.parser.bufferedBytes }, 'RESP client query buffer over limit; closing it');
      this.socket.destroy();
      return;
    }
    this.pump();
  }

  /** Parses and dispatches while limits allow, writes what is ready, and (un)pauses the socket. */
  private pump(): void {
    if (this.pumping || this.dead) return;
    this.pumping = true;
    try {
      for (;;) {
        let progressed = false;
        let batchCommands = 0;
        while (!this.stopped && !this.blocked && this.slots.length < this.limits.maxPending) {
          // Ready replies are bounded too: a pipeline of synchronous commands with large replies
          // reaches the socket (and its back-pressure) in pieces, and replies held behind a slow
          // command stop further parsing until it completes.
          if (this.heldBytes >= this.limits.outputHigh || batchCommands >= MAX_COMMANDS_PER_WRITE) {
            batchCommands = 0;
            if (this.flush()) progressed = true;
            if (this.heldBytes >= this.limits.outputHigh) break;
            continue;
          }
          let args: Buffer[] | null;
          try {
            args = this.parser.next();
          } catch (e) {
            // Redis: reply -ERR Protocol error: ..., then close. Nothing of the bad command runs.
            this.log.debug({ client: this.client.id, err: (e as Error).message }, 'RESP protocol error');
            const reply = errorReply(e);
            const size = replySize(reply, 2);
            this.heldBytes += size;
            this.slots.push({ reply, close: true, size });
            this.stopped = true;
            progressed = true;
            break;
          }
          if (args === null) break;
          this.dispatch(args);
          batchCommands++;
          progressed = true;
        }
        if (this.flush()) progressed = true;
        if (!progressed || this.dead) break;
      }
    } finally {
      this.pumping = false;
    }
    this.updatePause();
  }

  private dispatch(args: Buffer[]): void {
    const slot: Slot = { reply: null, close: false, size: 0 };
    this.slots.push(slot);
    const builtin = this.version === null ? null : this.connectionCommand(args, slot);
    if (builtin) {
      this.settle(slot, builtin);
    } else {
      let r: Reply | Promise<Reply>;
      try {
        r = this.handler.execute(args, this.client);
      } catch (e) {
        r = errorReply(e);
      }
      slot.proto = this.client.protocol;
      if (isThenable(r)) {
        // One reaction per reply: settle, then have the reply written this turn.
        r.then(
          (v) => {
            this.settle(slot, v ?? errorReply(null));
            this.scheduleFlush();
          },
          (e: unknown) => {
            this.settle(slot, errorReply(e));
            this.scheduleFlush();
          },
        );
      } else {
        this.settle(slot, r);
      }
    }
  }

  private settle(slot: Slot, reply: Reply): void {
    slot.reply = reply;
    slot.size = replySize(reply, slot.proto ?? 2);
    this.heldBytes += slot.size;
    if (this.client.closeAfterReply) {
      this.client.closeAfterReply = false;
      slot.close = true;
    }
    if (slot.close) this.stopped = true;
  }

  /** PING, ECHO, QUIT, HELLO; null for anything the handler owns. */
  private connectionCommand(args: Buffer[], slot: Slot): Reply | null {
    const name = lowerAscii(args[0]!);
    switch (name) {
      case 'ping':
        if (args.length > 2) return arityError('ping');
        return args.length === 2 ? bulk(args[1]!) : simple('PONG');
      case 'echo':
        return args.length === 2 ? bulk(args[1]!) : arityError('echo');
      case 'quit':
        slot.close = true;
        return OK;
      case 'hello':
        return this.hello(args);
      default:
        return null;
    }
  }

  private hello(args: Buffer[]): Reply {
    if (args.length >= 2) {
      const v = args[1]!.toString('latin1');
      if (!/^-?\d{1,10}$/.test(v)) return error('ERR Protocol version is not an integer or out of range');
      if (Number(v) !== 2) return error('NOPROTO unsupported protocol version');
      for (let i = 2; i < args.length; i++) {
        const opt = lowerAscii(args[i]!);
        if (opt === 'auth' && i + 2 < args.length) {
          return error('ERR AUTH is not supported: sealkv has no client authentication');
        }
        if (opt === 'setname' && i + 1 < args.length) {
          const n = args[++i]!.toString();
          if (/[\s]/.test(n) || /[^\x21-\x7e]/.test(n)) {
            return error('ERR Client names cannot contain spaces, newlines or special characters.');
          }
          this.client.name = n.length === 0 ? null : n;
          continue;
        }
        return error(`ERR Syntax error in HELLO option '${args[i]!.toString()}'`);
      }
    }
    return array([
      bulk('server'),
      bulk('sealkv'),
      bulk('version'),
      bulk(this.version ?? ''),
      bulk('proto'),
      int(2),
      bulk('id'),
      int(this.client.id),
      bulk('mode'),
      bulk('standalone'),
      bulk('role'),
      bulk('master'),
      bulk('modules'),
      array([]),
    ]);
  }

  private scheduleFlush(): void {
    if (this.flushScheduled || this.dead) return;
    this.flushScheduled = true;
    // Coalesce the replies of handler promises that settle in the same turn into one write.
    this.flusher.add(this);
  }

  /** The server's flush scheduler calls this once per turn in which replies became ready. */
  flushDue(): void {
    this.flushScheduled = false;
    this.pump();
  }

  /** Writes the ready prefix of replies; true when at least one was written. */
  private flush(): boolean {
    if (this.dead) return false;
    const ready: Reply[] = [];
    const protos: RespVersion[] = [];
    let size = 0;
    let close = false;
    for (let s = this.slots.peek(); s?.reply; s = this.slots.peek()) {
      this.slots.shift();
      ready.push(s.reply);
      protos.push(s.proto ?? 2);
      size += s.size;
      this.heldBytes -= s.size;
      if (s.close) {
        close = true;
        break;
      }
    }
    if (ready.length === 0) return false;
    const r0 = ready[0]!;
    const lone = ready.length === 1 && r0.t === 'simple' && r0.v === 'OK';
    const ok = this.socket.write(lone ? OK_BYTES : encodeRepliesSized(ready, protos, size));
    const unsent = this.socket.writableLength;
    if (close || (this.onIdle !== null && this.slots.length === 0)) {
      this.dead = true;
      this.socket.end();
    } else if (unsent > this.limits.maxOutput) {
      this.log.warn({ client: this.client.id, bytes: unsent }, 'RESP client output buffer over limit; closing it');
      this.socket.destroy();
    } else if (!ok && unsent > this.limits.outputHigh) {
      // Only when write() said false: that guarantees a 'drain' event to unblock on.
      this.blocked = true;
    }
    return true;
  }

  private updatePause(): void {
    if (this.dead) return;
    const want =
      this.blocked || this.slots.length >= this.limits.maxPending || this.heldBytes >= this.limits.outputHigh;
    if (want && !this.paused) {
      this.paused = true;
      this.socket.pause();
    } else if (!want && this.paused) {
      this.paused = false;
      this.socket.resume();
    }
  }
}

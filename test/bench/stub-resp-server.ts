// A tiny in-test RESP server for the load generator's tests: answers every command with +OK, or
// with an error while `errorReply` is set, and can hold replies back (a server stall) until
// release() — enough to check rates, error counting and stall accounting without redis-server.

import { createServer, type Server, type Socket } from 'node:net';
import { ReplySplitter } from '../../src/bench/suite/resp.js';

export interface StubServer {
  port: number;
  /** Commands received so far. */
  received(): number;
  /** While set, replies are this error line (without '-'), e.g. "TRYAGAIN cutover". */
  errorReply: string | null;
  /** Error replies sent so far, by prefix. */
  errorsSent(): Record<string, number>;
  /** Hold every reply until release(). */
  stall(): void;
  release(): void;
  /** Stop answering altogether (the connection stays open). */
  mute(): void;
  close(): Promise<void>;
}

export async function startStubServer(): Promise<StubServer> {
  let received = 0;
  const errorsSent: Record<string, number> = {};
  let stalled = false;
  let muted = false;
  const held: { socket: Socket; bytes: string }[] = [];
  const sockets = new Set<Socket>();
  const stub: StubServer = {
    port: 0,
    received: () => received,
    errorReply: null,
    errorsSent: () => ({ ...errorsSent }),
    stall: () => {
      stalled = true;
    },
    release: () => {
      stalled = false;
      for (const h of held.splice(0)) if (!h.socket.destroyed) h.socket.write(h.bytes);
    },
    mute: () => {
      muted = true;
    },
    close: () =>
      new Promise((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    // Requests are RESP arrays, so the reply splitter splits the request stream just as well.
    const splitter = new ReplySplitter();
    socket.on('data', (chunk) => {
      const n = splitter.feed(chunk).length;
      received += n;
      if (muted) return;
      let out = '';
      for (let i = 0; i < n; i++) {
        if (stub.errorReply !== null) {
          out += `-${stub.errorReply}\r\n`;
          const prefix = stub.errorReply.split(' ')[0]!;
          errorsSent[prefix] = (errorsSent[prefix] ?? 0) + 1;
        } else out += '+OK\r\n';
      }
      if (stalled) held.push({ socket, bytes: out });
      else socket.write(out);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const addr = server.address();
  if (addr === null || typeof addr === 'string') throw new Error('stub server has no port');
  stub.port = addr.port;
  return stub;
}

// WATCH/MULTI/EXEC client adapters over ioredis and node-redis for the concurrent WATCH test.

import { Redis } from 'ioredis';
import { createClient, WatchError } from 'redis';

export interface TxClient {
  watch(k: string): Promise<unknown>;
  get(k: string): Promise<string | null>;
  /** EXEC of SET k v; SET marker 1: 'ok', 'aborted' (nil / WatchError), or throws (unknown outcome). */
  incrTx(k: string, value: string, marker: string): Promise<'ok' | 'aborted'>;
  close(): void;
}

export function ioredisClient(port: number): TxClient {
  // No replay of unanswered commands after a reconnect (that would resend a MULTI block without
  // its WATCH) and no offline queue: a command on a dead connection fails at once.
  const r = new Redis(port, '127.0.0.1', {
    autoResendUnfulfilledCommands: false,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    retryStrategy: () => 100,
  });
  r.on('error', () => {});
  return {
    watch: (k) => r.watch(k),
    get: (k) => r.get(k),
    async incrTx(k, value, marker) {
      const res = await r.multi().set(k, value).set(marker, '1').exec();
      if (res === null) return 'aborted';
      if (res.some(([e, v]) => e !== null || v !== 'OK')) throw new Error(`EXEC replied ${JSON.stringify(res)}`);
      return 'ok';
    },
    close: () => r.disconnect(),
  };
}

export async function nodeRedisClient(port: number): Promise<TxClient> {
  const r = createClient({ socket: { port, host: '127.0.0.1', reconnectStrategy: () => 100 } });
  r.on('error', () => {});
  await r.connect();
  return {
    watch: (k) => r.watch(k),
    get: (k) => r.get(k),
    async incrTx(k, value, marker) {
      try {
        const res = await r.multi().set(k, value).set(marker, '1').exec();
        if (res.some((v) => String(v) !== 'OK')) throw new Error(`EXEC replied ${JSON.stringify(res)}`);
        return 'ok';
      } catch (e) {
        // Nil EXEC, or a reconnect after WATCH detected before sending: certainly no effect.
        if (e instanceof WatchError) return 'aborted';
        throw e;
      }
    },
    close: () => r.destroy(),
  };
}

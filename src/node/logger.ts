// Structured logs (pino). Never pass key material to a logger: messages name indexes, key ids
// and purposes only.

import { pino, type Logger } from 'pino';

export type { Logger } from 'pino';

export function createLogger(level: string, bindings: Record<string, string> = {}): Logger {
  return pino({ level, base: { pid: process.pid, ...bindings } }, pino.destination({ fd: 2, sync: false }));
}

/** A logger that drops everything (tests, embedded use). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}

// Write helpers shared by the real-cluster tests: a SET that rides out the refusals a healthy
// cluster gives while it elects a leader, cuts over or registers a writer, and fails the test on
// any other reply. One copy, so every test retries the same refusals for the same time.

import { expect } from 'vitest';
import type { Cluster } from './cluster.js';
import type { RespClient, RespReply } from './resp-client.js';
import { sleep, waitFor } from './wait.js';

/**
 * Error replies that only say "not now" (DESIGN §5): no leader or a leader change, an outcome the
 * node could not confirm, a writer not yet registered for the active DEK, a cutover in flight, a
 * connection to the leader that closed under the request.
 */
export const RETRYABLE =
  /NOT_LEADER|UNKNOWN_OUTCOME|TIMEOUT|TRYAGAIN|WRITER_NOT_REGISTERED|UNAVAILABLE|ENVELOPE_CUTOVER_IN_PROGRESS|CLOSED/;

/** Retries every error reply: for tests that wait for a node to take writes again, whatever it answers meanwhile. */
export const ANY_ERROR = /(?:)/;

export interface RetryOptions {
  /** How long retryable replies are retried before the last one is taken as the answer. */
  timeoutMs?: number;
  /** Which error replies are retried (matched against the message). */
  retryOn?: RegExp;
}

const DEFAULT_TIMEOUT_MS = 30_000;
const RETRY_INTERVAL_MS = 50;
/** Per request: a slow reply under load is not a refusal (a timed-out request poisons the connection). */
const CALL_TIMEOUT_MS = 10_000;
const OK: RespReply = { type: 'simple', value: 'OK' };

/** Sends `cmd` until its reply is not a retryable error or the time is up; returns the last reply. */
export async function callRetrying(conn: RespClient, cmd: readonly string[], opts: RetryOptions = {}): Promise<RespReply> {
  const { timeoutMs = DEFAULT_TIMEOUT_MS, retryOn = RETRYABLE } = opts;
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const r = await conn.call(cmd, CALL_TIMEOUT_MS);
    if (r.type !== 'error' || !retryOn.test(r.message) || performance.now() >= deadline) return r;
    await sleep(RETRY_INTERVAL_MS);
  }
}

/** SET on an open connection, retrying retryable refusals; anything but `+OK` fails the test. */
export async function setOn(conn: RespClient, key: string, value: string, opts: RetryOptions = {}): Promise<void> {
  expect(await callRetrying(conn, ['SET', key, value], opts), `SET ${key}`).toEqual(OK);
}

/** `setOn` for each entry in order: every key ends up set. */
export async function setAll(conn: RespClient, entries: readonly (readonly [string, string])[], opts: RetryOptions = {}): Promise<void> {
  for (const [k, v] of entries) await setOn(conn, k, v, opts);
}

/**
 * SET through node `id` on a connection of its own: waits until the node knows a leader and takes
 * connections, retries refusals until `+OK`, and closes the connection.
 */
export async function setVia(c: Cluster, id: string, key: string, value: string, opts: RetryOptions = {}): Promise<void> {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  await waitFor(`${id} knows the leader`, async () => (await c.status(id))?.leader ?? undefined, timeoutMs);
  const conn = await waitFor(`${id} RESP`, () => c.resp(id).catch(() => undefined), timeoutMs);
  try {
    expect(await callRetrying(conn, ['SET', key, value], opts), `SET ${key} via ${id}`).toEqual(OK);
  } finally {
    conn.close();
  }
}

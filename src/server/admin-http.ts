// Admin HTTP API (DESIGN.md §4): JSON over HTTP, loopback by default, bearer token required when
// configured (compared in constant time), JSON errors `{"error":{"code","message"[,"reason"][,"leader"]}}`
// with the status mapping of SPEC C-7.

import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { AdminError, ProposalError, SealkvError } from '../errors.js';

export type Json = null | boolean | number | string | Json[] | { [k: string]: Json | undefined };

export interface AdminRequest {
  params: Record<string, string>;
  query: URLSearchParams;
  body: Record<string, Json>;
  /** Absolute deadline (Date.now() ms) from `timeout_ms` or the 30 s default (C-7). */
  deadline: number;
  /** Fires when the client disconnects: the handler abandons its wait. */
  signal: AbortSignal;
}

export type AdminHandler = (req: AdminRequest) => Promise<{ status?: number; body: Json } | { raw: string; contentType: string }>;

interface Route {
  method: string;
  parts: string[];
  handler: AdminHandler;
  mutating: boolean;
}

const MAX_BODY = 1024 * 1024;
const DEFAULT_TIMEOUT_MS = 30_000;

/** C-7 status for a typed error. */
export function statusFor(e: SealkvError): number {
  if (e instanceof AdminError) return e.status;
  switch (e.code) {
    case 'NOT_LEADER':
      return 421;
    case 'TIMEOUT':
      return 504;
    case 'LEADERSHIP_TRANSFER_IN_PROGRESS':
      return 409;
    case 'INVALID_ARGUMENT':
      return 400;
    case 'HALTED':
      return 500;
    default:
      return 503;
  }
}

export class AdminHttpServer {
  private readonly routes: Route[] = [];
  private server: Server | null = null;
  private readonly tokenDigest: Buffer | null;

  constructor(token: string | null) {
    this.tokenDigest = token === null ? null : digest(token);
  }

  /** Registers a route; `:name` segments become params. Mutating routes parse a JSON body. */
  route(method: 'GET' | 'POST' | 'DELETE', path: string, handler: AdminHandler): void {
    this.routes.push({ method, parts: path.split('/').filter(Boolean), handler, mutating: method !== 'GET' });
  }

  listen(host: string, port: number): Promise<void> {
    const server = createServer((req, res) => void this.handle(req, res));
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  }

  address(): { host: string; port: number } | null {
    const a = this.server?.address();
    return a && typeof a === 'object' ? { host: a.address, port: a.port } : null;
  }

  close(): Promise<void> {
    const s = this.server;
    this.server = null;
    if (!s) return Promise.resolve();
    return new Promise((resolve) => {
      s.close(() => resolve());
      s.closeAllConnections();
    });
  }

  private authorized(req: IncomingMessage): boolean {
    if (!this.tokenDigest) return true;
    const h = req.headers.authorization ?? '';
    const m = /^Bearer (.+)$/.exec(h);
    // Compare digests: equal length, constant time, no early exit on the first differing byte.
    return m !== null && timingSafeEqual(digest(m[1]!), this.tokenDigest);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const abort = new AbortController();
    res.on('close', () => {
      if (!res.writableFinished) abort.abort();
    });
    try {
      if (!this.authorized(req)) throw new AdminError(401, 'UNAUTHORIZED', 'missing or wrong bearer token');
      const url = new URL(req.url ?? '/', 'http://admin');
      const segs = url.pathname.split('/').filter(Boolean);
      let pathMatched = false;
      for (const r of this.routes) {
        const params = match(r.parts, segs);
        if (!params) continue;
        pathMatched = true;
        if (r.method !== req.method) continue;
        const body = r.mutating ? await readJsonBody(req) : {};
        const deadline = Date.now() + timeoutOf(body);
        const out = await r.handler({ params, query: url.searchParams, body, deadline, signal: abort.signal });
        if (abort.signal.aborted) return;
        if ('raw' in out) {
          res.writeHead(200, { 'content-type': out.contentType });
          res.end(out.raw);
        } else {
          send(res, out.status ?? 200, out.body);
        }
        return;
      }
      throw pathMatched
        ? new AdminError(405, 'METHOD_NOT_ALLOWED', `${req.method} is not allowed on ${url.pathname}`)
        : new AdminError(404, 'NOT_FOUND', `no such endpoint ${url.pathname}`);
    } catch (e) {
      if (abort.signal.aborted) return;
      const err = e instanceof SealkvError ? e : new AdminError(500, 'INTERNAL', (e as Error)?.message ?? String(e));
      const body: { [k: string]: Json } = { code: err.code, message: err.message };
      if (err.reason !== undefined) body.reason = err.reason;
      if (err instanceof ProposalError && err.code === 'NOT_LEADER') body.leader = err.leader;
      const status = statusFor(err);
      send(res, status, { error: status === 503 && !isRetryable(err.code) ? { ...body, code: 'UNAVAILABLE', reason: err.code } : body });
    }
  }
}

function isRetryable(code: string): boolean {
  return code === 'UNAVAILABLE' || code === 'ENVELOPE_CUTOVER_IN_PROGRESS' || code === 'WRITER_NOT_REGISTERED';
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

function match(parts: string[], segs: string[]): Record<string, string> | null {
  if (parts.length !== segs.length) return null;
  const params: Record<string, string> = {};
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i]!;
    if (p.startsWith(':')) params[p.slice(1)] = decodeURIComponent(segs[i]!);
    else if (p !== segs[i]) return null;
  }
  return params;
}

function timeoutOf(body: Record<string, Json>): number {
  const t = body.timeout_ms;
  if (t === undefined) return DEFAULT_TIMEOUT_MS;
  if (typeof t !== 'number' || !Number.isInteger(t) || t < 1 || t > 600_000) {
    throw new AdminError(400, 'INVALID_ARGUMENT', 'timeout_ms must be an integer from 1 to 600000');
  }
  return t;
}

async function readJsonBody(req: IncomingMessage): Promise<Record<string, Json>> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req) {
    size += (c as Buffer).length;
    if (size > MAX_BODY) throw new AdminError(400, 'INVALID_ARGUMENT', 'request body too large');
    chunks.push(c as Buffer);
  }
  if (size === 0) return {};
  let v: unknown;
  try {
    v = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new AdminError(400, 'INVALID_ARGUMENT', 'malformed JSON body');
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new AdminError(400, 'INVALID_ARGUMENT', 'body must be a JSON object');
  return v as Record<string, Json>;
}

function send(res: ServerResponse, status: number, body: Json): void {
  const s = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(s) });
  res.end(s);
}

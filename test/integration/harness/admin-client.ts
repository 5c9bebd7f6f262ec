// Admin HTTP API calls (DESIGN.md §4) with short deadlines: a node that is down, partitioned or
// halted answers null / throws, and the caller decides whether that is expected.

export type NodeRole = 'leader' | 'follower' | 'candidate' | 'precandidate' | 'learner';

export interface NodeStatus {
  id: string;
  role: NodeRole;
  leader: string | null;
  term: string;
  commitIndex: string;
  appliedIndex: string;
  /** Last index of the node's log (appended, not necessarily committed). */
  lastIndex?: string;
  /** Optional: not in the contract yet (asked for in the report). */
  snapshotIndex?: string;
  /** First index still in the node's log (entries before it are compacted). */
  firstIndex?: string;
  encryption?: unknown;
}

export interface Member {
  id: string;
  address: string;
  role: 'voter' | 'learner';
}

export interface AdminReply {
  status: number;
  body: unknown;
}

export class AdminClient {
  constructor(
    readonly port: number,
    readonly host = '127.0.0.1',
  ) {}

  private url(path: string): string {
    return `http://${this.host}:${this.port}${path}`;
  }

  /** One request; throws on a connection error or when `timeoutMs` passes. */
  async request(method: 'GET' | 'POST' | 'DELETE', path: string, body?: unknown, timeoutMs = 2000): Promise<AdminReply> {
    const init: RequestInit = { method, signal: AbortSignal.timeout(timeoutMs) };
    if (body !== undefined) {
      init.body = JSON.stringify(body);
      init.headers = { 'content-type': 'application/json' };
    }
    const res = await fetch(this.url(path), init);
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      // Not JSON (e.g. /metrics): keep the text.
    }
    return { status: res.status, body: parsed };
  }

  /** `/v1/status`, or null when the node does not answer within `timeoutMs`. */
  async status(timeoutMs = 1000): Promise<NodeStatus | null> {
    try {
      const r = await this.request('GET', '/v1/status', undefined, timeoutMs);
      return r.status === 200 ? (r.body as NodeStatus) : null;
    } catch {
      return null;
    }
  }

  async members(timeoutMs = 2000): Promise<Member[]> {
    const r = await this.request('GET', '/v1/members', undefined, timeoutMs);
    if (r.status !== 200) throw new Error(`GET /v1/members: ${r.status} ${JSON.stringify(r.body)}`);
    return (r.body as { members: Member[] }).members;
  }
}

/** The `leader` hint of a 421 NOT_LEADER body, if any. */
export function leaderHint(body: unknown): string | null {
  const e = (body as { error?: { code?: string; leader?: string | null } } | null)?.error;
  return e?.code === 'NOT_LEADER' && typeof e.leader === 'string' ? e.leader : null;
}

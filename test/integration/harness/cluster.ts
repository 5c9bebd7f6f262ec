// A cluster of real `sealkv start` processes on loopback, for integration and fault tests.
//
// Every peer link runs through an in-process TcpProxy, one per ordered pair (dialer → target):
// node a's --peers lists b at proxy(a→b), so whichever side dials, `cut(a, b)` severs the link.
// Nodes added later are reached by the others through one shared proxy (*→id), because the
// membership entry carries a single address; such links cannot be cut one by one.
//
// Logs (stdout + stderr of every incarnation) go to <tmp>/<id>.log; `logTail()` prints them
// when a test fails. Processes are registered with the reaper and die with the test process.

import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { appendFileSync, closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AdminClient, type AdminReply, leaderHint, type Member, type NodeStatus } from './admin-client.js';
import { freePort } from './ports.js';
import { track } from './reaper.js';
import { RespClient } from './resp-client.js';
import { TcpProxy } from './tcp-proxy.js';
import { sleep, waitFor } from './wait.js';

export const MAIN_JS = fileURLToPath(new URL('../../../dist/cli/main.js', import.meta.url));

export interface ClusterOptions {
  /** Prefix of the temp dir. */
  name: string;
  size?: number;
  clusterId?: string;
  tickMs?: number;
  electionTicks?: number;
  heartbeatTicks?: number;
  snapshotThreshold?: number;
  compactionMargin?: number;
  /** Node-side deadline of a client write / linearizable read. */
  requestTimeoutMs?: number;
  cipher?: 'native' | 'wasm' | 'js' | 'node';
  cryptoWorkers?: number;
  logLevel?: string;
  extraArgs?: string[];
  /** Extra environment per node id (e.g. SEALKV_TEST_CLOCK_OFFSET_MS for a skewed clock). */
  env?: Record<string, Record<string, string>>;
  /** Node ids instead of n1..nN (AS-18: ids whose node_id16 collide). */
  ids?: string[];
  /** Per node id: replaces `extraArgs` for that node (e.g. a learner started without --encryption). */
  argsFor?: Record<string, string[]>;
}

export interface NodeExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** True when the harness asked for it (kill/stop). */
  expected: boolean;
}

export interface ClusterNode {
  readonly id: string;
  readonly raftPort: number;
  readonly respPort: number;
  readonly adminPort: number;
  readonly dataDir: string;
  readonly logFile: string;
  readonly admin: AdminClient;
  /** Address the other members dial (a proxy). */
  memberAddress: string;
  peersArg: string;
  proc: ChildProcess | null;
  exits: NodeExit[];
  killing: boolean;
}

/** A node process exited without the harness asking. */
export class CrashError extends Error {
  override readonly name = 'CrashError';
}

export class Cluster {
  readonly dir: string;
  private readonly nodes = new Map<string, ClusterNode>();
  /** "a>b" → proxy carrying a's connections to b; "*>b" for nodes added later. */
  private readonly proxies = new Map<string, TcpProxy>();
  private readonly opts: Required<Omit<ClusterOptions, 'extraArgs' | 'ids' | 'argsFor'>> & { extraArgs: string[]; ids?: string[]; argsFor: Record<string, string[]> };
  private destroyed = false;

  private constructor(opts: ClusterOptions) {
    this.opts = {
      size: 3,
      // Unique per cluster: test runs of other processes on this machine may reuse our ports,
      // and a node of theirs dialing a stale address must be refused by the handshake.
      clusterId: `itest-${randomBytes(4).toString('hex')}`,
      tickMs: 20,
      electionTicks: 10,
      heartbeatTicks: 2,
      snapshotThreshold: 100_000,
      compactionMargin: 10_000,
      requestTimeoutMs: 2000,
      cipher: 'node',
      cryptoWorkers: 1,
      logLevel: 'info',
      extraArgs: [],
      env: {},
      argsFor: {},
      ...opts,
    };
    this.dir = mkdtempSync(join(tmpdir(), `sealkv-${opts.name}-`));
  }

  /** Creates the nodes n1..nN with their proxies and starts them (does not wait for a leader). */
  static async create(opts: ClusterOptions): Promise<Cluster> {
    if (!existsSync(MAIN_JS)) throw new Error(`${MAIN_JS} is missing: run \`npx tsc -p tsconfig.json\` first`);
    const c = new Cluster(opts);
    const ids = c.opts.ids ?? Array.from({ length: c.opts.size }, (_, i) => `n${i + 1}`);
    for (const id of ids) await c.allocate(id);
    for (const a of ids) for (const b of ids) if (a !== b) await c.proxy(`${a}>${b}`, c.node(b).raftPort);
    for (const id of ids) {
      const n = c.node(id);
      n.peersArg = ids.map((p) => `${p}=${p === id ? `127.0.0.1:${n.raftPort}` : c.proxies.get(`${id}>${p}`)!.address}`).join(',');
      // Only what a later-added node lists for `id` in its --peers; it never dials a smaller id.
      n.memberAddress = c.proxies.get(`${ids.find((x) => x !== id)}>${id}`)?.address ?? `127.0.0.1:${n.raftPort}`; // size 1: no peer, no proxy
    }
    for (const id of ids) c.spawnNode(id, false);
    return c;
  }

  ids(): string[] {
    return [...this.nodes.keys()];
  }

  /** Ids of nodes whose process is running. */
  running(): string[] {
    return this.ids().filter((id) => this.node(id).proc !== null);
  }

  node(id: string): ClusterNode {
    const n = this.nodes.get(id);
    if (!n) throw new Error(`no node ${id}`);
    return n;
  }

  private async allocate(id: string): Promise<ClusterNode> {
    const dataDir = join(this.dir, id, 'data');
    mkdirSync(dataDir, { recursive: true });
    const adminPort = await freePort();
    const n: ClusterNode = {
      id,
      raftPort: await freePort(),
      respPort: await freePort(),
      adminPort,
      dataDir,
      logFile: join(this.dir, `${id}.log`),
      admin: new AdminClient(adminPort),
      memberAddress: '',
      peersArg: '',
      proc: null,
      exits: [],
      killing: false,
    };
    this.nodes.set(id, n);
    return n;
  }

  private async proxy(name: string, targetPort: number): Promise<TcpProxy> {
    const p = new TcpProxy(name, targetPort);
    // From the same pool as the nodes' ports, so a proxy never takes a port promised to a node.
    await p.listen(await freePort());
    this.proxies.set(name, p);
    return p;
  }

  private args(n: ClusterNode, join: boolean): string[] {
    const o = this.opts;
    const a = [
      MAIN_JS,
      'start',
      '--id', n.id,
      '--cluster-id', o.clusterId,
      '--data-dir', n.dataDir,
      '--raft', `127.0.0.1:${n.raftPort}`,
      '--resp', `127.0.0.1:${n.respPort}`,
      '--admin', `127.0.0.1:${n.adminPort}`,
      '--peers', n.peersArg,
      '--tick-ms', String(o.tickMs),
      '--election-ticks', String(o.electionTicks),
      '--heartbeat-ticks', String(o.heartbeatTicks),
      '--snapshot-threshold', String(o.snapshotThreshold),
      '--compaction-margin', String(o.compactionMargin),
      '--request-timeout-ms', String(o.requestTimeoutMs),
      '--cipher', o.cipher,
      '--crypto-workers', String(o.cryptoWorkers),
      '--log-level', o.logLevel,
      ...(o.argsFor[n.id] ?? o.extraArgs),
    ];
    if (join) a.push('--join');
    return a;
  }

  private spawnNode(id: string, join: boolean, env: Record<string, string> = {}): void {
    if (this.destroyed) throw new Error('cluster destroyed');
    const n = this.node(id);
    if (n.proc) throw new Error(`${id} is already running`);
    const args = this.args(n, join);
    appendFileSync(n.logFile, `\n=== ${new Date().toISOString()} start: node ${args.join(' ')}\n`);
    const fd = openSync(n.logFile, 'a');
    const p = spawn(process.execPath, args, { stdio: ['ignore', fd, fd], env: { ...process.env, NODE_ENV: 'test', ...this.opts.env[id], ...env } });
    closeSync(fd);
    track(p);
    n.proc = p;
    n.killing = false;
    p.once('exit', (code, signal) => {
      n.exits.push({ code, signal, expected: n.killing });
      appendFileSync(n.logFile, `=== ${new Date().toISOString()} exit: code=${code} signal=${signal}${n.killing ? '' : ' (UNEXPECTED)'}\n`);
      if (n.proc === p) n.proc = null;
    });
  }

  /** Starts a stopped node again on the same data dir (`env`: extra variables, e.g. SEALKV_CRASH_POINTS). */
  start(id: string, join = false, env: Record<string, string> = {}): void {
    this.spawnNode(id, join, env);
  }

  /** Marks the current process of `id` as expected to die (e.g. an armed crash point). */
  expectExit(id: string): void {
    this.node(id).killing = true;
  }

  /** Resolves once `id` is not running (it exited on its own or was killed). */
  async waitExit(id: string, timeoutMs = 20_000): Promise<NodeExit> {
    return waitFor(
      `${id} to exit`,
      () => {
        const n = this.node(id);
        return n.proc === null ? n.exits.at(-1) : undefined;
      },
      timeoutMs,
    );
  }

  /** Sends `signal`; resolves when the process has exited (SIGTERM escalates to SIGKILL after 10 s). */
  async kill(id: string, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const n = this.node(id);
    const p = n.proc;
    if (!p) return;
    n.killing = true;
    const exited = new Promise<void>((r) => p.once('exit', () => r()));
    p.kill(signal);
    if (signal !== 'SIGKILL') {
      const t = setTimeout(() => p.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(t);
    } else {
      await exited;
    }
  }

  /** Deletes a stopped node's data dir (a fresh, empty disk). */
  wipe(id: string): void {
    const n = this.node(id);
    if (n.proc) throw new Error(`wipe ${id}: stop it first`);
    rmSync(n.dataDir, { recursive: true, force: true });
    mkdirSync(n.dataDir, { recursive: true });
  }

  /** Exits nobody asked for (a crash or a halt), as "id: code/signal". */
  unexpectedExits(): string[] {
    const out: string[] = [];
    for (const n of this.nodes.values()) {
      for (const e of n.exits) if (!e.expected) out.push(`${n.id}: code=${e.code} signal=${e.signal}`);
    }
    return out;
  }

  /** Fails fast (with the log tail) when one of `ids` died on its own instead of timing out later. */
  throwOnCrash(ids: string[]): void {
    for (const id of ids) {
      const n = this.node(id);
      const last = n.exits.at(-1);
      if (n.proc === null && last !== undefined && !last.expected) {
        const tail = this.log(id).split('\n').slice(-15).join('\n');
        throw new CrashError(`${id} exited on its own (code=${last.code} signal=${last.signal}); log tail:\n${tail}`);
      }
    }
  }

  async status(id: string, timeoutMs = 1000): Promise<NodeStatus | null> {
    return this.node(id).admin.status(timeoutMs);
  }

  async statuses(ids = this.running(), timeoutMs = 1000): Promise<Map<string, NodeStatus>> {
    const out = new Map<string, NodeStatus>();
    await Promise.all(
      ids.map(async (id) => {
        const s = await this.status(id, timeoutMs);
        if (s) out.set(id, s);
      }),
    );
    return out;
  }

  /**
   * A leader that `among` agrees on: it reports role leader and at least `quorum` of `among`
   * (itself included) name it at its term. Default: every running node, majority of them.
   */
  async waitForLeader(opts: { among?: string[]; quorum?: number; timeoutMs?: number; not?: string } = {}): Promise<string> {
    const among = opts.among ?? this.running();
    const quorum = opts.quorum ?? Math.floor(among.length / 2) + 1;
    return waitFor(
      `a leader among ${among.join(',')}${opts.not ? ` other than ${opts.not}` : ''}`,
      async () => {
        this.throwOnCrash(among);
        const st = await this.statuses(among, 500);
        for (const [id, s] of st) {
          if (s.role !== 'leader' || id === opts.not) continue;
          let votes = 0;
          for (const o of st.values()) if (o.leader === id && o.term === s.term) votes++;
          if (votes >= quorum) return id;
        }
        return undefined;
      },
      opts.timeoutMs ?? 15_000,
    );
  }

  /**
   * Moves the leadership to `id` (transfer requests to whoever leads, retried) and resolves once
   * `id` leads. `quorum` as in waitForLeader.
   */
  async leadOn(id: string, opts: { quorum?: number; timeoutMs?: number } = {}): Promise<void> {
    await waitFor(
      `${id} leads`,
      async () => {
        const cur = await this.waitForLeader({ ...(opts.quorum !== undefined ? { quorum: opts.quorum } : {}), timeoutMs: 20_000 });
        if (cur === id) return true;
        await this.node(cur).admin.request('POST', '/v1/transfer-leader', { id }, 15_000).catch(() => undefined);
        await sleep(300);
        return undefined;
      },
      opts.timeoutMs ?? 60_000,
    );
  }

  /** Waits until every node in `ids` has applied at least `index`. */
  async waitApplied(ids: string[], index: bigint, timeoutMs = 15_000): Promise<void> {
    await waitFor(
      `${ids.join(',')} to apply index ${index}`,
      async () => {
        const st = await this.statuses(ids, 500);
        return ids.every((id) => {
          const s = st.get(id);
          return s !== undefined && BigInt(s.appliedIndex) >= index;
        });
      },
      timeoutMs,
    );
  }

  /** Waits until `id`'s log starts after `index`: a follower stopped at `index` needs a snapshot. */
  async waitCompactedPast(id: string, index: bigint, timeoutMs = 15_000): Promise<void> {
    await waitFor(
      `${id}'s log to be compacted past ${index}`,
      async () => {
        const s = await this.status(id, 500);
        return s?.firstIndex !== undefined && BigInt(s.firstIndex) > index + 1n;
      },
      timeoutMs,
    );
  }

  /** Waits until the nodes in `ids` have applied the leader's commit index as of now. */
  async waitCaughtUp(ids: string[] = this.running(), timeoutMs = 15_000): Promise<bigint> {
    const leader = await this.waitForLeader({ timeoutMs });
    const s = await this.status(leader);
    if (!s) throw new Error(`leader ${leader} stopped answering`);
    const target = BigInt(s.commitIndex);
    await this.waitApplied(ids, target, timeoutMs);
    return target;
  }

  /** A RESP connection to a node. */
  resp(id: string, timeoutMs = 2000): Promise<RespClient> {
    return RespClient.connect(this.node(id).respPort, '127.0.0.1', timeoutMs);
  }

  /** Sends a mutating admin call to the leader, following NOT_LEADER hints, until `accept` or timeout. */
  async adminOnLeader(method: 'POST' | 'DELETE', path: string, body: unknown, timeoutMs = 20_000): Promise<AdminReply> {
    let target: string | null = null;
    let last: AdminReply | Error | null = null;
    const deadline = performance.now() + timeoutMs;
    while (performance.now() < deadline) {
      target ??= await this.waitForLeader({ timeoutMs: Math.max(1, deadline - performance.now()) });
      try {
        const r = await this.node(target).admin.request(method, path, body, 10_000);
        last = r;
        if (r.status < 300) return r;
        const hint = leaderHint(r.body);
        target = hint !== null && this.nodes.has(hint) ? hint : null;
        if (r.status >= 400 && r.status < 500 && r.status !== 421 && r.status !== 409) return r;
      } catch (e) {
        last = e as Error;
        target = null;
      }
      await sleep(100);
    }
    throw new Error(`${method} ${path}: no success within ${timeoutMs} ms; last: ${last instanceof Error ? last.message : JSON.stringify(last)}`);
  }

  async members(): Promise<Member[]> {
    const leader = await this.waitForLeader();
    return this.node(leader).admin.members();
  }

  /**
   * A new node: allocates ports and a proxy, starts it with --join, then asks the leader to add
   * it. Returns the admin reply of the add. `role` undefined = the server's default (a learner
   * that the leader promotes once it has caught up); `isolated` severs every link to the new
   * node before it is added (until `heal()`).
   */
  async addNode(id: string, role?: 'voter' | 'learner', opts: { isolated?: boolean; env?: Record<string, string> } = {}): Promise<AdminReply> {
    await this.prepareNode(id, opts);
    return this.addMember(id, role);
  }

  /**
   * Allocates `id` (if new) and starts it with --join, without asking the leader to add it; its
   * member address is then `node(id).memberAddress` (for a test that sends the add itself).
   */
  async prepareNode(id: string, opts: { isolated?: boolean; env?: Record<string, string> } = {}): Promise<void> {
    if (!this.nodes.has(id)) {
      const n = await this.allocate(id);
      const inbound = await this.proxy(`*>${id}`, n.raftPort);
      n.memberAddress = inbound.address;
      const others = this.ids().filter((x) => x !== id);
      n.peersArg = [`${id}=127.0.0.1:${n.raftPort}`, ...others.map((o) => `${o}=${this.node(o).memberAddress}`)].join(',');
    }
    // A later-added node dials nobody (larger ids never dial smaller ones): its inbound proxy
    // carries all of its links.
    if (opts.isolated) this.proxies.get(`*>${id}`)?.sever();
    this.spawnNode(id, true, opts.env ?? {});
  }

  /** Re-adds an existing (e.g. wiped and restarted with --join) node through the shared proxy. */
  async addMember(id: string, role?: 'voter' | 'learner'): Promise<AdminReply> {
    const n = this.node(id);
    if (!this.proxies.has(`*>${id}`)) await this.proxy(`*>${id}`, n.raftPort);
    n.memberAddress = this.proxies.get(`*>${id}`)!.address;
    return this.adminOnLeader('POST', '/v1/members', role === undefined ? { id, address: n.memberAddress } : { id, address: n.memberAddress, role });
  }

  async removeMember(id: string): Promise<AdminReply> {
    return this.adminOnLeader('DELETE', `/v1/members/${encodeURIComponent(id)}`, undefined);
  }

  /** Severs the link between a and b in both directions until `heal()`. */
  cut(a: string, b: string): void {
    for (const [name, p] of this.proxies) {
      if (name === `${a}>${b}` || name === `${b}>${a}`) p.sever();
    }
  }

  /** Cuts every link of `id` to the other initial members. */
  isolate(id: string): void {
    for (const o of this.ids()) if (o !== id) this.cut(id, o);
  }

  heal(): void {
    for (const p of this.proxies.values()) p.heal();
  }

  /** Connections each link proxy forwarded (diagnostics). */
  proxyStats(): Record<string, { accepted: number; refused: number; open: number; cut: boolean }> {
    const out: Record<string, { accepted: number; refused: number; open: number; cut: boolean }> = {};
    for (const [k, p] of this.proxies) out[k] = { accepted: p.accepted, refused: p.refused, open: p.open, cut: p.cut };
    return out;
  }

  /** The last `lines` lines of every node log. */
  logTail(lines = 80): string {
    const parts: string[] = [`cluster dir: ${this.dir}`];
    for (const n of this.nodes.values()) {
      let text = '';
      try {
        text = readFileSync(n.logFile, 'utf8');
      } catch {
        text = '(no log)';
      }
      parts.push(`----- ${n.id} (${n.logFile}) -----`, text.split('\n').slice(-lines).join('\n'));
    }
    return parts.join('\n');
  }

  /** Full log text of one node. */
  log(id: string): string {
    try {
      return readFileSync(this.node(id).logFile, 'utf8');
    } catch {
      return '';
    }
  }

  /** SIGKILLs every node, closes the proxies; removes the temp dir unless `keep`. */
  async destroy(keep = false): Promise<void> {
    if (this.destroyed) return;
    this.destroyed = true;
    await Promise.all(this.ids().map((id) => this.kill(id, 'SIGKILL')));
    await Promise.all([...this.proxies.values()].map((p) => p.close()));
    if (!keep) rmSync(this.dir, { recursive: true, force: true });
  }
}

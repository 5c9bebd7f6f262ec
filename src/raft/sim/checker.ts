// Safety checker for the simulator (Raft paper Figure 3 / SPEC RS-1..RS-5, plus ReadIndex
// linearizability). The cluster reports events to it; it keeps the global knowledge needed to
// detect a violation the moment one happens. Reusable by node-level tests: it only needs
// entries, terms, commit and apply events.

import { NO_TERM, type RaftLog } from '../log.js';
import type { Entry, NodeId } from '../types.js';
import { entryIdent, mixEntry } from './app.js';

export interface Violation {
  kind:
    | 'election-safety'
    | 'log-matching'
    | 'leader-completeness'
    | 'state-machine-safety'
    | 'committed-entry-changed'
    | 'monotonic-commit'
    | 'monotonic-apply'
    | 'read-linearizability'
    | 'liveness';
  node: NodeId;
  detail: string;
}

export class SafetyChecker {
  readonly violations: Violation[] = [];
  /** term → the leader of that term. */
  private readonly leaders = new Map<number, NodeId>();
  /** "index:term" → content identity and previous entry's term (log matching by induction). */
  private readonly logEntries = new Map<string, { ident: string; prevTerm: number }>();
  /** Per index: term of the committed entry, and the lowest term in which it was known committed. */
  private readonly committedTerm: number[] = [];
  private readonly committedInTerm: number[] = [];
  private maxCommitted = 0;
  /** Per index: ident of the applied entry, and the app hash chain after it. */
  private readonly appliedIdent: string[] = [];
  private readonly chainAt: number[] = [];
  /** Largest applied index on any node (acknowledged writes are at or below it). */
  maxApplied = 0;
  /** ReadIndex context → the applied watermark when the read began. */
  private readonly readStart = new Map<string, number>();
  readsChecked = 0;

  private fail(kind: Violation['kind'], node: NodeId, detail: string): void {
    this.violations.push({ kind, node, detail });
  }

  /** RS-1: at most one leader per term. */
  observeLeader(node: NodeId, term: number, log: RaftLog): void {
    const prev = this.leaders.get(term);
    if (prev === undefined) {
      this.leaders.set(term, node);
      this.checkLeaderCompleteness(node, term, log);
    } else if (prev !== node) {
      this.fail('election-safety', node, `two leaders in term ${term}: ${prev} and ${node}`);
    }
  }

  /** RS-3: every entry committed in an earlier term is in the new leader's log. */
  private checkLeaderCompleteness(node: NodeId, term: number, log: RaftLog): void {
    const first = log.firstIndex();
    const last = log.lastIndex();
    for (let i = first; i <= this.maxCommitted; i++) {
      const ct = this.committedTerm[i];
      const inTerm = this.committedInTerm[i];
      if (ct === undefined || inTerm === undefined || inTerm >= term) continue;
      if (i > last) {
        this.fail('leader-completeness', node, `leader of term ${term} lacks committed index ${i} (last ${last})`);
        return;
      }
      const t = log.term(i);
      if (t !== ct) {
        this.fail('leader-completeness', node, `leader of term ${term} has term ${t} at committed index ${i} (committed term ${ct})`);
        return;
      }
    }
  }

  /** RS-2: entries made durable on a node; prevTerm is the term before the first one. */
  observePersisted(node: NodeId, ents: Entry[], prevTerm: number): void {
    let pt = prevTerm;
    for (const e of ents) {
      const key = `${e.index}:${e.term}`;
      const ident = entryIdent(e);
      const known = this.logEntries.get(key);
      if (known === undefined) this.logEntries.set(key, { ident, prevTerm: pt });
      else if (known.ident !== ident || (pt !== NO_TERM && known.prevTerm !== NO_TERM && known.prevTerm !== pt)) {
        this.fail('log-matching', node, `entry ${key} differs from another log's (prev term ${pt} vs ${known.prevTerm})`);
      }
      pt = e.term;
    }
  }

  /** A node's commit index moved from `from` to `to` while it was in `term`. */
  observeCommit(node: NodeId, from: number, to: number, term: number, log: RaftLog): void {
    if (to < from) {
      this.fail('monotonic-commit', node, `commit went back from ${from} to ${to}`);
      return;
    }
    for (let i = from + 1; i <= to; i++) {
      const t = log.term(i);
      if (t === NO_TERM) continue; // covered by a snapshot: checked through the apply chain
      const ct = this.committedTerm[i];
      if (ct === undefined) {
        this.committedTerm[i] = t;
        this.committedInTerm[i] = term;
      } else {
        if (ct !== t) this.fail('committed-entry-changed', node, `index ${i} committed with term ${ct}, now term ${t}`);
        if (term < this.committedInTerm[i]!) this.committedInTerm[i] = term;
      }
    }
    if (to > this.maxCommitted) this.maxCommitted = to;
  }

  /** RS-4/RS-5: an entry applied on a node whose app had applied `prevApplied` with `chain`. */
  observeApply(node: NodeId, prevApplied: number, e: Entry, chainBefore: number): number {
    if (e.index !== prevApplied + 1) this.fail('monotonic-apply', node, `applied ${e.index} after ${prevApplied}`);
    const ident = `${e.term}/${entryIdent(e)}`;
    const known = this.appliedIdent[e.index];
    if (known === undefined) this.appliedIdent[e.index] = ident;
    else if (known !== ident) this.fail('state-machine-safety', node, `index ${e.index} applied as a different entry`);
    const chain = mixEntry(chainBefore, e);
    this.observeChain(node, e.index, chain);
    if (e.index > this.maxApplied) this.maxApplied = e.index;
    return chain;
  }

  /** The app state jumped to a snapshot at `index` with hash chain `chain`. */
  observeSnapshotInstall(node: NodeId, prevApplied: number, index: number, chain: number): void {
    if (index <= prevApplied) this.fail('monotonic-apply', node, `snapshot ${index} installed over applied ${prevApplied}`);
    this.observeChain(node, index, chain);
    if (index > this.maxApplied) this.maxApplied = index;
  }

  private observeChain(node: NodeId, index: number, chain: number): void {
    const known = this.chainAt[index];
    if (known === undefined) this.chainAt[index] = chain;
    else if (known !== chain) this.fail('state-machine-safety', node, `state at index ${index} differs from another replica's`);
  }

  readBegan(ctxKey: string): void {
    this.readStart.set(ctxKey, this.maxApplied);
  }

  /** A read served at `index` must cover every write acknowledged before it began. */
  readServed(node: NodeId, ctxKey: string, index: number): void {
    const start = this.readStart.get(ctxKey);
    if (start === undefined) return;
    this.readStart.delete(ctxKey);
    this.readsChecked++;
    if (index < start) this.fail('read-linearizability', node, `read index ${index} misses writes applied up to ${start} before the read began`);
  }

  liveness(detail: string): void {
    this.fail('liveness', '-', detail);
  }
}

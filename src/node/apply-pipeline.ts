// The apply pipeline: committed Raft entries → state machine, in batches, strictly in index order.
//
// Per entry (SPEC EH-1): empty → applied without the state machine (PE-2); proposal envelope
// decoded (else HALT ENTRY_MALFORMED); `index > cutover()` → unwrapped (else passed through,
// RO-10); state machine applied; a halt result HALTs (PE-7); then the applied index advances and
// the proposal resolves (PE-4).
//
// Batching (EH-8): the unwraps of a batch run speculatively in one pool round trip and may finish
// out of order, but apply is in order and one LMDB transaction per batch stores the writes and the
// applied index together. A speculative result computed under another cutover or keystore
// generation is discarded and recomputed; only a failure under the in-order state HALTs. When
// entry k HALTs, entries before k are committed (applied index k−1), k and everything after it
// are not applied, and k's proposal is never resolved.
//
// Commits are pipelined: a batch's writes become visible to the next batch (and to the store's
// overlay-aware reads) the moment it is submitted, its proposals resolve then, and the next batch
// starts while LMDB commits this one. Resolving before the LMDB commit is safe because every
// entry is already committed by Raft (durable on a quorum of logs) and its response is fixed by
// the in-order state; a crash replays from the durable applied index to the same state. The
// read-visible applied index (`visible` hook, which linearizable reads wait for) moves at submit
// too: the store's reads look through batches still committing (issue 13), so a read never misses
// a write it waits for. The Raft core hears `applied` only after the LMDB commit. This takes the
// LMDB commit (≈ one fsync under load) off every write's and read's latency.

import { proposalPayload } from '../crypto/envelope/proposal.js';
import { HaltError, SealkvError } from '../errors.js';
import type { ConfState } from '../raft/index.js';
import { type Entry, EntryType } from '../raft/types.js';
import type { CutoverCell } from './cutover-cell.js';
import { CrashPoints, crashPoint } from './crash-points.js';
import type { ApplyResult, StateMachine } from './state-machine.js';
import { type BufferedWrite, type CommittedReader, WriteOverlay } from './write-overlay.js';
import { realScheduler, type Scheduler } from './scheduler.js';

export type { ApplyResult, ApplyTables, StateMachine } from './state-machine.js';

/** The HALT for an error thrown (not returned) while applying entry `index`. */
function unexpectedHalt(index: bigint, err: unknown): HaltError {
  if (err instanceof HaltError) return err.index === undefined ? new HaltError(err.code, err.message, { index, reason: err.reason, cause: err.cause }) : err;
  if (err instanceof SealkvError && err.code === 'STORAGE_IO') {
    return new HaltError('STORAGE_IO', `entry ${index}: ${err.message}`, { index, reason: 'STORAGE_IO', cause: err });
  }
  const reason = err instanceof SealkvError ? err.code : 'INTERNAL';
  const what = err instanceof Error ? err.message : String(err);
  return new HaltError('ENTRY_MALFORMED', `entry ${index} could not be applied: ${what}`, { index, reason, cause: err });
}

/** One speculative unwrap (and optional storage reseal) result. */
export interface UnwrapResult {
  payload: Uint8Array;
  extra: unknown;
}

/** The raft-envelope opener behind the gate; null when no cipher is configured (EH-4). */
export interface RaftUnwrapper {
  /** Keystore generation; a change invalidates speculative results (EH-8). */
  generation(): number;
  /** Batch unwrap in the pool; per-position result or the typed unwrap error. */
  unwrapBatch(envelopes: Uint8Array[], indexes: bigint[]): Promise<(UnwrapResult | SealkvError)[]>;
  /** In-order recompute on the main thread; throws the typed unwrap error. */
  unwrapOne(envelope: Uint8Array, index: bigint): UnwrapResult;
}

/**
 * What one apply batch did, as a value: committed by the store in ONE LMDB transaction (writes,
 * the ConfState of its last conf change, the applied index). A batch with an encryption effect
 * ends at that entry; the store carries the effect out around that transaction (the sidecar write
 * before it, KM-7) and the pipeline publishes it only once the commit settled.
 */
export interface BatchResult<X> {
  writes: BufferedWrite[];
  applied: bigint;
  conf?: ConfState;
  encryption?: { index: bigint; effect: X };
}

export interface ApplyStore<X = never> extends CommittedReader {
  /** The state machine's applied index, including batches handed to `commitBatch` but not yet committed. */
  appliedIndex(): bigint;
  /**
   * Commits the batch (writes, conf, applied index) in ONE LMDB transaction. The writes must be
   * visible to `get` and `appliedIndex()` as soon as this returns (before the promise settles).
   */
  commitBatch(batch: BatchResult<X>): Promise<void>;
  /**
   * Issue 13: commits do not wait for their fsync. Resolves once everything submitted so far is
   * committed AND fsynced, with that applied index — for entries whose effect must be durable
   * before anything after them is acknowledged (SPEC KM-7). Optional so test stores need not
   * implement it.
   */
  forceSync?(): Promise<bigint>;
}

export interface ApplyHooks<R, X = never> {
  /** In-order, once the batch containing it is applied and submitted to the store (PE-4). */
  resolve(index: bigint, term: number, data: Uint8Array, response: R): void;
  /**
   * A conf-change entry reached its turn: the node applies it to Raft and returns the ConfState,
   * which the pipeline commits with the batch (one transaction with the applied index).
   */
  confChange(entry: Entry): ConfState | undefined;
  /** An encryption effect is durable (its batch committed): publish it (state cell, metrics). */
  effectCommitted?(index: bigint, effect: X): void;
  /**
   * The batch ending at `index` is applied and handed to the store, whose reads see it (issue 13:
   * the read-visible applied index; reads need not wait for the LMDB commit). Not called for a
   * batch with an encryption effect: that one becomes visible at `applied`, once durable.
   */
  visible?(index: bigint): void;
  /** The batch ending at `index` is committed to LMDB (the Raft core's applied index). */
  applied(index: bigint): void;
  /** Apply stopped for good at `err.index` (C-3 HALT). */
  halt(err: HaltError): void;
  /** Metrics: entries in the batch and seconds spent. */
  observeBatch?(entries: number, seconds: number): void;
  /** Metrics, per applied entry: seconds from its push (commit) to applied and submitted to LMDB. */
  observeApply?(seconds: number): void;
}

/** Apply batches that may wait for their LMDB commit at once (memory bound; lmdb-js groups them). */
const MAX_COMMITS_IN_FLIGHT = 16;

interface Speculation {
  result: UnwrapResult | SealkvError;
  cutoverGen: number;
  keyGen: number;
}

export class ApplyPipeline<R, X = never> {
  private halted: HaltError | null = null;
  private readonly queue: Entry[] = [];
  /** Scheduler monotonic time at which each queued entry was pushed (committed); parallel to `queue`. */
  private readonly pushedAt: number[] = [];
  private running: Promise<void> | null = null;
  /** Submitted batches whose LMDB commit has not settled, oldest first. */
  private readonly commits: Promise<void>[] = [];
  /** A failed commit: the pipeline HALTs with it once the earlier commits have settled. */
  private commitFailure: HaltError | null = null;
  /** Settles once the halt hook has run. */
  private haltNotified: Promise<void> | null = null;

  constructor(
    private readonly fsm: StateMachine<R, X>,
    private readonly store: ApplyStore<X>,
    private readonly cutover: CutoverCell,
    private readonly hooks: ApplyHooks<R, X>,
    private unwrapper: RaftUnwrapper | null = null,
    private readonly maxBatch = 4096,
    private readonly sched: Scheduler = realScheduler,
  ) {}

  setUnwrapper(u: RaftUnwrapper | null): void {
    this.unwrapper = u;
  }

  haltedWith(): HaltError | null {
    return this.halted;
  }

  /** Queues committed entries (consecutive indexes, as Raft hands them over). */
  push(entries: readonly Entry[]): void {
    if (this.halted) return;
    const t = this.sched.monotonic();
    for (const e of entries) {
      this.queue.push(e);
      this.pushedAt.push(t);
    }
    if (!this.running) this.running = this.drain();
  }

  /** Resolves when everything queued so far has been applied and committed (or apply halted). */
  async idle(): Promise<void> {
    while (this.running || this.commits.length > 0) {
      if (this.running) await this.running;
      else await this.commits[this.commits.length - 1];
    }
    if (this.haltNotified) await this.haltNotified;
  }

  private async drain(): Promise<void> {
    try {
      while (this.queue.length > 0 && !this.halted) {
        // Bounded pipelining: at most MAX_COMMITS_IN_FLIGHT batches wait for LMDB.
        while (this.commits.length >= MAX_COMMITS_IN_FLIGHT) await this.commits[0];
        if (this.halted) break;
        const batch = this.queue.splice(0, this.maxBatch);
        const pushed = this.pushedAt.splice(0, batch.length);
        await this.applyBatch(batch, pushed);
      }
    } catch (err) {
      // Anything unforeseen (a bug, a throwing hook) still ends in the fail-closed HALT at the
      // first entry not applied, never in an unhandled rejection with no index (EH-3).
      this.stop(unexpectedHalt(this.store.appliedIndex() + 1n, err));
    } finally {
      this.running = null;
    }
  }

  private async applyBatch(batch: Entry[], pushedAt: number[]): Promise<void> {
    const t0 = this.sched.monotonic();
    const startApplied = this.store.appliedIndex();
    const spec = await this.speculate(batch, startApplied);
    const overlay = new WriteOverlay(this.store);
    const kv = overlay.table('kv');
    const registry = overlay.table('registry');
    const kvmod = overlay.table('kvmod');
    const done: { index: bigint; term: number; data: Uint8Array; response: R; k: number }[] = [];
    let last = startApplied;
    let halt: HaltError | null = null;
    let conf: ConfState | undefined;
    let encryption: { index: bigint; effect: X } | undefined;
    let consumed = batch.length;

    for (let k = 0; k < batch.length; k++) {
      const e = batch[k]!;
      const index = BigInt(e.index);
      // PE-8: re-delivered at or below the durable applied index → dropped, not unwrapped.
      if (index <= last) continue;
      if (index !== last + 1n) {
        halt = new HaltError('ENTRY_MALFORMED', `entry ${index} does not follow applied index ${last}`, { index, reason: 'APPLY_GAP' });
        break;
      }
      if (e.type === EntryType.ConfChange) {
        conf = this.hooks.confChange(e) ?? conf;
        last = index;
        continue;
      }
      if (e.data.length === 0) {
        last = index; // PE-2: the leader's no-op; applied, nothing resolved
        continue;
      }
      let payload: Uint8Array;
      try {
        payload = proposalPayload(e.data);
      } catch (err) {
        halt = new HaltError('ENTRY_MALFORMED', `entry ${index} is not a proposal envelope`, { index, reason: 'ENTRY_MALFORMED', cause: err });
        break;
      }
      let extra: unknown = null;
      if (this.cutover.gated(index)) {
        const opened = this.unwrapInOrder(e, index, spec[k]);
        if (opened instanceof HaltError) {
          halt = opened;
          break;
        }
        payload = opened.payload;
        extra = opened.extra;
      }
      let r: ApplyResult<R, X>;
      try {
        r = this.fsm.apply(payload, index, { kv, registry, kvmod }, extra);
      } catch (err) {
        // A state machine must return halt results; a throw is a bug, and still a HALT at k.
        r = { halt: unexpectedHalt(index, err) };
      }
      if ('halt' in r) {
        overlay.discardEntry();
        halt = r.halt.index === undefined ? new HaltError(r.halt.code, r.halt.message, { index, reason: r.halt.reason, cause: r.halt.cause }) : r.halt;
        break;
      }
      overlay.commitEntry();
      last = index;
      done.push({ index, term: e.term, data: e.data, response: r.response, k });
      if (r.effect !== undefined) {
        // The batch ends here: what follows must see the effect (keys, flags) in force, and the
        // effect must be durable before anything after it is acknowledged (no early reply).
        encryption = { index, effect: r.effect };
        consumed = k + 1;
        break;
      }
    }
    // Entries after an effect go back to the front of the queue, in order.
    if (consumed < batch.length && !halt) {
      this.queue.unshift(...batch.slice(consumed));
      this.pushedAt.unshift(...pushedAt.slice(consumed));
    }

    if (this.fsm.finishBatch !== undefined) {
      try {
        await this.fsm.finishBatch();
      } catch (err) {
        // The batch's values could not be sealed: none of it is committed or answered (SE-6).
        const code = err instanceof SealkvError ? err.code : 'INTERNAL';
        this.stop(
          new HaltError('ENCRYPTION_APPLY', `apply batch from ${startApplied + 1n}: storage sealing failed (${code})`, {
            index: startApplied + 1n,
            reason: code,
            cause: err,
          }),
        );
        return;
      }
      if (this.halted) return;
    }
    if (last === startApplied && batch.length > 0 && !halt) {
      // Nothing new (entries at or below the applied index, PE-8): still report the index, after
      // the earlier commits, so whoever waits for it (the Raft core's applied index) moves on.
      const prev = this.commits.at(-1) ?? Promise.resolve();
      void prev.then(() => {
        if (this.commitFailure === null && this.halted === null) this.hooks.applied(startApplied);
      });
    }
    if (last > startApplied) {
      const end = last;
      // A HaltError from the store is an effect's own verdict (e.g. the sidecar write, KM-7).
      const failed = (err: unknown): HaltError =>
        (this.commitFailure ??=
          err instanceof HaltError && err.index !== undefined
            ? err
            : new HaltError('STORAGE_IO', `apply batch ending at ${end} failed to commit`, { index: end, reason: 'STORAGE_IO', cause: err }));
      let commit: Promise<void>;
      try {
        const result: BatchResult<X> = { writes: overlay.writes(), applied: last };
        if (conf !== undefined) result.conf = conf;
        if (encryption !== undefined) result.encryption = encryption;
        commit = this.store.commitBatch(result);
      } catch (err) {
        // Refused before anything was queued: nothing of this batch is applied or resolved.
        this.stop(failed(err));
        return;
      }
      const settled = commit.then(
        () => {
          crashPoint(CrashPoints.AFTER_APPLY_COMMIT);
          if (this.commitFailure !== null) return;
          if (encryption !== undefined) this.hooks.effectCommitted?.(encryption.index, encryption.effect);
          this.hooks.applied(end);
        },
        (err: unknown) => this.stop(failed(err)),
      );
      this.commits.push(settled);
      void settled.then(() => {
        this.commits.splice(this.commits.indexOf(settled), 1);
      });
      if (encryption !== undefined) {
        // Exempt from the early reply: durable (sidecar and LMDB) before any response or the
        // next batch; a failure HALTs here with applied = k−1 (stop() waits for earlier commits).
        await settled;
        if (this.commitFailure !== null || this.halted !== null) return;
      }
      // PE-4: the in-memory applied index moved when commitBatch returned; now the responses.
      if (this.commitFailure === null) {
        if (encryption === undefined) this.hooks.visible?.(end);
        for (const d of done) this.hooks.resolve(d.index, d.term, d.data, d.response);
      }
      const observe = this.hooks.observeApply;
      if (observe) {
        const now = this.sched.monotonic();
        for (const d of done) observe((now - pushedAt[d.k]!) / 1000);
      }
    }
    this.hooks.observeBatch?.(batch.length, (this.sched.monotonic() - t0) / 1000);
    if (halt) this.stop(halt);
  }

  /**
   * Stops for good. The node is told only after every earlier commit has settled, so the
   * durable applied index it exits with is the end of the applied prefix (EH-3: k−1).
   */
  private stop(halt: HaltError): void {
    if (this.halted) return;
    this.halted = halt;
    this.queue.length = 0;
    this.pushedAt.length = 0;
    const pending = this.commits.slice();
    this.haltNotified = Promise.allSettled(pending).then(() => this.hooks.halt(halt));
  }

  /** Unwraps the gated entries of a batch in one pool round trip, under the state at batch start. */
  private async speculate(batch: Entry[], applied: bigint): Promise<(Speculation | undefined)[]> {
    const out: (Speculation | undefined)[] = new Array(batch.length);
    const u = this.unwrapper;
    if (!u) return out;
    const cutoverGen = this.cutover.generation();
    const keyGen = u.generation();
    const envs: Uint8Array[] = [];
    const idx: bigint[] = [];
    const pos: number[] = [];
    for (let k = 0; k < batch.length; k++) {
      const e = batch[k]!;
      const index = BigInt(e.index);
      if (index <= applied || e.type !== EntryType.Normal || e.data.length === 0 || !this.cutover.gated(index)) continue;
      try {
        envs.push(proposalPayload(e.data));
      } catch {
        continue; // the in-order pass HALTs on it
      }
      idx.push(index);
      pos.push(k);
    }
    if (envs.length === 0) return out;
    let results: (UnwrapResult | SealkvError)[];
    try {
      results = await u.unwrapBatch(envs, idx);
    } catch {
      return out; // speculation is best effort; the in-order pass decides
    }
    for (let j = 0; j < pos.length; j++) out[pos[j]!] = { result: results[j]!, cutoverGen, keyGen };
    return out;
  }

  private unwrapInOrder(e: Entry, index: bigint, spec: Speculation | undefined): UnwrapResult | HaltError {
    const u = this.unwrapper;
    if (!u) {
      return new HaltError('RAFT_UNWRAP_FAILED', `entry ${index} is above the raft cutover and no cipher is configured`, {
        index,
        reason: 'NO_CIPHER',
      });
    }
    let result: UnwrapResult | SealkvError | undefined;
    if (spec && spec.cutoverGen === this.cutover.generation() && spec.keyGen === u.generation()) result = spec.result;
    if (result === undefined || result instanceof SealkvError) {
      // Recompute under the in-order state: a speculative failure is not a HALT (EH-8).
      try {
        result = u.unwrapOne(proposalPayload(e.data), index);
      } catch (err) {
        const code = err instanceof SealkvError ? err.code : 'INTEGRITY';
        return new HaltError('RAFT_UNWRAP_FAILED', `entry ${index} failed raft-envelope unwrap (${code})`, { index, reason: code, cause: err });
      }
    }
    return result;
  }
}

// The whole-node simulator (issue 14 items 3–5): N simulated servers each running the REAL
// `ClusterNode` composition (proposer, run loop, apply pipeline, KvStateMachine) over simulated
// disks, LMDB and network on one virtual clock; simulated clients; a nemesis that crashes
// processes (at named crash points and at random moments, with or without power loss), restarts
// them over the same media, partitions and degrades the network and moves leadership. After the
// fault phase the network heals and every server restarts; then the run checks its properties
// (node-checks.ts). A run is a function of its seed: same seed, same trace (`digest`).

import { createHash } from 'node:crypto';
import type { HaltError } from '../errors.js';
import { HistoryRecorder } from '../lincheck/history.js';
import type { NodeConfig } from '../node/config.js';
import { CrashPoints, setCrashPointHook, sidecarWriteCrashPoint } from '../node/crash-points.js';
import { WRITE_STEPS } from '../keys/sidecar-store.js';
import type { Scheduler } from '../node/scheduler.js';
import { type DefectName, setDefect } from '../defect-switches.js';
import { mulberry32 } from '../prng.js';
import { EntryType, MessageType } from '../raft/index.js';
import { loadCrc32c } from '../storage/crc32c.js';
import { setWalFs } from '../storage/wal/wal-fs.js';
import { type BackendName, loadAead } from '../crypto/index.js';
import type { RandomSource } from '../keys/dek-wrap.js';
import { runEvents, settle } from './drive.js';
import { NonceLedger, noCleartextAboveCutover } from './envelope-checks.js';
import { causedByInjection } from './sim-crypto-faults.js';
import { buildSimWing } from './sim-wing.js';
import { type NodeCheckInput, runChecks } from './node-checks.js';
import { SimClients } from './sim-clients.js';
import { currentProcess, ProcessScheduler, SimCrash, SwitchableScheduler, setCurrentProcess } from './sim-context.js';
import { RELIABLE_DISK, SimDisk } from './sim-disk.js';
import { SimFs } from './sim-fs.js';
import { RELIABLE_LMDB, SimLmdb } from './sim-lmdb.js';
import { SimMachine } from './sim-machine.js';
import { type NetworkFaults, SimNetwork } from './sim-network.js';
import { VirtualScheduler } from './virtual-scheduler.js';

export interface NodeSimOptions {
  seed: number;
  nodes?: number;
  clients?: number;
  /** Virtual ms of the fault phase. */
  faultMs?: number;
  /** Virtual ms the healed cluster gets to converge and serve a write (liveness). */
  healMs?: number;
  /** Re-introduce one known defect for this run (defect-switches.ts). */
  defect?: DefectName | null;
  /** Keep the trace lines (for a replay's diagnosis). */
  keepTrace?: boolean;
  /** Run the encryption wing and an operator (bootstrap, both enables, rotations); default true. */
  encryption?: boolean;
}

export interface FaultCounts {
  powerLosses: number;
  processKills: number;
  crashPointCrashes: number;
  restarts: number;
  partitions: number;
  oneWayCuts: number;
  leaderTransfers: number;
  entriesCorrupted: number;
  /** Of those, entries whose raft-envelope tag was flipped (above the receiver's cutover). */
  envelopesCorrupted: number;
  /** Injected seal/open failures of the cipher backend, and the HALTs and refused starts they caused (correct ones). */
  cryptoFaults: number;
  cryptoFaultHalts: number;
  cryptoFaultStartFailures: number;
  adminOps: number;
  adminOpsOk: number;
  /** RO-9 runbook restarts of a leader whose barrier stayed up after a failed marker proposal. */
  stuckBarrierRestarts: number;
  rotations: number;
  framesDropped: number;
  framesDuplicated: number;
  framesReordered: number;
  framesCut: number;
  diskWritesLost: number;
  diskWritesTorn: number;
  lmdbCommitsLost: number;
}

/** Every fault counter at zero (one run's start, and the many-seed summary's). */
export function emptyFaultCounts(): FaultCounts {
  return {
    powerLosses: 0,
    processKills: 0,
    crashPointCrashes: 0,
    restarts: 0,
    partitions: 0,
    oneWayCuts: 0,
    leaderTransfers: 0,
    entriesCorrupted: 0,
    envelopesCorrupted: 0,
    cryptoFaults: 0,
    cryptoFaultHalts: 0,
    cryptoFaultStartFailures: 0,
    adminOps: 0,
    adminOpsOk: 0,
    stuckBarrierRestarts: 0,
    rotations: 0,
    framesDropped: 0,
    framesDuplicated: 0,
    framesReordered: 0,
    framesCut: 0,
    diskWritesLost: 0,
    diskWritesTorn: 0,
    lmdbCommitsLost: 0,
  };
}

export interface NodeSimResult {
  seed: number;
  violations: string[];
  /** sha256 of the run's trace: same seed, same digest. */
  digest: string;
  faults: FaultCounts;
  halts: { node: string; index: string; code: string }[];
  /** Start-up refusals the SPEC leaves to the operator (WR-10 after a crash before WR-6). */
  refusals: string[];
  ops: { invoked: number; ok: number; indeterminate: number };
  /** Virtual ms simulated, and the same times the number of servers. */
  simulatedMs: number;
  nodeMs: number;
  events: number;
  snapshotsInstalled: number;
  /** Storage and raft envelope cutovers that completed (0 while the run has no encryption wing). */
  cutoversCompleted: number;
  /** Distinct (DEK, nonce) pairs seen in sealed records. */
  nonces: number;
  trace?: string[];
}

/** The nodes' cipher backend (the inline crypto pool's). */
const SIM_CIPHER = 'js' satisfies BackendName;
const FAULT_MS = 2500;
/** Virtual ms after the heal in which crash points still fire while the operator's cutovers run. */
const CUTOVER_PHASE_MS = 2500;
/** Liveness bound after the heal: above the registrar's 5 s attempt timeout (a registration forwarded to a leader that died waits it out). */
const HEAL_MS = 12_000;
/** Chance that one crash-point hit crashes its process (power loss), while crashes are on. */
const CRASH_POINT_P = 1 / 150;
const MAX_CRASH_POINT_CRASHES = 3;
const MAX_FOCUS_CRASHES = 2;
/** Points every write passes (hit hundreds of times a run); the others are rare and crash more often. */
const FREQUENT_POINTS = new Set([
  'log-persist:before',
  'log-persist:synced',
  'after-log-persist',
  'after-apply-commit',
  'state-sync:committed',
  'state-sync:synced',
]);
const RARE_CRASH_POINT_P = 1 / 8;
/** Each run picks one named point to crash at often (over many seeds every point gets its turn). */
const FOCUS_CRASH_P = 1 / 2;
const ENCRYPTION_POINTS: readonly string[] = [
  CrashPoints.AFTER_REGISTRY_COMMIT,
  CrashPoints.AFTER_SIDECAR_WRITE,
  CrashPoints.BEFORE_INSTALLER,
  CrashPoints.AFTER_MARKER_COMMIT,
  ...WRITE_STEPS.map((s) => sidecarWriteCrashPoint(s, 'after')),
];
const ALL_POINTS: readonly string[] = [...Object.values(CrashPoints), ...WRITE_STEPS.flatMap((s) => [sidecarWriteCrashPoint(s, 'before'), sidecarWriteCrashPoint(s, 'after')])].sort();
/** Share of runs in which one delivered entry is corrupted (a bit flip the frame checks missed). */
const CORRUPTION_RUN_P = 0.2;
/**
 * Runs with injected cipher failures (sim-crypto-faults.ts): the seeds ≡ 3 mod 5, chosen by the
 * seed and drawn from their own generator, so every other run is unchanged. In those runs each
 * seal/open call of any node fails with this probability while the nemesis is on.
 */
const CRYPTO_FAULT_MOD = 5;
const CRYPTO_FAULT_P = 0.05;

export async function runNodeSim(opts: NodeSimOptions): Promise<NodeSimResult> {
  // One-time real initialisations, before virtual time starts: their first call resolves through
  // real event-loop tasks (module loading, wasm instantiation), which no virtual event may wait on.
  await loadCrc32c();
  await loadAead(SIM_CIPHER);
  const seed = opts.seed;
  const n = opts.nodes ?? 3;
  const random = mulberry32(seed);
  const base = new VirtualScheduler();
  const hash = createHash('sha256');
  const traceLines: string[] | undefined = opts.keepTrace ? [] : undefined;
  // The digest hashes the trace in blocks (one update per ~64 KiB, same bytes as one per line).
  let pendingTrace = '';
  const trace = (line: string): void => {
    const l = `${base.elapsed()} ${line}`;
    pendingTrace += `${l}\n`;
    if (pendingTrace.length > 65_536) {
      hash.update(pendingTrace);
      pendingTrace = '';
    }
    traceLines?.push(l);
  };
  const violations: string[] = [];
  const violation = (v: string): void => {
    trace(`VIOLATION ${v}`);
    violations.push(v);
  };
  const faults: FaultCounts = emptyFaultCounts();
  const halts: NodeSimResult['halts'] = [];
  /** Start-up refusals the SPEC leaves to the operator (see startFailed). */
  const refusals: string[] = [];
  // The nemesis and clients run untagged (no process): their events clear the tag.
  const world = new ProcessScheduler(base, null);
  const netFaults: NetworkFaults = {
    drop: random() < 0.5 ? 0 : random() * 0.05,
    duplicate: random() * 0.03,
    minDelayMs: 1,
    maxDelayMs: 2 + Math.floor(random() * 15),
    reorder: random() * 0.1,
  };
  const net = new SimNetwork(world, random, netFaults);
  // Some runs have a slow LMDB write thread (the apply pipeline lags the log).
  const slowCommits = random() < 0.5 ? 0 : [2, 10, 30][Math.floor(random() * 3)]!;
  const ids = Array.from({ length: n }, (_, i) => `n${i + 1}`);
  const disks = new Map<string, SimDisk>();
  const machines: SimMachine[] = [];
  const appliedSeen = new Map<string, { inc: number; index: number }>();
  let snapshotsInstalled = 0;
  /** Hits per crash point (what the run exercised). */
  const pointHits = new Map<string, number>();
  let crashesOn = true;
  let nemesisOn = true;
  let operatorOn = true;
  let operatorBusy = false;
  let cutoversCompleted = 0;
  /** Indexes of entries a fault corrupted (a HALT there is the correct outcome). */
  const corrupted = new Set<bigint>();
  /** Of those, the ones whose raft-envelope tag was flipped: their HALT must be RAFT_UNWRAP_FAILED (EH-3). */
  const corruptedTags = new Set<bigint>();
  const cryptoFaultRun = (opts.encryption ?? true) && seed % CRYPTO_FAULT_MOD === 3;
  const cryptoRandom = mulberry32(seed ^ 0x5eed_c0de);
  const encryptionOn = opts.encryption ?? true;
  const corruptionRun = random() < CORRUPTION_RUN_P;
  // Half the runs focus on a point of the encryption apply path (the cutovers' riskiest steps).
  const focusFrom = encryptionOn && random() < 0.5 ? ENCRYPTION_POINTS : ALL_POINTS;
  const focusPoint = focusFrom[Math.floor(random() * focusFrom.length)]!;
  trace(`focus ${focusPoint}`);
  let corruptionArmed = false;
  let crashPointCrashes = 0;
  let focusCrashes = 0;
  const fsys = new SimFs(disks);
  // A server's media run their completions on its current process's scheduler (tagged, and
  // killed with it); the machine is built after its media, so they reach it through `media`.
  const mediaTarget = new Map<string, SwitchableScheduler>(ids.map((id) => [id, new SwitchableScheduler(world)]));
  const mediaSched = (id: string): Scheduler => mediaTarget.get(id)!;
  for (const id of ids) {
    const disk = new SimDisk(mediaSched(id), random, { ...RELIABLE_DISK, minLatencyMs: 0, maxLatencyMs: 2 });
    disks.set(id, disk);
  }
  const cfgOf = (id: string): NodeConfig => simNodeConfig(id, ids, 'sim', SIM_CIPHER);
  const encryption = encryptionOn;
  const aead = await loadAead('node');
  const seededBytes: RandomSource = (k) => {
    const b = new Uint8Array(k);
    for (let i = 0; i < k; i++) b[i] = Math.floor(random() * 256);
    return b;
  };
  const kek = seededBytes(32);
  const wingFor = encryption
    ? (m: SimMachine) =>
        buildSimWing({
          cfg: m.cfg,
          disk: m.disk,
          kek,
          random: seededBytes,
          sched: () => m.sched,
          ...(cryptoFaultRun
            ? {
                cryptoFault: (method: string) => {
                  if (!nemesisOn || cryptoRandom() >= CRYPTO_FAULT_P) return false;
                  faults.cryptoFaults++;
                  trace(`${m.id} injected ${method} failure`);
                  return true;
                },
              }
            : {}),
          onAdmin: (admin, rt, barrier) => {
            m.admin = admin;
            m.runtime = rt;
            m.barrier = barrier;
          },
        })
    : null;
  const nonces = new NonceLedger();
  for (const id of ids) {
    const disk = disks.get(id)!;
    disk.mkdirp(`/${id}/data`);
    const m: SimMachine = new SimMachine(
      id,
      cfgOf(id),
      disk,
      new SimLmdb(mediaSched(id), random, { ...RELIABLE_LMDB, maxCommitMs: slowCommits }),
      base,
      fsys,
      net,
      random,
      {
        applied: (mm, index) => {
          if (mm.haltedAt !== null && BigInt(index) >= mm.haltedAt) violation(`${mm.id}: applied ${index}, past the entry ${mm.haltedAt} it HALTed on`);
          const prev = appliedSeen.get(mm.id);
          if (prev !== undefined && prev.inc === mm.incarnation && index < prev.index) {
            violation(`${mm.id}: applied index went back from ${prev.index} to ${index}`);
          }
          appliedSeen.set(mm.id, { inc: mm.incarnation, index });
        },
        transientHalt: (e: HaltError) => causedByInjection(e),
        halted: (mm, e: HaltError) => {
          trace(`${mm.id} HALT ${e.code} at ${e.index}`);
          // Always, not only for a replay's trace: these reads go through the simulated disk, which
          // draws from the run's generator, so a replay that skipped them would run differently.
          if (mm.node !== null && e.index !== undefined) {
            const k = Number(e.index);
            const ls = mm.node.logStore;
            const lo = Math.max(ls.firstIndex(), k - 4);
            for (const x of lo <= k ? ls.entries(lo, k + 1, Number.MAX_SAFE_INTEGER) : []) {
              trace(`  ${mm.id} log ${x.index} term ${x.term} type ${x.type} ${Buffer.from(x.data.subarray(0, 24)).toString('hex')}`);
            }
            const sc = mm.runtime?.state.sidecar();
            trace(`  ${mm.id} sidecar cutover=${sc?.raftEnvelopeCutoverIndex} applied=${sc?.raftAppliedIndex} cell=${mm.node.cutover.cutover()}`);
          }
          halts.push({ node: mm.id, index: String(e.index), code: e.code });
          if (causedByInjection(e)) {
            // Failing closed on a transient cipher failure is correct; the entry itself is sound, so
            // the restarted process must apply it and go on (`transientHalt` below: no haltedAt).
            faults.cryptoFaultHalts++;
            restartLater(mm, 300);
            return;
          }
          // A HALT is correct only at an entry a fault corrupted (it may have spread to other
          // logs through a leader that held it); the process is restarted once and must halt again.
          if (e.index === undefined || !corrupted.has(e.index)) violation(`${mm.id}: HALT ${e.code} at ${e.index} where no fault made it correct: ${e.message}`);
          else if (corruptedTags.has(e.index) && e.code !== 'RAFT_UNWRAP_FAILED') violation(`${mm.id}: HALT ${e.code} at ${e.index}, whose raft-envelope tag a fault flipped: expected RAFT_UNWRAP_FAILED`);
          if (mm.halts < 2) restartLater(mm, 300);
        },
        fatal: (mm, e) => {
          trace(`${mm.id} FATAL ${(e as Error)?.message}`);
          violation(`${mm.id}: fatal ${(e as { code?: string })?.code ?? ''} ${(e as Error)?.message ?? String(e)}`);
          restartLater(mm);
        },
        startFailed: (mm, e) => {
          trace(`${mm.id} START FAILED ${(e as Error)?.message}`);
          if (causedByInjection(e)) {
            // A start-up check that could not read the log through a failing cipher refuses the
            // start (fail closed, KM-12); the operator's remedy is another start.
            faults.cryptoFaultStartFailures++;
            restartLater(mm, 300);
            return;
          }
          const code = (e as { code?: string })?.code;
          if (code === 'LOCAL_EPOCH_ROLLBACK' && /no registry row/.test((e as Error)?.message ?? '')) {
            // SPEC WR-10 as written: a node that applied a storage rotation and crashed before its
            // WR-6 registration committed has no row for the active DEK and must be recovered by
            // the operator (resync-sidecar / register-writer / replace). Reported, not a violation.
            mm.refused = `${code}: ${(e as Error).message}`;
            refusals.push(`${mm.id}: ${mm.refused}`);
            return;
          }
          violation(`${mm.id}: cannot start: ${(e as { code?: string })?.code ?? ''} ${(e as Error)?.message ?? String(e)}`);
        },
        up: (mm) => {
          trace(`${mm.id} up #${mm.incarnation}`);
          const a = mm.node!.store.appliedIndex();
          if (mm.haltedAt !== null && a >= mm.haltedAt) violation(`${mm.id}: restarted with applied ${a}, past the entry ${mm.haltedAt} it HALTed on`);
        },
      },
      { segmentBytes: 16 * 1024, preallocate: 'none' },
      wingFor,
    );
    mediaTarget.get(id)!.target = m.mediaSched;
    machines.push(m);
  }

  function restartLater(m: SimMachine, delay = 100 + Math.floor(random() * 1500)): void {
    world.setTimeout(() => {
      if (m.state !== 'down' || m.refused !== null) return;
      faults.restarts++;
      trace(`${m.id} restart`);
      m.boot();
    }, delay);
  }

  const crashHook = (name: string): void => {
    const p = currentProcess();
    if (p === null) return;
    if (!p.alive) throw new SimCrash(name); // leftover code of a dead process stops here too
    if (name === 'snapshot-install:installed') snapshotsInstalled++;
    pointHits.set(name, (pointHits.get(name) ?? 0) + 1);
    if (!crashesOn) return;
    // The focus point has its own budget: the others must not use up the run's crashes before it is reached.
    const focus = name === focusPoint;
    if (focus ? focusCrashes >= MAX_FOCUS_CRASHES : crashPointCrashes >= MAX_CRASH_POINT_CRASHES) return;
    const pCrash = focus ? FOCUS_CRASH_P : FREQUENT_POINTS.has(name) ? CRASH_POINT_P : RARE_CRASH_POINT_P;
    if (random() >= pCrash) return;
    if (focus) focusCrashes++;
    else crashPointCrashes++;
    const m = machines.find((x) => x.proc === p);
    if (m === undefined) return;
    faults.crashPointCrashes++;
    const power = random() < 0.5;
    if (power) faults.powerLosses++;
    else faults.processKills++;
    trace(`${m.id} CRASH at ${name} (${power ? 'power' : 'process'})`);
    m.stop(power);
    restartLater(m);
    throw new SimCrash(name);
  };

  const history = new HistoryRecorder(() => base.elapsed());
  const clients = new SimClients(base, machines, random, history, trace);
  const onRejection = (e: unknown): void => {
    if (e instanceof SimCrash || isDeadProcessError(e)) return;
    violation(`unhandled rejection: ${(e as Error)?.stack ?? String(e)}`);
  };
  process.on('unhandledRejection', onRejection);
  // The nodes create many typed errors (NOT_LEADER refusals, timeouts) whose stacks nothing reads
  // (the checks and the trace use codes and messages): without a replay's trace, none are captured.
  const stackTraceLimit = Error.stackTraceLimit;
  if (!opts.keepTrace) Error.stackTraceLimit = 0;
  setWalFs(fsys.fs());
  setCrashPointHook(crashHook);
  setDefect(opts.defect ?? null);
  const faultMs = opts.faultMs ?? FAULT_MS;
  const healMs = opts.healMs ?? HEAL_MS;
  try {
    for (const m of machines) m.boot();
    clients.start(opts.clients ?? 3);
    scheduleNemesis();
    if (encryption) scheduleOperator();
    await drive(faultMs);
    // The network heals and the random kills stop; every server comes up again.
    nemesisOn = false;
    net.heal();
    net.faults = { drop: 0, duplicate: 0, minDelayMs: 1, maxDelayMs: 3, reorder: 0 };
    trace('heal');
    const bootDown = (): void => {
      for (const m of machines) if (m.state === 'down' && m.halts < 2 && m.refused === null) m.boot();
    };
    bootDown();
    const cutoverDone = (): boolean => !encryption || machines.some((m) => (m.runtime?.state.sidecar()?.raftEnvelopeCutoverIndex ?? 0n) !== 0n);
    if (encryption) {
      // Cutovers under crashes: the operator (who needs every member to answer) mostly gets its
      // enables through here, while crash points still fire (crashed servers restart).
      await drive(base.elapsed() + CUTOVER_PHASE_MS, cutoverDone);
    }
    crashesOn = false;
    trace('crashes off');
    bootDown();
    // With a majority halted (a corrupted entry that spread), failing closed is the correct outcome.
    const available = (): boolean => machines.filter((m) => m.haltedAt === null && m.refused === null).length > n / 2;
    const writesBefore = clients.counters.okWrites;
    const healEnd = base.elapsed() + healMs;
    // Liveness: clients keep going until a write succeeds after the heal; with the encryption
    // wing the operator also finishes both cutovers.
    await drive(healEnd, () => clients.counters.okWrites > writesBefore + 2 && cutoverDone());
    if (available() && clients.counters.okWrites <= writesBefore + 2) violation(`no liveness: fewer than 3 writes succeeded within ${healMs} ms after healing`);
    // (Bootstrap needs every member's capability answer: with a HALTed member it rightly cannot run.)
    if (machines.every((m) => m.haltedAt === null && m.refused === null) && !cutoverDone()) violation(`no liveness: the operator's cutovers did not complete within ${healMs} ms after healing`);
    clients.stop();
    operatorOn = false;
    // Let the replicas catch up (bounded), then check.
    // (Up to the snapshot sender's 30 s chunk timeout: a stream to a peer that was unreachable
    // when it started waits that long before it is retried.)
    await drive(healEnd + (available() ? 32_000 : 500), () => clients.busy() === 0 && converged(machines));
    // Quiet time: commits submitted before the applied index moved land, timers settle (a
    // registration proposed late may commit meanwhile: converge once more).
    trace('quiet');
    await drive(base.elapsed() + 200);
    await drive(base.elapsed() + 2000, () => converged(machines));
    trace(`checks ${machines.map((m) => `${m.id}:${m.state}:${m.node?.store.appliedIndex()}/${m.node?.store.durableAppliedIndex()} pending=${m.lmdb.pendingCommits}`).join(' ')}`);
    for (const m of machines) if (m.node) trace(`status ${m.id} ${JSON.stringify(m.node.status())}`);
    if (clients.counters.execMismatches > 0) violation(`${clients.counters.execMismatches} EXEC transactions read a value other than their own INCR`);
    const input: NodeCheckInput = { machines, history: history.history(), halts, available: available() };
    for (const v of runChecks(input)) violation(v);
    if (encryption) {
      operatorOn = false;
      nonces.scan(machines, corrupted);
      for (const v of nonces.repeats) violation(v);
      for (const v of noCleartextAboveCutover(machines, aead, corrupted)) violation(v);
      const s = machines.find((m) => m.runtime !== null)?.runtime?.state.sidecar();
      if (s?.storageEnvelopeActive) cutoversCompleted++;
      if (s !== undefined && s.raftEnvelopeCutoverIndex !== 0n) cutoversCompleted++;
      trace(`encryption storage=${s?.storageEnvelopeCutoverIndex ?? 0n} raft=${s?.raftEnvelopeCutoverIndex ?? 0n} nonces=${nonces.count}`);
    }
  } finally {
    for (const m of machines) m.stop(false);
    process.off('unhandledRejection', onRejection);
    Error.stackTraceLimit = stackTraceLimit;
    setWalFs(null);
    setCrashPointHook(null);
    setDefect(null);
    // Microtasks of the stopped processes settle before the next run starts.
    await settle();
  }
  faults.framesDropped = net.counters.dropped;
  faults.framesDuplicated = net.counters.duplicated;
  faults.framesReordered = net.counters.reordered;
  faults.framesCut = net.counters.cut;
  for (const d of disks.values()) {
    faults.diskWritesLost += d.counters.writesLost;
    faults.diskWritesTorn += d.counters.writesTorn;
  }
  for (const m of machines) faults.lmdbCommitsLost += m.lmdb.counters.commitsLost;
  trace(`end events=${base.eventsRun} points=${JSON.stringify([...pointHits].sort())}`);
  return {
    seed,
    violations,
    digest: hash.update(pendingTrace).digest('hex'),
    faults,
    halts,
    refusals,
    ops: { invoked: clients.counters.invoked, ok: clients.counters.ok, indeterminate: clients.counters.indeterminate },
    simulatedMs: base.elapsed(),
    nodeMs: base.elapsed() * n,
    events: base.eventsRun,
    snapshotsInstalled,
    cutoversCompleted,
    nonces: nonces.count,
    ...(traceLines ? { trace: traceLines } : {}),
  };

  async function drive(until: number, stop?: () => boolean): Promise<void> {
    // A run that checks the clock once per event would never end if a bug loops at one time.
    const exhausted = (): boolean => base.eventsRun > 3_000_000;
    await runEvents(base, until, { stop: () => exhausted() || (stop?.() ?? false) });
    if (exhausted()) violation('event budget exhausted (a livelock at one virtual time?)');
  }

  /** The operator: bootstrap, then the storage and raft cutovers, then rotations, on the leader, at random moments. */
  function scheduleOperator(): void {
    const next = (): void => {
      if (!operatorOn) return;
      world.setTimeout(() => {
        setCurrentProcess(null);
        nonces.scan(machines, corrupted);
        operator();
        next();
      }, 50 + Math.floor(random() * 150));
    };
    next();
  }

  function operator(): void {
    // RO-9's runbook: a barrier left up after a failed marker proposal refuses user writes until
    // the process restarts; the operator restarts a node whose barrier stayed up for 1.5 s.
    for (const m of machines) {
      if (m.state !== 'up' || m.barrier === null || !m.barrier.active()) {
        if (m.state === 'up') m.barrierUpSince = null;
        continue;
      }
      m.barrierUpSince ??= base.elapsed();
      if (base.elapsed() - m.barrierUpSince > 1500) {
        faults.stuckBarrierRestarts++;
        trace(`${m.id} barrier stuck since ${m.barrierUpSince}: operator restarts it (RO-9)`);
        m.stop(false);
        restartLater(m, 50);
      }
    }
    if (operatorBusy) return;
    const leader = machines.find((m) => m.state === 'up' && m.admin !== null && m.node?.raft.isLeader());
    if (leader === undefined) return;
    const admin = leader.admin!;
    const s = leader.runtime!.state.sidecar();
    const deadline = base.now() + 2000;
    let what: string;
    let call: () => Promise<unknown>;
    if (s === undefined || s.active.storage === 0) {
      what = 'bootstrap';
      call = () => admin.bootstrap(undefined, deadline);
    } else if (!s.storageEnvelopeActive) {
      what = 'enable-storage-envelope';
      call = () => admin.enableStorageEnvelope(deadline);
    } else if (s.raftEnvelopeCutoverIndex === 0n) {
      what = 'enable-raft-envelope';
      call = () => admin.enableRaftEnvelope(deadline);
    } else if (faults.rotations < 4 && random() < 0.3) {
      const purpose = random() < 0.5 ? 'storage' : 'raft';
      what = `rotate-dek ${purpose}`;
      faults.rotations++;
      call = () => admin.rotateDek(purpose, deadline);
    } else {
      return;
    }
    operatorBusy = true;
    faults.adminOps++;
    const proc = leader.proc;
    setCurrentProcess(proc);
    let p: Promise<unknown>;
    try {
      p = call();
    } catch (e) {
      p = Promise.reject(e);
    }
    void Promise.race([p.then(() => 'ok' as const), proc.died.then(() => 'DIED' as const)])
      .then(
        (r) => {
          if (r === 'ok') faults.adminOpsOk++;
          trace(`admin ${leader.id} ${what} -> ${r}`);
        },
        (e: unknown) => trace(`admin ${leader.id} ${what} -> ${(e as { code?: string })?.code ?? 'ERROR'} ${(e as Error)?.message ?? ''}`),
      )
      .finally(() => {
        operatorBusy = false;
      });
  }

  function scheduleNemesis(): void {
    const next = (): void => {
      if (!nemesisOn) return;
      world.setTimeout(() => {
        if (!nemesisOn) return;
        nemesis();
        next();
      }, 150 + Math.floor(random() * 600));
    };
    next();
  }

  function nemesis(): void {
    const r = random();
    const up = machines.filter((m) => m.state === 'up');
    if (r < 0.25) {
      const m = machines[Math.floor(random() * machines.length)]!;
      if (m.state === 'down') return;
      const power = random() < 0.6;
      if (power) faults.powerLosses++;
      else faults.processKills++;
      trace(`${m.id} KILL ${power ? 'power' : 'process'}`);
      m.stop(power);
      restartLater(m);
    } else if (r < 0.45) {
      const a = ids[Math.floor(random() * n)]!;
      faults.partitions++;
      trace(`isolate ${a}`);
      net.isolate(a, ids);
      world.setTimeout(() => {
        trace('heal partition');
        net.heal();
      }, 200 + Math.floor(random() * 1500));
    } else if (r < 0.55) {
      const a = ids[Math.floor(random() * n)]!;
      const b = ids[Math.floor(random() * n)]!;
      if (a === b) return;
      faults.oneWayCuts++;
      trace(`cut ${a}->${b}`);
      net.cut(a, b);
      world.setTimeout(() => {
        trace('heal cut');
        net.heal();
      }, 200 + Math.floor(random() * 1500));
    } else if (r < 0.7 && corruptionRun && !corruptionArmed) {
      corruptionArmed = true;
      const m = machines[Math.floor(random() * machines.length)]!;
      // Odd seeds flip a byte of the GCM tag of the first entry above the receiver's raft cutover
      // (corrupted ciphertext: the unwrap must fail closed there); even seeds flip the proposal
      // header (ENTRY_MALFORMED). Chosen by the seed, not drawn, so no other run changes.
      const tagFlip = (seed & 1) === 1;
      trace(`${m.id} corrupt next ${tagFlip ? 'sealed entry (tag)' : 'entry (header)'}`);
      m.inbound = (from, msg) => {
        let i: bigint | null;
        if (tagFlip) {
          const cut = m.runtime?.state.sidecar()?.raftEnvelopeCutoverIndex ?? 0n;
          if (cut === 0n) return;
          i = corruptEntryTag(msg, cut);
        } else {
          i = corruptEntry(msg);
        }
        if (i === null) return;
        m.inbound = null;
        corrupted.add(i);
        if (tagFlip) corruptedTags.add(i);
        faults.entriesCorrupted++;
        if (tagFlip) faults.envelopesCorrupted++;
        trace(`${m.id} corrupted entry ${i} from ${from}${tagFlip ? ' (raft-envelope tag)' : ''}`);
      };
    } else if (r < 0.8) {
      const leader = up.find((m) => m.node?.raft.isLeader());
      const to = ids[Math.floor(random() * n)]!;
      if (leader === undefined || leader.id === to) return;
      faults.leaderTransfers++;
      trace(`transfer ${leader.id}->${to}`);
      setCurrentProcess(leader.proc);
      leader.node!.transferLeader(to, base.now() + 1000).catch(() => undefined);
    }
  }
}

/** Every live server applied the same index as the leader's commit. */
function converged(machines: readonly SimMachine[]): boolean {
  // (Asked before every event of the catch-up phase: loops, no arrays.)
  const up = (m: SimMachine): boolean => m.haltedAt === null && m.refused === null;
  for (const m of machines) if (up(m) && m.state !== 'up') return false;
  // Applied and committed to the state store (a batch still on its way to LMDB is not visible to readers yet).
  for (const m of machines) if (up(m) && m.node!.store.appliedIndex() !== m.node!.store.durableAppliedIndex()) return false;
  let first: bigint | undefined;
  for (const m of machines) {
    if (!up(m)) continue;
    const a = m.node!.store.appliedIndex();
    first ??= a;
    if (a !== first) return false;
  }
  for (const m of machines) if (up(m) && BigInt(m.node!.raft.log.committed) !== first) return false;
  return true;
}

/** Errors a dead process's leftover code runs into (its media and transport are gone). */
function isDeadProcessError(e: unknown): boolean {
  const code = (e as { code?: unknown })?.code;
  return code === 'ENV_CLOSED' || code === 'EBADF' || code === 'TRANSPORT_CLOSED';
}

/**
 * The first entry of a Raft append (the wire's entry block: 21-byte heads, see raft-wire.ts) that
 * `pick(index, type, dataLength)` accepts: the block and where its data starts; null when none.
 */
function findEntry(msg: unknown, pick: (index: bigint, type: number, len: number) => boolean): { block: Uint8Array; data: number; len: number; index: bigint } | null {
  const m = msg as { type?: number; eb?: unknown };
  if (m?.type !== MessageType.App || !(m.eb instanceof Uint8Array)) return null;
  const block = m.eb;
  const dv = new DataView(block.buffer, block.byteOffset, block.byteLength);
  for (let at = 0; at + 21 <= block.length; ) {
    const len = dv.getUint32(at + 17);
    const index = BigInt(dv.getUint32(at) * 0x1_0000_0000 + dv.getUint32(at + 4));
    if (pick(index, block[at + 16]!, len)) return { block, data: at + 21, len, index };
    at += 21 + len;
  }
  return null;
}

/** Flips the proposal header of the first user entry in a Raft append; returns its index, or null. */
function corruptEntry(msg: unknown): bigint | null {
  const e = findEntry(msg, (_i, type, len) => type === EntryType.Normal && len > 0);
  if (e === null) return null;
  e.block[e.data] = e.block[e.data]! ^ 0xff;
  return e.index;
}

/**
 * Flips the last byte (inside the GCM tag) of the first normal entry above `cutover` in a Raft
 * append whose data is long enough to be a sealed proposal; returns its index, or null.
 */
function corruptEntryTag(msg: unknown, cutover: bigint): bigint | null {
  // 9-byte proposal header + 34-byte raft envelope overhead (RE-1) at least.
  const e = findEntry(msg, (i, type, len) => type === EntryType.Normal && i > cutover && len >= 9 + 34);
  if (e === null) return null;
  const last = e.data + e.len - 1;
  e.block[last] = e.block[last]! ^ 0x01;
  return e.index;
}

/** The NodeConfig of a simulated server `id` among `ids` (fast Raft ticks, small snapshots). */
export function simNodeConfig(id: string, ids: readonly string[], clusterId: string, cipher: NodeConfig['cipher']): NodeConfig {
  return {
    id,
    clusterId,
    dataDir: `/${id}/data`,
    raft: { host: id, port: 7000 },
    resp: { host: id, port: 6379 },
    admin: { host: id, port: 8080 },
    peers: new Map(ids.map((p) => [p, { host: p, port: 7000 }])),
    join: false,
    cipher,
    cryptoWorkers: 0,
    adminTokenFile: null,
    logLevel: 'silent',
    tickMs: 10,
    electionTicks: 10,
    heartbeatTicks: 1,
    snapshotThreshold: 30,
    compactionMargin: 3,
    maxBulkBytes: 1 << 20,
    requestTimeoutMs: 1500,
  };
}

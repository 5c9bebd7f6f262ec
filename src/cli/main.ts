#!/usr/bin/env node
// `sealkv` command line (DESIGN.md §4). Exit codes: 0 ok; 1 usage; 2 refused to start; 3 halted.

import { envPeerFaultLayer } from '../transport/peer-faults.js';
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { ConfigError, type HaltError, SealkvError, StartupRefusedError } from '../errors.js';
import { SidecarStore } from '../keys/sidecar-store.js';
import { type PreflightResult, runStartupPreflight } from '../keys/startup.js';
import { ClusterNode } from '../node/cluster-node.js';
import { crashPoint, sidecarWriteCrashPoint } from '../node/crash-points.js';
import { createLogger } from '../node/logger.js';
import { AdminHttpServer } from '../server/admin-http.js';
import { registerAdminRoutes } from '../server/admin-routes.js';
import { NodeMetrics } from '../server/metrics.js';
import { RespHandler } from '../server/resp-handler.js';
import { RespServer } from '../server/resp-server.js';
import { createEncryptionRuntime, type EncryptionRuntime } from '../encryption/runtime.js';
import { CAPABILITY_REQUEST, EncryptionAdmin } from '../encryption/admin-flows.js';
import { encryptionAdminPort, type NodeWing, wireEncryptionWing } from '../encryption/node-wing.js';
import { EncryptionStateCell } from '../encryption/state-cell.js';
import { registerEncryptionRoutes, registerRecoveryRoutes, registerTestProposeRoute } from '../server/encryption-routes.js';
import { RecoveryFlows } from '../encryption/recovery-flows.js';
import { MembershipGate } from '../encryption/membership-gate.js';
import { runAdmin } from './admin.js';
import { encryptionMetricsSource } from './encryption-metrics.js';
import { buildConfig, parseFlags } from './config.js';
import { runDev } from './dev.js';
import { buildEncryptionConfig, type EncryptionConfig } from './encryption-config.js';
import { runVerifyAtRest } from './verify-at-rest.js';

const USAGE = `usage:
  sealkv start --id ID --data-dir DIR --raft HOST:PORT --peers ID=HOST:PORT,... [--resp HOST:PORT] [--admin HOST:PORT]
               [--cluster-id NAME] [--join] [--cipher native|wasm|js|node] [--crypto-workers N] [--raft-envelope-gate open|closed] [--admin-token-file F]
               [--log-level info] [--tick-ms 100] [--election-ticks 10] [--heartbeat-ticks 1]
               [--snapshot-threshold N] [--compaction-margin N] [--max-bulk-bytes N] [--request-timeout-ms N] [--config file.json]
               [--encryption (--kek-file F | --kek-env VAR | --kek-passphrase-file F) [--sidecar PATH] [--rotate-on-startup]]
  sealkv dev [--dir .sealkv-dev] [--base-port 6379]
  sealkv admin <status|members|add-node|remove-node|transfer-leader> --admin HOST:PORT [--token-file F] [--id ID] [--address HOST:PORT] [--role voter|learner]
  sealkv admin encryption <capability|status|sidecar|bootstrap|enable-storage-envelope|rotate-dek|register-writer|disable|kek-params> --admin HOST:PORT …
  sealkv admin encryption <resync-sidecar|backup|backup-verify> …   (offline, node stopped; docs/OPERATIONS.md §6, §9)
  sealkv verify-at-rest --data-dir DIR --needle HEX [--needle HEX ...] [--needles-file F] [--sidecar PATH]`;

/**
 * Test-only: SEALKV_TEST_CLOCK_OFFSET_MS skews this node's data clock (expiry) by that many ms.
 * Honoured only under NODE_ENV=test (the integration harness), never in a production start.
 */
function testClock(): (() => number) | undefined {
  const raw = process.env.SEALKV_TEST_CLOCK_OFFSET_MS;
  if (raw === undefined || process.env.NODE_ENV !== 'test') return undefined;
  const offset = Number(raw);
  if (!Number.isSafeInteger(offset)) die(2, 'CONFIG_INVALID', `SEALKV_TEST_CLOCK_OFFSET_MS must be an integer, got '${raw}'`);
  return () => Date.now() + offset;
}

/**
 * Test-only (AS-16's fsync-failure run): SEALKV_TEST_FAIL_DIR_FSYNC=apply makes the directory
 * fsync of every apply-path sidecar write fail; =all also fails the start-up durability probe
 * (a filesystem that still cannot fsync directories). Honoured only under NODE_ENV=test.
 */
function testDirFsyncFault(): 'apply' | 'all' | null {
  const v = process.env.SEALKV_TEST_FAIL_DIR_FSYNC;
  if (process.env.NODE_ENV !== 'test' || (v !== 'apply' && v !== 'all')) return null;
  return v;
}

/**
 * Test-only (SPEC §17 "withhold the cipher", "make the installer fail"):
 * SEALKV_TEST_WITHHOLD_RAFT_CIPHER=1 gives the apply engine no raft unwrapper (AS-4);
 * SEALKV_TEST_FAIL_INSTALLER=1 makes the apply-time wrap installer fail (AS-14). Each does
 * nothing unless set, and only under NODE_ENV=test.
 */
function testRaftFaults(): { withholdRaftCipher: boolean; failInstaller: boolean } {
  const on = (name: string): boolean => process.env.NODE_ENV === 'test' && process.env[name] === '1';
  return { withholdRaftCipher: on('SEALKV_TEST_WITHHOLD_RAFT_CIPHER'), failInstaller: on('SEALKV_TEST_FAIL_INSTALLER') };
}

/**
 * Test-only (AS-9, RO-9): SEALKV_TEST_PARTITION_AFTER_MARKER=1 makes this node cut itself off from
 * every peer (the SEALKV_PEER_FAULTS layer, which must be on: `@file`, so the test heals it by
 * rewriting the file) right after the barrier hands the raft-cutover marker to the proposer and
 * before any message can carry it — the "ambiguous marker" partition of AS-9 at the exact moment no
 * timer-driven fault could hit. Honoured only under NODE_ENV=test.
 */
function testPartitionAfterMarker(): (() => void) | null {
  if (process.env.NODE_ENV !== 'test' || process.env.SEALKV_TEST_PARTITION_AFTER_MARKER !== '1') return null;
  return () => {
    const layer = envPeerFaultLayer();
    if (layer === null) die(2, 'CONFIG_INVALID', 'SEALKV_TEST_PARTITION_AFTER_MARKER needs SEALKV_PEER_FAULTS=@file');
    layer.set({ rules: [{ peer: '*', dir: 'both', partition: true }] });
  };
}

const injectedFsyncFailure = (): never => {
  throw Object.assign(new Error('injected directory fsync failure (SEALKV_TEST_FAIL_DIR_FSYNC)'), { code: 'EINVAL' });
};

/** One line on stderr naming the code, then the exit status (C-6, OP-3). */
function die(status: number, code: string, message: string): never {
  process.stderr.write(`error: ${code}: ${message}\n`);
  process.exit(status);
}

async function start(argv: string[]): Promise<void> {
  let cfg: ReturnType<typeof buildConfig>;
  let encCfg: EncryptionConfig;
  try {
    const flags = parseFlags(argv);
    cfg = buildConfig(flags, availableParallelism());
    encCfg = buildEncryptionConfig(flags);
  } catch (e) {
    if (e instanceof ConfigError && e.code === 'USAGE') die(1, e.code, `${e.message}\n${USAGE}`);
    if (e instanceof SealkvError) die(2, e.code, e.message);
    throw e;
  }
  let token: string | null = null;
  if (cfg.adminTokenFile) {
    try {
      token = readFileSync(cfg.adminTokenFile, 'utf8').trim();
    } catch (e) {
      die(2, 'CONFIG_INVALID', `--admin-token-file: ${(e as Error).message}`);
    }
    if (!token) die(2, 'CONFIG_INVALID', '--admin-token-file is empty');
  }
  const log = createLogger(cfg.logLevel, { node: cfg.id });
  // KM-14 steps 1–3 and 6 (node id, KEK, group A guards, epoch bump) run before LMDB opens; every
  // refusal is one line and exit 2 (OP-4).
  let enc: PreflightResult;
  const fsyncFault = testDirFsyncFault();
  const sidecarStore = SidecarStore.open(cfg.dataDir, encCfg.sidecarPath, fsyncFault === 'all' ? { onProbeSync: injectedFsyncFailure } : {});
  try {
    enc = await runStartupPreflight({
      raftId: cfg.id,
      encryption: encCfg.encryption,
      kekOptions: encCfg.kek,
      sidecar: sidecarStore,
    });
  } catch (e) {
    if (e instanceof ConfigError && e.code === 'USAGE') die(1, e.code, `${e.message}\n${USAGE}`);
    if (e instanceof SealkvError) die(2, e.code, e.message);
    throw e;
  }
  for (const w of enc.warnings) log.warn(w);
  const metrics = new NodeMetrics();
  // With --encryption: keystore from the preflight's DEKs, nonce factories from its tokens only,
  // the crypto pool per --cipher/--crypto-workers (src/encryption/runtime.ts).
  let runtime: EncryptionRuntime | undefined;
  if (enc.encryption) {
    try {
      // The apply path's sidecar writes (KM-7) carry named crash points per step (AS-16); they
      // are no-ops unless SEALKV_CRASH_POINTS arms them. The preflight's own write has none.
      const applySidecar = SidecarStore.open(cfg.dataDir, encCfg.sidecarPath, {
        onWriteStep: (step, phase) => {
          if (fsyncFault !== null && step === 'fsync-dir' && phase === 'before') injectedFsyncFailure();
          crashPoint(sidecarWriteCrashPoint(step, phase));
        },
      });
      runtime = await createEncryptionRuntime({ cipher: cfg.cipher, cryptoWorkers: cfg.cryptoWorkers, preflight: enc, sidecar: applySidecar, testFaults: testRaftFaults() });
    } catch (e) {
      if (e instanceof SealkvError) die(2, e.code, e.message);
      throw e;
    }
    metrics.setEncryptionSource(encryptionMetricsSource(runtime));
  } else {
    for (const dek of enc.deks.values()) dek.fill(0);
  }
  let node: ClusterNode;
  try {
    node = await ClusterNode.start(cfg, log, metrics, {
      onHalt: (e: HaltError) => {
        process.stderr.write(`halted: ${e.code} at index ${e.index}${e.reason ? ` (reason ${e.reason})` : ''}: ${e.message}\n`);
        log.flush();
        setTimeout(() => process.exit(3), 50);
      },
      onFatal: (e) => {
        process.stderr.write(`fatal: ${(e as SealkvError)?.code ?? 'INTERNAL'}: ${(e as Error)?.message ?? String(e)}\n`);
        log.flush();
        setTimeout(() => process.exit(1), 50);
      },
    }, { clock: testClock(), ...(runtime ? { encryption: runtime } : {}) });
  } catch (e) {
    await runtime?.close().catch(() => undefined);
    if (e instanceof SealkvError) die(2, e.code, e.message);
    die(2, 'STARTUP_FAILED', (e as Error)?.message ?? String(e));
  }
  // The encryption wing (src/encryption/node-wing.ts, shared with the whole-node simulator):
  // writer registrars (WR-5/WR-6, WR-8), the raft-envelope barrier as the proposer's gate (RO-7),
  // the admin flows. `encAdmin` is assigned below; the AS-10 hook only runs after that.
  let encAdmin: EncryptionAdmin;
  let wing: NodeWing | undefined;
  if (runtime) {
    const partitionAfterMarker = testPartitionAfterMarker();
    wing = wireEncryptionWing({
      node,
      cfg,
      runtime,
      preflight: enc,
      build: BUILD,
      raftGate: cfg.raftEnvelopeGate ?? 'open',
      warn: (msg, err) => log.warn({ err: (err as Error)?.message }, msg),
      ...(partitionAfterMarker ? { afterMarkerQueued: partitionAfterMarker } : {}),
      ...testRotateBeforeMarker(async (deadline) => {
        // AS-10 (test-only): commit a raft rotate-dek on the raw path (the barrier is up, so the
        // admin path would wait for it) and wait until it applied here; the marker is then stale.
        if (enc.kek === null) throw new Error('SEALKV_TEST_ROTATE_BEFORE_MARKER needs --encryption');
        const { payload } = encAdmin.rotationPayload(enc.kek, 'raft');
        const r = await node.proposer.proposeMarker(payload, { deadline });
        await node.waitApplied(r.commitIndex, deadline);
      }),
    });
  }
  const resp = new RespServer({
    handler: new RespHandler(node, metrics),
    host: cfg.resp.host,
    port: cfg.resp.port,
    limits: { maxBulkBytes: cfg.maxBulkBytes },
    logger: log.child({ mod: 'resp' }),
    connectionCommands: false,
  });
  const admin = new AdminHttpServer(token);
  // WR-7 / RO-14: the encryption gate in front of adding or promoting a member.
  const memberGate = new MembershipGate(
    {
      memberIds: () => node.members().map((m) => m.id),
      registryRow: (d, n) => node.registryRow(d, n),
      proposeAdmin: (payload, deadline) => node.proposeAdmin(payload, deadline),
      requestCandidate: (id, address, payload, timeoutMs) => node.requestCandidate(id, address, payload, timeoutMs),
      fanOutTimeoutMs: cfg.tickMs * cfg.electionTicks,
    },
    runtime?.state ?? new EncryptionStateCell(undefined),
    enc.kek !== null,
  );
  registerAdminRoutes(admin, node, metrics, { beforeChange: (id, a, d) => memberGate.beforeChange(id, a, d), refused: (id) => node.forgetCandidate(id) });
  if (wing) {
    encAdmin = wing.admin;
  } else {
    const admin = new EncryptionAdmin(adminPort(node, cfg), {
      kek: enc.kek,
      state: new EncryptionStateCell(undefined),
      fullNodeId: enc.identity.fullNodeId,
      pinned: { storage: enc.pinned.storage.localEpoch, raft: enc.pinned.raft.localEpoch },
      build: BUILD,
      raftGate: cfg.raftEnvelopeGate ?? 'open',
    });
    encAdmin = admin;
    node.registerPeerRequest(CAPABILITY_REQUEST, () => admin.capability());
  }
  registerEncryptionRoutes(admin, encAdmin);
  registerTestProposeRoute(admin, (payload, deadline) => node.proposeAdmin(payload, deadline));
  // KM-13 / WR-3 recovery endpoints (register-writer, the leader's resync-sidecar report).
  const port = adminPort(node, cfg);
  registerRecoveryRoutes(
    admin,
    new RecoveryFlows(
      { ...port, registryRow: (d, n) => node.registryRow(d, n) },
      enc.kek,
      runtime?.state ?? new EncryptionStateCell(undefined),
    ),
  );
  try {
    await resp.listen();
  } catch (e) {
    await node.close();
    die(2, 'ADDRESS_IN_USE', `cannot listen for RESP clients on ${cfg.resp.host}:${cfg.resp.port}: ${(e as Error).message}`);
  }
  try {
    await admin.listen(cfg.admin.host, cfg.admin.port);
  } catch (e) {
    await resp.close();
    await node.close();
    die(2, 'ADDRESS_IN_USE', `cannot listen for admin requests on ${cfg.admin.host}:${cfg.admin.port}: ${(e as Error).message}`);
  }
  log.info({ raft: cfg.raft, resp: cfg.resp, admin: cfg.admin }, 'sealkv node ready');
  let stopping = false;
  const stop = async (): Promise<void> => {
    if (stopping) return;
    stopping = true;
    log.info('shutting down');
    await admin.close();
    await resp.close(1000);
    await node.close();
    log.flush();
    process.exit(0);
  };
  process.on('SIGINT', () => void stop());
  process.on('SIGTERM', () => void stop());
}

const BUILD = 'sealkv 0.1.0';

/**
 * Test-only (AS-10): SEALKV_TEST_ROTATE_BEFORE_MARKER=1 under NODE_ENV=test makes the first
 * raft cutover of this process commit a raft rotate-dek between the drain and the marker. Every
 * other start (and every later cutover of the process) gets no hook.
 */
function testRotateBeforeMarker(rotate: (deadline: number) => Promise<void>): { beforeMarker?: (deadline: number) => Promise<void> } {
  if (process.env.NODE_ENV !== 'test' || process.env.SEALKV_TEST_ROTATE_BEFORE_MARKER !== '1') return {};
  let fired = false;
  return {
    beforeMarker: async (deadline) => {
      if (fired) return;
      fired = true;
      await rotate(deadline);
    },
  };
}

/** The node as the encryption admin handlers see it. */
const adminPort = encryptionAdminPort;

async function main(): Promise<void> {
  const [cmd, ...rest] = process.argv.slice(2);
  switch (cmd) {
    case 'start':
      return start(rest);
    case 'dev':
      return runDev(rest);
    case 'admin':
      process.exitCode = await runAdmin(rest);
      return;
    case 'verify-at-rest':
      process.exitCode = runVerifyAtRest(rest);
      return;
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(`${USAGE}\n`);
      return;
    default:
      die(1, 'USAGE', `unknown command '${cmd}'\n${USAGE}`);
  }
}

main().catch((e) => {
  if (e instanceof StartupRefusedError) die(2, e.code, e.message);
  die(1, (e as SealkvError)?.code ?? 'INTERNAL', (e as Error)?.stack ?? String(e));
});

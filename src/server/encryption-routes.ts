// The encryption admin endpoints (SPEC OP-2) over the encryption wing's handlers.

import type { EncryptionAdmin } from '../encryption/admin-flows.js';
import type { RecoveryFlows } from '../encryption/recovery-flows.js';
import { AdminError } from '../errors.js';
import type { AdminHttpServer, Json } from './admin-http.js';

function onlyKeys(body: Record<string, Json>, allowed: string[]): void {
  for (const k of Object.keys(body)) {
    if (k !== 'timeout_ms' && !allowed.includes(k)) throw new AdminError(400, 'INVALID_ARGUMENT', `unknown member '${k}'`);
  }
}

/**
 * Test-only (AS-5): proposes raw admin-entry bytes. Registered only when the process runs under
 * NODE_ENV=test with SEALKV_TEST_PROPOSE_ADMIN=1 (the integration harness sets both for the test
 * that needs it); absent from every other start.
 */
export function registerTestProposeRoute(http: AdminHttpServer, propose: (payload: Uint8Array, deadline: number) => Promise<bigint>): void {
  if (process.env.NODE_ENV !== 'test' || process.env.SEALKV_TEST_PROPOSE_ADMIN !== '1') return;
  http.route('POST', '/v1/test/propose-admin', async (req) => {
    const hex = req.body.hex;
    if (typeof hex !== 'string' || !/^([0-9a-f]{2})+$/.test(hex)) throw new AdminError(400, 'INVALID_ARGUMENT', "'hex' must be hex bytes");
    const index = await propose(new Uint8Array(Buffer.from(hex, 'hex')), req.deadline);
    return { body: { applied_index: index.toString() } };
  });
}

export function registerEncryptionRoutes(http: AdminHttpServer, admin: EncryptionAdmin): void {
  http.route('GET', '/v1/encryption/capability', async () => ({ body: admin.capability() as unknown as Json }));
  http.route('GET', '/v1/encryption/status', async () => ({ body: admin.status() as Json }));
  http.route('GET', '/v1/encryption/sidecar', async () => ({ body: admin.sidecarReport() as Json }));
  http.route('POST', '/v1/encryption/bootstrap', async (req) => {
    onlyKeys(req.body, ['writers']);
    const w = req.body.writers;
    if (w !== undefined && (!Array.isArray(w) || w.some((x) => typeof x !== 'object' || x === null || Array.isArray(x)))) {
      throw new AdminError(400, 'INVALID_ARGUMENT', "'writers' must be an array of { full_node_id, local_epoch }");
    }
    const writers = w as { full_node_id: unknown; local_epoch: unknown }[] | undefined;
    return { body: (await admin.bootstrap(writers, req.deadline)) as Json };
  });
  http.route('POST', '/v1/encryption/enable-storage-envelope', async (req) => {
    onlyKeys(req.body, []);
    return { body: (await admin.enableStorageEnvelope(req.deadline)) as Json };
  });
  http.route('POST', '/v1/encryption/rotate-dek', async (req) => {
    onlyKeys(req.body, ['purpose']);
    return { body: (await admin.rotateDek(req.body.purpose, req.deadline)) as Json };
  });
  // ---- issue 11: the raft-envelope cutover (RO-6, RO-7)
  http.route('POST', '/v1/encryption/enable-raft-envelope', async (req) => {
    onlyKeys(req.body, []);
    return { body: (await admin.enableRaftEnvelope(req.deadline)) as Json };
  });
  // ---- end issue 11
  http.route('POST', '/v1/encryption/disable', async () => {
    // RO-15: the switch is one way; going back to cleartext is a dump and reload.
    throw new AdminError(409, 'ENCRYPTION_DISABLE_UNSUPPORTED', 'encryption cannot be disabled in place; see docs/OPERATIONS.md "dump and reload"');
  });
}

/**
 * KM-13 / WR-3 recovery endpoints (OP-2): `register-writer` and the leader's `resync-sidecar`
 * report. Kept apart from the cutover routes above.
 */
export function registerRecoveryRoutes(http: AdminHttpServer, flows: RecoveryFlows): void {
  http.route('POST', '/v1/encryption/register-writer', async (req) => {
    onlyKeys(req.body, ['dek_id', 'full_node_id', 'local_epoch']);
    return { body: (await flows.registerWriter(req.body, req.deadline)) as Json };
  });
  http.route('POST', '/v1/encryption/resync-sidecar', async (req) => {
    onlyKeys(req.body, ['full_node_id']);
    return { body: (await flows.resyncReport(req.body, req.deadline)) as Json };
  });
}

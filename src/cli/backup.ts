// `sealkv admin encryption backup` and `backup-verify` (BR-1), offline over a stopped node.
//
// A backup directory has the layout of a data directory's state: `DIR/db/data.mdb`, a compacting
// copy of the LMDB environment (values stay ciphertext; free pages are left out), and
// `DIR/keys.json`, a copy of the sidecar. The KEK is never copied. `backup-verify` reads only the
// backup: encrypted `kv` records need the sidecar (BACKUP_MISSING_SIDECAR) and every envelope's
// key_id must be one of its keys (UNKNOWN_KEY_ID).

import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SealkvError } from '../errors.js';
import { verifyBackupRecords } from '../keys/backup-verify.js';
import { parseSidecar, type Sidecar } from '../keys/sidecar-schema.js';
import { SidecarStore, SIDECAR_DIR, SIDECAR_FILE } from '../keys/sidecar-store.js';
import { openStorageEnv } from '../storage/env.js';
import { LMDB_DATA_FILE, LMDB_SUBDIR } from '../verify/at-rest.js';
import { requireStoppedEnv } from './offline-data-dir.js';

interface Io {
  out: (line: string) => void;
  err: (line: string) => void;
}

const stdio: Io = { out: (l) => process.stdout.write(`${l}\n`), err: (l) => process.stderr.write(`${l}\n`) };

export const BACKUP_USAGE = `usage:
  sealkv admin encryption backup --data-dir DIR --backup-dir OUT [--sidecar PATH]   (node stopped)
  sealkv admin encryption backup-verify --backup-dir DIR`;

function flags(argv: string[], allowed: readonly string[]): Record<string, string> | string {
  const f: Record<string, string> = {};
  for (let i = 0; i < argv.length; i++) {
    const name = argv[i]!.replace(/^--/, '');
    if (!argv[i]!.startsWith('--') || !allowed.includes(name) || argv[i + 1] === undefined) return `bad option '${argv[i]}'`;
    f[name] = argv[++i]!;
  }
  return f;
}

function fail(io: Io, e: unknown): number {
  if (e instanceof SealkvError) {
    io.err(`error: ${e.code}: ${e.message}`);
    return 2;
  }
  io.err(`error: BACKUP_IO: ${(e as Error).message}`);
  return 2;
}

/** The sidecar of a backup: `DIR/keys.json`, or `DIR/encryption/keys.json` (a data-dir copy). */
export function backupSidecarPath(dir: string): string | undefined {
  for (const p of [join(dir, SIDECAR_FILE), join(dir, SIDECAR_DIR, SIDECAR_FILE)]) if (existsSync(p)) return p;
  return undefined;
}

/** `backup`: compacting LMDB copy and the sidecar into an empty OUT directory. */
export async function runBackup(argv: string[], io: Io = stdio): Promise<number> {
  const f = flags(argv, ['data-dir', 'backup-dir', 'sidecar']);
  if (typeof f === 'string' || f['data-dir'] === undefined || f['backup-dir'] === undefined) {
    io.err(`error: USAGE: ${typeof f === 'string' ? f : '--data-dir and --backup-dir are required'}\n${BACKUP_USAGE}`);
    return 1;
  }
  const dataDir = f['data-dir'];
  const out = f['backup-dir'];
  try {
    requireStoppedEnv(dataDir, io.err);
    if (existsSync(out) && readdirSync(out).length > 0) {
      io.err(`error: USAGE: --backup-dir ${out} is not empty`);
      return 1;
    }
    mkdirSync(join(out, LMDB_SUBDIR), { recursive: true, mode: 0o700 });
    const env = await openStorageEnv(dataDir, { readOnly: true });
    try {
      // The environment is a directory (noSubdir: false): the copy goes to OUT/db/data.mdb.
      await env.root.backup(join(out, LMDB_SUBDIR), true);
    } finally {
      await env.close();
    }
    const sidecar = f.sidecar ?? SidecarStore.defaultPath(dataDir);
    if (existsSync(sidecar)) {
      copyFileSync(sidecar, join(out, SIDECAR_FILE));
      io.out(`backup written: ${out} (db/${LMDB_DATA_FILE}, ${SIDECAR_FILE}); the KEK is not part of it`);
    } else {
      io.out(`backup written: ${out} (db/${LMDB_DATA_FILE}); no sidecar at ${sidecar} (encryption never bootstrapped)`);
    }
    return 0;
  } catch (e) {
    return fail(io, e);
  }
}

/** `backup-verify --backup-dir DIR` (BR-1). */
export async function runBackupVerify(argv: string[], io: Io = stdio): Promise<number> {
  const f = flags(argv, ['backup-dir']);
  if (typeof f === 'string' || f['backup-dir'] === undefined) {
    io.err(`error: USAGE: ${typeof f === 'string' ? f : '--backup-dir is required'}\n${BACKUP_USAGE}`);
    return 1;
  }
  const dir = f['backup-dir'];
  try {
    requireStoppedEnv(dir, io.err);
    const path = backupSidecarPath(dir);
    const sidecar: Sidecar | undefined = path === undefined ? undefined : parseSidecar(readFileSync(path, 'utf8'));
    const env = await openStorageEnv(dir, { readOnly: true });
    let summary: ReturnType<typeof verifyBackupRecords>;
    try {
      summary = verifyBackupRecords(
        (function* () {
          for (const { key, value } of env.kv.getRange({})) yield { key: key as Uint8Array, value: value as Uint8Array };
        })(),
        sidecar,
      );
    } finally {
      await env.close();
    }
    const ids = [...summary.keyIds].sort((a, b) => a[0] - b[0]).map(([id, n]) => `${id}:${n}`).join(',');
    io.out(`backup-verify ok records=${summary.records} encrypted=${summary.encrypted} cleartext=${summary.cleartext} key_ids=${ids || '-'} sidecar=${path ?? 'none'}`);
    return 0;
  } catch (e) {
    return fail(io, e);
  }
}

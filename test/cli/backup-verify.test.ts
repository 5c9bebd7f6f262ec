// BR-1: `sealkv admin encryption backup` (compacting LMDB copy + sidecar, never the KEK) and
// `backup-verify --backup-dir DIR` (BACKUP_MISSING_SIDECAR, UNKNOWN_KEY_ID), over a real LMDB
// environment written through the node's storage module. Runs the compiled CLI from dist/.
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { writeEnvelopeHeader } from '../../src/crypto/envelope/framing.js';
import { encodeValueHeader, STATE_CLEARTEXT, STATE_ENCRYPTED, VALUE_HEADER_SIZE } from '../../src/crypto/envelope/value-header.js';
import { verifyBackupRecords } from '../../src/keys/backup-verify.js';
import { serializeSidecar } from '../../src/keys/sidecar-schema.js';
import { openStorageEnv } from '../../src/storage/env.js';
import { bootstrappedSidecar, codeOfSync, testKek, tmp } from '../keys/helpers.js';

const MAIN = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));
const run = promisify(execFile);

async function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return run(process.execPath, [MAIN, 'admin', 'encryption', ...args]).then(
    (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
    (e: { code?: number; stdout?: string; stderr?: string }) => ({ code: e.code ?? -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' }),
  );
}

const STORAGE = 2882400001;

function cleartext(v: string): Uint8Array {
  const body = Buffer.from(v);
  const out = new Uint8Array(VALUE_HEADER_SIZE + body.length);
  encodeValueHeader({ tombstone: false, state: STATE_CLEARTEXT, expireAt: 0n }, out);
  out.set(body, VALUE_HEADER_SIZE);
  return out;
}

/** A record in state 0b01 whose envelope names `keyId` (the body is not a real ciphertext: only the framing matters here). */
function encrypted(keyId: number): Uint8Array {
  const out = new Uint8Array(VALUE_HEADER_SIZE + 18 + 16 + 4);
  encodeValueHeader({ tombstone: false, state: STATE_ENCRYPTED, expireAt: 0n }, out);
  writeEnvelopeHeader(out, VALUE_HEADER_SIZE, keyId, new Uint8Array(12).fill(7));
  return out;
}

/** A stopped node's data dir with the given kv records, and optionally a sidecar. */
async function dataDir(records: [string, Uint8Array][], sidecar: boolean): Promise<string> {
  const dir = tmp('sealkv-backup-');
  const env = await openStorageEnv(dir);
  await env.writes.submitOps(records.map(([k, v]) => ({ db: env.kv, key: Buffer.from(k), value: v })));
  await env.close();
  if (sidecar) {
    mkdirSync(join(dir, 'encryption'), { mode: 0o700 });
    writeFileSync(join(dir, 'encryption', 'keys.json'), serializeSidecar(bootstrappedSidecar(testKek(), { storage: STORAGE })));
  }
  return dir;
}

describe('BR-1 backup and backup-verify', () => {
  it('BR-1: verifyBackupRecords counts states and key ids; encrypted without a sidecar is BACKUP_MISSING_SIDECAR; an unknown key id is UNKNOWN_KEY_ID', () => {
    const s = bootstrappedSidecar(testKek(), { storage: STORAGE });
    const recs = [
      { key: Buffer.from('a'), value: cleartext('x') },
      { key: Buffer.from('b'), value: encrypted(STORAGE) },
    ];
    const sum = verifyBackupRecords(recs, s);
    expect(sum).toMatchObject({ records: 2, encrypted: 1, cleartext: 1 });
    expect([...sum.keyIds]).toEqual([[STORAGE, 1]]);
    expect(verifyBackupRecords([recs[0]!], undefined).encrypted).toBe(0); // cleartext only: no sidecar needed
    expect(codeOfSync(() => verifyBackupRecords(recs, undefined))).toBe('BACKUP_MISSING_SIDECAR');
    expect(codeOfSync(() => verifyBackupRecords([...recs, { key: Buffer.from('c'), value: encrypted(77) }], s))).toBe('UNKNOWN_KEY_ID');
  });

  it('BR-1: backup writes a compacting LMDB copy and keys.json (no KEK); backup-verify passes on it', async () => {
    const src = await dataDir([['a', cleartext('plain')], ['b', encrypted(STORAGE)]], true);
    const out = join(tmp('sealkv-backup-out-'), 'b1');
    const b = await cli('backup', '--data-dir', src, '--backup-dir', out);
    expect(b.stderr).toBe('');
    expect(b.code).toBe(0);
    expect(readdirSync(out).sort()).toEqual(['db', 'keys.json']);
    expect(existsSync(join(out, 'db', 'data.mdb'))).toBe(true);
    const v = await cli('backup-verify', '--backup-dir', out);
    expect(v.stderr).toBe('');
    expect(v.code).toBe(0);
    expect(v.stdout).toBe(`backup-verify ok records=2 encrypted=1 cleartext=1 key_ids=${STORAGE}:1 sidecar=${join(out, 'keys.json')}\n`);
  });

  it('BR-1: backup-verify on a backup without keys.json exits non-zero with BACKUP_MISSING_SIDECAR', async () => {
    const src = await dataDir([['b', encrypted(STORAGE)]], true);
    const out = join(tmp('sealkv-backup-out-'), 'b2');
    expect((await cli('backup', '--data-dir', src, '--backup-dir', out)).code).toBe(0);
    rmSync(join(out, 'keys.json'));
    const v = await cli('backup-verify', '--backup-dir', out);
    expect(v.code).not.toBe(0);
    expect(v.stderr).toMatch(/^error: BACKUP_MISSING_SIDECAR: /);
  });

  it('BR-1: a key_id missing from the backup sidecar is UNKNOWN_KEY_ID; cleartext-only backups need no sidecar', async () => {
    const bad = await dataDir([['b', encrypted(STORAGE)], ['c', encrypted(424242)]], true);
    const v = await cli('backup-verify', '--backup-dir', bad);
    expect(v.code).toBe(2);
    expect(v.stderr).toMatch(/^error: UNKNOWN_KEY_ID: .*424242/);
    const plain = await dataDir([['a', cleartext('plain')]], false);
    const p = await cli('backup-verify', '--backup-dir', plain);
    expect(p.code).toBe(0);
    expect(p.stdout).toContain('sidecar=none');
    const usage = await cli('backup-verify');
    expect(usage.code).toBe(1);
    expect(usage.stderr).toMatch(/^error: USAGE: /);
  });
});

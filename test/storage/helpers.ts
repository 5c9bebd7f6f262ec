import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach } from 'vitest';
import { type Entry, EntryType } from '../../src/raft/types.js';
import { openStorageEnv, type StorageEnv } from '../../src/storage/index.js';

/** Creates a temp data dir; `cleanup()` removes every dir created. */
export function tempDirs(): { make(): string; cleanup(): void } {
  const dirs: string[] = [];
  return {
    make(): string {
      const d = mkdtempSync(join(tmpdir(), 'sealkv-storage-'));
      dirs.push(d);
      return d;
    },
    cleanup(): void {
      for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
    },
  };
}

export function entry(index: number, term: number, text = `e${index}t${term}`): Entry {
  return { index, term, type: EntryType.Normal, data: new TextEncoder().encode(text) };
}

export function range(lo: number, hi: number, term: number): Entry[] {
  const out: Entry[] = [];
  for (let i = lo; i <= hi; i++) out.push(entry(i, term));
  return out;
}

export const text = (b: Uint8Array): string => new TextDecoder().decode(b);
export const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);

/**
 * Storage environments in temp dirs, closed and removed after each test: `env()` opens one in a
 * fresh dir (or `env(dir)` reopens a dir); a test that closes one itself takes it out of `envs`.
 */
export function testEnvs(): { dirs: ReturnType<typeof tempDirs>; envs: StorageEnv[]; env(dir?: string): Promise<StorageEnv> } {
  const dirs = tempDirs();
  const envs: StorageEnv[] = [];
  afterEach(async () => {
    for (const e of envs.splice(0)) await e.close().catch(() => undefined);
    dirs.cleanup();
  });
  return {
    dirs,
    envs,
    async env(dir = dirs.make()): Promise<StorageEnv> {
      const e = await openStorageEnv(dir);
      envs.push(e);
      return e;
    },
  };
}

/**
 * Runs a writer fixture (`node script ...args`) that prints `ack <index>` once each write is
 * durable, SIGKILLs it at once after the `acksWanted`-th ack (no graceful close, no further commits
 * awaited) and resolves with the last acknowledged index once the process is gone.
 */
export async function killAfterAcks(script: string, args: readonly string[], acksWanted: number): Promise<number> {
  const child = spawn(process.execPath, [script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const acked = await new Promise<number>((resolve, reject) => {
    let buf = '';
    let acks = 0;
    child.stdout.on('data', (d: Buffer) => {
      buf += d.toString();
      const lines = buf.split('\n');
      buf = lines.pop() ?? '';
      for (const line of lines) {
        const m = /^ack (\d+)$/.exec(line);
        if (m && ++acks >= acksWanted) {
          child.kill('SIGKILL');
          resolve(Number(m[1]));
          return;
        }
      }
    });
    child.on('exit', (code) => reject(new Error(`child exited (${code}) before enough acks: ${stderr}`)));
  });
  await new Promise((r) => (child.exitCode !== null || child.signalCode !== null ? r(null) : child.on('exit', r)));
  return acked;
}

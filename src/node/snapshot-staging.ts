// The snapshot receiver's staging area (issue 14 item 3): where the chunks of an incoming stream
// are written until the core accepts its Snap message. Production stages in files under
// `<data-dir>/snap-in`; the whole-node simulator stages in memory (a staged stream is useless
// to a restarted process — its core never saw the Snap message — so nothing of it must survive).

import { createReadStream, mkdirSync, rmSync } from 'node:fs';
import { open, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';

export interface StagingFile {
  write(data: Uint8Array): Promise<void>;
  sync(): Promise<void>;
  close(): Promise<void>;
}

/** Names are plain file names inside the staging area. */
export interface SnapshotStaging {
  /** Creates `name` exclusively (fails when it exists). */
  create(name: string): Promise<StagingFile>;
  rename(from: string, to: string): Promise<void>;
  /** Removes `name` if present. */
  remove(name: string): Promise<void>;
  read(name: string, chunkBytes: number): AsyncIterable<Uint8Array>;
}

/** Files under `dir`, emptied now (leftovers of a previous process). */
export function fsStaging(dir: string): SnapshotStaging {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  return {
    create: async (name) => {
      const h = await open(join(dir, name), 'wx', 0o600);
      return {
        write: async (data) => {
          await h.write(data);
        },
        sync: () => h.sync(),
        close: () => h.close(),
      };
    },
    rename: (from, to) => rename(join(dir, from), join(dir, to)),
    remove: (name) => rm(join(dir, name), { force: true }),
    read: (name, chunkBytes) => createReadStream(join(dir, name), { highWaterMark: chunkBytes }) as AsyncIterable<Uint8Array>,
  };
}

/** In memory (the simulator): lost with the process, like a staged stream's worth. */
export function memoryStaging(): SnapshotStaging {
  const files = new Map<string, Uint8Array[]>();
  return {
    create: async (name) => {
      if (files.has(name)) throw Object.assign(new Error(`EEXIST: ${name}`), { code: 'EEXIST' });
      const parts: Uint8Array[] = [];
      files.set(name, parts);
      return {
        write: async (data) => {
          parts.push(data.slice());
        },
        sync: async () => undefined,
        close: async () => undefined,
      };
    },
    rename: async (from, to) => {
      const f = files.get(from);
      if (f === undefined) throw Object.assign(new Error(`ENOENT: ${from}`), { code: 'ENOENT' });
      files.delete(from);
      files.set(to, f);
    },
    remove: async (name) => {
      files.delete(name);
    },
    read: (name, chunkBytes) => {
      const f = files.get(name);
      if (f === undefined) throw Object.assign(new Error(`ENOENT: ${name}`), { code: 'ENOENT' });
      const all = Buffer.concat(f);
      return (async function* () {
        for (let off = 0; off < all.length; off += chunkBytes) yield all.subarray(off, Math.min(all.length, off + chunkBytes));
      })();
    },
  };
}

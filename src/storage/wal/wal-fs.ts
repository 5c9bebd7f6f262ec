// The file-system calls of the WAL, through one swappable target (issue 14): the real `node:fs`
// in production; the whole-node simulator installs its simulated disk (src/sim/sim-fs.ts) for
// the length of a run, so the real WAL writes, syncs, crashes and recovers on a modelled disk.
//
// The WAL modules import these names instead of `node:fs`; each call goes to the current
// target, so the swap needs no change to how they call. One target per process: the simulator
// routes paths of all its nodes to their own disks.

import * as nodeFs from 'node:fs';

/** What the WAL uses of `node:fs` (the simulated disk implements the same signatures). */
export type WalFs = Pick<
  typeof nodeFs,
  | 'close'
  | 'closeSync'
  | 'existsSync'
  | 'fdatasync'
  | 'fdatasyncSync'
  | 'fsync'
  | 'ftruncate'
  | 'ftruncateSync'
  | 'mkdirSync'
  | 'open'
  | 'openSync'
  | 'readdirSync'
  | 'readFileSync'
  | 'readSync'
  | 'rename'
  | 'unlink'
  | 'unlinkSync'
  | 'writev'
>;

let target: WalFs = nodeFs;

/** Installs the file system the WAL uses (null: back to `node:fs`). Test and simulator only. */
export function setWalFs(fs: WalFs | null): void {
  target = fs ?? nodeFs;
}

function via<K extends keyof WalFs>(k: K): WalFs[K] {
  return ((...args: unknown[]) => (target[k] as (...a: unknown[]) => unknown)(...args)) as WalFs[K];
}

export const close = via('close');
export const closeSync = via('closeSync');
export const existsSync = via('existsSync');
export const fdatasync = via('fdatasync');
export const fdatasyncSync = via('fdatasyncSync');
export const fsync = via('fsync');
export const ftruncate = via('ftruncate');
export const ftruncateSync = via('ftruncateSync');
export const mkdirSync = via('mkdirSync');
export const open = via('open');
export const openSync = via('openSync');
export const readdirSync = via('readdirSync');
export const readFileSync = via('readFileSync');
export const readSync = via('readSync');
export const rename = via('rename');
export const unlink = via('unlink');
export const unlinkSync = via('unlinkSync');
export const writev = via('writev');
export const constants = nodeFs.constants;

// Is a node still using this data directory? (verify-at-rest is offline-only.)
//
// Two Linux signals, either one suffices:
// - LMDB holds a POSIX record lock on `lock.mdb` for as long as an environment is open (shared
//   or exclusive), and the kernel lists every such lock in /proc/locks as `maj:min:inode` with the
//   holder's pid. A crashed holder's lock is released by the kernel, so there are no stale hits.
// - Any process with an open descriptor under the data directory (WAL segments, sidecar writes)
//   shows it in /proc/<pid>/fd. Only processes we may inspect are seen, hence the lock check first.
// Elsewhere neither exists; the caller then warns that it could not check.

import { readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { resolve, sep } from 'node:path';

export type InUseCheck =
  | { state: 'free' }
  | { state: 'in-use'; evidence: string }
  | { state: 'unknown'; why: string };

/** `lockFile` is the LMDB `lock.mdb` (may not exist); `dataDir` the whole directory. */
export function checkInUse(dataDir: string, lockFile: string): InUseCheck {
  let checked = false;
  const lock = lockHolder(lockFile);
  if (lock !== null) {
    checked = true;
    if (lock !== 'none') return { state: 'in-use', evidence: `LMDB lock on ${lockFile} held by pid ${lock}` };
  }
  const fd = openDescriptor(dataDir);
  if (fd !== null) {
    checked = true;
    if (fd !== 'none') return { state: 'in-use', evidence: fd };
  }
  return checked ? { state: 'free' } : { state: 'unknown', why: '/proc/locks and /proc/<pid>/fd are not readable on this system' };
}

/** The pid holding a POSIX lock on `lockFile`, 'none', or null when it cannot be checked. */
function lockHolder(lockFile: string): string | 'none' | null {
  let text: string;
  try {
    text = readFileSync('/proc/locks', 'utf8');
  } catch {
    return null;
  }
  let st: { dev: bigint; ino: bigint };
  try {
    st = statSync(lockFile, { bigint: true });
  } catch {
    return 'none'; // no lock file: no environment has ever been opened there
  }
  const major = ((st.dev >> 8n) & 0xfffn) | ((st.dev >> 32n) & ~0xfffn);
  const minor = (st.dev & 0xffn) | ((st.dev >> 12n) & ~0xffn);
  for (const line of text.split('\n')) {
    // e.g. "1: POSIX  ADVISORY  READ 1436 fe:00:2205225 0 0" (a "->" marks a blocked waiter)
    const m = /\s(\d+)\s+([0-9a-f]+):([0-9a-f]+):(\d+)\s/.exec(line);
    if (!m) continue;
    if (BigInt(m[4]!) === st.ino && BigInt(`0x${m[2]}`) === major && BigInt(`0x${m[3]}`) === minor) return m[1]!;
  }
  return 'none';
}

/** "pid P has <path> open", 'none', or null when /proc cannot be listed. */
function openDescriptor(dataDir: string): string | 'none' | null {
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((p) => /^\d+$/.test(p));
  } catch {
    return null;
  }
  const root = resolve(dataDir);
  const self = String(process.pid);
  for (const pid of pids) {
    if (pid === self) continue;
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue; // another user's process, or it just exited
    }
    for (const fd of fds) {
      let target: string;
      try {
        target = readlinkSync(`/proc/${pid}/fd/${fd}`);
      } catch {
        continue;
      }
      if (target === root || target.startsWith(root + sep)) return `pid ${pid} has ${target} open`;
    }
  }
  return 'none';
}

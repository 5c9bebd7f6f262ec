// `sealkv verify-at-rest` (issue 11 item 8): offline check that given byte strings (needles) do
// not appear anywhere in a stopped node's files. Exit codes (docs/OPERATIONS.md):
//   0 no needle found · 4 at least one needle found · 1 usage error · 2 refused (node running,
//   no LMDB environment in the data dir, a file could not be read).

import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { SidecarStore } from '../keys/sidecar-store.js';
import { hasLmdbEnv, LMDB_LOCK_FILE, LMDB_SUBDIR, scanDataDir } from '../verify/at-rest.js';
import { checkInUse } from '../verify/env-in-use.js';
import { NeedleSet } from '../verify/needle-search.js';

export const VERIFY_USAGE = `usage:
  sealkv verify-at-rest --data-dir DIR --needle HEX [--needle HEX ...] [--needles-file F] [--sidecar PATH]
    Scans every byte of a STOPPED node's data directory (LMDB pages incl. free pages, WAL, sidecar).
    Exit: 0 no needle found, 4 a needle was found, 1 usage error, 2 refused (node running / no env / I/O).`;

/** Longest needle accepted (bytes): the chunk overlap is needle-sized, and needles are values. */
export const MAX_NEEDLE_BYTES = 64 * 1024;

export const EXIT_CLEAN = 0;
export const EXIT_USAGE = 1;
export const EXIT_REFUSED = 2;
export const EXIT_FOUND = 4;

interface Io {
  out: (line: string) => void;
  err: (line: string) => void;
}

const stdio: Io = {
  out: (l) => process.stdout.write(`${l}\n`),
  err: (l) => process.stderr.write(`${l}\n`),
};

class UsageError extends Error {}

interface VerifyArgs {
  dataDir: string;
  needles: Uint8Array[];
  sidecar?: string;
}

/** Strict hex: even length, [0-9a-fA-F] only, non-empty. */
export function parseHexNeedle(text: string, where: string): Uint8Array {
  const t = text.trim();
  if (t.length === 0 || t.length % 2 !== 0 || !/^[0-9a-fA-F]+$/.test(t)) {
    throw new UsageError(`${where}: '${t.length > 80 ? `${t.slice(0, 80)}…` : t}' is not a non-empty even-length hex string`);
  }
  if (t.length / 2 > MAX_NEEDLE_BYTES) throw new UsageError(`${where}: needle longer than ${MAX_NEEDLE_BYTES} bytes`);
  return Uint8Array.from(Buffer.from(t, 'hex'));
}

function parseArgs(argv: string[]): VerifyArgs {
  let dataDir: string | undefined;
  let sidecar: string | undefined;
  const hex: { text: string; where: string }[] = [];
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined || v.startsWith('--')) throw new UsageError(`${flag} needs a value`);
      return v;
    };
    switch (flag) {
      case '--data-dir':
        dataDir = value();
        break;
      case '--needle':
        hex.push({ text: value(), where: '--needle' });
        break;
      case '--needles-file': {
        const f = value();
        let text: string;
        try {
          text = readFileSync(f, 'utf8');
        } catch (e) {
          throw new UsageError(`--needles-file ${f}: ${(e as Error).message}`);
        }
        // One hex needle per line; blank lines and '#' comments are ignored.
        text.split('\n').forEach((line, n) => {
          const t = line.replace(/#.*/, '').trim();
          if (t) hex.push({ text: t, where: `${f}:${n + 1}` });
        });
        break;
      }
      case '--sidecar':
        sidecar = value();
        break;
      default:
        throw new UsageError(`unknown option ${flag}`);
    }
  }
  if (dataDir === undefined) throw new UsageError('--data-dir is required');
  if (hex.length === 0) throw new UsageError('at least one needle is required (--needle HEX or --needles-file F)');
  // Duplicates would only repeat hits; keep the first spelling of each.
  const seen = new Set<string>();
  const needles: Uint8Array[] = [];
  for (const h of hex) {
    const n = parseHexNeedle(h.text, h.where);
    const k = Buffer.from(n).toString('hex');
    if (seen.has(k)) continue;
    seen.add(k);
    needles.push(n);
  }
  return sidecar === undefined ? { dataDir, needles } : { dataDir, needles, sidecar };
}

/** Runs the command; returns the exit status. */
export function runVerifyAtRest(argv: string[], io: Io = stdio): number {
  let args: VerifyArgs;
  try {
    args = parseArgs(argv);
  } catch (e) {
    if (e instanceof UsageError) {
      io.err(`error: USAGE: ${e.message}\n${VERIFY_USAGE}`);
      return EXIT_USAGE;
    }
    throw e;
  }
  const refuse = (code: string, message: string): number => {
    io.err(`error: ${code}: ${message}`);
    return EXIT_REFUSED;
  };
  const { dataDir } = args;
  if (!existsSync(dataDir) || !statSync(dataDir).isDirectory()) return refuse('VERIFY_NO_DATA_DIR', `${dataDir} is not a directory`);
  // A typo in --data-dir must not pass as "no needle found".
  if (!hasLmdbEnv(dataDir)) return refuse('VERIFY_NO_LMDB_ENV', `${join(dataDir, LMDB_SUBDIR)} holds no LMDB environment (data.mdb)`);
  const use = checkInUse(dataDir, join(dataDir, LMDB_SUBDIR, LMDB_LOCK_FILE));
  if (use.state === 'in-use') {
    return refuse('VERIFY_ENV_IN_USE', `the data directory is in use (${use.evidence}); stop the node first — a live node rewrites pages while they are read`);
  }
  if (use.state === 'unknown') io.err(`warning: cannot tell whether a node is using ${dataDir} (${use.why}); make sure it is stopped`);
  const extra: string[] = [];
  if (args.sidecar !== undefined) {
    if (!existsSync(args.sidecar)) return refuse('VERIFY_NO_SIDECAR', `--sidecar ${args.sidecar} does not exist`);
    extra.push(args.sidecar);
  } else if (!existsSync(SidecarStore.defaultPath(dataDir))) {
    io.err(`note: no sidecar at ${SidecarStore.defaultPath(dataDir)} (encryption never bootstrapped, or kept elsewhere: pass --sidecar)`);
  }
  const set = new NeedleSet(args.needles);
  const hexOf = args.needles.map((n) => Buffer.from(n).toString('hex'));
  const t0 = process.hrtime.bigint();
  let result: ReturnType<typeof scanDataDir>;
  try {
    result = scanDataDir(dataDir, set, (h) => io.out(`FOUND ${hexOf[h.needle]} ${h.file} offset=${h.offset}`), extra);
  } catch (e) {
    return refuse('VERIFY_IO', `scan aborted, the result would be incomplete: ${(e as Error).message}`);
  }
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  for (const s of result.skipped) io.err(`note: not scanned (not a regular file): ${s}`);
  io.out(`verify-at-rest: scanned ${result.files} files, ${result.bytes} bytes, ${result.hits} hits`);
  io.err(`verify-at-rest: ${args.needles.length} needles, ${(result.bytes / 1048576 / Math.max(secs, 1e-9)).toFixed(1)} MiB/s`);
  return result.hits > 0 ? EXIT_FOUND : EXIT_CLEAN;
}

// `sealkv admin encryption kek-params [--iterations N] [--memory-kib N] [--parallelism N]` prints a
// fresh `kek_kdf` object (new random salt); with `--install FILE --sidecar PATH` it writes that
// object into a stopped node's sidecar instead (OP-3, KM-2, KM-5). Offline: no node is asked.

import { readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { SealkvError } from '../errors.js';
import { installKdfParams, kdfParamsJson, parseKdfParamsJson } from '../keys/kdf-install.js';
import { createKdfParams } from '../keys/kek-kdf.js';
import { SidecarStore } from '../keys/sidecar-store.js';

const FLAGS = new Set(['iterations', 'memory-kib', 'parallelism', 'install', 'sidecar']);

export async function runKekParams(argv: readonly string[]): Promise<number> {
  const f: Record<string, string> = {};
  for (let i = 0; i < argv.length; i++) {
    const name = argv[i]!.replace(/^--/, '');
    if (!argv[i]!.startsWith('--') || !FLAGS.has(name) || argv[i + 1] === undefined) {
      process.stderr.write(`error: USAGE: bad option '${argv[i]}'\n`);
      return 1;
    }
    f[name] = argv[++i]!;
  }
  const int = (name: string): number | undefined => (f[name] === undefined ? undefined : Number(f[name]));
  try {
    if (f.install !== undefined || f.sidecar !== undefined) {
      if (f.install === undefined || f.sidecar === undefined) {
        process.stderr.write('error: USAGE: --install FILE and --sidecar PATH go together\n');
        return 1;
      }
      if (f.iterations !== undefined || f['memory-kib'] !== undefined || f.parallelism !== undefined) {
        process.stderr.write('error: USAGE: --install takes the parameters from FILE\n');
        return 1;
      }
      const kdf = parseKdfParamsJson(JSON.parse(readFileSync(f.install, 'utf8')) as unknown);
      const outcome = await installKdfParams(SidecarStore.open(dirname(f.sidecar), f.sidecar), kdf);
      process.stdout.write(`${outcome} kek_kdf in ${f.sidecar}\n`);
      return 0;
    }
    const kdf = createKdfParams({ iterations: int('iterations'), memoryKib: int('memory-kib'), parallelism: int('parallelism') });
    process.stdout.write(`${JSON.stringify(kdfParamsJson(kdf))}\n`);
    return 0;
  } catch (e) {
    if (e instanceof SealkvError) {
      process.stderr.write(`error: ${e.code}: ${e.message}\n`);
      return 2;
    }
    if (e instanceof RangeError || e instanceof SyntaxError) {
      process.stderr.write(`error: INVALID_ARGUMENT: ${e instanceof SyntaxError ? `${f.install}: ` : ''}${e.message}\n`);
      return 2;
    }
    throw e;
  }
}

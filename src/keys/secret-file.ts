// Reading a KEK key file or passphrase file (SPEC KM-2): a regular file whose mode has no group
// or other bit, read with an upper bound so an oversized file is told apart without reading it all.

import { constants, promises as fsp } from 'node:fs';
import { KeyError } from '../errors.js';

/**
 * Returns at most `maxBytes` bytes of `path`. Refusals, in the order OP-4 reports them:
 * not a regular file or unreadable → KEK_INVALID; group/other mode bits → INSECURE_KEK_FILE.
 * The mode is checked on the opened descriptor (fstat), so a swap between check and read is caught.
 */
export async function readSecretFile(path: string, maxBytes: number, option: string): Promise<Uint8Array> {
  // stat first so a FIFO or device is refused before open() could block on it.
  let st: Awaited<ReturnType<typeof fsp.stat>>;
  try {
    st = await fsp.stat(path);
  } catch (e) {
    throw new KeyError('KEK_INVALID', `${option} ${path}: ${(e as NodeJS.ErrnoException).code ?? 'unreadable'}`, { cause: e });
  }
  checkStat(st, path, option);
  let fh: fsp.FileHandle;
  try {
    fh = await fsp.open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (e) {
    throw new KeyError('KEK_INVALID', `${option} ${path}: ${(e as NodeJS.ErrnoException).code ?? 'unreadable'}`, { cause: e });
  }
  try {
    checkStat(await fh.stat(), path, option);
    const buf = new Uint8Array(maxBytes);
    let n = 0;
    while (n < maxBytes) {
      const { bytesRead } = await fh.read(buf, n, maxBytes - n, null);
      if (bytesRead === 0) break;
      n += bytesRead;
    }
    const out = new Uint8Array(buf.subarray(0, n));
    buf.fill(0);
    return out;
  } catch (e) {
    if (e instanceof KeyError) throw e;
    throw new KeyError('KEK_INVALID', `${option} ${path}: ${(e as NodeJS.ErrnoException).code ?? 'unreadable'}`, { cause: e });
  } finally {
    await fh.close().catch(() => {});
  }
}

function checkStat(st: { isFile(): boolean; mode: number }, path: string, option: string): void {
  if (!st.isFile()) throw new KeyError('KEK_INVALID', `${option} ${path} is not a regular file`);
  if ((st.mode & 0o077) !== 0) {
    throw new KeyError(
      'INSECURE_KEK_FILE',
      `${option} ${path} has mode ${(st.mode & 0o777).toString(8).padStart(4, '0')}; group and other bits must be clear (chmod 600)`,
    );
  }
}

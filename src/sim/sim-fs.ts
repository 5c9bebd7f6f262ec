// `node:fs`-shaped calls over simulated disks (issue 14): what `setWalFs` installs so the real
// WAL runs on `SimDisk`. Paths are routed by their first component to one disk per simulated
// node ("/n1/..." → disk of n1), so a crash of one node's machine leaves the others' disks alone.
//
// Only the signatures the WAL uses are implemented (see WalFs); flags are the WAL's: 'r', 'w+',
// or numeric O_RDWR with optional O_DSYNC / O_CREAT / O_TRUNC. Opening a directory with 'r'
// gives a descriptor whose fsync makes the directory's entries durable.

import { constants } from 'node:fs';
import type { WalFs } from '../storage/wal/wal-fs.js';
import { type OpenOptions, type SimDisk, SimDiskError } from './sim-disk.js';

type Cb<T = void> = (err: NodeJS.ErrnoException | null, v?: T) => void;

/** Descriptors of this adapter: a file on a disk, or a directory (for its fsync). */
interface Handle {
  disk: SimDisk;
  fd: number | null;
  dir: string | null;
}

export class SimFs {
  private readonly handles = new Map<number, Handle>();
  private next = 1000;

  constructor(private readonly disks: ReadonlyMap<string, SimDisk>) {}

  private disk(path: string): SimDisk {
    const root = path.split('/')[1] ?? '';
    const d = this.disks.get(root);
    if (d === undefined) throw new SimDiskError('ENOENT', `no simulated disk for ${path}`);
    return d;
  }

  private handle(fd: number): Handle {
    const h = this.handles.get(fd);
    if (h === undefined) throw new SimDiskError('EBADF', `bad file descriptor ${fd}`);
    return h;
  }

  private add(h: Handle): number {
    const fd = this.next++;
    this.handles.set(fd, h);
    return fd;
  }

  /** Every descriptor of `disk` is gone (its machine crashed). */
  dropDisk(disk: SimDisk): void {
    for (const [fd, h] of this.handles) if (h.disk === disk) this.handles.delete(fd);
  }

  private openImpl(path: string, flags: string | number, sync: boolean, cb?: Cb<number>): number | undefined {
    const disk = this.disk(path);
    if ((flags === 'r' || flags === constants.O_RDONLY) && disk.isDir(path)) {
      const fd = this.add({ disk, fd: null, dir: path });
      if (sync) return fd;
      disk.afterLatency(() => cb!(null, fd));
      return undefined;
    }
    const opts = openOptions(flags);
    if (sync) return this.add({ disk, fd: disk.sync.open(path, opts), dir: null });
    disk.open(path, opts).then(
      (fd) => cb!(null, this.add({ disk, fd, dir: null })),
      (e) => cb!(e as NodeJS.ErrnoException),
    );
    return undefined;
  }

  /** The WalFs object to install with `setWalFs`. */
  fs(): WalFs {
    const self = this;
    const file = (fd: number): { disk: SimDisk; fd: number } => {
      const h = self.handle(fd);
      if (h.fd === null) throw new SimDiskError('EISDIR', 'a directory descriptor');
      return { disk: h.disk, fd: h.fd };
    };
    const call = <T>(cb: Cb<T>, p: () => Promise<T>): void => {
      let pr: Promise<T>;
      try {
        pr = p();
      } catch (e) {
        pr = Promise.reject(e);
      }
      pr.then(
        (v) => cb(null, v),
        (e) => cb(e as NodeJS.ErrnoException),
      );
    };
    const impl = {
      open(path: string, flags: string | number, modeOrCb: unknown, maybeCb?: Cb<number>): void {
        const cb = (typeof modeOrCb === 'function' ? modeOrCb : maybeCb) as Cb<number>;
        try {
          self.openImpl(path, flags, false, cb);
        } catch (e) {
          cb(e as NodeJS.ErrnoException);
        }
      },
      openSync(path: string, flags: string | number): number {
        return self.openImpl(path, flags, true)!;
      },
      writev(fd: number, bufs: Uint8Array[], position: number, cb: (err: NodeJS.ErrnoException | null, written: number) => void): void {
        const total = bufs.reduce((n, b) => n + b.length, 0);
        call<void>(
          (err) => cb(err, err ? 0 : total),
          () => {
            const f = file(fd);
            return f.disk.writev(f.fd, bufs, position);
          },
        );
      },
      fdatasync(fd: number, cb: Cb): void {
        call(cb, () => {
          const h = self.handle(fd);
          return h.fd === null ? h.disk.fsyncDir(h.dir!) : h.disk.fdatasync(h.fd);
        });
      },
      fsync(fd: number, cb: Cb): void {
        impl.fdatasync(fd, cb);
      },
      ftruncate(fd: number, len: number, cb: Cb): void {
        call(cb, () => {
          const f = file(fd);
          return f.disk.ftruncate(f.fd, len);
        });
      },
      close(fd: number, cb: Cb): void {
        const h = self.handles.get(fd);
        self.handles.delete(fd);
        if (h?.fd != null) void h.disk.close(h.fd);
        (h?.disk ?? null)?.afterLatency(() => cb(null));
        if (h === undefined) cb(new SimDiskError('EBADF', `bad file descriptor ${fd}`) as NodeJS.ErrnoException);
      },
      rename(from: string, to: string, cb: Cb): void {
        call(cb, () => self.disk(from).rename(from, to));
      },
      unlink(path: string, cb: Cb): void {
        call(cb, () => self.disk(path).unlink(path));
      },
      closeSync(fd: number): void {
        const h = self.handles.get(fd);
        self.handles.delete(fd);
        if (h?.fd != null) h.disk.sync.close(h.fd);
      },
      existsSync(path: string): boolean {
        try {
          const d = self.disk(path);
          return d.exists(path) || d.isDir(path);
        } catch {
          return false;
        }
      },
      mkdirSync(path: string): undefined {
        self.disk(path).mkdirp(path);
        return undefined;
      },
      readdirSync(path: string): string[] {
        return self.disk(path).readdir(path);
      },
      readFileSync(path: string): Buffer {
        return Buffer.from(self.disk(path).sync.readFile(path));
      },
      readSync(fd: number, buf: Uint8Array, offset: number, length: number, position: number): number {
        const f = file(fd);
        const got = f.disk.sync.read(f.fd, position, length);
        buf.set(got, offset);
        return got.length;
      },
      ftruncateSync(fd: number, len = 0): void {
        const f = file(fd);
        f.disk.sync.ftruncate(f.fd, len);
      },
      fdatasyncSync(fd: number): void {
        const h = self.handle(fd);
        if (h.fd !== null) h.disk.sync.fdatasync(h.fd);
        else h.disk.sync.fsyncDir(h.dir!);
      },
      unlinkSync(path: string): void {
        self.disk(path).sync.unlink(path);
      },
    };
    return impl as unknown as WalFs;
  }
}

function openOptions(flags: string | number): OpenOptions {
  if (flags === 'r') return {};
  if (flags === 'w+' || flags === 'w') return { create: true, truncate: true };
  if (typeof flags !== 'number') throw new SimDiskError('EINVAL', `flags ${flags} not modelled`);
  return {
    create: (flags & constants.O_CREAT) !== 0,
    truncate: (flags & constants.O_TRUNC) !== 0,
    dsync: (flags & constants.O_DSYNC) !== 0,
  };
}

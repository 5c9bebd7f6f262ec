// `realFiles.replaceDurably` (node-media.ts), the production writer of `<data-dir>/cluster.json`
// and the address book: tmp file, fsync of its data, rename over the target, fsync of the
// directory (a name is durable only through its directory). Recorded through a wrapped `node:fs`;
// test/sim/cluster-identity-durable.test.ts shows what a power loss does without it.
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';

const calls: string[] = [];
const fdPaths = new Map<number, string>();

vi.mock('node:fs', async (importOriginal) => {
  const fs = await importOriginal<typeof import('node:fs')>();
  const wrapped = {
    ...fs,
    writeFileSync: ((path: string, ...rest: unknown[]) => {
      calls.push(`write ${String(path)}`);
      return (fs.writeFileSync as (...a: unknown[]) => void)(path, ...rest);
    }) as typeof fs.writeFileSync,
    openSync: ((path: string, ...rest: unknown[]) => {
      const fd = (fs.openSync as (...a: unknown[]) => number)(path, ...rest);
      fdPaths.set(fd, String(path));
      return fd;
    }) as typeof fs.openSync,
    fsyncSync: ((fd: number) => {
      calls.push(`fsync ${fdPaths.get(fd)}`);
      fs.fsyncSync(fd);
    }) as typeof fs.fsyncSync,
    renameSync: ((from: string, to: string) => {
      calls.push(`rename ${String(from)} ${String(to)}`);
      fs.renameSync(from, to);
    }) as typeof fs.renameSync,
  };
  return { ...wrapped, default: wrapped };
});

const { realFiles } = await import('../../src/node/node-media.js');

describe('realFiles.replaceDurably (cluster.json, address book)', () => {
  let dir = '';
  afterEach(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
    calls.length = 0;
  });

  it('writes a tmp file, fsyncs it, renames it over the target, then fsyncs the directory — in that order', () => {
    dir = mkdtempSync(join(tmpdir(), 'sealkv-durable-'));
    const path = join(dir, 'cluster.json');
    realFiles.replaceDurably(path, '{"clusterId":"c","nodeId":"n1"}');
    expect(calls).toEqual([`write ${path}.tmp`, `fsync ${path}.tmp`, `rename ${path}.tmp ${path}`, `fsync ${dir}`]);
    expect(readFileSync(path, 'utf8')).toBe('{"clusterId":"c","nodeId":"n1"}');
    expect(readdirSync(dir)).toEqual(['cluster.json']);
  });

  it('replaces an existing file whole', () => {
    dir = mkdtempSync(join(tmpdir(), 'sealkv-durable-'));
    const path = join(dir, 'cluster.json');
    realFiles.replaceDurably(path, 'old text, longer than the new one');
    realFiles.replaceDurably(path, 'new');
    expect(readFileSync(path, 'utf8')).toBe('new');
  });
});

// The named crash points of the fault harness (issue 10 item 8, SPEC §17): parsing, the registry of
// names, and a real SIGKILL at the N-th hit in a child process (runs dist/: build first).
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { CrashPoints, isKnownCrashPoint, parseCrashPoints, SIDECAR_WRITE_STEP_POINTS } from '../../src/node/crash-points.js';

const MODULE = fileURLToPath(new URL('../../dist/node/crash-points.js', import.meta.url));

function runHits(spec: string | undefined, hits: number): { signal: NodeJS.Signals | null; out: string } {
  const script = `import(${JSON.stringify(MODULE)}).then((m) => { for (let i = 1; i <= ${hits}; i++) { m.crashPoint('after-log-persist'); process.stdout.write('passed ' + i + '\\n'); } });`;
  const env = { ...process.env };
  delete env.SEALKV_CRASH_POINTS;
  if (spec !== undefined) env.SEALKV_CRASH_POINTS = spec;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { env, encoding: 'utf8' });
  return { signal: r.signal, out: r.stdout };
}

describe('crash points', () => {
  it('every point SPEC §17 names is registered (KM-7: one per step)', () => {
    for (const n of ['after-log-persist', 'after-registry-commit', 'after-sidecar-write', 'before-installer', 'after-marker-commit']) {
      expect(isKnownCrashPoint(n), n).toBe(true);
    }
    expect(SIDECAR_WRITE_STEP_POINTS).toHaveLength(7);
    expect(new Set(Object.values(CrashPoints)).size).toBe(Object.values(CrashPoints).length);
    expect(isKnownCrashPoint('after-log-persit')).toBe(false);
  });

  it('parses name and name@N; refuses a malformed item', () => {
    expect(parseCrashPoints(' a, b@3 ,,')).toEqual([
      { name: 'a', hit: 1 },
      { name: 'b', hit: 3 },
    ]);
    expect(parseCrashPoints('snapshot-install:staged@2')).toEqual([{ name: 'snapshot-install:staged', hit: 2 }]);
    expect(() => parseCrashPoints('a@0')).toThrow(/malformed/);
    expect(() => parseCrashPoints('a@x')).toThrow(/malformed/);
    expect(() => parseCrashPoints('@2')).toThrow(/malformed/);
  });

  it('unset: nothing happens; armed: SIGKILL at the first hit; name@3: at the third', () => {
    expect(runHits(undefined, 3)).toEqual({ signal: null, out: 'passed 1\npassed 2\npassed 3\n' });
    expect(runHits('other-point', 2)).toEqual({ signal: null, out: 'passed 1\npassed 2\n' });
    expect(runHits('after-log-persist', 3)).toEqual({ signal: 'SIGKILL', out: '' });
    expect(runHits('after-log-persist@3', 5)).toEqual({ signal: 'SIGKILL', out: 'passed 1\npassed 2\n' });
  });
});

describe('crash point names used in src', () => {
  it('every crashPoint(\'…\') literal in src/ is a registered name (no silent typo)', async () => {
    const { readdirSync, readFileSync, statSync } = await import('node:fs');
    const { join } = await import('node:path');
    const root = join(import.meta.dirname, '../../src');
    const names = new Set<string>();
    const walk = (d: string): void => {
      for (const f of readdirSync(d)) {
        const p = join(d, f);
        if (statSync(p).isDirectory()) walk(p);
        else if (p.endsWith('.ts')) for (const m of readFileSync(p, 'utf8').matchAll(/crashPoint\('([^']+)'\)/g)) names.add(m[1]!);
      }
    };
    walk(root);
    expect(names.size).toBeGreaterThan(5);
    for (const n of names) expect(isKnownCrashPoint(n), n).toBe(true);
  });
});

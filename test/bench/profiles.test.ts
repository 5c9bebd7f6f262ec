// `--profile` (issue 15 item 4): each node's main-thread .cpuprofile under <dir>/<node>/ is
// summarised into a top self-time functions table; a node without a profile gets a note.

import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { profileTables } from '../../src/bench/suite/profiles.js';

const dir = mkdtempSync(join(tmpdir(), 'sealkv-bench-prof-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A minimal V8 profile: root → hot (3 samples of 1 ms) and (idle) (1 sample). */
function profile(): string {
  const frame = (id: number, functionName: string, url = '') => ({ id, callFrame: { functionName, url, lineNumber: 9, columnNumber: 0, scriptId: '1' }, children: [] as number[] });
  const root = { ...frame(1, '(root)'), children: [2, 3] };
  return JSON.stringify({
    nodes: [root, frame(2, 'hotFunction', 'file:///x/dist/node/apply-pipeline.js'), frame(3, '(idle)')],
    startTime: 0,
    endTime: 5000,
    samples: [2, 2, 2, 3, 2],
    timeDeltas: [0, 1000, 1000, 1000, 1000],
  });
}

describe('bench suite --profile summaries', () => {
  it('tables the top self-time functions of each node main thread and notes a node without a profile', async () => {
    mkdirSync(join(dir, 'n1'), { recursive: true });
    // Thread 0 is the main thread; the worker profile (thread 1) is kept but not tabled.
    writeFileSync(join(dir, 'n1', 'CPU.20261203.133412.12577.0.001.cpuprofile'), profile());
    writeFileSync(join(dir, 'n1', 'CPU.20261203.133412.12577.1.002.cpuprofile'), profile());
    const logs: string[] = [];
    const r = await profileTables(process.cwd(), dir, dir, ['n1', 'n2'], 'test run', (m) => logs.push(m));
    expect(r.table.columns).toEqual(['node', 'function', 'where', 'self (ms)', '% of busy']);
    expect(r.table.rows[0]).toEqual(['n1', 'hotFunction', 'dist/node/apply-pipeline.js:10', 3, 100]);
    expect(r.notes.some((n) => n.includes('n1: 2 profile(s) in n1/'))).toBe(true);
    expect(r.notes.some((n) => n.includes('n2: no CPU profile'))).toBe(true);
    expect(logs[0]).toContain('hotFunction 100%');
  });
});

// Issue 14 item 1: the node shell takes its time and timers from an injected Scheduler, so the
// whole-node simulator can run the real composition on a virtual clock. Any direct use of the
// timer globals or the process clocks in src/node/** (outside the real scheduler) would escape
// the simulation and make a seeded run unreplayable; this test fails on it.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = 'src/node';
const ALLOWED = new Set([join(ROOT, 'scheduler.ts')]);

const FORBIDDEN: [string, RegExp][] = [
  ['timer global', /(?<![\w$.])(setImmediate|setInterval|setTimeout|clearImmediate|clearInterval|clearTimeout)\s*\(/],
  ['Date.now', /(?<![\w$])Date\s*\.\s*now\b/],
  ['new Date()', /new\s+Date\s*\(\s*\)/],
  ['performance.now', /(?<![\w$])performance\s*\.\s*now\b/],
  ['process.hrtime', /process\s*\.\s*hrtime\b/],
  ['globalThis timer', /globalThis\s*\.\s*(setImmediate|setInterval|setTimeout)\b/],
  ['node:timers import', /from\s+'(node:)?timers(\/promises)?'/],
];

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...sources(p));
    else if (p.endsWith('.ts')) out.push(p);
  }
  return out;
}

/** Source without comments (a comment may name a global; code may not). Strings stay. */
function code(text: string): string {
  return text.replace(/\/\*[\s\S]*?\*\//g, (m) => m.replace(/[^\n]/g, ' ')).replace(/(^|[^:'"`\\])\/\/.*$/gm, '$1');
}

function violations(file: string, text: string): string[] {
  const out: string[] = [];
  code(text)
    .split('\n')
    .forEach((line, i) => {
      for (const [what, re] of FORBIDDEN) if (re.test(line)) out.push(`${file}:${i + 1}: ${what}: ${line.trim()}`);
    });
  return out;
}

describe('injectable time in the node shell (issue 14)', () => {
  it('src/node/** uses no timer globals, Date.now or performance.now outside scheduler.ts', () => {
    const bad = sources(ROOT)
      .filter((f) => !ALLOWED.has(f))
      .flatMap((f) => violations(f, readFileSync(f, 'utf8')));
    expect(bad).toEqual([]);
  });

  it('the check itself catches direct uses and ignores comments and scheduler calls', () => {
    expect(violations('x.ts', 'const t = Date.now();')).toHaveLength(1);
    expect(violations('x.ts', '  setImmediate(() => f());')).toHaveLength(1);
    expect(violations('x.ts', 'const a = performance.now();')).toHaveLength(1);
    expect(violations('x.ts', "import { setTimeout } from 'node:timers/promises';")).toHaveLength(1);
    expect(violations('x.ts', 'this.sched.setTimeout(r, 5); sched.now();')).toEqual([]);
    expect(violations('x.ts', '// setImmediate, not a microtask: Date.now()')).toEqual([]);
    expect(violations('x.ts', '/** deadline in Date.now() ms */ const x = 1;')).toEqual([]);
  });
});

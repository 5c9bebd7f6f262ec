// Issue 10 Step 0: no upward imports. node/ never imports cli/ or server/; server/ never imports cli/.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...sources(p));
    else if (p.endsWith('.ts')) out.push(p);
  }
  return out;
}

function importsOf(file: string): string[] {
  return [...readFileSync(file, 'utf8').matchAll(/from\s+'([^']+)'/g)].map((m) => m[1]!);
}

describe('module layering (issue 10 Step 0)', () => {
  it.each([
    ['src/node', /(^|\/)(cli|server)\//],
    ['src/server', /(^|\/)cli\//],
    ['src/keys', /(^|\/)(cli|server|node)\//],
  ])('%s has no upward import', (dir, forbidden) => {
    const bad = sources(dir).flatMap((f) => importsOf(f).filter((i) => i.startsWith('..') && forbidden.test(i)).map((i) => `${f}: ${i}`));
    expect(bad).toEqual([]);
  });
});

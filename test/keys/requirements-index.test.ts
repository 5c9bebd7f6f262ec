// Every requirement ID cited in src/ and test/ resolves in docs/REQUIREMENTS.md (issue 10, Step 0).
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '../..');

function files(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...files(p));
    else if (/\.(ts|mjs|js)$/.test(name)) out.push(p);
  }
  return out;
}

describe('docs/REQUIREMENTS.md', () => {
  it('lists every requirement ID (XX-n) that the code and the tests cite', () => {
    const index = new Set([...readFileSync(join(root, 'docs/REQUIREMENTS.md'), 'utf8').matchAll(/^- \*\*([A-Z]{1,2}-\d+)\*\*/gm)].map((m) => m[1]));
    const cited = new Set<string>();
    for (const f of [...files(join(root, 'src')), ...files(join(root, 'test'))]) {
      for (const m of readFileSync(f, 'utf8').matchAll(/\b(?:PE|RE|CK|SE|FW|KM|WR|RO|EH|WI|RT|SH|BR|OP|PF|RS|AS)-\d+\b/g)) cited.add(m[0]);
    }
    expect([...cited].filter((id) => !index.has(id)).sort()).toEqual([]);
    expect(cited.size).toBeGreaterThan(50);
  });
});

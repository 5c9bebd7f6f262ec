// Writes one run to bench/results/<timestamp>/: results.json (validated against its schema
// first — a run never writes a document that compare or the report cannot read), the schema,
// charts/*.svg, REPORT.md and report.html.

import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderHtml, renderMarkdown } from './render.js';
import type { ChartRef, Results } from './results.js';
import { RESULTS_SCHEMA, validateResults } from './schema.js';
import type { SectionChart } from './section.js';
import { renderChart } from './svg.js';

export class ResultsInvalidError extends Error {
  readonly code = 'BENCH_RESULTS_INVALID';
  constructor(readonly problems: string[]) {
    super(`results.json does not match its schema: ${problems.slice(0, 5).join('; ')}${problems.length > 5 ? ` (+${problems.length - 5} more)` : ''}`);
  }
}

/** "2026-12-03T08:10:00.123Z" → "2026-12-03T08-10-00Z" (a directory name on every OS). */
export function runDirName(startedAt: string): string {
  return `${startedAt.slice(0, 19).replace(/:/g, '-')}Z`;
}

export interface WrittenRun {
  dir: string;
  files: string[];
  results: Results;
}

/**
 * Renders the charts, fills results.charts, validates and writes everything into `dir`.
 * `charts` are per section id.
 */
export function writeRun(dir: string, results: Omit<Results, 'charts'>, charts: { section: string; chart: SectionChart }[]): WrittenRun {
  mkdirSync(join(dir, 'charts'), { recursive: true });
  const files: string[] = [];
  const svgs = new Map<string, string>();
  const refs: ChartRef[] = [];
  for (const { section, chart } of charts) {
    const file = `charts/${chart.id.replace(/[^A-Za-z0-9_.-]+/g, '-')}.svg`;
    const svg = renderChart(chart);
    writeFileSync(join(dir, file), svg);
    files.push(join(dir, file));
    svgs.set(file, svg);
    refs.push({ id: chart.id, section, title: chart.title, file });
  }
  const full: Results = { ...results, charts: refs };
  const problems = validateResults(JSON.parse(JSON.stringify(full)));
  if (problems.length > 0) throw new ResultsInvalidError(problems);
  const write = (name: string, text: string): void => {
    writeFileSync(join(dir, name), text);
    files.push(join(dir, name));
  };
  write('results.json', `${JSON.stringify(full, null, 2)}\n`);
  write('results.schema.json', `${JSON.stringify(RESULTS_SCHEMA, null, 2)}\n`);
  write('REPORT.md', renderMarkdown(full));
  write('report.html', renderHtml(full, svgs));
  return { dir, files, results: full };
}

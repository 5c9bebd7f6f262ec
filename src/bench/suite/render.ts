// REPORT.md and the self-contained report.html of one run. Both are rendered from the results
// document alone (plus the chart SVGs for the HTML), so a run can be re-rendered later.

import type { Figure, Results, Table } from './results.js';
import { escapeXml } from './svg.js';

function cell(s: string | number): string {
  return String(s).replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

function mdTable(t: Pick<Table, 'columns' | 'rows'>): string[] {
  return [`| ${t.columns.map(cell).join(' | ')} |`, `|${t.columns.map(() => '---').join('|')}|`, ...t.rows.map((r) => `| ${r.map(cell).join(' | ')} |`)];
}

function figureValue(f: Figure): string {
  const v = Number.isInteger(f.value) ? f.value.toString() : (+f.value.toPrecision(4)).toString();
  return f.unit === 'count' ? v : `${v} ${f.unit}`;
}

function machineRows(r: Results): (string | number)[][] {
  const m = r.machine;
  const flags = Object.entries(m.cpuFlags)
    .map(([k, v]) => `${k} ${v ? 'yes' : 'no'}`)
    .join(', ');
  return [
    ['CPU', m.cpuModel],
    ['cores', String(m.cores)],
    ['AES-related CPU flags', flags],
    ['memory', `${m.memoryGiB} GiB`],
    ['platform', m.platform],
    ['Node.js', m.node],
    ['OpenSSL', m.openssl],
    ['load average before the run (1/5/15 min)', m.loadAvgBefore.join(' / ')],
  ];
}

export function renderMarkdown(r: Results): string {
  const out: string[] = ['# sealkv benchmark report', ''];
  out.push(`Mode **${r.mode}**, started ${r.startedAt}, took ${r.durationS.toFixed(0)} s (\`${['npm run bench --', ...r.argv].join(' ')}\`).`, '');
  out.push('## Machine', '', ...mdTable({ columns: ['fact', 'value'], rows: machineRows(r) }), '');
  for (const s of r.sections) {
    out.push(`## ${s.title}`, '', `Status: **${s.status}**${s.reason ? ` — ${s.reason}` : ''} (${s.durationS.toFixed(1)} s).`, '');
    for (const c of r.charts.filter((c) => c.section === s.id)) out.push(`![${c.title}](${c.file})`, '');
    for (const t of s.tables) {
      out.push(`### ${t.title}`, '', ...mdTable(t), '');
      if (t.note) out.push(t.note, '');
    }
    for (const n of s.notes) out.push(`- ${n}`);
    if (s.notes.length) out.push('');
  }
  if (r.pending.length > 0) {
    out.push('## Still to come', '', 'These parts of the suite cannot run yet:', '');
    for (const p of r.pending) out.push(`- **${p.title}** — needs ${p.needs}.`);
    out.push('');
  }
  out.push('## All figures', '', 'Every figure of the run (the same numbers as results.json; `npm run bench:compare A B` matches them by section and id).', '');
  const rows = r.sections.flatMap((s) => s.figures.map((f) => [s.id, f.id, figureValue(f), f.better]));
  out.push(...mdTable({ columns: ['section', 'figure', 'value', 'better'], rows }), '');
  return out.join('\n');
}

function htmlTable(t: Pick<Table, 'columns' | 'rows'>, cls = ''): string {
  const head = t.columns.map((c) => `<th>${escapeXml(c)}</th>`).join('');
  const body = t.rows.map((row) => `<tr>${row.map((v) => `<td${typeof v === 'number' ? ' class="n"' : ''}>${escapeXml(String(v))}</td>`).join('')}</tr>`).join('\n');
  return `<table${cls ? ` class="${cls}"` : ''}><thead><tr>${head}</tr></thead><tbody>\n${body}\n</tbody></table>`;
}

const CSS = `
body{font-family:"DejaVu Sans",Arial,sans-serif;margin:24px auto;max-width:1320px;color:#222;padding:0 16px}
h1{margin-bottom:4px}h2{border-bottom:2px solid #4e79a7;padding-bottom:4px;margin-top:36px}
table{border-collapse:collapse;margin:8px 0 16px;font-size:13px}
th,td{border:1px solid #ccc;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f0f3f7}td.n{text-align:right;font-variant-numeric:tabular-nums}
.status{display:inline-block;padding:1px 8px;border-radius:3px;color:#fff;font-size:12px}
.ok{background:#59a14f}.skipped{background:#9c755f}.failed{background:#e15759}
figure{margin:12px 0;overflow-x:auto;max-width:100%}.charts{display:flex;flex-wrap:wrap;gap:8px 32px;align-items:flex-start}figcaption{font-size:12px;color:#555}
.pending{background:#fff8e6;border:1px solid #edc948;padding:8px 16px}
details{margin:8px 0}summary{cursor:pointer;color:#4e79a7}
.meta{color:#555;font-size:13px}
`;

/** One self-contained HTML page; `svgs` maps a chart file (relative path) to its SVG text. */
export function renderHtml(r: Results, svgs: Map<string, string>): string {
  const h: string[] = [
    '<!DOCTYPE html>',
    '<html lang="en"><head><meta charset="utf-8">',
    `<title>sealkv benchmark report ${escapeXml(r.startedAt)}</title>`,
    `<style>${CSS}</style></head><body>`,
    '<h1>sealkv benchmark report</h1>',
    `<p class="meta">Mode <b>${escapeXml(r.mode)}</b> · started ${escapeXml(r.startedAt)} · took ${r.durationS.toFixed(0)} s · <code>${escapeXml(['npm run bench --', ...r.argv].join(' '))}</code></p>`,
    '<h2>Machine</h2>',
    htmlTable({ columns: ['fact', 'value'], rows: machineRows(r) }),
  ];
  if (r.pending.length > 0) {
    h.push('<div class="pending"><b>Still to come</b> — these parts of the suite cannot run yet:<ul>');
    for (const p of r.pending) h.push(`<li><b>${escapeXml(p.title)}</b> — needs ${escapeXml(p.needs)}.</li>`);
    h.push('</ul></div>');
  }
  for (const s of r.sections) {
    h.push(`<h2 id="${escapeXml(s.id)}">${escapeXml(s.title)}</h2>`);
    h.push(`<p><span class="status ${s.status}">${s.status}</span> ${s.reason ? escapeXml(s.reason) : ''} <span class="meta">(${s.durationS.toFixed(1)} s)</span></p>`);
    // Charts flow side by side where the page is wide enough (the bar charts are narrow).
    h.push('<div class="charts">');
    for (const c of r.charts.filter((c) => c.section === s.id)) {
      const svg = svgs.get(c.file);
      if (svg) h.push(`<figure>${svg.replace(/^<\?xml[^>]*>\s*/, '')}<figcaption>${escapeXml(c.title)} (${escapeXml(c.file)})</figcaption></figure>`);
    }
    h.push('</div>');
    for (const t of s.tables) {
      h.push(`<h3>${escapeXml(t.title)}</h3>`, htmlTable(t));
      if (t.note) h.push(`<p class="meta">${escapeXml(t.note)}</p>`);
    }
    if (s.notes.length) h.push(`<ul>${s.notes.map((n) => `<li>${escapeXml(n)}</li>`).join('')}</ul>`);
    if (s.figures.length) {
      h.push(`<details><summary>All ${s.figures.length} figures of this section</summary>`);
      h.push(htmlTable({ columns: ['figure', 'label', 'value', 'better'], rows: s.figures.map((f) => [f.id, f.label, figureValue(f), f.better]) }));
      h.push('</details>');
    }
  }
  h.push('</body></html>', '');
  return h.join('\n');
}

// Dependency-free SVG charts for the report: a line chart (latency over time, one series per
// backend, phase markers) and a grouped bar chart (throughput per backend and phase, percentile
// bars). Every chart is a standalone, well-formed SVG document with labelled axes and units.

export const PALETTE = ['#4e79a7', '#f28e2b', '#e15759', '#59a14f', '#b07aa1', '#76b7b2', '#edc948', '#ff9da7', '#9c755f', '#bab0ac'];

export function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');
}

/** About 5 round tick values covering [lo, hi]. */
export function niceTicks(lo: number, hi: number, target = 5): number[] {
  if (!(hi > lo)) hi = lo + 1;
  const raw = (hi - lo) / target;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const out: number[] = [];
  for (let v = Math.floor(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Math.round(v / step) * step);
  if (out[out.length - 1]! < hi) out.push(out[out.length - 1]! + step);
  return out;
}

/** Short human number: 1234 → "1.23k", 0.5 → "0.5". */
export function fmtNum(v: number): string {
  const a = Math.abs(v);
  if (a >= 1e6) return `${+(v / 1e6).toPrecision(3)}M`;
  if (a >= 1e4) return `${+(v / 1e3).toPrecision(3)}k`;
  if (a >= 100) return `${Math.round(v)}`;
  if (a === 0) return '0';
  return `${+v.toPrecision(3)}`;
}

const f1 = (v: number): string => (Math.round(v * 10) / 10).toString();
const textW = (s: string, px = 11): number => s.length * px * 0.6;

function header(width: number, height: number, title: string): string[] {
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="DejaVu Sans, Arial, sans-serif" font-size="11" role="img" aria-label="${escapeXml(title)}">`,
    `<title>${escapeXml(title)}</title>`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text x="${width / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">${escapeXml(title)}</text>`,
  ];
}

function legend(parts: string[], x: number, y: number, entries: { name: string; color: string; dashed?: boolean }[]): void {
  entries.forEach((e, i) => {
    const ly = y + i * 18;
    parts.push(
      `<line x1="${x}" x2="${x + 22}" y1="${ly}" y2="${ly}" stroke="${e.color}" stroke-width="${e.dashed ? 1.5 : 3}"${e.dashed ? ' stroke-dasharray="5 3"' : ''}/>`,
      `<text x="${x + 28}" y="${ly + 4}">${escapeXml(e.name)}</text>`,
    );
  });
}

export interface LineSeries {
  name: string;
  /** y null leaves a gap (an interval without data). */
  points: { x: number; y: number | null }[];
  color?: string;
  dashed?: boolean;
}

export interface Marker {
  x: number;
  label: string;
  color?: string;
}

export interface LineChartSpec {
  title: string;
  xLabel: string;
  yLabel: string;
  series: LineSeries[];
  markers?: Marker[];
  /** Right end of the x axis (default: the data's). */
  xMax?: number;
  width?: number;
  height?: number;
}

export function lineChart(c: LineChartSpec): string {
  // A fixed minimum legend width keeps the plot areas of stacked line charts aligned.
  const legendW = Math.max(190, ...c.series.map((s) => textW(s.name) + 40));
  const width = c.width ?? 960;
  const height = c.height ?? 400;
  const left = 72;
  const right = legendW + 20;
  const top = 64;
  const bottom = 56;
  const plotW = width - left - right;
  const plotH = height - top - bottom;
  const xs = c.series.flatMap((s) => s.points.map((p) => p.x)).concat((c.markers ?? []).map((m) => m.x));
  const ys = c.series.flatMap((s) => s.points.map((p) => p.y).filter((y): y is number => y !== null && Number.isFinite(y)));
  const xTicks = niceTicks(xs.length ? Math.min(0, ...xs) : 0, c.xMax ?? (xs.length ? Math.max(...xs) : 1));
  const yTicks = niceTicks(0, ys.length ? Math.max(...ys) : 1);
  const x0 = xTicks[0]!;
  const x1 = xTicks[xTicks.length - 1]!;
  const y1 = yTicks[yTicks.length - 1]!;
  const X = (x: number): number => left + ((x - x0) / (x1 - x0)) * plotW;
  const Y = (y: number): number => top + plotH - (y / y1) * plotH;
  const parts = header(width, height, c.title);
  for (const t of yTicks) {
    parts.push(`<line x1="${left}" x2="${left + plotW}" y1="${f1(Y(t))}" y2="${f1(Y(t))}" stroke="#e5e5e5"/>`);
    parts.push(`<text x="${left - 6}" y="${f1(Y(t) + 4)}" text-anchor="end">${fmtNum(t)}</text>`);
  }
  for (const t of xTicks) {
    parts.push(`<line x1="${f1(X(t))}" x2="${f1(X(t))}" y1="${top + plotH}" y2="${top + plotH + 4}" stroke="#333"/>`);
    parts.push(`<text x="${f1(X(t))}" y="${top + plotH + 16}" text-anchor="middle">${fmtNum(t)}</text>`);
  }
  // Phase markers: a dashed rule where each phase begins, its name above the plot (staggered so
  // neighbouring labels do not overprint).
  (c.markers ?? []).forEach((m, i) => {
    const mx = f1(X(m.x));
    const color = m.color ?? '#555';
    parts.push(`<line x1="${mx}" x2="${mx}" y1="${top - 4}" y2="${top + plotH}" stroke="${color}" stroke-dasharray="4 3"/>`);
    parts.push(`<text x="${f1(X(m.x) + 3)}" y="${top - 8 - (i % 2) * 12}" fill="${color}" font-size="10">${escapeXml(m.label)}</text>`);
  });
  c.series.forEach((s, si) => {
    const color = s.color ?? PALETTE[si % PALETTE.length]!;
    let d = '';
    let pen = false;
    for (const p of s.points) {
      if (p.y === null || !Number.isFinite(p.y)) {
        pen = false;
        continue;
      }
      d += `${pen ? 'L' : 'M'}${f1(X(p.x))} ${f1(Y(p.y))} `;
      pen = true;
    }
    if (d) parts.push(`<path d="${d.trim()}" fill="none" stroke="${color}" stroke-width="${s.dashed ? 1.5 : 2}"${s.dashed ? ' stroke-dasharray="5 3"' : ''}/>`);
  });
  parts.push(`<line x1="${left}" x2="${left}" y1="${top}" y2="${top + plotH}" stroke="#333"/>`);
  parts.push(`<line x1="${left}" x2="${left + plotW}" y1="${top + plotH}" y2="${top + plotH}" stroke="#333"/>`);
  parts.push(`<text x="${left + plotW / 2}" y="${height - 12}" text-anchor="middle">${escapeXml(c.xLabel)}</text>`);
  parts.push(`<text transform="translate(18 ${top + plotH / 2}) rotate(-90)" text-anchor="middle">${escapeXml(c.yLabel)}</text>`);
  legend(
    parts,
    left + plotW + 16,
    top + 8,
    c.series.map((s, si) => ({ name: s.name, color: s.color ?? PALETTE[si % PALETTE.length]!, dashed: s.dashed })),
  );
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}

export interface BarChartSpec {
  title: string;
  xLabel: string;
  yLabel: string;
  groups: string[];
  series: string[];
  /** values[group][series]; null = not measured (no bar). */
  values: (number | null)[][];
  log?: boolean;
  /** Cap on one bar's width in px (default 36), to keep charts with many groups within a page. */
  maxBarWidth?: number;
}

export function barChart(c: BarChartSpec): string {
  const nS = Math.max(1, c.series.length);
  const barW = Math.max(10, Math.min(c.maxBarWidth ?? 36, Math.floor(240 / nS)));
  const left = 72;
  const legendW = Math.max(110, ...c.series.map((s) => textW(s) + 40));
  // Groups share the plot width evenly, so few groups are spread out instead of left-packed.
  const plotW = Math.max(320, c.groups.length * (nS * barW + 28));
  const groupW = plotW / Math.max(1, c.groups.length);
  const longest = Math.max(0, ...c.groups.map((g) => textW(g, 10)));
  // Group labels are horizontal when they fit under their group, else slanted 30°.
  const slant = longest > groupW - 4;
  const labelH = slant ? Math.ceil(longest * 0.5) + 14 : 18;
  const top = 44;
  const plotH = 280;
  // Wide enough for the plot and legend, and for the title (bold 15 px).
  const width = Math.ceil(Math.max(left + plotW + legendW + 30, textW(c.title, 15) + 30));
  const height = top + plotH + labelH + 40;
  const vals = c.values.flat().filter((v): v is number => v !== null && Number.isFinite(v) && v > 0);
  const maxV = vals.length ? Math.max(...vals) : 1;
  const minV = vals.length ? Math.min(...vals) : 1;
  let Y: (v: number) => number;
  let ticks: number[];
  if (c.log) {
    const lo = Math.floor(Math.log10(minV));
    const hi = Math.max(lo + 1, Math.ceil(Math.log10(maxV)));
    ticks = [];
    for (let e = lo; e <= hi; e++) ticks.push(10 ** e);
    Y = (v) => top + plotH - ((Math.log10(Math.max(v, 10 ** lo)) - lo) / (hi - lo)) * plotH;
  } else {
    ticks = niceTicks(0, maxV);
    const top1 = ticks[ticks.length - 1]!;
    Y = (v) => top + plotH - (v / top1) * plotH;
  }
  const parts = header(width, height, c.title);
  for (const t of ticks) {
    parts.push(`<line x1="${left}" x2="${left + plotW}" y1="${f1(Y(t))}" y2="${f1(Y(t))}" stroke="#e5e5e5"/>`);
    parts.push(`<text x="${left - 6}" y="${f1(Y(t) + 4)}" text-anchor="end">${fmtNum(t)}</text>`);
  }
  const showValues = c.groups.length * nS <= 24;
  c.groups.forEach((g, gi) => {
    const gx = left + gi * groupW + (groupW - nS * barW) / 2;
    c.series.forEach((s, si) => {
      const v = c.values[gi]?.[si];
      if (v === null || v === undefined || !Number.isFinite(v) || v <= 0) return;
      const by = Y(v);
      const color = PALETTE[si % PALETTE.length]!;
      parts.push(
        `<rect x="${gx + si * barW}" y="${f1(by)}" width="${barW - 2}" height="${f1(top + plotH - by)}" fill="${color}"><title>${escapeXml(`${g} · ${s}: ${fmtNum(v)}`)}</title></rect>`,
      );
      if (showValues) parts.push(`<text x="${f1(gx + si * barW + (barW - 2) / 2)}" y="${f1(by - 3)}" text-anchor="middle" font-size="9">${fmtNum(v)}</text>`);
    });
    const cx = gx + (nS * barW) / 2;
    if (slant) parts.push(`<text transform="translate(${f1(cx)} ${top + plotH + 12}) rotate(30)" font-size="10">${escapeXml(g)}</text>`);
    else parts.push(`<text x="${f1(cx)}" y="${top + plotH + 14}" text-anchor="middle" font-size="10">${escapeXml(g)}</text>`);
  });
  parts.push(`<line x1="${left}" x2="${left}" y1="${top}" y2="${top + plotH}" stroke="#333"/>`);
  parts.push(`<line x1="${left}" x2="${left + plotW}" y1="${top + plotH}" y2="${top + plotH}" stroke="#333"/>`);
  parts.push(`<text x="${left + plotW / 2}" y="${height - 10}" text-anchor="middle">${escapeXml(c.xLabel)}</text>`);
  parts.push(`<text transform="translate(18 ${top + plotH / 2}) rotate(-90)" text-anchor="middle">${escapeXml(c.yLabel + (c.log ? ' (log scale)' : ''))}</text>`);
  parts.push(
    ...c.series.flatMap((s, si) => {
      const lx = left + plotW + 16;
      const ly = top + 8 + si * 18;
      return [`<rect x="${lx}" y="${ly - 8}" width="12" height="12" fill="${PALETTE[si % PALETTE.length]}"/>`, `<text x="${lx + 18}" y="${ly + 2}">${escapeXml(s)}</text>`];
    }),
  );
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}

export type ChartSpec = ({ kind: 'line' } & LineChartSpec) | ({ kind: 'bar' } & BarChartSpec);

export function renderChart(c: ChartSpec): string {
  return c.kind === 'line' ? lineChart(c) : barChart(c);
}
